"""Escalation to the hub: on a decline at once, on no answer when the agency's SLA
runs out (a controllable clock; the scheduler fires once, even across a restart), and
the hub reassigning or overriding with a recorded rationale."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sqlmodel import select

from services.routing.loops import WAKEUP
from services.routing.models import RoutingDeadline
from shared.clock import Clock
from tests.services.conftest import Signpost
from tests.services.routing.conftest import (
    agency_key,
    decision,
    eventually,
    hub_key,
    routing,
    running,
    staged,
    statuses,
    stopped_clock,
    triage,
)

ROUTED = "org.signpost.referral.routed.v1"


async def deadlines(sp: Signpost, referral_id: str) -> list[RoutingDeadline]:
    async with routing(sp).db.session() as session:
        return list(
            (
                await session.exec(
                    select(RoutingDeadline).where(RoutingDeadline.referral_id == referral_id)
                )
            ).all()
        )


async def at_hub(sp: Signpost, referral_id: str) -> bool:
    row = await decision(sp, referral_id)
    return row is not None and row.destination_kind == "hub"


async def tick(sp: Signpost) -> None:
    """Wake the scheduler and give it time for a few ticks."""
    routing(sp).wakeup(WAKEUP).set()
    await asyncio.sleep(0.2)


async def test_a_decline_goes_to_the_hub_at_once(sp: Signpost) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    declined = await sp.client.post(
        f"/v1/referrals/{referral_id}/decline",
        headers=agency,
        json={"reason_code": "no_capacity", "note": "Waiting list closed until January."},
    )
    assert declined.status_code == 200, declined.text
    record = declined.json()
    assert record["destination"]["kind"] == "hub" and record["status"] == "requested"
    assert record["reason_code"] == "declined_by_agency"
    assert [s["summary"] for s in record["history"][1:]] == [
        "Declined by Safe Homes Domestic Abuse Support: no capacity just now.",
        "Escalated to the hub because Safe Homes Domestic Abuse Support declined it.",
    ]
    assert await statuses(sp, referral_id) == [
        ("rejected", "da-support", "no_capacity"),
        ("requested", "hub", "declined_by_agency"),
    ]
    routed = await staged(sp, ROUTED, referral_id)
    assert [r["destination"]["kind"] for r in routed] == ["agency", "hub"]
    assert routed[1]["reason_codes"] == ["declined_by_agency"]
    # The agency's clock stopped; the hub's request has no escalation clock of its own.
    assert [d.state for d in await deadlines(sp, referral_id)] == ["resolved"]
    # The agency no longer holds it; the hub does.
    assert (await sp.client.get("/v1/referrals", headers=agency)).json() == []
    hub = await hub_key(sp)
    held = (await sp.client.get("/v1/referrals?status=requested", headers=hub)).json()
    assert [r["referral_id"] for r in held] == [referral_id]


async def test_the_hub_cannot_decline_it_reassigns(sp: Signpost) -> None:
    referral_id = await triage(sp, level=3)
    hub = await hub_key(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/decline", headers=hub, json={"reason_code": "no_capacity"}
    )
    assert answer.status_code == 409
    assert "reassign" in answer.json()["detail"]


async def test_no_answer_within_the_sla_escalates_to_the_hub_once(
    sp: Signpost, clock: Clock
) -> None:
    referral_id = await triage(sp)  # Safe Homes answers within 48 hours
    clock.advance(hours=47, minutes=59)
    await tick(sp)
    assert not await at_hub(sp, referral_id)

    clock.advance(minutes=1)
    await eventually(lambda: at_hub(sp, referral_id))
    await tick(sp)
    await tick(sp)
    assert [d.state for d in await deadlines(sp, referral_id)] == ["fired"]
    assert await statuses(sp, referral_id) == [("requested", "hub", "no_response_within_sla")]
    hub = await hub_key(sp)
    record = (await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=hub)).json()
    assert record["history"][-1]["summary"] == (
        "Escalated to the hub because Safe Homes Domestic Abuse Support did not accept or "
        "decline within 48 hours (due 02 Dec 2026 09:00 UTC)."
    )
    assert record["respond_by"] == "2026-12-03T09:00:00Z"  # the hub's own 24 hours


async def test_an_answered_request_does_not_escalate(sp: Signpost, clock: Clock) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    assert (
        await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=agency)
    ).status_code == 200
    clock.advance(days=5)
    await tick(sp)
    row = await decision(sp, referral_id)
    assert row is not None and (row.destination_id, row.status) == ("da-support", "accepted")
    assert [d.state for d in await deadlines(sp, referral_id)] == ["resolved"]


async def test_the_hub_and_the_mash_have_no_escalation_clock(sp: Signpost, clock: Clock) -> None:
    to_hub = await triage(sp, level=3)
    to_mash = await triage(sp, level=4)
    clock.advance(days=3)
    await tick(sp)
    for referral_id in (to_hub, to_mash):
        assert await deadlines(sp, referral_id) == []
        assert await statuses(sp, referral_id) == []


async def test_a_deadline_that_fell_due_while_stopped_fires_once_after_restart(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "var"
    clock = stopped_clock()
    async with running(data_dir, clock) as sp:
        referral_id = await triage(sp)
        [deadline] = await deadlines(sp, referral_id)
        assert deadline.state == "pending"

    clock.advance(hours=72)  # Signpost was down when the 48 hours ran out
    async with running(data_dir, clock) as sp:
        await eventually(lambda: at_hub(sp, referral_id))
        await tick(sp)
        assert [d.state for d in await deadlines(sp, referral_id)] == ["fired"]
        assert await statuses(sp, referral_id) == [("requested", "hub", "no_response_within_sla")]

    clock.advance(hours=72)
    async with running(data_dir, clock) as sp:
        await tick(sp)
        assert await statuses(sp, referral_id) == [("requested", "hub", "no_response_within_sla")]


async def test_the_hub_reassigns_with_a_rationale(sp: Signpost) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    await sp.client.post(
        f"/v1/referrals/{referral_id}/decline", headers=agency, json={"reason_code": "no_capacity"}
    )
    hub = await hub_key(sp)
    too_short = await sp.client.post(
        f"/v1/referrals/{referral_id}/reassign",
        headers=hub,
        json={"agency_id": "family-support", "rationale": "ok"},
    )
    assert too_short.status_code == 422
    unknown = await sp.client.post(
        f"/v1/referrals/{referral_id}/reassign",
        headers=hub,
        json={"agency_id": "nobody", "rationale": "Family known to the Supporting Families team."},
    )
    assert unknown.status_code == 422
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/reassign",
        headers=hub,
        json={
            "agency_id": "family-support",
            "rationale": "Family known to the Supporting Families team.",
        },
    )
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["destination"]["id"] == "family-support" and record["status"] == "requested"
    last = record["history"][-1]
    assert last["rationale"] == "Family known to the Supporting Families team."
    assert last["summary"].startswith("Reassigned by the hub")
    assert (await statuses(sp, referral_id))[-1] == (
        "requested",
        "family-support",
        "reassigned_by_hub",
    )
    # Supporting Families now has a clock running.
    assert [d.state for d in await deadlines(sp, referral_id)] == ["resolved", "pending"]


async def test_only_the_hub_reassigns_or_overrides(sp: Signpost) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    for path, body in (
        ("reassign", {"agency_id": "housing", "rationale": "Housing is the real issue here."}),
        ("override", {"destination": "mash", "rationale": "Disclosure made at school today."}),
    ):
        answer = await sp.client.post(
            f"/v1/referrals/{referral_id}/{path}", headers=agency, json=body
        )
        assert answer.status_code == 403


async def test_the_hub_overrides_up_to_the_mash_and_the_working_agency_is_told(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=agency)
    hub = await hub_key(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/override",
        headers=hub,
        json={"destination": "mash", "rationale": "Disclosure of physical abuse at school."},
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["destination"]["kind"] == "mash"
    assert await statuses(sp, referral_id) == [
        ("accepted", "da-support", None),
        ("cancelled", "da-support", "overridden_by_hub"),
        ("requested", "mash", "overridden_by_hub"),
    ]
    again = await sp.client.post(
        f"/v1/referrals/{referral_id}/override",
        headers=hub,
        json={"destination": "mash", "rationale": "Disclosure of physical abuse at school."},
    )
    assert again.status_code == 409


async def test_the_hub_overrides_down_to_universal_services(sp: Signpost) -> None:
    referral_id = await triage(sp)
    hub = await hub_key(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/override",
        headers=hub,
        json={"destination": "universal", "rationale": "Incident resolved; family well supported."},
    )
    assert answer.status_code == 200, answer.text
    record = answer.json()
    assert record["destination"]["kind"] == "universal" and record["status"] == "cancelled"
    assert await statuses(sp, referral_id) == [
        ("cancelled", "da-support", "universal_services_advised")
    ]
    routed = await staged(sp, ROUTED, referral_id)
    assert routed[-1]["destination"]["kind"] == "universal"
    assert [d.state for d in await deadlines(sp, referral_id)] == ["resolved"]
