"""Intake's use cases called directly, on SQLite and PostgreSQL: Idempotency-Key answers
replayed, refused for another body, and forgotten a batch at a time after their
retention; an organisation's own reports listed a page at a time in a stable order,
filtered, and followed by anyone of the organisation (nobody else)."""

from __future__ import annotations

import asyncio
import dataclasses
from datetime import datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select

from services.intake import repository, service
from services.intake.models import IdempotencyRecord
from shared.auth import ClientKind, Principal
from shared.db import table_of
from shared.events import EventType
from shared.pagination import PageRequest, decode_cursor, encode_cursor
from shared.problems import NotFound, Problem
from shared.report import ConcernReport
from shared.runtime import ServiceContext
from tests.conftest import statements_run, verbs
from tests.services.intake.conftest import POLICE, START, example
from tests.services.intake.test_handlers import deliver, pathway, routed, triaged

RETENTION = timedelta(hours=168)


async def submit(ctx: ServiceContext, key: str | None, name: str = "police-report.json") -> Any:
    return await service.submit_report(
        units=ctx.units,
        principal=POLICE,
        report=ConcernReport.model_validate(example(name)),
        idempotency_key=key,
        pseudonym_secret="test-secret",
    )


async def answers_kept(ctx: ServiceContext) -> int:
    async with ctx.db.engine.connect() as conn:
        count = await conn.scalar(select(func.count()).select_from(table_of(IdempotencyRecord)))
        return int(count or 0)


async def forget(ctx: ServiceContext, limit: int) -> int:
    async with ctx.units.begin() as uow:
        return await service.forget_idempotency_keys(uow=uow, older_than=RETENTION, limit=limit)


async def test_the_first_answer_is_replayed_under_its_key(replica: ServiceContext) -> None:
    first = await submit(replica, "k-1")
    again = await submit(replica, "k-1")
    assert (first.status_code, first.replayed) == (202, False)
    assert (again.status_code, again.replayed) == (202, True)
    assert again.body == first.body


async def test_a_key_used_again_with_another_body_is_a_conflict(replica: ServiceContext) -> None:
    await submit(replica, "k-1")
    with pytest.raises(Problem) as refused:
        await submit(replica, "k-1", "statutory-report.json")
    assert (refused.value.status, refused.value.type) == (409, "idempotency-conflict")


async def test_answers_past_their_retention_are_forgotten_a_batch_at_a_time(
    replica: ServiceContext,
) -> None:
    for key in ("k-1", "k-2", "k-3"):
        await submit(replica, key)
    replica.clock.advance(hours=100)
    await submit(replica, "k-recent")
    replica.clock.advance(hours=68)  # the first three are exactly 168 hours old
    assert await forget(replica, limit=10) == 0
    replica.clock.advance(seconds=1)
    assert [await forget(replica, limit=2) for _ in range(3)] == [2, 1, 0]
    assert await answers_kept(replica) == 1  # the recent one stays


async def test_a_retry_after_its_answer_is_forgotten_is_recognised_as_a_resubmission(
    replica: ServiceContext,
) -> None:
    first = await submit(replica, "k-1")
    replica.clock.advance(RETENTION + timedelta(minutes=1))
    assert await forget(replica, limit=10) == 1
    again = await submit(replica, "k-1")
    assert not again.replayed
    assert again.body["referral_id"] == again.body["duplicate_of"] == first.body["referral_id"]
    assert await answers_kept(replica) == 1  # the new answer is kept for its own retention


# ------------------------------------------------------------------ reports arriving together


async def test_reports_arriving_together_read_their_earlier_versions_in_one_statement(
    replica: ServiceContext,
) -> None:
    with statements_run(replica.db.engine.sync_engine) as statements:
        receipts = await asyncio.gather(*(receipt(replica, f"T-{n}") for n in range(5)))
    assert len({r["referral_id"] for r in receipts}) == 5
    reads = [s for s in statements if verbs([s]) == ["SELECT"] and "report_version" in s]
    assert len(reads) == 1, reads  # one for the five, not one each


async def test_reports_arriving_together_are_answered_as_if_each_came_alone(
    replica: ServiceContext,
) -> None:
    """What a shared unit read ahead answers only for a reference nothing in the unit
    stored since: a resubmission of a report earlier in the same group is recognised."""
    stored = await receipt(replica, "R-repeat")
    changed = await receipt(replica, "R-change")
    with statements_run(replica.db.engine.sync_engine) as statements:
        repeat, change, new, new_changed, other = await asyncio.gather(
            receipt(replica, "R-repeat"),
            receipt(replica, "R-change", narrative="A second call: the child was seen again."),
            receipt(replica, "R-new"),
            receipt(replica, "R-new", narrative="Corrected within the minute."),
            receipt(replica, "R-other"),
        )
    # One shared unit (not each alone after a conflict): the read ahead, then R-new's
    # second report reads again, after the first's rows are written.
    reads = [s for s in statements if verbs([s]) == ["SELECT"] and "report_version" in s]
    assert len(reads) == 2, reads
    assert repeat["duplicate_of"] == repeat["referral_id"] == stored["referral_id"]
    assert change["supersedes"] == changed["referral_id"] != change["referral_id"]
    assert new["duplicate_of"] is None and new["supersedes"] is None
    assert new_changed["supersedes"] == new["referral_id"] != new_changed["referral_id"]
    assert other["duplicate_of"] is None and other["supersedes"] is None


