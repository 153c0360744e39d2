"""Routing triaged referrals in one consumer transaction, as under load: each referral
sees what the ones before it wrote (a referral routed again moves on before the next
one counts open referrals). On SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import col, select

from services.routing.models import RoutingDeadline, RoutingDecision, RoutingPathway, RoutingStep
from services.routing.service.directory import directory_cache
from services.routing.service.referrals import open_referrals, record_routing
from shared.outbox import OutboxMessage
from shared.runtime import ServiceContext
from tests.conftest import create_database
from tests.services.routing.conftest import replica, triaged_event


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def ctx(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServiceContext]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'routing.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    context = await replica(url, tmp_path / "routing")
    try:
        yield context
    finally:
        await context.db.dispose()


async def test_a_referral_routed_again_in_the_same_transaction_moves_on_before_the_next(
    ctx: ServiceContext,
) -> None:
    directories = directory_cache(ctx.state)
    async with ctx.units.begin() as uow:
        await record_routing(uow=uow, directories=directories, triaged=triaged_event("ref_x"))
        assert await open_referrals(uow=uow) == {"da-support": 1}
        # A practitioner's override (revision 1) sends it to the MASH...
        x_again = triaged_event("ref_x", level=4, revision=1)
        await record_routing(uow=uow, directories=directories, triaged=x_again)
        await record_routing(uow=uow, directories=directories, triaged=triaged_event("ref_y"))
        # ...and a stale revision changes nothing.
        stale = triaged_event("ref_x", level=2, revision=0)
        await record_routing(uow=uow, directories=directories, triaged=stale)

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


async def test_every_pathway_a_referral_needs_is_told_once_beside_its_own_destination(
    ctx: ServiceContext,
) -> None:
    directories = directory_cache(ctx.state)
    codes = ["domestic_abuse", "radicalisation", "child_missing_education"]
    first = triaged_event("ref_p").model_copy(update={"concern_codes": codes})
    async with ctx.units.begin() as uow:
        await record_routing(uow=uow, directories=directories, triaged=first)
    # A practitioner's override routes it again: the MASH now, no pathway told twice.
    again = first.model_copy(update={"level": 4, "priority": "red", "revision": 1})
    async with ctx.units.begin() as uow:
        await record_routing(uow=uow, directories=directories, triaged=again)

    async with ctx.db.session() as session:
        row = await session.get(RoutingDecision, "ref_p")
        told = (await session.exec(select(RoutingPathway).order_by(col(RoutingPathway.id)))).all()
        steps = (await session.exec(select(RoutingStep).order_by(col(RoutingStep.id)))).all()
        staged = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    assert row is not None and row.destination_id == "mash"
    assert [(p.pathway, p.destination_id, p.destination_organisation) for p in told] == [
        ("prevent", "prevent", "demoshire-prevent"),
        ("children_missing_education", "cme-e06099001", "demoshire-cme"),
    ]
    assert "Statutory pathways, told as well: Prevent referral" in row.explanation
    assert [(s.destination_kind, s.destination_id) for s in steps] == [
        ("hub", "hub"),  # level 2, needs spanning agencies: the hub
        ("pathway", "prevent"),
        ("pathway", "cme-e06099001"),
        ("mash", "mash"),
    ]
    types = [base64.b64decode(dict(json.loads(m.headers))["ce_type"]).decode() for m in staged]
    assert types.count("org.signpost.referral.pathway.v1") == 2
    pathway_events = [
        json.loads(m.value)
        for m, t in zip(staged, types, strict=True)
        if t == "org.signpost.referral.pathway.v1"
    ]
    assert {e["destination"]["organisation"] for e in pathway_events} == {
        "demoshire-prevent",
        "demoshire-cme",
    }
    # Partner-facing: ids, destination, level and reason only; no concern codes.
    assert all("concern_codes" not in e for e in pathway_events)
    assert {e["reason_code"] for e in pathway_events} == {"statutory_pathway"}
