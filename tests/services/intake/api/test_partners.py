"""The claim check: the agency a referral is addressed to reads the report, cut down by
the report-access policy, and each read is recorded; nobody else reads it, and an
agency the referral moves away from stops reading it."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from services.intake.access import ReportAccessError
from services.intake.models import Report
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example, police_key


async def routed_to(sp: Signpost, referral_id: str, police: str) -> dict[str, Any]:
    """The referrer's view once routing has decided (intake has heard of it)."""
    async with asyncio.timeout(15):
        while True:
            r = await sp.client.get(f"/v1/reports/{referral_id}", headers=bearer(police))
            view: dict[str, Any] = r.json()
            if view.get("destination"):
                return view
            await asyncio.sleep(0.05)


async def reported(sp: Signpost) -> tuple[str, str]:
    """The example police report (an 8-year-old, domestic abuse: Safe Homes)."""
    police = await police_key(sp)
    r = await sp.client.post(
        "/v1/reports", json=example("police-report.json"), headers=bearer(police)
    )
    assert r.status_code == 202, r.text
    referral_id: str = r.json()["referral_id"]
    view = await routed_to(sp, referral_id, police)
    assert view["destination"]["name"] == "Safe Homes Domestic Abuse Support"
    return referral_id, police


async def test_the_agency_a_referral_is_addressed_to_reads_the_report(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    agency = await signpost.key("agency", "safe-homes", "referrals:read")
    r = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(agency))
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["destination"]["organisation"] == "safe-homes"
    assert body["policy"] == "demoshire-report-access@2026-1"
    report = body["report"]
    sent = example("police-report.json")
    assert report["child"]["given_name"] == sent["child"]["given_name"]
    assert report["narrative"] == sent["narrative"]
    assert report["source"] == {"kind": "police", "organisation": "demo-police"}  # no reference


async def test_no_other_organisation_reads_it(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    for kind, org in (("agency", "demoshire-housing"), ("school", "100001"), ("police", "x")):
        key = await signpost.key(kind, org, "referrals:read")
        r = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(key))
        assert r.status_code == 404, (kind, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
    unknown = await signpost.client.get(
        "/v1/referrals/ref_unknown/report",
        headers=bearer(await signpost.key("hub", "demoshire-hub", "referrals:read")),
    )
    assert unknown.status_code == 404
    no_scope = await signpost.key("agency", "safe-homes", "referrals:write")
    denied = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report", headers=bearer(no_scope)
    )
    assert denied.status_code == 403 and "referrals:read" in denied.text


async def test_the_hub_reads_everything_and_an_administrator_only_ids(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    hub = await signpost.key("hub", "demoshire-hub", "referrals:read")
    whole = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(hub))
    assert whole.json()["report"]["source"]["reference"] == "DP-2026-004411"
    admin = await signpost.key("admin", "signpost-ops", "admin")
    ops = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(admin))
    assert ops.status_code == 200 and ops.json()["report"] == {}


async def test_each_read_is_recorded_with_its_fields_and_only_the_hub_sees_the_trail(
    signpost: Signpost,
) -> None:
    referral_id, _ = await reported(signpost)
    agency = await signpost.key("agency", "safe-homes", "referrals:read")
    await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(agency))
    hub = await signpost.key("hub", "demoshire-hub", "referrals:read")
    trail = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report/reads", headers=bearer(hub)
    )
    [read] = trail.json()
    assert read["organisation"] == "safe-homes" and read["client_kind"] == "agency"
    assert "child.date_of_birth" in read["fields"] and "narrative" in read["fields"]
    assert "source.reference" not in read["fields"]
    hidden = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report/reads", headers=bearer(agency)
    )
    assert hidden.status_code == 403  # the agency may read the report, not the trail


async def test_an_agency_the_referral_moves_away_from_stops_reading_it(
    signpost: Signpost,
) -> None:
    referral_id, police = await reported(signpost)
    hub = await signpost.key("hub", "demoshire-hub", "referrals:read", "referrals:write")
    moved = await signpost.client.post(
        f"/v1/referrals/{referral_id}/reassign",
        headers=bearer(hub),
        json={"agency_id": "family-support", "rationale": "The family already works with them."},
    )
    assert moved.status_code == 200, moved.text
    async with asyncio.timeout(15):
        while (await routed_to(signpost, referral_id, police))["destination"][
            "name"
        ] != "Supporting Families":
            await asyncio.sleep(0.05)
    before = await signpost.key("agency", "safe-homes", "referrals:read")
    after = await signpost.key("agency", "demoshire-families", "referrals:read")
    url = f"/v1/referrals/{referral_id}/report"
    assert (await signpost.client.get(url, headers=bearer(before))).status_code == 404
    assert (await signpost.client.get(url, headers=bearer(after))).status_code == 200


