"""Triage in the running app: the decision explained over HTTP, overrides that routing
follows, and the family in the round (one child across sources, one household)."""

from __future__ import annotations

import asyncio
import copy
import json
from pathlib import Path
from typing import Any

from sqlmodel import select

from services.routing.models import RoutingDecision
from services.triage.models import Subject, TriageDecision, TriageOverride
from tests.services.conftest import Signpost, bearer

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
SCHOOL = "100001"


def police_report(reference: str, **child: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / "police-report.json").read_text())
    body["source"]["reference"] = reference
    body["child"].update(child)
    return body


def school_report(reference: str, **child: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / "school-report.json").read_text())
    body["source"]["reference"] = reference
    body["child"].update(child)
    return body


async def keys(sp: Signpost) -> dict[str, str]:
    return {
        "police": await sp.key("police", "demo-police", "reports:write", "reports:read"),
        "school": await sp.key("school", SCHOOL, "reports:write", "reports:read"),
        "hub": await sp.key("hub", "demoshire-hub", "referrals:read", "triage:override"),
    }


async def post(sp: Signpost, key: str, body: dict[str, Any]) -> str:
    answer = await sp.client.post("/v1/reports", json=body, headers=bearer(key))
    assert answer.status_code == 202, answer.text
    referral_id: str = answer.json()["referral_id"]
    return referral_id


async def triage_of(sp: Signpost, hub: str, referral_id: str) -> dict[str, Any]:
    # Bounded, with room for a loaded 2-core CI machine (one run there took over 10 s).
    async with asyncio.timeout(30):
        while True:
            answer = await sp.client.get(f"/v1/referrals/{referral_id}/triage", headers=bearer(hub))
            if answer.status_code == 200:
                body: dict[str, Any] = answer.json()
                return body
            assert answer.status_code == 404, answer.text
            await asyncio.sleep(0.05)


async def routing_of(sp: Signpost, referral_id: str, revision: int = 0) -> RoutingDecision:
    db = sp.app.state.runtimes["routing"].ctx.db
    async with asyncio.timeout(10):
        while True:
            async with db.session() as session:
                row = await session.get(RoutingDecision, referral_id)
            if row is not None and row.triage_revision >= revision:
                return row
            await asyncio.sleep(0.05)


async def decision_rows(sp: Signpost) -> list[TriageDecision]:
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        return list((await session.exec(select(TriageDecision))).all())


async def test_the_hub_reads_the_decision_explained_in_words(signpost: Signpost) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-1"))
    view = await triage_of(signpost, k["hub"], referral)
    assert (view["level"], view["priority"], view["level_name"]) == (2, "green", "Early help")
    assert view["policy"] == {"id": "demoshire", "version": "2026.12-1"}
    assert view["explanation"].startswith("Level 2 (Early help, green)")
    assert "domestic abuse in the household +4 (family and environment)" in view["explanation"]
    assert "under the age of criminal responsibility (10) +1" in view["explanation"]
    factors = {f["code"]: f for f in view["decision"]["factors"]}
    assert factors["domestic_abuse"]["weight"] == 4
    assert factors["domestic_abuse"]["domain"] == "family_and_environment"
    assert view["decide_by"] is not None and view["overrides"] == []


async def test_only_hub_practitioners_read_triage_decisions(signpost: Signpost) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-2"))
    await triage_of(signpost, k["hub"], referral)
    agency = await signpost.key("agency", "demo-agency", "referrals:read")
    answer = await signpost.client.get(f"/v1/referrals/{referral}/triage", headers=bearer(agency))
    assert answer.status_code == 403
    answer = await signpost.client.get(
        f"/v1/referrals/{referral}/triage", headers=bearer(k["police"])
    )
    assert answer.status_code == 403 and answer.json()["missing_scopes"] == ["referrals:read"]
    missing = await signpost.client.get("/v1/referrals/ref_nope/triage", headers=bearer(k["hub"]))
    assert missing.status_code == 404


