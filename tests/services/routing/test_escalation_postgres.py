"""On PostgreSQL, two routing replicas ticking at the same moment escalate an overdue
referral once (FOR UPDATE SKIP LOCKED), on the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import select

from services.routing.models import RoutingDeadline, RoutingStep
from services.routing.service.directory import directory_cache
from services.routing.service.referrals import escalate_due, record_routing
from shared.runtime import ServiceContext
from tests.services.routing.conftest import START, replica, stopped_clock, triaged_event

pytestmark = pytest.mark.postgres


async def escalate(ctx: ServiceContext, *, limit: int = 100) -> int:
    """One tick of a replica's escalation loop."""
    async with ctx.units.begin() as uow:
        return await escalate_due(uow=uow, directories=directory_cache(ctx.state), limit=limit)


async def test_two_replicas_escalate_an_overdue_referral_once(
    postgres_url: str, tmp_path: Path
) -> None:
    clock = stopped_clock()
    first = await replica(postgres_url, tmp_path / "a", clock=clock)
    second = await replica(postgres_url, tmp_path / "b", clock=clock)
    try:
        ids = [f"ref_pg_{i}" for i in range(20)]
        async with first.units.begin() as uow:
            for referral_id in ids:
                await record_routing(
                    uow=uow,
                    directories=directory_cache(first.state),
                    triaged=triaged_event(referral_id),
                )

        clock.advance(hours=49)
        claimed = await asyncio.gather(
            *(escalate(ctx, limit=7) for ctx in (first, second, first, second))
        )
        while sum(claimed) < len(ids):
            claimed.append(await escalate(second))
        assert sum(claimed) == len(ids)

        async with first.db.session() as session:
            deadlines = (await session.exec(select(RoutingDeadline))).all()
            steps = (
                await session.exec(
                    select(RoutingStep).where(RoutingStep.reason_code == "no_response_within_sla")
                )
            ).all()
        assert {d.state for d in deadlines} == {"fired"}
        assert sorted(s.referral_id for s in steps) == sorted(ids)  # once each
        due = (START + timedelta(hours=48)).replace(tzinfo=None)
        assert {d.due_at.replace(tzinfo=None) for d in deadlines} == {due}
    finally:
        await first.db.dispose()
        await second.db.dispose()
