"""A child's chronology over HTTP: the referrals counted as one child and those only
perhaps theirs, with the confidence of each link and no names; and a practitioner's
confirm or split, recorded and followed by matching for later reports."""

from __future__ import annotations

from typing import Any

from sqlmodel import select

from services.triage.models import MatchVerdict
from services.triage.service.children import split_key
from shared.privacy import ReadAudit
from tests.services.conftest import Signpost, bearer
from tests.services.triage.test_api import (
    decision_rows,
    keys,
    police_report,
    post,
    school_report,
    triage_of,
)

THREE_IN_90_DAYS = "three concerns within 90 days (Devon PPN rule)"
# Twins' details: one given name a letter from the other's (matching's POSSIBLE).
STONE = {"family_name": "Stone", "date_of_birth": "2017-03-09", "address": {"postcode": "EX4 6PX"}}
WILLIAM = {
    "given_name": "William",
    "family_name": "Smith",
    "date_of_birth": "2016-04-07",
    "address": {"postcode": "EX4 6PX"},
}
# How the school names William: his short name, a misspelt surname, the fields swapped.
BILLY = {**WILLIAM, "given_name": "Smyth", "family_name": "Billy"}
CONFIRM = "The school confirms Louise and Louis are one child: Louis is her old name."
SPLIT = "The school knows two children: Billy Smyth is not William Smith."


async def decided(sp: Signpost, hub: str, key: str, body: dict[str, Any]) -> str:
    referral = await post(sp, key, body)
    await triage_of(sp, hub, referral)
    return referral


async def child_of(sp: Signpost, who: str, referral_id: str) -> str:
    answer = await sp.client.get(f"/v1/referrals/{referral_id}/child", headers=bearer(who))
    assert answer.status_code == 200, answer.text
    subject: str = answer.json()["subject_id"]
    return subject


async def chronology(sp: Signpost, who: str, subject_id: str) -> dict[str, Any]:
    answer = await sp.client.get(f"/v1/children/{subject_id}", headers=bearer(who))
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


async def verdict(
    sp: Signpost, who: str, subject_id: str, referral_id: str, said: str, rationale: str
) -> Any:
    return await sp.client.post(
        f"/v1/children/{subject_id}/matches",
        json={"referral_id": referral_id, "verdict": said, "rationale": rationale},
        headers=bearer(who),
    )


def hub_person(sp: Signpost) -> str:
    return sp.person("demoshire-hub", "hub_practitioner", person_id="per_sam", name="Sam Hale")


async def twins(sp: Signpost, k: dict[str, str]) -> tuple[list[str], str]:
    """Louis reported twice by the police, then Louise by the school: perhaps him."""
    louis = [
        await decided(
            sp, k["hub"], k["police"], police_report(f"LS-{n}", given_name="Louis", **STONE)
        )
        for n in (1, 2)
    ]
    louise = await decided(
        sp, k["hub"], k["school"], school_report("LS-3", given_name="Louise", **STONE)
    )
    return louis, louise


