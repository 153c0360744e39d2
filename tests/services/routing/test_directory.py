"""The agency directory: seeded from the shipped demo, changed only through the API
(each change a new version), decisions naming the version they used, and imports
from Open Referral UK / HSDS 3 JSON (over the API and `signpost directory import`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from services.routing.directory import load_directory
from services.routing.oruk import agencies_from_oruk
from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import decision, running, stopped_clock, triage

FIXTURE = Path(__file__).parent / "fixtures" / "oruk_demoshire_services.json"
ROOT = Path(__file__).resolve().parents[3]
CLI = [sys.executable, "-m", "services.cli"]
COUNSELLING = "oruk-ac148810-d857-441c-9679-408f346de14b"


def oruk() -> Any:
    return json.loads(FIXTURE.read_text())


async def writer(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("admin", "demoshire-partnership", "directory:write"))


async def reader(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("agency", "safe-homes", "referrals:read"))


def new_agency(**changes: Any) -> dict[str, Any]:
    agency = {
        "id": "young-carers",
        "kind": "agency",
        "name": "Demoshire Young Carers",
        "organisation": "demoshire-carers",
        "service_kind": "family_support",
        "concern_codes": ["young_carer"],
        "min_age": 5,
        "max_age": 17,
        "postcode_districts": ["ex1", "EX2"],
        "capacity": 30,
        "response_sla_hours": 72,
        "contact": {"email": "carers@demoshire.example"},
    }
    agency.update(changes)
    return agency


async def test_the_demo_directory_is_seeded_and_any_key_may_read_it(sp: Signpost) -> None:
    answer = await sp.client.get("/v1/directory", headers=await reader(sp))
    assert answer.status_code == 200
    directory = answer.json()
    assert directory["version"] == load_directory(None).version
    assert (directory["seq"], directory["source"]) == (1, "seed")
    assert {a["service_kind"] for a in directory["agencies"]} >= {
        "school_nursing",
        "domestic_abuse_support",
        "housing",
        "anti_social_behaviour_unit",
        "youth_offending_diversion",
        "family_support",
        "child_and_family_mental_health",
        "early_intervention_hub",
        "mash",
    }
    assert (await sp.client.get("/v1/directory")).status_code == 401


async def test_adding_an_agency_makes_a_new_version_that_decisions_use(sp: Signpost) -> None:
    before = await triage(sp, concerns=["young_carer"])  # Supporting Families today
    answer = await sp.client.post(
        "/v1/directory/agencies", headers=await writer(sp), json=new_agency()
    )
    assert answer.status_code == 201, answer.text
    directory = answer.json()
    assert (directory["version"], directory["seq"]) == ("demoshire-2", 2)
    assert directory["source"] == "agency" and directory["changed_by"] == "demoshire-partnership"
    added = next(a for a in directory["agencies"] if a["id"] == "young-carers")
    assert added["postcode_districts"] == ["EX1", "EX2"]

    after = await triage(sp, concerns=["young_carer"])
    first, second = await decision(sp, before), await decision(sp, after)
    assert first is not None and second is not None
    assert (first.directory_version, first.destination_id) == ("demo-2026-12-1", "family-support")
    # Both meet every need; the new agency is the less loaded share of its capacity.
    assert (second.directory_version, second.destination_id) == ("demoshire-2", "young-carers")

    old = await sp.client.get("/v1/directory/versions/demo-2026-12-1", headers=await reader(sp))
    assert "young-carers" not in {a["id"] for a in old.json()["agencies"]}
    versions = (await sp.client.get("/v1/directory/versions", headers=await reader(sp))).json()
    assert [v["version"] for v in versions] == ["demoshire-2", "demo-2026-12-1"]


async def test_changing_the_directory_needs_the_directory_write_scope(sp: Signpost) -> None:
    answer = await sp.client.post(
        "/v1/directory/agencies", headers=await reader(sp), json=new_agency()
    )
    assert answer.status_code == 403
    assert answer.json()["missing_scopes"] == ["directory:write"]


async def test_put_replaces_the_directory_as_a_new_version(sp: Signpost) -> None:
    key = await writer(sp)
    current = (await sp.client.get("/v1/directory", headers=key)).json()
    body = {k: current[k] for k in ("area", "agencies", "authority_districts", "taxonomy_concerns")}
    body["agencies"] = [a for a in body["agencies"] if a["id"] != "asb-unit"]
    answer = await sp.client.put("/v1/directory", headers=key, json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["version"] == "demoshire-2"
    assert "asb-unit" not in {a["id"] for a in answer.json()["agencies"]}


@pytest.mark.parametrize(
    ("change", "field"),
    [
        (lambda d: d["agencies"].pop(0), "the directory needs exactly one agency of kind 'mash'"),
        (lambda d: d["agencies"].append(d["agencies"][2]), "agency ids must be unique"),
        (lambda d: d["agencies"][2].update(concern_codes=["nonsense"]), "unknown concern code"),
    ],
)
async def test_an_invalid_directory_is_a_422_and_no_new_version(
    sp: Signpost, change: Any, field: str
) -> None:
    key = await writer(sp)
    current = (await sp.client.get("/v1/directory", headers=key)).json()
    body = {k: current[k] for k in ("area", "agencies", "authority_districts", "taxonomy_concerns")}
    change(body)
    answer = await sp.client.put("/v1/directory", headers=key, json=body)
    assert answer.status_code == 422
    assert field in json.dumps(answer.json())
    versions = (await sp.client.get("/v1/directory/versions", headers=key)).json()
    assert len(versions) == 1


async def test_agencies_are_changed_and_removed_one_by_one(sp: Signpost) -> None:
    key = await writer(sp)
    await sp.client.post("/v1/directory/agencies", headers=key, json=new_agency())
    duplicate = await sp.client.post("/v1/directory/agencies", headers=key, json=new_agency())
    assert duplicate.status_code == 409
    changed = await sp.client.put(
        "/v1/directory/agencies/young-carers", headers=key, json=new_agency(capacity=5)
    )
    assert changed.status_code == 200
    assert next(a for a in changed.json()["agencies"] if a["id"] == "young-carers")["capacity"] == 5
    removed = await sp.client.delete("/v1/directory/agencies/young-carers", headers=key)
    assert removed.status_code == 200 and removed.json()["version"] == "demoshire-4"
    assert (await sp.client.delete("/v1/directory/agencies/hub", headers=key)).status_code == 409
    assert (await sp.client.delete("/v1/directory/agencies/nobody", headers=key)).status_code == 404


async def test_an_agency_holding_open_referrals_cannot_be_removed(sp: Signpost) -> None:
    await triage(sp)  # Safe Homes
    answer = await sp.client.delete("/v1/directory/agencies/da-support", headers=await writer(sp))
    assert answer.status_code == 409
    assert "1 open referral" in answer.json()["detail"]


async def test_the_directory_survives_a_restart(tmp_path: Path) -> None:
    clock = stopped_clock()
    async with running(tmp_path / "var", clock) as sp:
        await sp.client.post("/v1/directory/agencies", headers=await writer(sp), json=new_agency())
    async with running(tmp_path / "var", clock) as sp:
        directory = (await sp.client.get("/v1/directory", headers=await reader(sp))).json()
        assert directory["version"] == "demoshire-2"


def test_replacing_the_agencies_validates_the_directory_afresh() -> None:
    directory = load_directory(None)
    without_hub = [a for a in directory.agencies if a.kind != "hub"]
    with pytest.raises(ValueError, match="exactly one agency of kind 'hub'"):
        directory.with_agencies(without_hub)
    fewer = directory.with_agencies([a for a in directory.agencies if a.id != "asb-unit"])
    assert len(fewer.agencies) == len(directory.agencies) - 1
    assert fewer.taxonomy_concerns == directory.taxonomy_concerns


# ---------------------------------------------------------------- Open Referral UK


def test_oruk_services_become_agencies_with_what_they_meet() -> None:
    directory = load_directory(None)
    result = agencies_from_oruk(oruk(), taxonomy_concerns=directory.taxonomy_concerns)
    agencies = {a.id: a for a in result.agencies}
    assert set(agencies) == {COUNSELLING, "oruk-svc-da-outreach", "oruk-svc-young-carers"}

    da = agencies["oruk-svc-da-outreach"]
    assert da.name == "Safe Spaces Domestic Abuse Outreach"
    assert da.organisation == "org-demoshire-womens-aid"
    assert da.concern_codes == ["domestic_abuse"]
    assert (da.min_age, da.max_age, da.capacity) == (0, 17, 25)
    assert da.local_authority_codes == ["E06099001"] and da.postcode_districts == []
    assert da.contact is not None and da.contact.phone == "0300 000 0400"
    assert da.source == "oruk:svc-da-outreach" and da.response_sla_hours == 72

    carers = agencies["oruk-svc-young-carers"]
    assert carers.concern_codes == ["young_carer"]  # a signpost-concern taxonomy term
    assert carers.postcode_districts == ["EX1", "EX2", "EX4"]

    counselling = agencies[COUNSELLING]  # the Open Referral example service
    assert counselling.concern_codes == ["low_level_mental_health"]
    assert (counselling.min_age, counselling.max_age) == (12, 25)
    assert counselling.organisation == "d9d5e0f5-d3ce-4f73-9a2f-4dd0ecc6c610"
    assert result.notes == [
        "Community Counselling: its service area is free text, so it is taken to cover "
        "the whole area"
    ]
    assert {(s.service_id, s.reason) for s in result.skipped} == {
        ("svc-debt", "it serves people aged 18 and over, not children"),
        ("svc-youth-club", "its status is 'inactive', not active"),
        ("svc-rhyme-time", "none of its taxonomy terms maps to a concern code"),
    }


def test_every_accepted_shape_of_oruk_json_is_read() -> None:
    services = oruk()["contents"]
    terms = load_directory(None).taxonomy_concerns
    by_org = {"id": "org-x", "name": "X", "services": [dict(services[1], organization=None)]}
    for document in (services, services[1], by_org, [by_org]):
        ids = {a.id for a in agencies_from_oruk(document, taxonomy_concerns=terms).agencies}
        assert "oruk-svc-da-outreach" in ids
    orphan = agencies_from_oruk(by_org, taxonomy_concerns=terms).agencies[0]
    assert orphan.organisation == "org-x"


async def test_importing_oruk_over_the_api_makes_a_version_routing_uses(sp: Signpost) -> None:
    key = await writer(sp)
    answer = await sp.client.post(
        "/v1/directory/import/oruk?response_sla_hours=24", headers=key, json=oruk()
    )
    assert answer.status_code == 201, answer.text
    report = answer.json()
    assert report["version"] == "demoshire-2"
    assert sorted(report["imported"]) == sorted(
        [COUNSELLING, "oruk-svc-da-outreach", "oruk-svc-young-carers"]
    )
    assert len(report["skipped"]) == 3
    directory = (await sp.client.get("/v1/directory", headers=key)).json()
    assert directory["source"] == "oruk-import"
    assert len(directory["agencies"]) == len(load_directory(None).agencies) + 3

    # EX6 is outside the imported outreach service's authority: Safe Homes takes those.
    outside = [await triage(sp, district="EX6") for _ in range(3)]
    for referral_id in outside:
        row = await decision(sp, referral_id)
        assert row is not None and row.destination_id == "da-support"
    # In EX1 both meet the need; the outreach service is the less loaded share.
    chosen = await decision(sp, await triage(sp, district="EX1"))
    assert chosen is not None and chosen.destination_id == "oruk-svc-da-outreach"
    assert chosen.directory_version == "demoshire-2"

    again = await sp.client.post("/v1/directory/import/oruk", headers=key, json=oruk())
    assert again.json()["version"] == "demoshire-3"
    directory = (await sp.client.get("/v1/directory", headers=key)).json()
    assert (
        len(directory["agencies"]) == len(load_directory(None).agencies) + 3
    )  # replaced by id, not added twice


async def test_an_oruk_document_with_nothing_usable_is_a_422(sp: Signpost) -> None:
    answer = await sp.client.post(
        "/v1/directory/import/oruk", headers=await writer(sp), json={"contents": []}
    )
    assert answer.status_code == 422
    assert answer.json()["type"].endswith("nothing-to-import")


def test_signpost_directory_import_adds_oruk_agencies(tmp_path: Path) -> None:
    data_dir = tmp_path / "var"
    out = subprocess.run(
        [*CLI, "directory", "import", str(FIXTURE), "--data-dir", str(data_dir)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert "imported 3 agencies" in out.stdout
    assert out.stdout.strip().splitlines()[-1] == "directory version demoshire-2"
    assert "skipped svc-debt (Adult Debt Advice)" in out.stdout
    # Progress on standard error, the result alone on standard output.
    assert "reading services" in out.stderr and "6/6" in out.stderr
    assert "checking and saving the new directory version" in out.stderr
    assert "reading services" not in out.stdout


# ---------------------------------------------------------------- statutory pathways


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"kind": "pathway", "response_sla_hours": None}, "names its pathway"),
        ({"kind": "pathway", "pathway": "channel"}, "names its pathway"),
        ({"pathway": "prevent"}, "only an agency of kind 'pathway' names a pathway"),
        ({"response_sla_hours": None}, "needs response_sla_hours"),
    ],
)
async def test_a_pathway_entry_must_name_a_known_pathway_and_only_it_may(
    sp: Signpost, changes: dict[str, Any], message: str
) -> None:
    answer = await sp.client.post(
        "/v1/directory/agencies", headers=await writer(sp), json=new_agency(**changes)
    )
    assert answer.status_code == 422
    assert message in json.dumps(answer.json())


async def test_a_pathway_destination_is_added_without_a_response_clock_and_removed(
    sp: Signpost,
) -> None:
    key = await writer(sp)
    body = new_agency(
        id="prevent-north", kind="pathway", pathway="prevent", response_sla_hours=None
    )
    added = await sp.client.post("/v1/directory/agencies", headers=key, json=body)
    assert added.status_code == 201, added.text
    entry = next(a for a in added.json()["agencies"] if a["id"] == "prevent-north")
    assert (entry["kind"], entry["pathway"], entry["response_sla_hours"]) == (
        "pathway",
        "prevent",
        None,
    )
    removed = await sp.client.delete("/v1/directory/agencies/prevent", headers=key)
    assert removed.status_code == 200


def test_the_demo_directory_has_a_destination_for_every_pathway() -> None:
    directory = load_directory(None)
    assert {a.pathway for a in directory.agencies if a.kind == "pathway"} == {
        "prevent",
        "private_fostering",
        "children_missing_education",
    }
    # A CME officer for each of the demo's local authorities.
    cme = directory.pathway_destinations("children_missing_education")
    assert sorted(c for a in cme for c in a.local_authority_codes) == sorted(
        directory.authority_districts
    )
