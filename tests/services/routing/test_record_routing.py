"""Routing triaged referrals in one consumer transaction, as under load: each referral
sees what the ones before it wrote (a referral routed again moves on before the next
one counts open referrals). On SQLite and PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel, col, select

from services.routing import definition
from services.routing.models import RoutingDeadline, RoutingDecision, RoutingStep
from services.routing.service import open_referrals, record_routing
from services.routing.store import seed
from shared.bus.embedded import EmbeddedBus
from shared.db import Database, table_of
from shared.events import ReferralTriaged
from shared.outbox import InboxEntry, OutboxMessage, OutboxRelay
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.conftest import create_database
from tests.services.routing.conftest import START, stopped_clock


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServiceContext]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'routing.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    db = Database(url)
    bus = EmbeddedBus(tmp_path / "bus.db")  # never started: nothing is published here
    context = ServiceContext(
        name="routing",
        settings=embedded_settings(tmp_path / "routing"),
        db=db,
        bus=bus,
        relay=OutboxRelay(db, bus),
        source="/tests/routing",
        clock=stopped_clock(),
    )
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
    await db.create_tables([table_of(m) for m in models])
    await seed(db, None, at=START)
    try:
        yield context
    finally:
        await db.dispose()


def triaged(referral_id: str, *, level: int = 2, revision: int = 0) -> ReferralTriaged:
    return ReferralTriaged(
        referral_id=referral_id,
        subject_key="s_" + referral_id,
        level=level,
        priority="green" if level < 4 else "red",
        concern_codes=["domestic_abuse"],
        immediate_risk=False,
        reasons=[],
        policy_version="test",
        decided_at=START,
        source_kind="police",
        referrer_organisation="demo-police",
        child_age_years=8,
        postcode_district="EX1",
        revision=revision,
    )


async def test_a_referral_routed_again_in_the_same_transaction_moves_on_before_the_next(
    ctx: ServiceContext,
) -> None:
    async with ctx.db.session() as session:
        await record_routing(ctx, session, triaged("ref_x"))
        assert await open_referrals(session) == {"da-support": 1}
        # A practitioner's override (revision 1) sends it to the MASH...
        await record_routing(ctx, session, triaged("ref_x", level=4, revision=1))
        await record_routing(ctx, session, triaged("ref_y"))
        # ...and a stale revision changes nothing.
        await record_routing(ctx, session, triaged("ref_x", level=2, revision=0))
        await session.commit()

    async with ctx.db.session() as session:
        x = await session.get(RoutingDecision, "ref_x")
        y = await session.get(RoutingDecision, "ref_y")
        steps = (await session.exec(select(RoutingStep).order_by(col(RoutingStep.id)))).all()
        deadlines = (
            await session.exec(select(RoutingDeadline).order_by(col(RoutingDeadline.id)))
        ).all()
        staged = (await session.exec(select(OutboxMessage))).all()
    assert x is not None and y is not None
    assert (x.destination_id, x.status, x.triage_revision, x.level) == ("mash", "requested", 1, 4)
    assert (y.destination_id, y.status) == ("da-support", "requested")
    # Counted after ref_x moved on: the agency held nothing when ref_y came.
    da = next(c for c in y.considered if c["agency_id"] == "da-support")
    assert "0 of 80 referrals open" in str(da["reason"])
    assert [(s.referral_id, s.destination_id) for s in steps] == [
        ("ref_x", "da-support"),
        ("ref_x", "mash"),
        ("ref_y", "da-support"),
    ]
    assert steps[1].summary.startswith("Routed again after a new triage decision (revision 1).")
    assert [(d.referral_id, d.state) for d in deadlines] == [
        ("ref_x", "resolved"),
        ("ref_y", "pending"),
    ]
    assert len(staged) == 3  # referral.routed for each routing, none for the stale one