async def test_an_override_keeps_the_original_and_routing_decides_again(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-3"))
    await triage_of(signpost, k["hub"], referral)
    first = await routing_of(signpost, referral)
    assert first.destination_kind in {"agency", "hub"} and first.level == 2

    url = f"/v1/referrals/{referral}/triage/override"
    short = await signpost.client.post(
        url, json={"level": 4, "rationale": "worried"}, headers=bearer(k["hub"])
    )
    assert short.status_code == 422
    reader = await signpost.key("hub", "demoshire-hub", "referrals:read")
    unscoped = await signpost.client.post(
        url, json={"level": 4, "rationale": "x" * 40}, headers=bearer(reader)
    )
    assert unscoped.status_code == 403

    rationale = "Mother disclosed on a home visit that the father has threatened the child."
    answer = await signpost.client.post(
        url, json={"level": 4, "rationale": rationale}, headers=bearer(k["hub"])
    )
    assert answer.status_code == 201, answer.text
    view = answer.json()
    assert (view["level"], view["priority"]) == (4, "red")
    assert (view["decision"]["level"], view["decision"]["priority"]) == (2, "green")
    [override] = view["overrides"]
    assert (override["from_level"], override["to_level"], override["rationale"]) == (
        2,
        4,
        rationale,
    )
    assert (
        f'raised the level from 2 to 4 (Specialist / statutory, red): "{rationale}"'
        in (view["explanation"])
    )

    rerouted = await routing_of(signpost, referral, revision=1)
    assert (rerouted.destination_kind, rerouted.level, rerouted.priority) == ("mash", 4, "red")

    same = await signpost.client.post(
        url, json={"level": 4, "rationale": rationale}, headers=bearer(k["hub"])
    )
    assert same.status_code == 409
    async with signpost.app.state.runtimes["triage"].ctx.db.session() as session:
        assert len((await session.exec(select(TriageOverride))).all()) == 1


async def test_a_police_report_and_a_school_concern_about_one_child_share_a_subject(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    child: dict[str, Any] = {
        "given_name": "William",
        "family_name": "Smith",
        "date_of_birth": "2016-04-07",
        "address": {"postcode": "EX4 6PX"},
    }
    first = await post(signpost, k["police"], police_report("F-1", **child))
    await triage_of(signpost, k["hub"], first)
    # the school swaps the names, uses his short name and misspells the surname
    second = await post(
        signpost,
        k["school"],
        school_report("S-1", **{**child, "given_name": "Smyth", "family_name": "Billy"}),
    )
    await triage_of(signpost, k["hub"], second)
    # a different child: same surname and address, another birthday
    other = await post(
        signpost, k["school"], school_report("S-2", **{**child, "date_of_birth": "2013-01-20"})
    )
    await triage_of(signpost, k["hub"], other)
    third = await post(signpost, k["police"], police_report("F-2", **child))
    view = await triage_of(signpost, k["hub"], third)

    rows = {r.referral_id: r for r in await decision_rows(signpost)}
    assert rows[first].subject_key == rows[second].subject_key == rows[third].subject_key
    assert rows[other].subject_key != rows[first].subject_key
    assert rows[third].subject_key.startswith("sub_")  # pseudonymous, never a name
    # three concerns within 90 days: the Devon PPN rule raises the level
    assert view["level"] == 3
    assert "three concerns within 90 days (Devon PPN rule)" in view["decision"]["rules"]


async def test_a_household_factor_reported_about_one_child_counts_for_a_sibling(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    address = {"postcode": "EX2 4QT"}
    sister = {"given_name": "Ella", "family_name": "Jones", "date_of_birth": "2012-02-02"}
    brother = {"given_name": "Leo", "family_name": "Jones", "date_of_birth": "2014-09-02"}
    police = police_report("H-1", **sister, address=address)
    police["reported_at"] = "2026-11-20T22:40:00Z"  # before the school's concern
    police["concerns"] = [{"code": "domestic_abuse"}]
    police["household"] = [
        {"given_name": "Kerry", "family_name": "Jones", "relationship": "mother"},
        {"given_name": "Leo", "family_name": "Jones", "relationship": "sibling"},
    ]
    first = await post(signpost, k["police"], police)
    await triage_of(signpost, k["hub"], first)
    school = school_report("H-2", **brother, address=address)
    school["concerns"] = [{"code": "bullying"}]
    second = await post(signpost, k["school"], school)
    view = await triage_of(signpost, k["hub"], second)

    rows = {r.referral_id: r for r in await decision_rows(signpost)}
    assert rows[first].subject_key != rows[second].subject_key
    async with signpost.app.state.runtimes["triage"].ctx.db.session() as session:
        her = await session.get(Subject, rows[first].subject_key)
        him = await session.get(Subject, rows[second].subject_key)
    assert her is not None and him is not None
    assert her.household_key is not None and her.household_key == him.household_key
    assert rows[second].household_key == him.household_key  # as it stood when decided
    household = [f for f in view["decision"]["factors"] if f["kind"] == "household"]
    assert [f["code"] for f in household] == ["domestic_abuse"]
    assert "another child of the household" in household[0]["source"]
    assert view["decision"]["score"] == 1 + 4  # bullying, and the sister's domestic abuse


async def test_the_same_report_gives_the_same_decision_in_a_fresh_deployment(
    signpost: Signpost, tmp_path: Path
) -> None:
    k = await keys(signpost)
    body = police_report("R-1")
    body["concerns"] = [{"code": "domestic_abuse"}, {"code": "absence_truancy"}]
    view = await triage_of(
        signpost, k["hub"], await post(signpost, k["police"], copy.deepcopy(body))
    )
    [row] = await decision_rows(signpost)
    from services.triage.policy import load_policy
    from services.triage.scoring import ReportFacts, decide

    again = decide(
        load_policy(),
        ReportFacts(
            concern_codes=tuple(row.concern_codes),
            immediate_risk=row.immediate_risk,
            age_years=row.child_age_years or 0,
            reported_at=row.reported_at,
            received_at=row.received_at,
        ),
        [],
    )
    assert again.rationale == view["decision"]["rationale"]
    assert again.level == view["level"] == 3


async def test_a_child_reported_again_does_not_grow_the_matching_index(
    signpost: Signpost,
) -> None:
    from services.triage.models import SubjectIdentity

    k = await keys(signpost)
    for i in range(4):
        r = await signpost.client.post(
            "/v1/reports", json=police_report(f"REPEAT-{i}"), headers=bearer(k["police"])
        )
        assert r.status_code == 202
    ctx = signpost.app.state.runtimes["triage"].ctx
    async with asyncio.timeout(20):
        while True:
            async with ctx.db.session() as session:
                decided = (await session.exec(select(TriageDecision))).all()
            if len(decided) == 4:
                break
            await asyncio.sleep(0.05)
    async with ctx.db.session() as session:
        identities = (await session.exec(select(SubjectIdentity))).all()
        subjects = (await session.exec(select(Subject))).all()
    assert len(subjects) == 1
    assert len(identities) == 1


async def test_an_agency_that_accepted_hears_when_an_override_moves_the_referral(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-MOVE"))
    first = await routing_of(signpost, referral)
    assert first.destination_id == "da-support"
    agency = await signpost.key("agency", "safe-homes", "referrals:read", "referrals:write")
    accepted = await signpost.client.post(
        f"/v1/referrals/{referral}/accept", headers=bearer(agency)
    )
    assert accepted.status_code == 200, accepted.text

    answer = await signpost.client.post(
        f"/v1/referrals/{referral}/triage/override",
        json={"level": 4, "rationale": "Disclosure on a home visit of threats to the child."},
        headers=bearer(k["hub"]),
    )
    assert answer.status_code == 201, answer.text
    moved = await routing_of(signpost, referral, revision=1)
    assert moved.destination_kind == "mash"

    # The referrer's journey (fed by referral.status) shows the agency was told.
    async with asyncio.timeout(10):
        while True:
            view = (
                await signpost.client.get(f"/v1/reports/{referral}", headers=bearer(k["police"]))
            ).json()
            steps = [(s["status"], s["summary"]) for s in view["journey"]]
            if any(status == "cancelled" for status, _ in steps):
                break
            await asyncio.sleep(0.05)
    [(_, summary)] = [step for step in steps if step[0] == "cancelled"]
    assert "Safe Homes" in summary and "moved" in summary


async def test_only_hub_practitioners_override_a_level(signpost: Signpost) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-AGENCY"))
    await triage_of(signpost, k["hub"], referral)
    agency = await signpost.key("agency", "demo-agency", "referrals:read", "triage:override")
    answer = await signpost.client.post(
        f"/v1/referrals/{referral}/triage/override",
        json={"level": 4, "rationale": "An agency may not move a referral's level."},
        headers=bearer(agency),
    )
    assert answer.status_code == 403 and answer.json()["type"].endswith("/hub-only")
    view = await triage_of(signpost, k["hub"], referral)
    assert view["level"] == 2 and view["overrides"] == []


# ---------------------------------------------------------------- why: a reason code


async def stored_overrides(sp: Signpost) -> list[TriageOverride]:
    async with sp.app.state.runtimes["triage"].ctx.db.session() as session:
        return list((await session.exec(select(TriageOverride))).all())


async def test_an_override_keeps_its_reason_code_and_shows_it(signpost: Signpost) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-REASON"))
    await triage_of(signpost, k["hub"], referral)
    rationale = "The school says the child disclosed more on Monday: the father hit her."

    answer = await signpost.client.post(
        f"/v1/referrals/{referral}/triage/override",
        json={"level": 3, "rationale": rationale, "reason_code": "new_information"},
        headers=bearer(k["hub"]),
    )

    assert answer.status_code == 201, answer.text
    [shown] = answer.json()["overrides"]
    assert shown["reason_code"] == "new_information"
    assert f', reason: new information: "{rationale}"' in answer.json()["explanation"]
    read = await triage_of(signpost, k["hub"], referral)
    assert [o["reason_code"] for o in read["overrides"]] == ["new_information"]
    assert [o.reason_code for o in await stored_overrides(signpost)] == ["new_information"]


async def test_an_override_without_a_reason_code_still_works_and_keeps_none(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-NOREASON"))
    await triage_of(signpost, k["hub"], referral)
    rationale = "Mother disclosed on a home visit that the father has threatened the child."

    # The body integrators sent before reason codes: level and rationale alone.
    answer = await signpost.client.post(
        f"/v1/referrals/{referral}/triage/override",
        json={"level": 4, "rationale": rationale},
        headers=bearer(k["hub"]),
    )

    assert answer.status_code == 201, answer.text
    [shown] = answer.json()["overrides"]
    assert shown["reason_code"] is None
    assert f'(Specialist / statutory, red): "{rationale}"' in answer.json()["explanation"]
    assert [o.reason_code for o in await stored_overrides(signpost)] == [None]


async def test_an_unknown_reason_code_is_a_problem_naming_it_and_nothing_changes(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-BADREASON"))
    await triage_of(signpost, k["hub"], referral)

    answer = await signpost.client.post(
        f"/v1/referrals/{referral}/triage/override",
        json={
            "level": 4,
            "rationale": "Mother disclosed on a home visit that the father threatened her.",
            "reason_code": "gut_feeling",
        },
        headers=bearer(k["hub"]),
    )

    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    problem = answer.json()
    assert [e["field"] for e in problem["errors"]] == ["reason_code"]
    assert problem["errors"][0]["pointer"] == "/reason_code"
    assert "reason_code" in problem["detail"]
    assert await stored_overrides(signpost) == []
    assert (await triage_of(signpost, k["hub"], referral))["level"] == 2


# ---------------------------------------------------------------- people (the console)


async def test_a_hub_practitioners_override_records_their_id_and_name(signpost: Signpost) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-PERSON"))
    sam = signpost.person("demoshire-hub", "hub_practitioner", person_id="per_sam", name="Sam Hale")
    await triage_of(signpost, sam, referral)  # a person reads the decision as a key does

    rationale = "Mother disclosed on a home visit that the father has threatened the child."
    answer = await signpost.client.post(
        f"/v1/referrals/{referral}/triage/override",
        json={"level": 4, "rationale": rationale},
        headers=bearer(sam),
    )

    assert answer.status_code == 201, answer.text
    [shown] = answer.json()["overrides"]
    assert (shown["by_name"], shown["by_organisation"]) == ("Sam Hale", "demoshire-hub")
    assert "Sam Hale (demoshire-hub)" in answer.json()["explanation"]
    async with signpost.app.state.runtimes["triage"].ctx.db.session() as session:
        [stored] = (await session.exec(select(TriageOverride))).all()
    assert (stored.by_client_id, stored.by_name) == ("per_sam", "Sam Hale")


async def test_neither_an_analyst_nor_an_agency_worker_reads_or_overrides_a_decision(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    referral = await post(signpost, k["police"], police_report("T-ANALYST"))
    await triage_of(signpost, k["hub"], referral)
    analyst = signpost.person("demoshire-partnership", "partnership_analyst")
    worker = signpost.person("safe-homes", "agency_worker")
    url = f"/v1/referrals/{referral}/triage"
    for who in (analyst, worker):
        read = await signpost.client.get(url, headers=bearer(who))
        moved = await signpost.client.post(
            url + "/override",
            json={"level": 4, "rationale": "Nobody but the hub moves a level."},
            headers=bearer(who),
        )
        assert (read.status_code, moved.status_code) == (403, 403)


async def test_any_caller_reads_the_areas_working_week_and_no_one_without_a_key(
    signpost: Signpost,
) -> None:
    """The week triage's working-hours deadlines run by, as the console counts by it."""
    school = await signpost.key("school", "100001", "reports:write")
    week = await signpost.client.get("/v1/working-week", headers=bearer(school))
    assert week.status_code == 200, week.text
    assert week.json() | {"policy": None} == {
        "policy": None,
        "calendar": "england-and-wales",
        "timezone": "Europe/London",
        "opens": "09:00",
        "closes": "17:00",
        "weekdays": [0, 1, 2, 3, 4],
        "closed_days": week.json()["closed_days"],
    }
    assert week.json()["policy"]["id"]
    assert (await signpost.client.get("/v1/working-week")).status_code == 401
