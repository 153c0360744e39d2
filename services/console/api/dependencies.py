"""What the console's pages ask for: the request's unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.runtime import unit_of_work
from shared.uow import UnitOfWork

UoW = Annotated[UnitOfWork, Depends(unit_of_work("console"), scope="function")]
