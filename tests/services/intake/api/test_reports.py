"""Intake's front door: authentication, authority, validation, idempotency, status."""

from __future__ import annotations

import asyncio
import copy
import json
from typing import Any

import pytest

from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import EXAMPLES


def police_report() -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / "police-report.json").read_text())
    return body


async def police_key(sp: Signpost) -> str:
    return await sp.key("police", "demo-police", "reports:write", "reports:read")


async def test_a_report_without_a_key_is_401_problem_json(signpost: Signpost) -> None:
    r = await signpost.client.post("/v1/reports", json=police_report())
    assert r.status_code == 401
    assert r.headers["content-type"] == "application/problem+json"
    assert r.headers["www-authenticate"].startswith("Bearer")


async def test_an_unknown_or_malformed_key_is_401(signpost: Signpost) -> None:
    key = await police_key(signpost)
    for bad in ("nonsense", key[:-2] + "xx", "sp__", "sp_missing_secret"):
        r = await signpost.client.post("/v1/reports", json=police_report(), headers=bearer(bad))
        assert r.status_code == 401, bad


async def test_a_revoked_key_stops_working(signpost: Signpost) -> None:
    key = await police_key(signpost)
    assert (await signpost.client.get("/v1/reports/ref_x", headers=bearer(key))).status_code == 404
    await signpost.registry.revoke(key.split("_")[1])
    assert (await signpost.client.get("/v1/reports/ref_x", headers=bearer(key))).status_code == 401


async def test_a_key_without_the_scope_is_403_naming_the_scope(signpost: Signpost) -> None:
    key = await signpost.key("police", "demo-police", "reports:read")
    r = await signpost.client.post("/v1/reports", json=police_report(), headers=bearer(key))
    assert r.status_code == 403
    assert r.json()["missing_scopes"] == ["reports:write"]


async def test_a_client_may_submit_only_for_its_own_organisation(signpost: Signpost) -> None:
    key = await signpost.key("police", "other-force", "reports:write")
    r = await signpost.client.post("/v1/reports", json=police_report(), headers=bearer(key))
    assert r.status_code == 403
    assert "source.organisation" in r.json()["detail"]


@pytest.mark.parametrize(
    ("mutate", "field"),
    [
        (lambda b: b["child"]["address"].update(postcode="NOT A CODE"), "child.address.postcode"),
        (lambda b: b["concerns"].append({"code": "made_up"}), "concerns.1.code"),
        (lambda b: b.update(concerns=[]), "concerns"),
        (lambda b: b["source"].update(kind="council"), "source.kind"),
        (lambda b: b.update(reported_at="2026-11-27T22:40:00"), "reported_at"),
        (lambda b: b.update(narrative="x" * 20001), "narrative"),
        (lambda b: b.update(unexpected=True), "unexpected"),
        (lambda b: b["child"].pop("date_of_birth"), "child.date_of_birth"),
    ],
)
async def test_each_invalid_field_is_a_422_naming_it(
    signpost: Signpost, mutate: Any, field: str
) -> None:
    key = await police_key(signpost)
    body = police_report()
    mutate(body)
    r = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert r.status_code == 422
    assert r.headers["content-type"] == "application/problem+json"
    assert field in [e["field"] for e in r.json()["errors"]]


@pytest.mark.parametrize("raw", [b"", b"{", b"[]", b"null", b'"text"', b"\xff\xfe"])
async def test_malformed_bodies_are_4xx_never_5xx(signpost: Signpost, raw: bytes) -> None:
    key = await police_key(signpost)
    r = await signpost.client.post(
        "/v1/reports", content=raw, headers={**bearer(key), "content-type": "application/json"}
    )
    assert 400 <= r.status_code < 500
    assert r.headers["content-type"] == "application/problem+json"


async def test_accepted_report_is_visible_only_to_its_organisation(signpost: Signpost) -> None:
    key = await police_key(signpost)
    r = await signpost.client.post("/v1/reports", json=police_report(), headers=bearer(key))
    assert r.status_code == 202
    referral_id = r.json()["referral_id"]
    assert r.headers["location"] == f"/v1/reports/{referral_id}"
    mine = await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(key))
    assert mine.status_code == 200 and mine.json()["journey"][0]["status"] == "received"
    # A report is its organisation's, not one key's (issue 15): the force's other key
    # (a second records system, a replacement for a lost one) follows it too; a key of
    # another force does not.
    colleague = await signpost.key("police", "demo-police", "reports:read")
    ours = await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(colleague))
    assert ours.status_code == 200
    other = await signpost.key("police", "other-force", "reports:read")
    theirs = await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(other))
    assert theirs.status_code == 404


