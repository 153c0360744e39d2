"""On PostgreSQL, two routing replicas ticking at the same moment escalate an overdue
referral once (FOR UPDATE SKIP LOCKED), on the real database."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel, select

from services.routing import definition
from services.routing.models import RoutingDeadline, RoutingStep
from services.routing.service import escalate_due, record_routing
from services.routing.store import seed
from shared.bus.embedded import EmbeddedBus
from shared.clock import Clock
from shared.db import Database, table_of
from shared.events import ReferralTriaged
from shared.outbox import InboxEntry, OutboxMessage, OutboxRelay
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.services.routing.conftest import START, stopped_clock

pytestmark = pytest.mark.postgres


def replica(url: str, tmp_path: Path, name: str, clock: Clock) -> ServiceContext:
    db = Database(url)
    bus = EmbeddedBus(tmp_path / f"{name}.db")  # never started: nothing is published here
    ctx = ServiceContext(
        name="routing",
        settings=embedded_settings(tmp_path / name),
        db=db,
        bus=bus,
        relay=OutboxRelay(db, bus, clock=clock),
        source=f"/tests/{name}",
        clock=clock,
    )
    return ctx


async def test_two_replicas_escalate_an_overdue_referral_once(
    postgres_url: str, tmp_path: Path
) -> None:
    clock = stopped_clock()
    first, second = (replica(postgres_url, tmp_path, n, clock) for n in ("a", "b"))
    try:
        models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
        await first.db.create_tables([table_of(m) for m in models])
        await seed(first.db, None, at=START)
        ids = [f"ref_pg_{i}" for i in range(20)]
        async with first.db.session() as session:
            for referral_id in ids:
                triaged = ReferralTriaged(
                    referral_id=referral_id,
                    subject_key="s_" + referral_id,
                    level=2,
                    priority="green",
                    concern_codes=["domestic_abuse"],
                    immediate_risk=False,
                    reasons=[],
                    policy_version="test",
                    decided_at=START,
                    source_kind="police",
                    referrer_organisation="demo-police",
                    child_age_years=8,
                    postcode_district="EX1",
                )
                await record_routing(first, session, triaged)
            await session.commit()

        clock.advance(hours=49)
        claimed = await asyncio.gather(
            *(escalate_due(ctx, now=clock.now(), limit=7) for ctx in (first, second, first, second))
        )
        while sum(claimed) < len(ids):
            claimed.append(await escalate_due(second, now=clock.now()))
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
