"""Resubmissions are linked, not double-counted; the journey reads for the referrer."""

from __future__ import annotations

import asyncio
import hashlib

from services.intake.handlers import UNIVERSAL_OUTCOME, routed_summary, status_summary
from services.intake.models import ReportVersion
from shared.report import ConcernReport
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example, outbox_count, police_key, received_events


async def test_an_identical_resubmission_answers_with_the_original_and_emits_nothing(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    body = example("police-domestic-abuse-report.json")
    first = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    again = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert first.status_code == again.status_code == 202
    original = first.json()["referral_id"]
    assert again.json()["referral_id"] == original
    assert again.json()["duplicate_of"] == original
    assert await outbox_count(signpost) == 1


async def test_a_report_stored_before_the_encompass_fields_is_still_recognised(
    signpost: Signpost,
) -> None:
    # A report as an older client sends it (no school or circumstances fields), stored
    # under the digest intake gave before those fields existed.
    body = example("police-report.json")
    key = await police_key(signpost)
    first = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    original = first.json()["referral_id"]
    legacy = hashlib.sha256(
        ConcernReport.model_validate(body)
        .model_dump_json(exclude={"child": {"school_urn", "home_educated"}})
        .encode()
    ).hexdigest()
    ctx = signpost.app.state.runtimes["intake"].ctx
    async with ctx.db.session() as session:
        version = await session.get(ReportVersion, original)
        assert version is not None and version.body_sha256 != legacy
        version.body_sha256 = legacy
        session.add(version)
        await session.commit()
    again = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert again.json()["duplicate_of"] == original
    assert await outbox_count(signpost) == 1
    # With a new field set it is a change, whatever the digest of the stored one.
    body["child"]["school_urn"] = "100001"
    changed = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert changed.json()["supersedes"] == original


async def test_a_changed_resubmission_is_stored_and_supersedes_the_earlier_report(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    body = example("police-domestic-abuse-report.json")
    first = (await signpost.client.post("/v1/reports", json=body, headers=bearer(key))).json()
    body["narrative"] += " Update: the father was charged."
    second = (await signpost.client.post("/v1/reports", json=body, headers=bearer(key))).json()
    body["narrative"] += " Bail conditions set."
    third = (await signpost.client.post("/v1/reports", json=body, headers=bearer(key))).json()

    assert second["supersedes"] == first["referral_id"] and second["duplicate_of"] is None
    assert third["supersedes"] == second["referral_id"]
    events = [e for e in await received_events(signpost)]
    assert [e["supersedes"] for e in events] == [
        [],
        [first["referral_id"]],
        [second["referral_id"], first["referral_id"]],
    ]
    view = (
        await signpost.client.get(f"/v1/reports/{second['referral_id']}", headers=bearer(key))
    ).json()
    assert view["supersedes"] == first["referral_id"]
    assert view["superseded_by"] == third["referral_id"]
    assert "updates your earlier report" in view["journey"][0]["summary"]


async def test_the_same_reference_from_another_organisation_is_a_separate_report(
    signpost: Signpost,
) -> None:
    mine = await police_key(signpost, "demo-police")
    theirs = await police_key(signpost, "other-force")
    body = example("police-report.json")
    a = (await signpost.client.post("/v1/reports", json=body, headers=bearer(mine))).json()
    body["source"]["organisation"] = "other-force"
    b = (await signpost.client.post("/v1/reports", json=body, headers=bearer(theirs))).json()
    assert a["referral_id"] != b["referral_id"] and b["supersedes"] is None


async def test_concurrent_identical_resubmissions_store_one_report(signpost: Signpost) -> None:
    key = await police_key(signpost)
    body = example("police-report.json")
    answers = await asyncio.gather(
        *(signpost.client.post("/v1/reports", json=body, headers=bearer(key)) for _ in range(5))
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["referral_id"] for a in answers}) == 1
    assert await outbox_count(signpost) == 1


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


def test_universal_routing_reads_as_no_further_action_with_universal_services_advised() -> None:
    assert routed_summary("universal", "Universal services") == UNIVERSAL_OUTCOME
    assert "No further action" in UNIVERSAL_OUTCOME
    assert "universal services advised" in UNIVERSAL_OUTCOME


def test_agency_decisions_are_phrased_plainly_with_their_reason() -> None:
    assert status_summary("accepted", "Demo Family Support", None) == (
        "Accepted by Demo Family Support, who will contact the family."
    )
    declined = status_summary("rejected", "Demo Family Support", "no_capacity")
    assert declined.startswith("Declined by Demo Family Support because they have no capacity")
    closed = status_summary("cancelled", None, "no_further_action")
    assert closed.startswith("Closed") and "no further action" in closed
    assert status_summary("completed", "Hub", None) == "Closed by Hub: support completed."
    # A status from a newer producer still reads sensibly.
    assert status_summary("on-hold", "Hub", None) == "Status: on-hold."


def test_the_hub_moving_a_referral_on_is_not_phrased_as_an_ending() -> None:
    from services.intake.handlers import status_summary

    moved = status_summary("cancelled", "Safe Homes", "reassigned_by_hub")
    assert "moved" in moved and "no further action" not in moved
    late = status_summary("requested", "Demoshire Early Intervention Hub", "no_response_within_sla")
    assert "did not answer in time" in late and "Demoshire Early Intervention Hub" in late