async def test_many_references_are_read_ahead_a_bounded_chunk_at_a_time(
    replica: ServiceContext, monkeypatch: pytest.MonkeyPatch
) -> None:
    stored = {f"C-{n}": await report(replica, f"C-{n}") for n in range(5)}
    monkeypatch.setattr(repository, "_REFERENCES_PER_READ", 2)
    wanted = [(POLICE.organisation, ref) for ref in [*stored, "C-none"]]
    async with replica.db.engine.connect() as conn:
        with statements_run(replica.db.engine.sync_engine) as statements:
            found = await repository.versions_of(conn, wanted)
    assert len(statements) == 3  # six references, two a statement
    assert {ref: [v.referral_id for v in found[(org, ref)]] for org, ref in wanted} == {
        **{ref: [referral_id] for ref, referral_id in stored.items()},
        "C-none": [],
    }


# ------------------------------------------------------------------ an organisation's reports

# The force's officer signed in to the console, another force, a school, and a school
# whose URN happened to read like the force's code: only the kind and organisation of a
# report's source say whose it is.
OFFICER = dataclasses.replace(POLICE, key_id="k_per_lee", client_id="per_lee", person_id="per_lee")
OTHER_FORCE = dataclasses.replace(
    POLICE, key_id="k_other", client_id="c_other", organisation="other-force"
)
SCHOOL = Principal(
    key_id="k_school",
    client_id="c_school",
    name="test school",
    kind=ClientKind.SCHOOL,
    organisation="100001",
    scopes=frozenset({"reports:write", "reports:read"}),
)
SCHOOL_NAMED_LIKE_THE_FORCE = dataclasses.replace(
    SCHOOL, key_id="k_odd", client_id="c_odd", organisation=POLICE.organisation
)
HUB = Principal(
    key_id="k_hub",
    client_id="c_hub",
    name="test hub",
    kind=ClientKind.HUB,
    organisation="demoshire-hub",
    scopes=frozenset({"reports:read", "referrals:read"}),
)


async def receipt(
    ctx: ServiceContext, reference: str, *, by: Principal = POLICE, narrative: str | None = None
) -> dict[str, Any]:
    """The receipt for a report under `reference`, from `by`'s organisation, received
    now."""
    body = example("police-report.json" if by.kind is ClientKind.POLICE else "school-report.json")
    body["source"].update(organisation=by.organisation, reference=reference)
    if narrative is not None:
        body["narrative"] = narrative
    answer = await service.submit_report(
        units=ctx.units,
        principal=by,
        report=ConcernReport.model_validate(body),
        idempotency_key=None,
        pseudonym_secret="test-secret",
    )
    return answer.body


async def report(
    ctx: ServiceContext, reference: str, *, by: Principal = POLICE, narrative: str | None = None
) -> str:
    """A report under `reference`, from `by`'s organisation, received now: its referral."""
    referral_id: str = (await receipt(ctx, reference, by=by, narrative=narrative))["referral_id"]
    return referral_id


async def listed(
    ctx: ServiceContext, by: Principal = POLICE, *, limit: int = 50, **filters: Any
) -> list[str]:
    """Every report the list shows `by`, following each page's cursor to the last."""
    seen: list[str] = []
    page = PageRequest(limit=limit)
    while True:
        async with ctx.units.begin() as uow:
            found = await service.list_reports(
                uow=uow, principal=by, filters=service.ReportFilter(**filters), page=page
            )
        assert len(found.items) <= limit
        seen += [summary.referral_id for summary in found.items]
        if found.next is None:
            return seen
        page = PageRequest(limit=limit, after=decode_cursor(encode_cursor(found.next)))


async def test_an_organisations_reports_page_newest_first_with_no_repeats_or_gaps(
    replica: ServiceContext,
) -> None:
    received: list[tuple[datetime, str]] = []
    replica.clock.set(START - timedelta(days=1))
    for n in range(2):
        received.append((replica.clock.now(), await report(replica, f"A-{n}")))
    replica.clock.set(START)  # five received in the same instant
    for n in range(5):
        received.append((replica.clock.now(), await report(replica, f"B-{n}")))
        await report(replica, f"B-{n}", by=OTHER_FORCE)
        await report(replica, f"B-{n}", by=SCHOOL)
    replica.clock.advance(microseconds=1)
    received.append((replica.clock.now(), await report(replica, "C-0")))
    newest_first = [referral_id for _, referral_id in sorted(received, reverse=True)]

    for limit in (1, 2, 3, 7, 8, 50):
        assert await listed(replica, limit=limit) == newest_first, limit
    assert await listed(replica, OFFICER, limit=3) == newest_first