async def test_the_chronology_lists_counted_and_possible_referrals_with_confidence_and_no_names(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    (first, again), louise = await twins(signpost, k)
    sam = hub_person(signpost)
    subject = await child_of(signpost, sam, first)

    answer = await signpost.client.get(f"/v1/children/{subject}", headers=bearer(sam))

    assert answer.status_code == 200, answer.text
    view = answer.json()
    rows = {r["referral_id"]: r for r in view["referrals"]}
    assert set(rows) == {first, again, louise}
    assert view["referrals"][0]["referral_id"] == louise  # newest first
    assert (rows[first]["counted"], rows[first]["match"]) == (True, None)  # known by it first
    assert rows[again]["counted"] and rows[again]["match"]["outcome"] == "same"
    possible = rows[louise]
    assert (possible["counted"], possible["source_kind"]) == (False, "school")
    assert possible["match"]["outcome"] == "possible"
    assert possible["match"]["doubts"] == ["given name only alike"]
    assert rows[first]["source_kind"] == "police" and rows[first]["concern_codes"]
    for name in ("Louis", "Louise", "Stone", "2017-03-09", "EX4"):
        assert name not in answer.text
    async with signpost.app.state.runtimes["triage"].ctx.db.session() as session:
        [read] = (await session.exec(select(ReadAudit))).all()
    assert (read.resource, read.resource_id, read.client_id) == ("child", subject, "per_sam")


async def test_only_the_hub_reads_a_child_s_chronology(signpost: Signpost) -> None:
    k = await keys(signpost)
    referral = await decided(signpost, k["hub"], k["police"], police_report("ONLY-1"))
    subject = await child_of(signpost, k["hub"], referral)
    mash = signpost.person("demoshire-mash", "mash_practitioner")
    agency = await signpost.key("agency", "safe-homes", "referrals:read")
    for who in (mash, agency):
        answer = await signpost.client.get(f"/v1/children/{subject}", headers=bearer(who))
        assert answer.status_code == 404, answer.text
    police = await signpost.client.get(f"/v1/children/{subject}", headers=bearer(k["police"]))
    assert police.status_code == 403
    missing = await signpost.client.get("/v1/children/sub_nobody", headers=bearer(k["hub"]))
    assert missing.status_code == 404


async def test_a_confirm_counts_the_referral_and_a_later_report_counts_the_history(
    signpost: Signpost,
) -> None:
    k = await keys(signpost)
    (first, _), louise = await twins(signpost, k)
    sam = hub_person(signpost)
    subject = await child_of(signpost, sam, first)

    answer = await verdict(signpost, sam, subject, louise, "confirm", CONFIRM)

    assert answer.status_code == 201, answer.text
    [row] = [r for r in answer.json()["referrals"] if r["referral_id"] == louise]
    assert row["counted"] and row["match"]["outcome"] == "same"
    assert (row["verdict"]["verdict"], row["verdict"]["by_name"]) == ("confirm", "Sam Hale")
    async with signpost.app.state.runtimes["triage"].ctx.db.session() as session:
        [stored] = (await session.exec(select(MatchVerdict))).all()
    assert (stored.by_person_id, stored.identity_id, stored.other_identity_ids) == (
        "per_sam",
        louise,
        [first],
    )
    # Louise again (the police this time): now the same child as Louis, whose reports
    # are her history.
    later = await post(signpost, k["police"], police_report("LS-4", given_name="Louise", **STONE))
    view = await triage_of(signpost, k["hub"], later)
    decisions = {r.referral_id: r for r in await decision_rows(signpost)}
    assert decisions[later].subject_key == subject
    assert THREE_IN_90_DAYS in view["decision"]["rules"]


async def test_a_split_keeps_later_reports_with_either_identity_apart(signpost: Signpost) -> None:
    k = await keys(signpost)
    william = await decided(signpost, k["hub"], k["police"], police_report("W-1", **WILLIAM))
    billy = await decided(signpost, k["hub"], k["school"], school_report("W-2", **BILLY))
    sam = hub_person(signpost)
    subject = await child_of(signpost, sam, william)
    assert await child_of(signpost, sam, billy) == subject  # matching counted them as one

    answer = await verdict(signpost, sam, subject, billy, "split", SPLIT)

    assert answer.status_code == 201, answer.text
    [row] = [r for r in answer.json()["referrals"] if r["referral_id"] == billy]
    assert not row["counted"] and row["match"]["outcome"] == "different"
    assert row["verdict"]["verdict"] == "split"
    assert await child_of(signpost, sam, billy) == split_key(subject, billy)
    # The school names Billy so again: he is his own child, not perhaps William.
    later = await decided(signpost, k["hub"], k["school"], school_report("W-3", **BILLY))
    # The police name William so again: William, not perhaps Billy.
    police = await decided(signpost, k["hub"], k["police"], police_report("W-4", **WILLIAM))
    decisions = {r.referral_id: r for r in await decision_rows(signpost)}
    assert decisions[later].subject_key == split_key(subject, billy)
    assert decisions[police].subject_key == subject
    assert decisions[later].possible_matches == decisions[police].possible_matches == []


async def test_a_verdict_needs_a_rationale_and_a_hub_practitioner(signpost: Signpost) -> None:
    k = await keys(signpost)
    (first, _), louise = await twins(signpost, k)
    sam = hub_person(signpost)
    subject = await child_of(signpost, sam, first)

    short = await verdict(signpost, sam, subject, louise, "confirm", "same")
    assert short.status_code == 422
    assert [e["field"] for e in short.json()["errors"]] == ["rationale"]
    missing = await signpost.client.post(
        f"/v1/children/{subject}/matches",
        json={"referral_id": louise, "verdict": "confirm"},
        headers=bearer(sam),
    )
    assert missing.status_code == 422
    assert [e["field"] for e in missing.json()["errors"]] == ["rationale"]
    key = await verdict(signpost, k["hub"], subject, louise, "confirm", CONFIRM)
    assert key.status_code == 403 and key.json()["type"].endswith("/person-required")
    worker = signpost.person("safe-homes", "agency_worker")
    agency = await verdict(signpost, worker, subject, louise, "split", SPLIT)
    assert agency.status_code == 403
    stranger = await verdict(signpost, sam, subject, "ref_elsewhere", "split", SPLIT)
    assert stranger.status_code == 404
    async with signpost.app.state.runtimes["triage"].ctx.db.session() as session:
        assert (await session.exec(select(MatchVerdict))).all() == []
