"""Following each referral's journey from the other services' events: the handler
decodes an event and the journey gains the step, phrased for the referrer."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any

import pytest
from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel
from sqlmodel import col, select

from services.intake import service
from services.intake.access import load_access_policy
from services.intake.handlers import follow_journey, read_ahead
from services.intake.models import JourneyStep, Report
from shared.auth import ClientKind, Principal
from shared.envelope import new_event
from shared.events import (
    Destination,
    EventType,
    ReasonCode,
    ReferralPathway,
    ReferralRouted,
    ReferralTriaged,
)
from shared.problems import NotFound
from shared.report import ConcernReport
from shared.runtime import ServiceContext
from tests.conftest import statements_run, verbs
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import POLICE, START, example, police_key


async def test_the_journey_outcome_reads_for_the_referrer(signpost: Signpost) -> None:
    key = await police_key(signpost)
    r = await signpost.client.post(
        "/v1/reports", json=example("statutory-report.json"), headers=bearer(key)
    )
    referral_id = r.json()["referral_id"]
    view = (await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(key))).json()
    assert view["outcome"] == "Your report was received."
    async with asyncio.timeout(20):
        while view["status"] != "routed":
            await asyncio.sleep(0.05)
            view = (
                await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(key))
            ).json()
    assert view["outcome"].startswith("Passed to children's social care (the MASH)")


async def stored(ctx: ServiceContext, reference: str | None = None) -> str:
    body = example("police-report.json")
    if reference is not None:
        body["source"]["reference"] = reference
    answer = await service.submit_report(
        units=ctx.units,
        principal=POLICE,
        report=ConcernReport.model_validate(body),
        idempotency_key=None,
        pseudonym_secret="test-secret",
    )
    referral_id: str = answer.body["referral_id"]
    return referral_id


def journey_event(
    ctx: ServiceContext, kind: EventType, referral_id: str, data: BaseModel
) -> CloudEvent:
    """An event about `referral_id` as another service records it, now."""
    return new_event(
        type=kind,
        source="/signpost/test",
        subject=referral_id,
        partitionkey="sub_test",
        data=data,
        time=ctx.clock.now(),
    )


async def deliver(ctx: ServiceContext, kind: EventType, referral_id: str, data: BaseModel) -> None:
    async with ctx.units.begin() as uow:
        await follow_journey(uow, journey_event(ctx, kind, referral_id, data))


async def journey_of(ctx: ServiceContext, referral_id: str) -> tuple[Report, list[Any]]:
    async with ctx.db.session() as session:
        report = await session.get(Report, referral_id)
        assert report is not None
        steps = (
            await session.exec(
                select(JourneyStep)
                .where(JourneyStep.referral_id == referral_id)
                .order_by(col(JourneyStep.id))
            )
        ).all()
    return report, [(s.status, s.summary) for s in steps]


def triaged(referral_id: str) -> ReferralTriaged:
    return ReferralTriaged(
        referral_id=referral_id,
        subject_key="sub_test",
        level=3,
        priority="amber",
        concern_codes=["domestic_abuse"],
        immediate_risk=False,
        reasons=[],
        policy_version="test",
        decided_at=START,
        source_kind="police",
        referrer_organisation="demo-police",
    )


def routed(referral_id: str, organisation: str, name: str, at: datetime) -> ReferralRouted:
    return ReferralRouted(
        referral_id=referral_id,
        destination=Destination(
            kind="agency", id=organisation, organisation=organisation, name=name
        ),
        level=3,
        priority="amber",
        reason_codes=[],
        directory_version="test",
        routed_at=at,
        referrer_organisation="demo-police",
    )


async def test_a_triage_decision_becomes_a_step_with_its_level(replica: ServiceContext) -> None:
    referral_id = await stored(replica)
    await deliver(replica, EventType.REFERRAL_TRIAGED, referral_id, triaged(referral_id))
    report, steps = await journey_of(replica, referral_id)
    assert (report.status, report.level, report.priority) == ("triaged", 3, "amber")
    assert steps[-1] == ("triaged", "Assessed at level 3 (amber).")


async def test_a_batch_s_events_about_one_report_each_build_on_the_one_before(
    replica: ServiceContext,
) -> None:
    # The consumer handles a batch in one unit, which holds each report's new standing
    # until it completes: the next event about the same report reads it back.
    referral_id = await stored(replica)
    newer = routed(referral_id, "demoshire-families", "Supporting Families", START)
    older = routed(referral_id, "safe-homes", "Safe Homes", START - timedelta(minutes=5))
    async with replica.units.begin() as uow:
        for kind, data in [
            (EventType.REFERRAL_TRIAGED, triaged(referral_id)),
            (EventType.REFERRAL_ROUTED, newer),
            (EventType.REFERRAL_ROUTED, older),
        ]:
            await follow_journey(uow, journey_event(replica, kind, referral_id, data))
    report, steps = await journey_of(replica, referral_id)
    assert (report.status, report.level, report.priority) == ("routed", 3, "amber")
    assert report.destination_name == "Supporting Families"
    assert [status for status, _ in steps] == ["received", "triaged", "routed", "routed"]


async def test_a_batch_reads_the_reports_its_journey_events_are_about_in_one_statement(
    replica: ServiceContext,
) -> None:
    first, second = await stored(replica), await stored(replica, "DP-2026-009999")
    assert first != second
    events = [
        journey_event(replica, kind, referral_id, data)
        for kind, referral_id, data in [
            (EventType.REFERRAL_TRIAGED, first, triaged(first)),
            (EventType.REFERRAL_TRIAGED, second, triaged(second)),
            (EventType.REFERRAL_ROUTED, first, routed(first, "safe-homes", "Safe Homes", START)),
        ]
    ]
    async with replica.units.begin() as uow:
        with statements_run(replica.db.engine.sync_engine) as statements:
            await read_ahead(uow, events)
            for each in events:
                await follow_journey(uow, each)
    assert verbs(statements).count("SELECT") == 1  # the reports, read ahead: none per event
    report, steps = await journey_of(replica, first)
    assert (report.status, report.level, report.destination_name) == ("routed", 3, "Safe Homes")
    assert [status for status, _ in steps] == ["received", "triaged", "routed"]
    report, steps = await journey_of(replica, second)
    assert (report.status, report.level) == ("triaged", 3)


async def test_a_routing_that_arrives_late_does_not_take_the_report_back(
    replica: ServiceContext,
) -> None:
    referral_id = await stored(replica)
    newer = routed(referral_id, "demoshire-families", "Supporting Families", START)
    older = routed(referral_id, "safe-homes", "Safe Homes", START - timedelta(minutes=5))
    await deliver(replica, EventType.REFERRAL_ROUTED, referral_id, newer)
    await deliver(replica, EventType.REFERRAL_ROUTED, referral_id, older)
    report, steps = await journey_of(replica, referral_id)
    assert report.destination_organisation == "demoshire-families"
    assert report.destination_name == "Supporting Families"
    assert [status for status, _ in steps] == ["received", "routed", "routed"]


async def test_an_event_about_a_referral_intake_does_not_hold_changes_nothing(
    replica: ServiceContext,
) -> None:
    await deliver(replica, EventType.REFERRAL_TRIAGED, "ref_elsewhere", triaged("ref_elsewhere"))
    async with replica.db.session() as session:
        assert (await session.exec(select(JourneyStep))).all() == []


async def test_an_event_that_is_not_part_of_the_journey_is_ignored(
    replica: ServiceContext,
) -> None:
    referral_id = await stored(replica)
    await deliver(replica, EventType.REFERRAL_RECEIVED, referral_id, triaged(referral_id))
    report, steps = await journey_of(replica, referral_id)
    assert report.status == "received" and len(steps) == 1


def pathway(referral_id: str, name: str, organisation: str, kind: str = "pathway") -> Any:
    return ReferralPathway(
        referral_id=referral_id,
        pathway=name,
        destination=Destination(
            kind=kind,  # type: ignore[arg-type]
            id=organisation,
            organisation=organisation,
            name="Demoshire Police Prevent team" if kind == "pathway" else "The hub",
        ),
        level=3,
        priority="amber",
        reason_code=ReasonCode.STATUTORY_PATHWAY,
        directory_version="test",
        notified_at=START,
        referrer_organisation="demo-police",
    )


def partner(organisation: str) -> Principal:
    return Principal(
        key_id="k_" + organisation,
        client_id="c_" + organisation,
        name=organisation,
        kind=ClientKind.AGENCY,
        organisation=organisation,
        scopes=frozenset({"referrals:read"}),
    )


async def test_a_pathway_told_is_a_journey_step_beside_the_route_and_lets_its_team_read(
    replica: ServiceContext,
) -> None:
    referral_id = await stored(replica)
    await deliver(
        replica,
        EventType.REFERRAL_ROUTED,
        referral_id,
        routed(referral_id, "demoshire-families", "Supporting Families", START),
    )
    told = pathway(referral_id, "prevent", "demoshire-prevent")
    await deliver(replica, EventType.REFERRAL_PATHWAY, referral_id, told)
    await deliver(replica, EventType.REFERRAL_PATHWAY, referral_id, told)  # told once

    report, steps = await journey_of(replica, referral_id)
    assert report.status == "routed"  # the referral's own route is where it stands
    assert steps[-1] == (
        "pathway",
        "Prevent referral: also told to Demoshire Police Prevent team, as the law requires "
        "for this concern.",
    )
    assert [s for s, _ in steps].count("pathway") == 1
    policy = load_access_policy(None)
    async with replica.units.begin() as uow:
        view = await service.report_status(uow=uow, principal=POLICE, referral_id=referral_id)
        read = await service.read_for_partner(
            uow=uow,
            principal=partner("demoshire-prevent"),
            referral_id=referral_id,
            policy=policy,
        )
    assert view.outcome == "Passed to Supporting Families, who are best placed to help."
    assert [(p.pathway, p.label, p.destination.name) for p in view.pathways] == [
        ("prevent", "Prevent referral", "Demoshire Police Prevent team")
    ]
    assert read.report["child"]["given_name"]
    async with replica.units.begin() as uow:
        with pytest.raises(NotFound):
            await service.read_for_partner(
                uow=uow, principal=partner("safe-homes"), referral_id=referral_id, policy=policy
            )


async def test_a_pathway_the_hub_must_make_reads_so_for_the_referrer(
    replica: ServiceContext,
) -> None:
    referral_id = await stored(replica)
    told = pathway(referral_id, "children_missing_education", "demoshire-hub", kind="hub")
    await deliver(replica, EventType.REFERRAL_PATHWAY, referral_id, told)
    _, steps = await journey_of(replica, referral_id)
    assert steps[-1] == (
        "pathway",
        "Children missing education notification: the early intervention hub will make it "
        "to the local authority's children missing education officer (no destination for "
        "it is listed for the child's area).",
    )
