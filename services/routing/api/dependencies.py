"""What routing's routes ask for: the caller with the scopes it needs, and the request's
unit of work."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends

from shared.auth import Principal, requires
from shared.runtime import unit_of_work
from shared.uow import UnitOfWork

UoW = Annotated[UnitOfWork, Depends(unit_of_work("routing"), scope="function")]

AnyKey = Annotated[Principal, requires()]
DirectoryWrite = Annotated[Principal, requires("directory:write")]
ReferralsRead = Annotated[Principal, requires("referrals:read")]
ReferralsWrite = Annotated[Principal, requires("referrals:write")]
