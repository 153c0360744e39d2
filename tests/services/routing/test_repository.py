"""Routing's statements: the open referrals each destination holds, counted without
the closed ones and without flushing the session."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import text

from services.routing import repository
from services.routing.service.directory import directory_cache
from services.routing.service.referrals import record_routing
from tests.services.routing.conftest import replica, triaged_event


async def test_open_referrals_are_counted_per_destination_and_closed_ones_are_not(
    tmp_path: Path,
) -> None:
    ctx = await replica(f"sqlite:///{tmp_path / 'routing.db'}", tmp_path / "routing")
    try:
        async with ctx.units.begin() as uow:
            directories = directory_cache(ctx.state)
            for referral_id, level in (("a", 2), ("b", 2), ("c", 3), ("d", 1), ("e", 2)):
                triaged = triaged_event(referral_id, level=level)
                await record_routing(uow=uow, directories=directories, triaged=triaged)
        async with ctx.units.begin() as uow:
            for referral_id, status in (("b", "accepted"), ("e", "completed")):
                await (await uow.connection()).execute(
                    text("UPDATE routing_decision SET status = :s WHERE referral_id = :r"),
                    {"s": status, "r": referral_id},
                )
        async with ctx.units.begin() as uow:
            held = await repository.open_referrals(uow.session)
        # Level 1 makes no referral: universal services hold nothing. An accepted
        # referral is still held; a completed one is not.
        assert held == {"da-support": 2, "hub": 1}
    finally:
        await ctx.db.dispose()
