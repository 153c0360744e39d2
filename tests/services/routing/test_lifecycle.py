"""The referral lifecycle: the transition table, and agencies moving their referrals
through it over the API (each change a referral.status event; each illegal one a 409)."""

from __future__ import annotations

from pathlib import Path
from typing import get_args

import pytest

from services.apps import service_app
from services.routing.lifecycle import (
    DECLINE_REASONS,
    OUTCOMES,
    TRANSITIONS,
    DeclineReason,
    IllegalTransition,
    OutcomeCode,
    transition,
)
from shared.events import ReasonCode
from shared.settings import embedded_settings
from tests.services.conftest import Signpost
from tests.services.routing.conftest import agency_key, decision, hub_key, statuses, triage

STATUSES = ["requested", "accepted", "rejected", "in-progress", "completed", "failed", "cancelled"]
ACTIONS = ["accept", "decline", "start", "close", "cancel"]
LEGAL = {
    ("requested", "accept"): "accepted",
    ("requested", "decline"): "rejected",
    ("requested", "cancel"): "cancelled",
    ("accepted", "start"): "in-progress",
    ("accepted", "close"): "completed",
    ("accepted", "cancel"): "cancelled",
    ("in-progress", "close"): "completed",
    ("in-progress", "cancel"): "cancelled",
}


@pytest.mark.parametrize("status", STATUSES)
@pytest.mark.parametrize("action", ACTIONS)
def test_transition_table(status: str, action: str) -> None:
    expected = LEGAL.get((status, action))
    if expected is None:
        with pytest.raises(IllegalTransition):
            transition(status, action, to="completed" if action == "close" else None)  # type: ignore[arg-type]
    else:
        to = "completed" if action == "close" else None
        assert transition(status, action, to=to) == expected  # type: ignore[arg-type]


def test_closing_leads_to_completed_or_failed_only() -> None:
    assert transition("in-progress", "close", to="failed") == "failed"
    with pytest.raises(IllegalTransition):
        transition("in-progress", "close", to="accepted")
    with pytest.raises(ValueError, match="close needs one of"):
        transition("in-progress", "close")


def test_vocabularies_match_their_api_types() -> None:
    assert set(DECLINE_REASONS) == set(get_args(DeclineReason))
    assert {c for codes in OUTCOMES.values() for c in codes} == set(get_args(OutcomeCode))
    assert set(TRANSITIONS) == set(LEGAL)


# ---------------------------------------------------------------- over the API


async def test_an_agency_accepts_starts_and_closes_its_referral(sp: Signpost) -> None:
    referral_id = await triage(sp)  # domestic abuse, level 2 → Safe Homes
    agency = await agency_key(sp)

    listed = (await sp.client.get("/v1/referrals", headers=agency)).json()
    assert [r["referral_id"] for r in listed] == [referral_id]
    assert listed[0]["status"] == "requested"
    assert listed[0]["allowed_actions"] == ["accept", "decline", "cancel"]

    for action in ("accept", "start"):
        answer = await sp.client.post(f"/v1/referrals/{referral_id}/{action}", headers=agency)
        assert answer.status_code == 200, answer.text
    closed = await sp.client.post(
        f"/v1/referrals/{referral_id}/close",
        headers=agency,
        json={"outcome": "completed", "outcome_code": "got_help"},
    )
    assert closed.status_code == 200, closed.text
    record = closed.json()
    assert record["status"] == "completed"
    assert [s["summary"] for s in record["history"][1:]] == [
        "Accepted by Safe Homes Domestic Abuse Support.",
        "Safe Homes Domestic Abuse Support started working with the family.",
        "Closed by Safe Homes Domestic Abuse Support as completed: support was given.",
    ]
    assert await statuses(sp, referral_id) == [
        ("accepted", "da-support", None),
        ("in-progress", "da-support", None),
        ("completed", "da-support", "got_help"),
    ]


