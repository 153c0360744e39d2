"""Routing's and triage's request bodies against hostile text and bodies that try to
say who is acting: a 422 naming the field, or the value stored exactly; never a 500,
never half a change."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.security.hostile import hostile_text
from tests.services.conftest import Signpost, bearer
from tests.services.routing.conftest import agency_key, hub_key, running, stopped_clock, triage
from tests.services.triage.test_api import police_report, post, triage_of

PROPERTY = settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    async with running(tmp_path / "var", stopped_clock()) as signpost:
        yield signpost


def fields_of(answer: Any) -> list[str]:
    return [e["field"] for e in answer.json()["errors"]]


async def routing_record(sp: Signpost, referral_id: str) -> dict[str, Any]:
    answer = await sp.client.get(f"/v1/referrals/{referral_id}/routing", headers=await hub_key(sp))
    assert answer.status_code == 200, answer.text
    record: dict[str, Any] = answer.json()
    return record


@pytest.mark.parametrize("note", ["NUL \x00 in a note", "bidi \u202e in a note", "escape \x1b[31m"])
async def test_a_decline_note_with_a_control_or_bidi_character_is_refused_naming_note(
    sp: Signpost, note: str
) -> None:
    referral_id = await triage(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/decline",
        json={"reason_code": "no_capacity", "note": note},
        headers=await agency_key(sp),
    )
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    assert fields_of(answer) == ["note"]
    assert answer.json()["errors"][0]["type"] == "forbidden_character"
    assert (await routing_record(sp, referral_id))["status"] == "requested"


async def test_a_decline_note_keeps_its_paragraphs(sp: Signpost) -> None:
    referral_id = await triage(sp)
    note = "Full this term.\nTry again in January.\tThanks"
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/decline",
        json={"reason_code": "no_capacity", "note": note},
        headers=await agency_key(sp),
    )
    assert answer.status_code == 200, answer.text
    steps = (await routing_record(sp, referral_id))["history"]
    assert note in [s["rationale"] for s in steps]


@pytest.mark.parametrize(
    ("path", "body"),
    [
        ("decline", {"reason_code": "no_capacity", "by": "someone else"}),
        ("decline", {"reason_code": "no_capacity", "organisation": "demoshire-hub"}),
        ("close", {"outcome": "completed", "outcome_code": "got_help", "actor": "x"}),
    ],
)
async def test_a_body_that_says_who_is_acting_is_refused_not_ignored(
    sp: Signpost, path: str, body: dict[str, Any]
) -> None:
    referral_id = await triage(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/{path}", json=body, headers=await agency_key(sp)
    )
    assert answer.status_code == 422, answer.text
    extra = next(k for k in body if k not in {"reason_code", "outcome", "outcome_code"})
    assert fields_of(answer) == [extra]
    assert (await routing_record(sp, referral_id))["status"] == "requested"


async def test_a_hub_reassignment_is_recorded_as_the_keys_organisation(sp: Signpost) -> None:
    referral_id = await triage(sp)
    hub = await hub_key(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/override",
        json={"destination": "mash", "rationale": "Sibling already open to social care."},
        headers=hub,
    )
    assert answer.status_code == 200, answer.text
    steps = (await routing_record(sp, referral_id))["history"]
    assert steps[-1]["by"] == "demoshire-hub"


async def test_a_triage_override_that_names_its_practitioner_in_the_body_is_refused(
    sp: Signpost,
) -> None:
    hub = bearer(await sp.key("hub", "demoshire-hub", "triage:override", "referrals:read"))
    answer = await sp.client.post(
        "/v1/referrals/ref_unknown/triage/override",
        json={
            "level": 4,
            "rationale": "Escalating after a further disclosure today.",
            "by_name": "The Director",
        },
        headers=hub,
    )
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == ["by_name"]


async def test_a_triage_override_rationale_with_a_bidi_override_is_refused_naming_it(
    sp: Signpost,
) -> None:
    hub = bearer(await sp.key("hub", "demoshire-hub", "triage:override", "referrals:read"))
    answer = await sp.client.post(
        "/v1/referrals/ref_unknown/triage/override",
        json={"level": 4, "rationale": "Raised because \u202edlihc eht\u202c said so."},
        headers=hub,
    )
    assert answer.status_code == 422, answer.text
    assert fields_of(answer) == ["rationale"]


def agency(name: str, contact: dict[str, str]) -> dict[str, Any]:
    return {
        "id": "prop-" + uuid.uuid4().hex[:12],
        "kind": "agency",
        "name": name,
        "organisation": "prop-org",
        "concern_codes": ["domestic_abuse"],
        "response_sla_hours": 72,
        "contact": contact,
    }


async def directory(sp: Signpost, key: dict[str, str]) -> dict[str, Any]:
    answer = await sp.client.get("/v1/directory", headers=key)
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@PROPERTY
@given(name=hostile_text(max_size=80), team=hostile_text(max_size=80))
async def test_an_agency_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, name: str, team: str
) -> None:
    key = bearer(await sp.key("admin", "demoshire-partnership", "directory:write"))
    before = await directory(sp, key)
    body = agency(name, {"name": team, "email": "team@example.org"})
    answer = await sp.client.post("/v1/directory/agencies", json=body, headers=key)
    assert answer.status_code != 500, answer.text
    after = await directory(sp, key)
    if answer.status_code == 201:
        stored = next(a for a in after["agencies"] if a["id"] == body["id"])
        assert (stored["name"], stored["contact"]["name"]) == (name, team)
    else:
        assert 400 <= answer.status_code < 500
        assert answer.headers["content-type"].startswith("application/problem+json")
        assert after["version"] == before["version"]
        assert {e["field"] for e in answer.json()["errors"]} <= {"name", "contact.name"}


@PROPERTY
@given(
    note=hostile_text(max_size=200),
    reason=st.sampled_from(["no_capacity", "outside_catchment"]),
)
async def test_a_decline_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, note: str, reason: str
) -> None:
    referral_id = await triage(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/decline",
        json={"reason_code": reason, "note": note},
        headers=await agency_key(sp),
    )
    assert answer.status_code != 500, answer.text
    record = await routing_record(sp, referral_id)
    if answer.status_code == 200:
        assert note in [s["rationale"] for s in record["history"]]
    else:
        assert answer.status_code == 422, answer.text
        assert fields_of(answer) == ["note"]
        assert record["status"] == "requested"


@PROPERTY
@given(rationale=hostile_text(min_size=25, max_size=200), level=st.integers(1, 5))
async def test_a_triage_override_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, rationale: str, level: int
) -> None:
    police = await sp.key("police", "demo-police", "reports:write")
    hub = await sp.key("hub", "demoshire-hub", "referrals:read", "triage:override")
    referral_id = await post(sp, police, police_report("PROP-" + uuid.uuid4().hex[:10]))
    await triage_of(sp, hub, referral_id)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/triage/override",
        json={"level": level, "rationale": rationale},
        headers=bearer(hub),
    )
    assert answer.status_code != 500, answer.text
    overrides = (await triage_of(sp, hub, referral_id))["overrides"]
    if answer.status_code == 201:
        assert [o["rationale"] for o in overrides] == [rationale.strip()]
    else:
        assert overrides == []
        # A field error names the rationale; the policy's own refusals (the level it
        # already has, a level the area's policy lacks) are problems of their own.
        assert answer.status_code in (409, 422), answer.text
        if "errors" in answer.json():
            assert fields_of(answer) == ["rationale"]


async def hub_change(sp: Signpost, action: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """A routed referral changed by the hub: (its answer, the routing record after)."""
    referral_id = await triage(sp)
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/{action}", json=body, headers=await hub_key(sp)
    )
    return answer, await routing_record(sp, referral_id)


def refused_whole_or_stored(answer: Any, record: Any, text: str, field: str) -> None:
    assert answer.status_code != 500, answer.text
    if answer.status_code == 200:
        assert record["history"][-1]["rationale"] == text.strip()
    else:
        assert answer.status_code == 422, answer.text
        assert fields_of(answer) == [field]
        assert record["status"] == "requested"
        assert [s["status"] for s in record["history"]] == ["requested"]


@PROPERTY
@given(rationale=hostile_text(min_size=12, max_size=200))
async def test_a_reassignment_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, rationale: str
) -> None:
    answer, record = await hub_change(
        sp, "reassign", {"agency_id": "school-nursing", "rationale": rationale}
    )
    refused_whole_or_stored(answer, record, rationale, "rationale")


@PROPERTY
@given(rationale=hostile_text(min_size=12, max_size=200))
async def test_a_destination_override_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, rationale: str
) -> None:
    answer, record = await hub_change(
        sp, "override", {"destination": "hub", "rationale": rationale}
    )
    refused_whole_or_stored(answer, record, rationale, "rationale")


@PROPERTY
@given(note=hostile_text(max_size=200))
async def test_a_closure_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, note: str
) -> None:
    referral_id = await triage(sp)
    agency = await agency_key(sp)
    accepted = await sp.client.post(f"/v1/referrals/{referral_id}/accept", headers=agency)
    assert accepted.status_code == 200, accepted.text
    answer = await sp.client.post(
        f"/v1/referrals/{referral_id}/close",
        json={"outcome": "completed", "outcome_code": "got_help", "note": note},
        headers=agency,
    )
    assert answer.status_code != 500, answer.text
    record = await routing_record(sp, referral_id)
    if answer.status_code == 200:
        assert record["history"][-1]["rationale"] == note
    else:
        assert answer.status_code == 422, answer.text
        assert fields_of(answer) == ["note"]
        assert record["status"] == "accepted"


@PROPERTY
@given(area=hostile_text(max_size=120))
async def test_a_directory_with_hostile_text_is_refused_whole_or_stored_exactly(
    sp: Signpost, area: str
) -> None:
    key = bearer(await sp.key("admin", "demoshire-partnership", "directory:write"))
    before = await directory(sp, key)
    content = {
        k: v for k, v in before.items() if k not in {"version", "seq", "source", "changed_by"}
    }
    content = {k: v for k, v in content.items() if k not in {"note", "created_at"}}
    answer = await sp.client.put("/v1/directory", json={**content, "area": area}, headers=key)
    assert answer.status_code != 500, answer.text
    after = await directory(sp, key)
    if answer.status_code == 200:
        assert after["area"] == area
    else:
        assert 400 <= answer.status_code < 500, answer.text
        assert after["version"] == before["version"] and after["area"] == before["area"]
        assert {e["field"] for e in answer.json()["errors"]} == {"area"}
