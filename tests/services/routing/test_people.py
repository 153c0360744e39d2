"""People acting on referrals through routing's API with the console's person tokens:
authorised by their roles and organisation exactly as keys are, and named in every step
and directory version they make."""

from __future__ import annotations

from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import agency_key, triage

RATIONALE = "Family known to the Supporting Families team."


async def test_a_hub_practitioner_reads_and_reassigns_a_referral_and_the_step_names_them(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)
    sam = bearer(
        sp.person("demoshire-hub", "hub_practitioner", person_id="per_sam", name="Sam Hale")
    )

    listed = await sp.client.get("/v1/referrals", headers=sam)
    assert [r["referral_id"] for r in listed.json()] == [referral_id]
    assert (
        await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=sam)
    ).status_code == 200
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/reassign",
        headers=sam,
        json={"agency_id": "family-support", "rationale": RATIONALE},
    )

    assert answer.status_code == 200, answer.text
    step = answer.json()["history"][-1]
    assert step["by"] == "demoshire-hub/per_sam"
    assert step["summary"].startswith("Reassigned by the hub (Sam Hale) to Supporting Families")


async def test_an_agency_worker_accepts_as_themselves_and_a_key_still_as_its_agency(
    sp: Signpost,
) -> None:
    by_person, by_key = await triage(sp), await triage(sp)
    jo = bearer(sp.person("safe-homes", "agency_worker", person_id="per_jo", name="Jo Bright"))

    accepted = await sp.client.post(f"/v1/referrals/{by_person}/accept", headers=jo)
    keyed = await sp.client.post(f"/v1/referrals/{by_key}/accept", headers=await agency_key(sp))

    step = accepted.json()["history"][-1]
    assert (step["by"], step["summary"]) == (
        "safe-homes/per_jo",
        "Accepted by Safe Homes Domestic Abuse Support (Jo Bright).",
    )
    step = keyed.json()["history"][-1]
    assert (step["by"], step["summary"]) == (
        "safe-homes",
        "Accepted by Safe Homes Domestic Abuse Support.",
    )


async def test_a_person_of_another_organisation_gets_404_as_a_key_of_it_would(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)  # Safe Homes'
    other = bearer(sp.person("demoshire-families", "agency_worker", person_id="per_kim"))

    assert (await sp.client.get("/v1/referrals", headers=other)).json() == []
    seen = await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=other)
    acted = await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=other)
    assert (seen.status_code, acted.status_code) == (404, 404)
    # ...and a MASH practitioner is an agency's person like any other: not the hub.
    mash = bearer(sp.person("demoshire-mash", "mash_practitioner", person_id="per_priya"))
    assert (await sp.client.get("/v1/referrals", headers=mash)).json() == []
    moved = await sp.client.post(
        f"/v1/referrals/{referral_id}/reassign",
        headers=mash,
        json={"agency_id": "family-support", "rationale": RATIONALE},
    )
    assert moved.status_code == 403


async def test_a_partnership_analyst_reads_no_referral_and_changes_nothing(sp: Signpost) -> None:
    referral_id = await triage(sp)
    analyst = bearer(sp.person("demoshire-partnership", "partnership_analyst"))

    for path in ("/v1/referrals", f"/v1/referrals/{referral_id}/routing"):
        answer = await sp.client.get(path, headers=analyst)
        assert answer.status_code == 403, path
        assert answer.json()["missing_scopes"] == ["referrals:read"]
        assert "This person's roles lack" in answer.json()["detail"]
    moved = await sp.client.post(
        f"/v1/referrals/{referral_id}/override",
        headers=analyst,
        json={"destination": "mash", "rationale": RATIONALE},
    )
    assert moved.status_code == 403
    # The directory says nothing about a child: any caller reads it.
    assert (await sp.client.get("/v1/directory", headers=analyst)).status_code == 200


async def test_an_administrator_changes_the_directory_as_themselves_and_reads_no_referral(
    sp: Signpost,
) -> None:
    referral_id = await triage(sp)
    ravi = bearer(sp.person("demoshire-partnership", "admin", person_id="per_ravi"))
    directory = (await sp.client.get("/v1/directory", headers=ravi)).json()
    [housing] = [a for a in directory["agencies"] if a["id"] == "housing"]

    changed = await sp.client.put(
        "/v1/directory/agencies/housing", headers=ravi, json={**housing, "capacity": 7}
    )

    assert changed.status_code == 200, changed.text
    assert changed.json()["changed_by"] == "demoshire-partnership/per_ravi"
    [newest, *_] = (await sp.client.get("/v1/directory/versions", headers=ravi)).json()
    assert newest["changed_by"] == "demoshire-partnership/per_ravi"
    denied = await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=ravi)
    assert denied.status_code == 403


async def test_a_person_token_past_its_minute_on_the_apps_clock_is_a_401_saying_so(
    sp: Signpost,
) -> None:
    token = sp.person("demoshire-hub", "hub_practitioner")
    sp.clock.advance(minutes=2)

    answer = await sp.client.get("/v1/referrals", headers=bearer(token))

    assert answer.status_code == 401
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert "expired" in answer.json()["detail"]
    assert token not in answer.text