async def test_a_referral_can_fail_straight_from_accepted(sp: Signpost) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=agency)
    closed = await sp.client.post(
        f"/v1/referrals/{referral_id}/close",
        headers=agency,
        json={"outcome": "failed", "outcome_code": "unable_to_contact"},
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["status"] == "failed"


# Every illegal (status, action) an agency can reach over the API.
ILLEGAL = [
    ([], "start"),
    ([], "close"),
    (["accept"], "accept"),
    (["accept"], "decline"),
    (["accept", "start"], "accept"),
    (["accept", "start"], "decline"),
    (["accept", "start"], "start"),
    (["accept", "close"], "accept"),
    (["accept", "close"], "decline"),
    (["accept", "close"], "start"),
    (["accept", "close"], "close"),
]


async def _do(sp: Signpost, referral_id: str, action: str, key: dict[str, str]) -> int:
    body = {
        "decline": {"reason_code": "no_capacity"},
        "close": {"outcome": "failed", "outcome_code": "client_refused"},
    }.get(action)
    answer = await sp.client.post(f"/v1/referrals/{referral_id}/{action}", headers=key, json=body)
    return answer.status_code


@pytest.mark.parametrize(("before", "action"), ILLEGAL)
async def test_an_illegal_transition_is_a_409_and_changes_nothing(
    sp: Signpost, before: list[str], action: str
) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    for step in before:
        assert await _do(sp, referral_id, step, agency) == 200
    row = await decision(sp, referral_id)
    assert row is not None
    events = await statuses(sp, referral_id)

    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/{action}",
        headers=agency,
        json={
            "decline": {"reason_code": "no_capacity"},
            "close": {"outcome": "completed", "outcome_code": "got_help"},
        }.get(action),
    )
    assert answer.status_code == 409, answer.text
    problem = answer.json()
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert problem["status_now"] == row.status
    assert f"A referral that is {row.status} cannot be" in problem["detail"]
    after = await decision(sp, referral_id)
    assert after is not None and after.status == row.status
    assert await statuses(sp, referral_id) == events


async def test_an_agency_sees_and_acts_on_only_its_own_referrals(sp: Signpost) -> None:
    ours = await triage(sp)  # Safe Homes
    theirs = await triage(sp, concerns=["bullying"])  # Supporting Families
    safe_homes = await agency_key(sp)
    families = await agency_key(sp, "demoshire-families")

    listed = (await sp.client.get("/v1/referrals", headers=safe_homes)).json()
    assert [r["referral_id"] for r in listed] == [ours]
    for path in (f"/v1/referrals/{theirs}/routing",):
        assert (await sp.client.get(path, headers=safe_homes)).status_code == 404
    assert (
        await sp.client.post(f"/v1/referrals/{theirs}/accept", headers=safe_homes)
    ).status_code == 404
    assert (
        await sp.client.post(f"/v1/referrals/{theirs}/accept", headers=families)
    ).status_code == 200

    hub = await hub_key(sp)
    everything = (await sp.client.get("/v1/referrals", headers=hub)).json()
    assert {r["referral_id"] for r in everything} == {ours, theirs}


async def test_acting_needs_the_write_scope(sp: Signpost) -> None:
    referral_id = await triage(sp)
    reader = {"Authorization": "Bearer " + await sp.key("agency", "safe-homes", "referrals:read")}
    answer = await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=reader)
    assert answer.status_code == 403
    assert answer.json()["missing_scopes"] == ["referrals:write"]


async def test_a_decline_needs_a_known_reason_and_a_close_a_matching_outcome(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    bare = await sp.client.post(f"/v1/referrals/{referral_id}/decline", headers=agency, json={})
    assert bare.status_code == 422
    assert bare.json()["errors"][0]["field"] == "reason_code"
    unknown = await sp.client.post(
        f"/v1/referrals/{referral_id}/decline", headers=agency, json={"reason_code": "bored"}
    )
    assert unknown.status_code == 422
    await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=agency)
    mismatched = await sp.client.post(
        f"/v1/referrals/{referral_id}/close",
        headers=agency,
        json={"outcome": "completed", "outcome_code": "client_refused"},
    )
    assert mismatched.status_code == 422
    assert "not an outcome code for completed" in mismatched.json()["detail"]


async def test_the_routing_record_says_why_in_plain_words(sp: Signpost) -> None:
    referral_id = await triage(sp)
    hub = await hub_key(sp)
    record = (await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=hub)).json()
    assert record["destination"] == {
        "kind": "agency",
        "id": "da-support",
        "organisation": "safe-homes",
        "name": "Safe Homes Domestic Abuse Support",
    }
    assert record["directory_version"] == "demo-2026-12-1"
    assert record["explanation"].startswith(
        "Level 2 (early help): Safe Homes Domestic Abuse Support is best placed."
    )
    assert record["history"][0]["summary"] == record["explanation"]
    considered = {c["agency_id"]: c for c in record["considered"]}
    assert considered["housing"]["reason"].startswith("does not meet any of the needs")
    assert record["respond_by"] == "2026-12-02T09:00:00Z"  # 48 hours after 09:00 on 30 Nov