async def test_a_report_received_while_paging_repeats_nothing_and_shows_on_a_fresh_list(
    replica: ServiceContext,
) -> None:
    ids = []
    for n in range(4):
        ids.append(await report(replica, f"R-{n}"))
        replica.clock.advance(seconds=1)
    async with replica.units.begin() as uow:
        first = await service.list_reports(
            uow=uow, principal=POLICE, filters=service.ReportFilter(), page=PageRequest(limit=2)
        )
    assert first.next is not None
    later = await report(replica, "R-later")

    async with replica.units.begin() as uow:
        rest = await service.list_reports(
            uow=uow,
            principal=POLICE,
            filters=service.ReportFilter(),
            page=PageRequest(limit=2, after=first.next),
        )

    assert [s.referral_id for s in first.items + rest.items] == ids[::-1]
    assert rest.next is None
    assert (await listed(replica))[0] == later


async def test_no_one_else_lists_or_follows_the_organisations_reports(
    replica: ServiceContext,
) -> None:
    ours = await report(replica, "DP-1")
    theirs = await report(replica, "DP-1", by=OTHER_FORCE)
    schools = await report(replica, "DP-1", by=SCHOOL)

    assert await listed(replica) == await listed(replica, OFFICER) == [ours]
    assert await listed(replica, OTHER_FORCE) == [theirs]
    assert await listed(replica, SCHOOL) == [schools]
    assert await listed(replica, SCHOOL_NAMED_LIKE_THE_FORCE) == []
    assert await listed(replica, HUB) == []  # it oversees referrals, it raises no reports
    async with replica.units.begin() as uow:
        # The force's records system submitted it; its officer follows it too.
        view = await service.report_status(uow=uow, principal=OFFICER, referral_id=ours)
        assert view.referral_id == ours
        for stranger in (OTHER_FORCE, SCHOOL, SCHOOL_NAMED_LIKE_THE_FORCE, HUB):
            with pytest.raises(NotFound):
                await service.report_status(uow=uow, principal=stranger, referral_id=ours)


async def test_the_list_filters_by_status_time_received_and_reference(
    replica: ServiceContext,
) -> None:
    replica.clock.set(START - timedelta(days=1))
    yesterday = await report(replica, "DP-1")
    replica.clock.set(START)
    today = await report(replica, "DP-2")
    replica.clock.advance(seconds=1)
    changed = await report(replica, "DP-2", narrative="Update: the father was charged.")
    replica.clock.set(START + timedelta(hours=1))
    later = await report(replica, "DP-3")
    await deliver(replica, EventType.REFERRAL_TRIAGED, today, triaged(today))

    assert await listed(replica, status="triaged") == [today]
    assert await listed(replica, status="received") == [later, changed, yesterday]
    assert await listed(replica, status="routed") == []
    assert await listed(replica, received_from=START, received_to=START + timedelta(hours=1)) == [
        changed,
        today,
    ]
    assert await listed(replica, received_from=START + timedelta(hours=1)) == [later]
    assert await listed(replica, received_to=START) == [yesterday]
    assert await listed(replica, reference="DP-2", limit=1) == [changed, today]
    assert await listed(replica, reference="DP-2", status="triaged") == [today]
    assert await listed(replica, reference="DP-9") == []
    assert await listed(replica, OTHER_FORCE, reference="DP-2") == []


async def test_each_listed_report_stands_as_its_journey_says_and_shows_no_child(
    replica: ServiceContext,
) -> None:
    referral_id = await report(replica, "DP-1")
    waiting = await report(replica, "DP-2")
    await deliver(replica, EventType.REFERRAL_TRIAGED, referral_id, triaged(referral_id))
    await deliver(
        replica,
        EventType.REFERRAL_ROUTED,
        referral_id,
        routed(referral_id, "safe-homes", "Safe Homes", START),
    )
    told = pathway(referral_id, "prevent", "demoshire-prevent")
    await deliver(replica, EventType.REFERRAL_PATHWAY, referral_id, told)

    async with replica.units.begin() as uow:
        found = await service.list_reports(
            uow=uow, principal=POLICE, filters=service.ReportFilter(), page=PageRequest()
        )
        view = await service.report_status(uow=uow, principal=POLICE, referral_id=referral_id)

    summaries = {s.referral_id: s.model_dump(mode="json") for s in found.items}
    assert summaries[referral_id] == {
        "referral_id": referral_id,
        "status": "routed",
        "outcome": "Passed to Safe Homes, who are best placed to help.",
        "source_reference": "DP-1",
        "received_at": "2026-11-30T09:00:00Z",
        "level": 3,
        "priority": "amber",
        "destination": {"kind": "agency", "name": "Safe Homes"},
        "status_url": f"/v1/reports/{referral_id}",
    }
    assert summaries[referral_id]["outcome"] == view.outcome  # the pathway left out alike
    assert summaries[waiting]["outcome"] == "Your report was received."
    assert summaries[waiting]["destination"] is None
    child = example("police-report.json")["child"]
    for summary in summaries.values():
        shown = str(summary)
        assert child["given_name"] not in shown and child["family_name"] not in shown