async def test_an_areas_own_policy_decides_field_by_field(
    signpost_with: Callable[..., Any], tmp_path: Path
) -> None:
    policy = tmp_path / "access.json"
    policy.write_text(
        json.dumps(
            {
                "id": "narrow",
                "version": "1",
                "area": "An area that shares little",
                "kinds": {
                    "agency": ["child.given_name", "child.address.postcode", "concerns.code"]
                },
            }
        )
    )
    async with signpost_with(
        intake_report_access_policy_path=policy, webhook_allow_private=True
    ) as sp:
        referral_id, _ = await reported(sp)
        agency = await sp.key("agency", "safe-homes", "referrals:read")
        r = await sp.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(agency))
    assert r.json()["report"] == {
        "child": {"given_name": "Amira", "address": {"postcode": "EX1 1AA"}},
        "concerns": [{"code": "domestic_abuse"}],
    }


async def test_a_broken_report_access_policy_stops_intake_at_start(
    signpost_with: Callable[..., Any], tmp_path: Path
) -> None:
    policy = tmp_path / "access.json"
    policy.write_text(
        json.dumps({"id": "x", "version": "1", "area": "x", "kinds": {"agency": ["narative"]}})
    )
    with pytest.raises(ReportAccessError, match="narative"):
        async with signpost_with(intake_report_access_policy_path=policy):
            pass


# ---------------------------------------------------------------- people (the console)


async def test_a_persons_read_of_a_report_is_recorded_with_their_id(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    jo = signpost.person("safe-homes", "agency_worker", person_id="per_jo", name="Jo Bright")

    read = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(jo))

    assert read.status_code == 200, read.text
    assert read.json()["report"]["child"]["given_name"] == "Amira"
    sam = signpost.person("demoshire-hub", "hub_practitioner", person_id="per_sam")
    trail = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report/reads", headers=bearer(sam)
    )
    [recorded] = trail.json()
    assert (recorded["organisation"], recorded["client_kind"], recorded["client_id"]) == (
        "safe-homes",
        "agency",
        "per_jo",
    )
    assert "narrative" in recorded["fields"]


async def test_a_person_of_another_organisation_reads_no_report(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    other = signpost.person("demoshire-housing", "agency_worker", person_id="per_kim")
    r = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(other))
    assert r.status_code == 404


async def test_a_partnership_analyst_reads_no_report_and_no_trail(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    analyst = bearer(signpost.person("demoshire-partnership", "partnership_analyst"))
    for path in (
        f"/v1/referrals/{referral_id}/report",
        f"/v1/referrals/{referral_id}/report/reads",
        f"/v1/reports/{referral_id}",
    ):
        answer = await signpost.client.get(path, headers=analyst)
        assert answer.status_code == 403, (path, answer.text)
    hub = await signpost.key("hub", "demoshire-hub", "referrals:read")
    trail = await signpost.client.get(
        f"/v1/referrals/{referral_id}/report/reads", headers=bearer(hub)
    )
    assert trail.json() == []  # nothing was shown, so nothing was read


async def test_a_police_officer_submits_as_themselves_and_the_force_follows_the_report(
    signpost: Signpost,
) -> None:
    lee = signpost.person("demo-police", "referrer", person_id="per_lee", name="PC Lee Morgan")

    submitted = await signpost.client.post(
        "/v1/reports", json=example("police-report.json"), headers=bearer(lee)
    )

    assert submitted.status_code == 202, submitted.text
    referral_id = submitted.json()["referral_id"]
    async with signpost.app.state.runtimes["intake"].ctx.db.session() as session:
        stored = await session.get(Report, referral_id)
    assert stored is not None and stored.client_id == "per_lee"
    mine = await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(lee))
    assert mine.status_code == 200
    # A report is the force's, not one person's or one key's (issue 15): a colleague
    # picking up the case, and the force's records system, follow it as Lee does (the
    # report still records that Lee submitted it); another force and a school do not.
    colleague = signpost.person("demo-police", "referrer", person_id="per_ann")
    system = await police_key(signpost)
    for ours in (colleague, system):
        seen = await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(ours))
        assert seen.status_code == 200, seen.text
    elsewhere = signpost.person("other-force", "referrer", person_id="per_kim")
    school = signpost.person("100001", "school_dsl", person_id="per_dsl")
    for other in (elsewhere, school):
        seen = await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(other))
        assert seen.status_code == 404
