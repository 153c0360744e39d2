"""Resubmissions are linked, not double-counted: through the API, and the rules
(`services.intake.resubmission`) directly."""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass

from services.intake.models import ReportVersion
from services.intake.resubmission import (
    batch_sha256,
    earlier_digests,
    is_duplicate,
    newest_first,
    report_sha256,
)
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


@dataclass(frozen=True)
class Stored:
    referral_id: str
    body_sha256: str
    supersedes: str


def test_the_digest_ignores_key_order_spacing_and_explicit_defaults() -> None:
    body = example("police-report.json")
    reordered = dict(reversed(list(body.items())))
    explicit = {**body, "child": {**body["child"], "home_educated": False}}
    digests = {report_sha256(ConcernReport.model_validate(b)) for b in (body, reordered, explicit)}
    assert len(digests) == 1
    body["narrative"] += " More."
    assert report_sha256(ConcernReport.model_validate(body)) not in digests


def test_a_report_using_the_encompass_fields_has_no_earlier_digest() -> None:
    body = example("police-report.json")
    assert len(earlier_digests(ConcernReport.model_validate(body))) == 1
    body["child"]["school_urn"] = "100001"
    assert earlier_digests(ConcernReport.model_validate(body)) == set()


def test_versions_are_ordered_by_their_links_newest_first() -> None:
    first = Stored("ref_a", "1", "")
    second = Stored("ref_b", "2", "ref_a")
    third = Stored("ref_c", "3", "ref_b")
    assert newest_first([second, third, first]) == [third, second, first]
    assert newest_first([]) == []


def test_only_a_repeat_of_the_latest_version_is_a_duplicate() -> None:
    report = ConcernReport.model_validate(example("police-report.json"))
    digest = report_sha256(report)
    assert is_duplicate(report, digest, Stored("ref_b", digest, "ref_a"))
    assert not is_duplicate(report, digest, Stored("ref_b", "another", "ref_a"))


def test_a_batch_digest_covers_its_content_type_and_body() -> None:
    body = b"[]"
    assert batch_sha256("application/json", body) == batch_sha256("application/json", body)
    assert batch_sha256("text/csv", body) != batch_sha256("application/json", body)
    assert batch_sha256("text/csv", b"a") != batch_sha256("text/csv", b"b")