async def test_a_second_triage_revision_routes_again_and_keeps_the_history(sp: Signpost) -> None:
    referral_id = await triage(sp)
    await triage(sp, referral_id=referral_id, level=4, revision=1)
    row = await decision(sp, referral_id, revision=1)
    assert row is not None and row.destination_kind == "mash" and row.status == "requested"
    hub = await hub_key(sp)
    record = (await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=hub)).json()
    assert len(record["history"]) == 2
    assert record["history"][1]["summary"].startswith(
        "Routed again after a new triage decision (revision 1). Level 4 is the top"
    )
    # An older revision arriving late changes nothing.
    await triage(sp, referral_id=referral_id, level=2, revision=0, wait=False)
    await triage(sp, level=1)  # a later event, handled after the stale one
    again = await decision(sp, referral_id)
    assert again is not None and again.destination_kind == "mash"


async def test_level_one_makes_no_referral(sp: Signpost) -> None:
    referral_id = await triage(sp, level=1)
    row = await decision(sp, referral_id)
    assert row is not None
    assert (row.destination_kind, row.destination_id, row.status) == (
        "universal",
        None,
        "completed",
    )
    assert await statuses(sp, referral_id) == []


def test_every_decline_reason_and_outcome_code_is_a_typed_event_reason_code() -> None:
    codes = {*DECLINE_REASONS, *(code for codes in OUTCOMES.values() for code in codes)}
    assert codes <= {code.value for code in ReasonCode}


async def test_the_hubs_review_queue_holds_referrals_whose_narrative_needs_review(
    sp: Signpost,
) -> None:
    review = await triage(sp, suspected=["serious_violence"])
    plain = await triage(sp)
    hub = await hub_key(sp)
    queue = await sp.client.get("/v1/referrals?reason_code=needs_review", headers=hub)
    assert queue.status_code == 200
    assert [r["referral_id"] for r in queue.json()] == [review]
    [held] = queue.json()
    assert (held["destination"]["kind"], held["reason_code"]) == ("hub", "needs_review")
    record = (await sp.client.get(f"/v1/referrals/{review}/routing", headers=hub)).json()
    assert record["reason_codes"][:2] == ["needs_review", "single_agency_best_placed"]
    assert "Without the review it would have gone to Safe Homes" in record["explanation"]
    # The hub reviews it and sends it on: it leaves the queue.
    moved = await sp.client.post(
        f"/v1/referrals/{review}/reassign",
        headers=hub,
        json={"agency_id": "da-support", "rationale": "Reviewed: domestic abuse support."},
    )
    assert moved.status_code == 200, moved.text
    after = await sp.client.get("/v1/referrals?reason_code=needs_review", headers=hub)
    assert after.json() == []
    assert plain != review


async def test_an_unknown_reason_code_filter_is_a_422_naming_it(sp: Signpost) -> None:
    answer = await sp.client.get("/v1/referrals?reason_code=bored", headers=await hub_key(sp))
    assert answer.status_code == 422
    assert "reason_code" in answer.text


def test_every_action_a_referral_can_offer_has_its_route(tmp_path: Path) -> None:
    """`allowed_actions` only ever names an action an integrator can call."""
    app = service_app("routing", embedded_settings(tmp_path / "var"))
    paths = app.openapi()["paths"]
    for action in ACTIONS:
        assert "post" in paths.get(f"/v1/referrals/{{referral_id}}/{action}", {}), action


async def test_the_hub_cancels_an_open_referral_with_a_rationale_and_an_agency_cannot(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)  # level 2 → Safe Homes, requested
    reason = {"rationale": "The family moved out of the area; the new authority has it."}
    refused = await sp.client.post(
        f"/v1/referrals/{referral_id}/cancel", headers=await agency_key(sp), json=reason
    )
    assert refused.status_code == 403
    assert (
        await sp.client.post(
            f"/v1/referrals/{referral_id}/cancel", headers=await hub_key(sp), json={}
        )
    ).status_code == 422  # the rationale is required

    cancelled = await sp.client.post(
        f"/v1/referrals/{referral_id}/cancel", headers=await hub_key(sp), json=reason
    )
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["status"] == "cancelled"
    assert (await statuses(sp, referral_id))[-1][0] == "cancelled"
    again = await sp.client.post(
        f"/v1/referrals/{referral_id}/cancel", headers=await hub_key(sp), json=reason
    )
    assert again.status_code == 409
