"""Publishing a threshold policy is a reviewed act (issue 17): a version is drafted
through triage's API (checked as a policy file is), simulated over stored referrals
(triage re-decides them, read only, and the console records the summary it saw),
approved by a second person (never a key, never the drafter) from a time more than a
minute away, or withdrawn before it takes effect. The audit trail keeps every act. The
approved version decides the referrals received once the clock passes its time, and
the file policy those before."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import embedded_app
from services.triage import service
from shared.clock import Clock
from shared.settings import embedded_settings
from shared.simulation import NDJSON, Difference, redecided_from_dict
from tests.services.conftest import Signpost, bearer
from tests.services.triage.helpers import DEMOSHIRE, POLICIES
from tests.services.triage.test_api import police_report, post, triage_of

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)  # a Monday
HUB = "demoshire-hub"
# The draft raises domestic abuse from 4 to 6: the example police report (domestic abuse
# alone) moves from early help (2) to level 3.
DRAFT_VERSION = "2027.1"


def summary_of(version: dict[str, Any], live: str = DEMOSHIRE.tag) -> dict[str, Any]:
    """What the console records for a simulation of `version` against `live`: an empty
    difference, about what was simulated."""
    policy = version["policy"]
    return {
        "about": {
            "draft_policy": f"{policy['id']}@{policy['version']}",
            "live_policy": live,
            "from": "2026-11-01",
            "to": "2026-12-01",
            "directory_version": "demo-1",
        },
        **Difference(top_level=4).summary(),
    }


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    settings = embedded_settings(tmp_path / "var", auth_cache_seconds=0)
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


def document(version: str = DRAFT_VERSION, domestic_abuse: int | None = 6) -> dict[str, Any]:
    """The Demoshire file policy as a new version (domestic abuse weighted as given)."""
    raw: dict[str, Any] = json.loads((POLICIES / "demoshire.json").read_text())
    raw["version"] = version
    if domestic_abuse is not None:
        raw["weights"]["family_and_environment"]["domestic_abuse"] = domestic_abuse
    return raw


# Person tokens live a minute on the app's clock: mint one for each call.
def ann(sp: Signpost) -> dict[str, str]:
    """The hub manager who drafts."""
    return bearer(sp.person(HUB, "hub_manager", person_id="per_ann", name="Ann Shaw"))


def bo(sp: Signpost) -> dict[str, str]:
    """A second hub manager, who approves."""
    return bearer(sp.person(HUB, "hub_manager", person_id="per_bo", name="Bo Reid"))


async def drafted(sp: Signpost, body: dict[str, Any] | None = None) -> dict[str, Any]:
    answer = await sp.client.post("/v1/policy-versions", json=body or document(), headers=ann(sp))
    assert answer.status_code == 201, answer.text
    version: dict[str, Any] = answer.json()
    assert answer.headers["location"] == f"/v1/policy-versions/{version['id']}"
    return version


async def simulated(
    sp: Signpost, version: dict[str, Any], *, live: str = DEMOSHIRE.tag
) -> dict[str, Any]:
    answer = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/simulations",
        json={
            "from": "2026-11-01",
            "to": "2026-12-01",
            "directory_version": "demo-1",
            "summary": summary_of(version, live),
        },
        headers=ann(sp),
    )
    assert answer.status_code == 201, answer.text
    recorded: dict[str, Any] = answer.json()
    return recorded


async def approve(
    sp: Signpost, who: dict[str, str], version_id: str, simulation_id: str, at: datetime
) -> httpx.Response:
    return await sp.client.post(
        f"/v1/policy-versions/{version_id}/approve",
        json={"simulation_id": simulation_id, "activates_at": at.isoformat()},
        headers=who,
    )


async def referral(sp: Signpost, reference: str) -> dict[str, Any]:
    """The example police report, received now and decided: its triage view."""
    police = await sp.key("police", "demo-police", "reports:write", "reports:read")
    hub = await sp.key("hub", HUB, "referrals:read")
    return await triage_of(sp, hub, await post(sp, police, police_report(reference)))


async def shown(sp: Signpost, version_id: str) -> dict[str, Any]:
    answer = await sp.client.get(f"/v1/policy-versions/{version_id}", headers=ann(sp))
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


async def test_a_draft_is_listed_and_shown_with_who_drafted_it(sp: Signpost) -> None:
    version = await drafted(sp)

    assert version["id"].startswith("pol_")
    assert version["policy"] == {"id": "demoshire", "version": DRAFT_VERSION}
    assert (version["state"], version["in_force"]) == ("draft", False)
    assert (version["drafted_by"], version["drafted_by_name"]) == (f"{HUB}/per_ann", "Ann Shaw")
    assert version["drafted_at"] == "2026-11-30T09:00:00Z"
    assert version["document"] == document()
    [act] = version["acts"]
    assert (act["act"], act["by"], act["by_name"], act["at"]) == (
        "drafted",
        f"{HUB}/per_ann",
        "Ann Shaw",
        "2026-11-30T09:00:00Z",
    )
    assert version["simulations"] == []
    assert await shown(sp, version["id"]) == version

    listed = await sp.client.get("/v1/policy-versions", headers=bo(sp))
    assert listed.status_code == 200, listed.text
    body = listed.json()
    assert body["file_policy"] == {"id": "demoshire", "version": DEMOSHIRE.version}
    assert body["in_force"] == {
        "policy": {"id": "demoshire", "version": DEMOSHIRE.version},
        "version_id": None,
        "since": None,
    }
    [item] = body["versions"]
    assert item["id"] == version["id"] and item["state"] == "draft"
    assert item["in_force"] is False and "document" not in item


async def test_versions_are_listed_newest_first(sp: Signpost) -> None:
    first = await drafted(sp, document("2027.1"))
    sp.clock.advance(minutes=1)
    second = await drafted(sp, document("2027.2"))

    listed = (await sp.client.get("/v1/policy-versions", headers=ann(sp))).json()

    assert [v["id"] for v in listed["versions"]] == [second["id"], first["id"]]


async def test_an_invalid_document_is_a_422_naming_the_field_and_nothing_is_drafted(
    sp: Signpost,
) -> None:
    bad = document()
    bad["weights"]["child_development"]["bullying"] = 0
    unsound = document("2027.3")
    unsound["weights"]["child_development"]["gang_involvement"] = 8
    unsound["statutory"].remove("gang_involvement")

    for body, field in (
        (bad, "weights.child_development.bullying"),
        (unsound, "weights.child_development.gang_involvement"),
    ):
        answer = await sp.client.post("/v1/policy-versions", json=body, headers=ann(sp))

        assert answer.status_code == 422, answer.text
        problem = answer.json()
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert problem["type"].endswith("/invalid-policy")
        assert field in [e["field"] for e in problem["errors"]]
        assert field in problem["detail"]
    listed = (await sp.client.get("/v1/policy-versions", headers=ann(sp))).json()
    assert listed["versions"] == []


async def test_a_document_with_a_control_character_is_a_422_naming_where(sp: Signpost) -> None:
    body = document()
    body["area"] = "Demoshire\u202e"

    answer = await sp.client.post("/v1/policy-versions", json=body, headers=ann(sp))

    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["area"]


async def test_a_version_drafted_before_or_the_file_policys_own_is_a_409(sp: Signpost) -> None:
    await drafted(sp)

    again = await sp.client.post("/v1/policy-versions", json=document(), headers=bo(sp))
    file_own = await sp.client.post(
        "/v1/policy-versions", json=document(DEMOSHIRE.version), headers=bo(sp)
    )

    assert again.status_code == 409, again.text
    assert again.json()["type"].endswith("/policy-version-taken")
    assert f"demoshire@{DRAFT_VERSION}" in again.json()["detail"]
    assert file_own.status_code == 409, file_own.text
    assert "file policy" in file_own.json()["detail"]


async def test_redeciding_with_the_live_policy_as_a_draft_gives_every_stored_decision(
    sp: Signpost,
) -> None:
    first = await referral(sp, "RMS-POL-1")
    sp.clock.advance(hours=1)
    second = await referral(sp, "RMS-POL-2")  # the same child again: its history counts
    # The file policy itself, under a version of its own.
    version = await drafted(sp, document("2026.12-1-copy", domestic_abuse=None))

    answer = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/redecide",
        json={"from": "2026-11-30", "to": "2026-12-01"},
        headers=ann(sp),
    )

    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"].startswith(NDJSON)
    head, *lines = [json.loads(line) for line in answer.content.splitlines()]
    assert head == {
        "about": {
            "version_id": version["id"],
            "draft_policy": "demoshire@2026.12-1-copy",
            "live_policy": DEMOSHIRE.tag,
            "top_level": 4,
            "draft_top_level": 4,
            "weight_changes": {},
            "from": "2026-11-30",
            "to": "2026-12-01",
            "start": "2026-11-30T00:00:00+00:00",
        }
    }
    redecided = [redecided_from_dict(line) for line in lines]
    assert [r.referral_id for r in redecided] == [first["referral_id"], second["referral_id"]]
    assert [r.stored.level for r in redecided] == [first["level"], second["level"]]
    for one in redecided:
        assert one.in_period
        # The same decision in every part; the rationale names the version it used.
        same = one.draft.explanation.replace("2026.12-1-copy", DEMOSHIRE.version)
        assert replace(one.draft, explanation=same) == one.stored


async def test_redeciding_with_a_draft_names_what_it_changes_and_writes_nothing(
    sp: Signpost,
) -> None:
    decided = await referral(sp, "RMS-POL-3")
    version = await drafted(sp)

    answer = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/redecide",
        json={"from": "2026-11-30", "to": "2026-12-01"},
        headers=ann(sp),
    )

    head, line = [json.loads(row) for row in answer.content.splitlines()]
    assert head["about"]["weight_changes"] == {"domestic_abuse": [4, 6]}
    assert (line["stored"]["level"], line["draft"]["level"]) == (decided["level"], 3)
    assert (await referral_view(sp, decided["referral_id"]))["level"] == decided["level"]
    assert [a["act"] for a in (await shown(sp, version["id"]))["acts"]] == ["drafted"]


async def referral_view(sp: Signpost, referral_id: str) -> dict[str, Any]:
    return await triage_of(sp, await sp.key("hub", HUB, "referrals:read"), referral_id)


async def test_a_redecide_period_is_checked_as_the_measures_period_is(sp: Signpost) -> None:
    version = await drafted(sp)
    url = f"/v1/policy-versions/{version['id']}/redecide"

    reversed_ = await sp.client.post(
        url, json={"from": "2026-12-01", "to": "2026-11-01"}, headers=ann(sp)
    )
    not_a_date = await sp.client.post(
        url, json={"from": "1 Nov", "to": "2026-12-01"}, headers=ann(sp)
    )
    unknown = await sp.client.post(
        "/v1/policy-versions/pol_nope/redecide",
        json={"from": "2026-11-01", "to": "2026-12-01"},
        headers=ann(sp),
    )

    assert reversed_.status_code == 422
    assert [(e["loc"], e["message"]) for e in reversed_.json()["errors"]] == [
        (["body", "to"], "must be after from")
    ]
    assert not_a_date.status_code == 422
    assert [e["field"] for e in not_a_date.json()["errors"]] == ["from"]
    assert unknown.status_code == 404


async def test_recording_a_simulation_adds_a_simulated_act_and_keeps_its_summary(
    sp: Signpost,
) -> None:
    version = await drafted(sp)
    sp.clock.advance(minutes=5)

    recorded = await simulated(sp, version)

    assert recorded["id"].startswith("pls_") and "summary" not in recorded
    assert (recorded["period_from"], recorded["period_to"]) == ("2026-11-01", "2026-12-01")
    assert (recorded["simulated_by_name"], recorded["directory_version"]) == ("Ann Shaw", "demo-1")
    found = await shown(sp, version["id"])
    assert [a["act"] for a in found["acts"]] == ["drafted", "simulated"]
    assert found["acts"][1]["detail"]["simulation_id"] == recorded["id"]
    assert found["acts"][1]["at"] == "2026-11-30T09:05:00Z"
    assert found["simulations"] == [recorded]
    one = await sp.client.get(
        f"/v1/policy-versions/{version['id']}/simulations/{recorded['id']}", headers=bo(sp)
    )
    assert one.status_code == 200, one.text
    assert one.json() == {**recorded, "summary": summary_of(version)}
    other = await drafted(sp, document("2027.9"))
    elsewhere = await sp.client.get(
        f"/v1/policy-versions/{other['id']}/simulations/{recorded['id']}", headers=bo(sp)
    )
    assert elsewhere.status_code == 404


async def test_approval_is_refused_to_the_drafter_a_key_a_foreign_simulation_and_too_soon(
    sp: Signpost,
) -> None:
    version = await drafted(sp)
    recorded = await simulated(sp, version)
    other = await drafted(sp, document("2027.2"))
    foreign = await simulated(sp, other)
    later = START + timedelta(days=1)
    key = bearer(await sp.key("hub", HUB, "policy:simulate", "policy:approve"))

    by_drafter = await approve(sp, ann(sp), version["id"], recorded["id"], later)
    by_key = await approve(sp, key, version["id"], recorded["id"], later)
    with_foreign = await approve(sp, bo(sp), version["id"], foreign["id"], later)
    too_soon = await approve(
        sp, bo(sp), version["id"], recorded["id"], START + timedelta(seconds=60)
    )
    naive = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/approve",
        json={"simulation_id": recorded["id"], "activates_at": "2026-12-01T09:00:00"},
        headers=bo(sp),
    )

    assert by_drafter.status_code == 403, by_drafter.text
    assert "Ann Shaw drafted this version" in by_drafter.json()["detail"]
    assert by_key.status_code == 403, by_key.text
    assert by_key.json()["type"].endswith("/person-required")
    assert with_foreign.status_code == 422, with_foreign.text
    assert [e["field"] for e in with_foreign.json()["errors"]] == ["simulation_id"]
    assert too_soon.status_code == 422, too_soon.text
    assert "60 seconds" in too_soon.json()["detail"]
    assert [e["field"] for e in too_soon.json()["errors"]] == ["activates_at"]
    assert naive.status_code == 422
    assert (await shown(sp, version["id"]))["state"] == "draft"

    approved = await approve(sp, bo(sp), version["id"], recorded["id"], later)

    assert approved.status_code == 200, approved.text
    done = approved.json()
    assert (done["state"], done["in_force"]) == ("approved", False)
    assert (done["approved_by"], done["approved_by_name"]) == (f"{HUB}/per_bo", "Bo Reid")
    assert (done["activates_at"], done["approved_simulation_id"]) == (
        "2026-12-01T09:00:00Z",
        recorded["id"],
    )
    assert [a["act"] for a in done["acts"]] == ["drafted", "simulated", "approved"]
    assert done["acts"][-1]["detail"] == {
        "simulation_id": recorded["id"],
        "activates_at": "2026-12-01T09:00:00+00:00",
    }
    again = await approve(sp, bo(sp), version["id"], recorded["id"], later)
    assert again.status_code == 409, again.text
    late = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/simulations",
        json={"from": "2026-11-01", "to": "2026-12-01", "summary": summary_of(version)},
        headers=ann(sp),
    )
    assert late.status_code == 409, late.text


async def test_an_approved_version_decides_only_once_the_clock_passes_its_time(
    sp: Signpost,
) -> None:
    before = await referral(sp, "RMS-POL-10")
    version = await drafted(sp)
    recorded = await simulated(sp, version)
    activates = START + timedelta(minutes=10)
    assert (await approve(sp, bo(sp), version["id"], recorded["id"], activates)).status_code == 200

    sp.clock.advance(minutes=9)
    waiting = await referral(sp, "RMS-POL-11")
    sp.clock.advance(minutes=1)  # exactly its time
    after = await referral(sp, "RMS-POL-12")

    assert before["policy"]["version"] == DEMOSHIRE.version
    assert waiting["policy"]["version"] == DEMOSHIRE.version
    assert after["policy"] == {"id": "demoshire", "version": DRAFT_VERSION}
    assert after["decision"]["level"] == 3 and before["decision"]["level"] == 2
    listed = (await sp.client.get("/v1/policy-versions", headers=ann(sp))).json()
    assert listed["in_force"] == {
        "policy": {"id": "demoshire", "version": DRAFT_VERSION},
        "version_id": version["id"],
        "since": "2026-11-30T09:10:00Z",
    }
    assert [v["in_force"] for v in listed["versions"]] == [True]
    assert (await shown(sp, version["id"]))["in_force"] is True

    withdrawn = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/withdraw", json={}, headers=bo(sp)
    )
    assert withdrawn.status_code == 409, withdrawn.text
    assert withdrawn.json()["type"].endswith("/policy-version-in-force")


async def test_a_version_withdrawn_before_its_time_never_decides(sp: Signpost) -> None:
    version = await drafted(sp)
    recorded = await simulated(sp, version)
    activates = START + timedelta(minutes=10)
    assert (await approve(sp, bo(sp), version["id"], recorded["id"], activates)).status_code == 200
    ctx = sp.app.state.runtimes["triage"].ctx
    assert [v.version_id for v in service.schedule_of(ctx).versions] == [version["id"]]

    withdrawn = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/withdraw",
        json={"note": "The board asked for another look."},
        headers=ann(sp),  # the drafter may
    )

    assert withdrawn.status_code == 200, withdrawn.text
    done = withdrawn.json()
    assert (done["state"], done["withdrawn_by_name"]) == ("withdrawn", "Ann Shaw")
    assert [a["act"] for a in done["acts"]] == ["drafted", "simulated", "approved", "withdrawn"]
    assert done["acts"][-1]["detail"] == {
        "was": "approved",
        "note": "The board asked for another look.",
    }
    assert service.schedule_of(ctx).versions == ()
    sp.clock.advance(minutes=20)
    assert (await referral(sp, "RMS-POL-20"))["policy"]["version"] == DEMOSHIRE.version
    again = await sp.client.post(f"/v1/policy-versions/{version['id']}/withdraw", headers=bo(sp))
    assert again.status_code == 409, again.text


async def test_a_draft_is_withdrawn_by_its_drafter_or_an_approver_only(sp: Signpost) -> None:
    version = await drafted(sp)
    analyst = bearer(sp.person(HUB, "partnership_analyst", person_id="per_cy", name="Cy Moss"))

    refused = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/withdraw", json={}, headers=analyst
    )
    by_approver = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/withdraw", json={}, headers=bo(sp)
    )

    assert refused.status_code == 403, refused.text
    assert "Ann Shaw" in refused.json()["detail"]
    assert by_approver.status_code == 200, by_approver.text
    assert by_approver.json()["acts"][-1]["detail"] == {"was": "draft"}


async def test_policy_versions_are_for_the_hub_and_administrators_with_the_policy_scopes(
    sp: Signpost,
) -> None:
    analyst = bearer(sp.person(HUB, "partnership_analyst", person_id="per_cy", name="Cy Moss"))
    admin = bearer(sp.person("demoshire-council", "admin", person_id="per_di", name="Di Lane"))
    practitioner = bearer(sp.person(HUB, "hub_practitioner", person_id="per_ed", name="Ed Fox"))
    agency = bearer(await sp.key("agency", "safe-homes", "referrals:read", "policy:simulate"))

    version = await sp.client.post("/v1/policy-versions", json=document(), headers=analyst)
    assert version.status_code == 201, version.text
    version_id = version.json()["id"]
    recorded = await simulated(sp, version.json())

    assert (await sp.client.get("/v1/policy-versions", headers=practitioner)).status_code == 403
    by_agency = await sp.client.get("/v1/policy-versions", headers=agency)
    assert by_agency.status_code == 403
    assert by_agency.json()["type"].endswith("/hub-only")
    by_analyst = await approve(sp, analyst, version_id, recorded["id"], START + timedelta(days=1))
    assert by_analyst.status_code == 403
    assert by_analyst.json()["type"].endswith("/missing-scope")
    by_admin = await approve(sp, admin, version_id, recorded["id"], START + timedelta(days=1))
    assert by_admin.status_code == 200, by_admin.text
    assert by_admin.json()["approved_by"] == "demoshire-council/per_di"


async def test_only_a_person_drafts_or_records_a_simulation_and_only_of_that_draft(
    sp: Signpost,
) -> None:
    """A key could otherwise draft (or record a made-up simulation) for the person who
    then approves it as the second pair of eyes."""
    key = bearer(await sp.key("hub", HUB, "policy:simulate", "policy:approve"))
    by_key = await sp.client.post("/v1/policy-versions", json=document(), headers=key)
    version = await drafted(sp)
    other = await drafted(sp, document("2027.2"))
    recording = {"from": "2026-11-01", "to": "2026-12-01", "summary": summary_of(version)}
    key_records = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/simulations", json=recording, headers=key
    )
    of_another = await sp.client.post(
        f"/v1/policy-versions/{other['id']}/simulations", json=recording, headers=ann(sp)
    )
    malformed = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/simulations",
        json={**recording, "summary": {"referrals": 1}},
        headers=ann(sp),
    )

    assert by_key.status_code == 403 and by_key.json()["type"].endswith("/person-required")
    assert key_records.status_code == 403, key_records.text
    assert of_another.status_code == 422, of_another.text
    assert [e["field"] for e in of_another.json()["errors"]] == ["summary.about.draft_policy"]
    assert malformed.status_code == 422, malformed.text
    assert "summary.about" in {e["field"] for e in malformed.json()["errors"]}
    assert [a["act"] for a in (await shown(sp, version["id"]))["acts"]] == ["drafted"]


async def test_an_approval_rests_on_a_simulation_against_the_policy_it_will_replace(
    sp: Signpost,
) -> None:
    first = await drafted(sp)
    assert (
        await approve(
            sp, bo(sp), first["id"], (await simulated(sp, first))["id"], START + timedelta(days=1)
        )
    ).status_code == 200
    second = await drafted(sp, document("2027.2", domestic_abuse=5))
    # Simulated against the file policy, which 2027.1 replaces before 2027.2's time.
    recorded = await simulated(sp, second)

    after_first = await approve(sp, bo(sp), second["id"], recorded["id"], START + timedelta(days=2))
    before_first = await approve(
        sp, bo(sp), second["id"], recorded["id"], START + timedelta(hours=2)
    )

    assert after_first.status_code == 409, after_first.text
    assert "demoshire@2027.1 will be in force" in after_first.json()["detail"]
    assert before_first.status_code == 200, before_first.text


async def test_an_approved_version_cannot_be_withdrawn_within_a_minute_of_its_time(
    sp: Signpost,
) -> None:
    """Another replica might not read the withdrawal before the version decides."""
    version = await drafted(sp)
    recorded = await simulated(sp, version)
    activates = START + timedelta(minutes=10)
    assert (await approve(sp, bo(sp), version["id"], recorded["id"], activates)).status_code == 200
    sp.clock.advance(minutes=9, seconds=1)

    late = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/withdraw", json={}, headers=bo(sp)
    )

    assert late.status_code == 409, late.text
    assert late.json()["type"].endswith("/policy-version-taking-effect")


async def test_an_approval_time_outside_any_plausible_year_is_a_422_not_a_500(
    sp: Signpost,
) -> None:
    version = await drafted(sp)
    recorded = await simulated(sp, version)
    answer = await sp.client.post(
        f"/v1/policy-versions/{version['id']}/approve",
        json={"simulation_id": recorded["id"], "activates_at": "0001-01-01T00:00:00+01:00"},
        headers=bo(sp),
    )
    assert answer.status_code == 422, answer.text
    assert [e["field"] for e in answer.json()["errors"]] == ["activates_at"]