async def test_the_journey_reaches_routed_with_level_and_destination(signpost: Signpost) -> None:
    key = await police_key(signpost)
    body = json.loads((EXAMPLES / "statutory-report.json").read_text())
    referral_id = (
        await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    ).json()["referral_id"]
    async with asyncio.timeout(20):
        while True:
            view = (
                await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(key))
            ).json()
            if view["status"] == "routed":
                break
            await asyncio.sleep(0.05)
    assert (view["level"], view["priority"]) == (4, "red")
    assert view["destination"]["kind"] == "mash"
    assert [s["status"] for s in view["journey"]] == ["received", "triaged", "routed"]


async def test_same_idempotency_key_and_body_replays_the_first_answer(signpost: Signpost) -> None:
    key = await police_key(signpost)
    headers = {**bearer(key), "Idempotency-Key": "k-1"}
    first = await signpost.client.post("/v1/reports", json=police_report(), headers=headers)
    again = await signpost.client.post("/v1/reports", json=police_report(), headers=headers)
    assert first.status_code == again.status_code == 202
    assert first.json() == again.json()
    assert again.headers["idempotent-replayed"] == "true"


async def test_concurrent_retries_with_one_idempotency_key_create_one_report(
    signpost: Signpost,
) -> None:
    key = await police_key(signpost)
    headers = {**bearer(key), "Idempotency-Key": "k-race"}
    answers = await asyncio.gather(
        *(
            signpost.client.post("/v1/reports", json=police_report(), headers=headers)
            for _ in range(5)
        )
    )
    assert {a.status_code for a in answers} == {202}
    assert len({a.json()["referral_id"] for a in answers}) == 1


async def test_same_idempotency_key_with_another_body_is_409(signpost: Signpost) -> None:
    key = await police_key(signpost)
    headers = {**bearer(key), "Idempotency-Key": "k-2"}
    await signpost.client.post("/v1/reports", json=police_report(), headers=headers)
    changed = copy.deepcopy(police_report())
    changed["narrative"] = "something else"
    r = await signpost.client.post("/v1/reports", json=changed, headers=headers)
    assert r.status_code == 409
    assert r.json()["type"].endswith("idempotency-conflict")


async def test_vocabulary_lists_every_code_with_a_label(signpost: Signpost) -> None:
    r = await signpost.client.get("/v1/vocabulary")
    concerns = r.json()["concerns"]
    assert {"domestic_abuse", "fgm", "young_carer"} <= {c["code"] for c in concerns}
    assert all(c["label"] for c in concerns)


def test_every_example_report_validates() -> None:
    from shared.report import ConcernReport

    for path in EXAMPLES.glob("*.json"):
        ConcernReport.model_validate_json(path.read_text())


async def test_cross_field_errors_are_422_with_each_location(signpost: Signpost) -> None:
    key = await signpost.key("school", "100001", "reports:write")
    body = json.loads((EXAMPLES / "school-upn-report.json").read_text())
    body["school"]["urn"] = "100002"
    body["child"]["date_of_birth"] = "1999-01-01"
    r = await signpost.client.post("/v1/reports", json=body, headers=bearer(key))
    assert r.status_code == 422
    errors = {e["pointer"]: e["type"] for e in r.json()["errors"]}
    assert errors == {"/school/urn": "urn_mismatch", "/child/date_of_birth": "not_a_child"}


@pytest.mark.parametrize(
    "raw", [b"[" * 100000, b'{"source": ' * 5000, b'{"concerns": [' + b"{}," * 5000 + b"{}]}"]
)
async def test_pathological_bodies_are_4xx_never_5xx(signpost: Signpost, raw: bytes) -> None:
    key = await police_key(signpost)
    for path in ("/v1/reports", "/v1/reports/batch"):
        r = await signpost.client.post(
            path, content=raw, headers={**bearer(key), "content-type": "application/json"}
        )
        assert 400 <= r.status_code < 500, (path, r.status_code)
