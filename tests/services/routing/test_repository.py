"""Routing's statements: the open referrals each destination holds, counted only in the
statuses asked for, without flushing the session."""

from __future__ import annotations

from pathlib import Path

from services.routing import repository
from services.routing.lifecycle import OPEN_STATUSES
from services.routing.service.directory import directory_cache
from services.routing.service.referrals import record_routing
from tests.services.routing.conftest import replica, triaged_event


async def test_open_referrals_are_counted_per_destination_in_the_statuses_asked_for(
    tmp_path: Path,
) -> None:
    ctx = await replica(f"sqlite:///{tmp_path / 'routing.db'}", tmp_path / "routing")
    try:
        async with ctx.units.begin() as uow:
            directories = directory_cache(ctx.state)
            for referral_id, level in (("a", 2), ("b", 2), ("c", 3), ("d", 1)):
                triaged = triaged_event(referral_id, level=level)
                await record_routing(uow=uow, directories=directories, triaged=triaged)
        async with ctx.units.begin() as uow:
            held = await repository.open_referrals(uow.session, statuses=OPEN_STATUSES)
            completed = await repository.open_referrals(uow.session, statuses=["completed"])
        # Level 1 makes no referral: universal services hold nothing.
        assert held == {"da-support": 2, "hub": 1}
        assert completed == {}
    finally:
        await ctx.db.dispose()
