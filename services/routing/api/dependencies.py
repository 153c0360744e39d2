"""What routing's routes ask for: the caller with the scopes it needs, and the request's
unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request

from shared.auth import Principal, requires
from shared.problems import Problem
from shared.runtime import context_of, unit_of_work
from shared.uow import UnitOfWork

UoW = Annotated[UnitOfWork, Depends(unit_of_work("routing"), scope="function")]


async def _read_only_unit(request: Request) -> AsyncIterator[UnitOfWork]:
    """A unit of work of routing that is never committed: rolled back, whatever it did,
    when the route returns (for a route that must change nothing)."""
    async with context_of(request, "routing").units.open() as uow:
        yield uow


ReadOnlyUoW = Annotated[UnitOfWork, Depends(_read_only_unit, scope="function")]

AnyKey = Annotated[Principal, requires()]
DirectoryWrite = Annotated[Principal, requires("directory:write")]
ReferralsRead = Annotated[Principal, requires("referrals:read")]
ReferralsWrite = Annotated[Principal, requires("referrals:write")]
_Simulates = Annotated[Principal, requires("policy:simulate")]


async def _overseer_simulating(principal: _Simulates) -> Principal:
    """The caller holds `policy:simulate` and oversees (the hub or an administrator): a
    simulation shows where every referral of the partnership went."""
    if not principal.oversees:
        raise Problem(
            403,
            "Forbidden",
            "Policy simulations are for the hub and administrators.",
            type="hub-only",
        )
    return principal


PolicySimulate = Annotated[Principal, Depends(_overseer_simulating)]
