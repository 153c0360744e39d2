"""Triage's use cases on the database, in units of work as the consumer and the API open
them: a received referral is decided with its child's and household's history (a child
joins the household of a child living with them, two households found to be one merge
under the oldest key), its referral.triaged commits with it or not at all, and a
practitioner's override is kept beside the decision. On SQLite and PostgreSQL."""

from __future__ import annotations

from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlmodel import SQLModel, func, select

from services.triage import definition
from services.triage.models import Subject, SubjectIdentity, TriageDecision, TriageOverride
from services.triage.policy import PolicyError
from services.triage.service import (
    decision_of,
    on_start,
    override_level,
    policy_of,
    prepare_batch,
    triage,
)
from shared.auth import ClientKind, Principal
from shared.db import Database
from shared.envelope import event_data
from shared.events import EventType, ReferralReceived, ReferralTriaged
from shared.outbox import OutboxMessage
from shared.problems import NotFound, Problem
from tests.conftest import statements_run, verbs
from tests.services.conftest import service_context
from tests.services.triage.helpers import DEMOSHIRE, POLICIES, received, units

POSTCODE = "EX4 6PX"
REPORTED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
DECIDED = REPORTED + timedelta(days=1)
MOTHER = {"given_name": "Mia", "family_name": "Stone", "relationship": "mother"}
FATHER = {"given_name": "Finn", "family_name": "Rowe", "relationship": "father"}
CHILDREN = {
    "a": ("Amy", "2015-02-03"),
    "b": ("Ben", "2016-04-05"),
    "c": ("Cara", "2017-06-07"),
    "d": ("Dev", "2018-08-09"),
}
HUB = Principal(
    key_id="key_hub",
    client_id="cli_hub",
    name="Sam Hale",
    kind=ClientKind.HUB,
    organisation="demoshire-hub",
    scopes=frozenset({"referrals:read", "triage:override"}),
)


def report(
    n: int, child: str, *members: dict[str, str], concern: str = "domestic_abuse"
) -> ReferralReceived:
    """Report `n` about one of the Stone children at the household's postcode."""
    given, born = CHILDREN[child]
    return about(n, f"sub_{child}", given, born, POSTCODE, *members, concern=concern, prefix="hh")


def about(
    n: int,
    subject_key: str,
    given: str,
    born: str,
    postcode: str,
    *members: dict[str, str],
    concern: str = "domestic_abuse",
    supersedes: tuple[str, ...] = (),
    prefix: str = "b",
) -> ReferralReceived:
    """Report `ref_<prefix>_<n>` (reported `n` hours after REPORTED) about any Stone
    child."""
    referral = received(
        f"ref_{prefix}_{n}",
        subject_key,
        reported_at=REPORTED + timedelta(hours=n),
        child={
            "given_name": given,
            "family_name": "Stone",
            "date_of_birth": born,
            "address": {"postcode": postcode},
        },
        household=list(members),
        concern=concern,
    )
    return referral.model_copy(update={"supersedes": list(supersedes)})


async def triage_together(
    db: Database, *reports: ReferralReceived, read_ahead: bool = False
) -> list[tuple[TriageDecision, ReferralTriaged]]:
    """Triage `reports` in one unit of work (as the consumer handles a batch) and commit:
    each decision with the referral.triaged it recorded. With `read_ahead`, the batch
    reads ahead first, as the consumer's batch does."""
    async with units(db, DECIDED).begin() as uow:
        if read_ahead:
            await prepare_batch(uow, policy=DEMOSHIRE, batch=reports)
        rows = [await triage(uow=uow, policy=DEMOSHIRE, received=r) for r in reports]
        events = [event_data(e, ReferralTriaged) for e in uow.recorded]
    return list(zip(rows, events, strict=True))


async def households(db: Database) -> dict[str, str | None]:
    async with db.session() as session:
        rows = (await session.exec(select(Subject))).all()
    return {row.key: row.household_key for row in rows}


async def count(db: Database, table: type[SQLModel]) -> int:
    async with db.session() as session:
        return (await session.exec(select(func.count()).select_from(table))).one()


async def test_two_households_found_to_be_one_merge_under_the_oldest_key(db: Database) -> None:
    await triage_together(
        db,
        report(1, "a", MOTHER),
        report(2, "b", MOTHER),  # Amy's mother: Ben joins Amy's household
        report(3, "c", FATHER),
        report(4, "d", FATHER),  # Cara's father: Dev joins Cara's household
    )
    assert await households(db) == {
        "sub_a": "hh_a",
        "sub_b": "hh_a",
        "sub_c": "hh_c",
        "sub_d": "hh_c",
    }

    # Cara, now reported with both parents: the two households are one, and the
    # older key stays, for every child of both.
    [(row, event)] = await triage_together(db, report(5, "c", MOTHER, FATHER))
    assert set((await households(db)).values()) == {"hh_a"}
    assert row.household_key == "hh_a"
    async with db.session() as session:
        stored = await session.get(TriageDecision, "ref_hh_5")
    assert stored is not None and stored.household_key == "hh_a"
    assert event.subject_key == "sub_c"
    assert await count(db, SubjectIdentity) == 5


async def test_a_report_in_the_same_transaction_sees_the_household_just_linked(
    db: Database,
) -> None:
    # Under load the consumer handles a batch in one transaction: each report must see
    # what the reports before it wrote.
    *_, (again, _) = await triage_together(
        db, report(1, "a", MOTHER), report(2, "b", MOTHER), report(3, "a", MOTHER)
    )
    assert again.household_key == "hh_a"
    assert again.subject_key == "sub_a"
    async with db.session() as session:
        identities = (await session.exec(select(SubjectIdentity))).all()
    # Amy reported again with the same details adds nothing to the matching index.
    assert sorted(i.referral_id for i in identities) == ["ref_hh_1", "ref_hh_2"]


async def test_a_sibling_s_earlier_report_is_part_of_the_history(db: Database) -> None:
    await triage_together(db, report(1, "a", MOTHER, concern="household_substance_misuse"))
    [(row, _)] = await triage_together(db, report(2, "b", MOTHER))
    assert row.household_key == "hh_a"
    from_sibling = [f for f in row.factors if f["source"].startswith("household: reported")]
    assert [f["code"] for f in from_sibling] == ["household_substance_misuse"]


async def test_a_decision_records_referral_triaged_keyed_by_the_referral_s_partition_key(
    db: Database,
) -> None:
    async with units(db, DECIDED).begin() as uow:
        row = await triage(uow=uow, policy=DEMOSHIRE, received=report(1, "a", MOTHER))
        [recorded] = uow.recorded
    assert recorded.get_type() == EventType.REFERRAL_TRIAGED
    assert recorded.get_subject() == row.referral_id == "ref_hh_1"
    assert recorded.get_extension("partitionkey") == "sub_a"
    assert recorded.get_time() == DECIDED and row.decided_at == DECIDED
    data = event_data(recorded, ReferralTriaged)
    assert (data.level, data.revision, data.policy_id) == (row.level, 0, "demoshire")
    assert data.override is None
    assert await count(db, OutboxMessage) == 1


async def test_a_decision_and_its_event_roll_back_together(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with units(db, DECIDED).begin() as uow:
            await triage(uow=uow, policy=DEMOSHIRE, received=report(1, "a", MOTHER))
            raise RuntimeError("the unit's owner fails after the decision")
    assert await count(db, TriageDecision) == 0
    assert await count(db, OutboxMessage) == 0


async def test_a_sibling_s_report_earlier_in_the_same_batch_is_part_of_the_history(
    db: Database,
) -> None:
    # The consumer holds each decision until the batch commits: the sibling's, held a
    # report earlier, is still counted (the household read writes it first).
    _, (row, _) = await triage_together(
        db, report(1, "a", MOTHER, concern="household_substance_misuse"), report(2, "b", MOTHER)
    )
    assert row.household_key == "hh_a"
    from_sibling = [f for f in row.factors if f["source"].startswith("household: reported")]
    assert [f["code"] for f in from_sibling] == ["household_substance_misuse"]


async def test_a_report_about_a_new_child_costs_three_reads_and_a_write_per_table(
    db: Database,
) -> None:
    # The hot path (bench/e2e.py): one identity read serves matching and household
    # linking, then the subject and the history; the subject, its identity, the
    # decision and the outbox row are written when the unit completes, one statement
    # per table for a whole batch. Nothing is read twice or flushed through the ORM.
    with ExitStack() as counting:
        async with units(db, DECIDED).begin() as uow:
            await uow.connection()  # the transaction begins before counting
            statements = counting.enter_context(statements_run(db.engine.sync_engine))
            await triage(uow=uow, policy=DEMOSHIRE, received=report(1, "a", MOTHER))
            assert verbs(statements) == ["SELECT", "SELECT", "SELECT"]
    assert verbs(statements) == ["SELECT"] * 3 + ["INSERT"] * 4
    assert await count(db, TriageDecision) == 1


async def test_a_batch_that_reads_ahead_decides_every_report_as_one_that_does_not(
    db: Database, twin: Database
) -> None:
    """The read-ahead changes no decision: each read it answers is the database's answer
    at that point of the batch. The batch names children decided before, matched
    across sources and by a transposed birthday, reported twice in it, joining and
    merging households in it, and a report superseding one earlier in it."""
    before = [
        about(
            -240,
            "sub_a",
            "Amy",
            "2015-02-03",
            POSTCODE,
            MOTHER,
            concern="household_substance_misuse",
        ),
        about(-120, "sub_c", "Cara", "2017-06-07", POSTCODE, FATHER),
        about(-60, "sub_z", "Zed", "2014-03-04", "EX1 1AA", concern="bullying"),
    ]
    batch = [
        about(1, "sub_n", "Nia", "2019-01-20", "EX2 2BB"),  # a new child
        about(2, "sub_n", "Nia", "2019-01-20", "EX2 2BB", supersedes=("ref_b_1",)),
        about(3, "sub_e", "Eve", "2013-05-06", "EX3 3CC", concern="physical_neglect"),
        about(4, "sub_e", "Eve", "2013-05-06", "EX3 3CC"),  # Eve again: her history
        about(5, "sub_z2", "Zed", "2014-04-03", "EX1 1AA"),  # Zed, day and month swapped
        about(6, "sub_b", "Ben", "2016-04-05", POSTCODE, MOTHER),  # joins Amy's household
        about(7, "sub_a_school", "Amy", "2015-02-03", POSTCODE, MOTHER),  # Amy again
        about(8, "sub_d", "Dev", "2018-08-09", POSTCODE, FATHER),  # joins Cara's
        about(9, "sub_c", "Cara", "2017-06-07", POSTCODE, FATHER),  # now in Dev's household
        about(10, "sub_b", "Ben", "2016-04-05", POSTCODE, MOTHER),  # Ben again, same details
        about(11, "sub_c", "Cara", "2017-06-07", POSTCODE, MOTHER, FATHER),  # merges the two
        about(12, "sub_d", "Dev", "2018-08-09", POSTCODE, FATHER),  # Dev after the merge
    ]
    outcomes = []
    for database, read_ahead in ((db, True), (twin, False)):
        await triage_together(database, *before)
        decided = await triage_together(database, *batch, read_ahead=read_ahead)
        async with database.session() as session:
            identities = sorted(
                (i.referral_id, i.subject_key)
                for i in (await session.exec(select(SubjectIdentity))).all()
            )
        outcomes.append(
            (
                [
                    (
                        row.referral_id,
                        row.subject_key,
                        row.household_key,
                        row.level,
                        row.score,
                        row.factors,
                        row.reasons,
                        row.possible_matches,
                        event.model_dump(exclude={"decided_at"}),
                    )
                    for row, event in decided
                ],
                await households(database),
                identities,
            )
        )
    ahead, alone = outcomes
    assert ahead == alone
    # And the batch is the one described: the history and households did their work.
    rows = {row[0]: row for row in ahead[0]}
    assert rows["ref_b_7"][1] == "sub_a"  # Amy from another source is Amy
    assert "cumulative_concern" in [f["code"] for f in rows["ref_b_4"][5]]  # Eve's history
    assert rows["ref_b_9"][2] == "hh_c"  # Cara, in the household Dev's report made
    assert set(ahead[1].values()) == {"hh_a", None}  # one household for the Stones
    from_sibling = [f["code"] for f in rows["ref_b_6"][5] if f["source"].startswith("household")]
    assert from_sibling == ["household_substance_misuse"]  # Ben's sister's report counts


async def test_a_batch_of_new_children_reads_ahead_in_three_statements(db: Database) -> None:
    # The hot path (bench/e2e.py) under load: the consumer's batch reads the identities,
    # subjects and history of all its children at once; each child then costs no read.
    batch = [
        about(1, "sub_e", "Eve", "2013-05-06", "EX3 3CC"),
        about(2, "sub_f", "Fay", "2012-07-25", "EX5 5DD"),
        about(3, "sub_g", "Gus", "2011-09-30", "EX6 6EE"),
    ]
    with ExitStack() as counting:
        async with units(db, DECIDED).begin() as uow:
            await uow.connection()  # the transaction begins before counting
            statements = counting.enter_context(statements_run(db.engine.sync_engine))
            await prepare_batch(uow, policy=DEMOSHIRE, batch=batch)
            for referral in batch:
                await triage(uow=uow, policy=DEMOSHIRE, received=referral)
            assert verbs(statements) == ["SELECT", "SELECT", "SELECT"]
    assert verbs(statements) == ["SELECT"] * 3 + ["INSERT"] * 4
    assert await count(db, TriageDecision) == 3


async def test_a_batch_naming_children_decided_before_reads_ahead_in_four_statements(
    db: Database,
) -> None:
    # The children a report is matched to, surely or possibly, are read ahead with the
    # ones intake named, and the practitioners' verdicts on their identities: their
    # subjects, history and verdicts cost no read of their own.
    await triage_together(
        db,
        about(-60, "sub_z", "Zed", "2014-03-04", "EX1 1AA", concern="bullying"),
        about(-30, "sub_c", "Cara", "2017-06-07", POSTCODE),
    )
    batch = [
        about(1, "sub_z_away", "Zed", "2014-03-04", "PL4 8AA"),  # perhaps Zed: a namesake?
        about(2, "sub_c_school", "Cara", "2017-06-07", POSTCODE),  # Cara, from a school
    ]
    with ExitStack() as counting:
        async with units(db, DECIDED).begin() as uow:
            await uow.connection()  # the transaction begins before counting
            statements = counting.enter_context(statements_run(db.engine.sync_engine))
            await prepare_batch(uow, policy=DEMOSHIRE, batch=batch)
            rows = [await triage(uow=uow, policy=DEMOSHIRE, received=r) for r in batch]
            assert verbs(statements) == ["SELECT"] * 4
    zed, cara = rows
    assert [p["subject_key"] for p in zed.possible_matches or []] == ["sub_z"]
    assert cara.subject_key == "sub_c"


async def decided(db: Database) -> str:
    [(row, _)] = await triage_together(db, report(1, "a", MOTHER))
    return row.referral_id


async def test_an_override_is_kept_beside_the_decision_and_triages_the_referral_again(
    db: Database,
) -> None:
    referral = await decided(db)
    rationale = "Mother disclosed threats to the child on a home visit."
    overridden_at = DECIDED + timedelta(hours=2)
    async with units(db, overridden_at).begin() as uow:
        view = await override_level(
            uow=uow,
            policy=DEMOSHIRE,
            principal=HUB,
            referral_id=referral,
            level=4,
            rationale=rationale,
        )
        [recorded] = uow.recorded
    assert (view.level, view.priority, view.decision.level) == (4, "red", 2)
    [override] = view.overrides
    assert (override.from_level, override.to_level, override.by_name) == (2, 4, "Sam Hale")
    assert override.at == overridden_at
    # Red runs round the clock from the override: the receiving team gets it now.
    assert view.decide_by == override.decide_by == overridden_at + timedelta(hours=4)
    assert recorded.get_extension("partitionkey") == "sub_a"
    data = event_data(recorded, ReferralTriaged)
    assert (data.level, data.revision) == (4, 1)
    assert data.override is not None
    assert (data.override.original_level, data.override.rationale) == (2, rationale)

    async with units(db).begin() as uow:
        again = await decision_of(uow=uow, policy=DEMOSHIRE, referral_id=referral)
    assert again == view
    assert await count(db, TriageOverride) == 1


@pytest.mark.parametrize(
    ("level", "status", "problem"),
    [(5, 422, "level-out-of-range"), (2, 409, "level-unchanged")],
)
async def test_an_override_must_change_the_level_within_the_policy(
    db: Database, level: int, status: int, problem: str
) -> None:
    referral = await decided(db)
    with pytest.raises(Problem) as refused:
        async with units(db).begin() as uow:
            await override_level(
                uow=uow,
                policy=DEMOSHIRE,
                principal=HUB,
                referral_id=referral,
                level=level,
                rationale="x" * 40,
            )
    assert (refused.value.status, refused.value.type) == (status, problem)
    assert await count(db, TriageOverride) == 0
    assert await count(db, OutboxMessage) == 1  # the decision's own


async def test_an_unknown_referral_has_no_decision_to_read_or_override(db: Database) -> None:
    async with units(db).begin() as uow:
        with pytest.raises(NotFound):
            await decision_of(uow=uow, policy=DEMOSHIRE, referral_id="ref_nope")
        with pytest.raises(NotFound):
            await override_level(
                uow=uow,
                policy=DEMOSHIRE,
                principal=HUB,
                referral_id="ref_nope",
                level=3,
                rationale="x" * 40,
            )


async def test_the_policy_is_the_configured_file_loaded_once(tmp_path: Path) -> None:
    cwm = POLICIES / "cwm-demo.json"
    ctx = service_context(definition, f"sqlite:///{tmp_path / 'triage.db'}", tmp_path)
    ctx.config = ctx.config.model_copy(update={"triage_policy_path": cwm})
    first = policy_of(ctx)
    assert first.id == "cwm-demo"
    assert policy_of(ctx) is first
    await ctx.db.dispose()


async def test_a_bad_policy_file_stops_the_service_at_start(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text((POLICIES / "demoshire.json").read_text().replace('"bullying": 1', '"x": 1'))
    ctx = service_context(definition, f"sqlite:///{tmp_path / 'triage.db'}", tmp_path)
    ctx.config = ctx.config.model_copy(update={"triage_policy_path": bad})
    with pytest.raises(PolicyError, match="'x' is not in the vocabulary"):
        await on_start(ctx)
    await ctx.db.dispose()


# ---- never merge two children (issue 13) -------------------------------------------

TWINS_BORN = "2017-03-09"


def twin_report(
    referral: str, given: str, *, at: datetime, postcode: str = POSTCODE, key: str | None = None
) -> ReferralReceived:
    """A report about one of the Stone twins (or a child named like them)."""
    return received(
        referral,
        key or f"sub_{given.lower()}",
        reported_at=at,
        child={
            "given_name": given,
            "family_name": "Stone",
            "date_of_birth": TWINS_BORN,
            "address": {"postcode": postcode},
        },
        household=[],
    )


async def triage_one(db: Database, report: ReferralReceived) -> TriageDecision:
    [(row, _)] = await triage_together(db, report)
    return row


async def test_three_concerns_about_one_twin_do_not_escalate_the_other_s_first_referral(
    db: Database,
) -> None:
    """The issue's scenario: twins at one address, given names one letter apart. The
    rules before took them for one child, so Louis's three concerns in 90 days raised
    Louise's first referral by the three-in-90-days rule."""
    louis = [
        await triage_one(
            db, twin_report(f"ref_louis_{n}", "Louis", at=REPORTED - timedelta(days=d))
        )
        for n, d in enumerate((60, 30, 10))
    ]
    assert "three concerns within 90 days (Devon PPN rule)" in louis[-1].rules  # the rule works

    louise = await triage_one(db, twin_report("ref_louise_1", "Louise", at=REPORTED))

    assert louise.subject_key != louis[0].subject_key
    assert louise.rules == [] and louise.level == louis[0].level
    assert not [f for f in louise.factors if f["kind"] == "cumulative"]
    [possible] = louise.possible_matches or []
    assert possible["subject_key"] == louis[0].subject_key
    assert possible["referral_ids"] == ["ref_louis_0", "ref_louis_1", "ref_louis_2"]
    assert "given names only alike" in possible["reason"]

    async with units(db).begin() as uow:
        view = await decision_of(uow=uow, policy=DEMOSHIRE, referral_id="ref_louise_1")
    assert "A possible earlier record of this child was found and not counted" in view.explanation
    assert "ref_louis_0, ref_louis_1, ref_louis_2" in view.explanation
    assert [p.subject_key for p in view.possible_matches] == [louis[0].subject_key]
    # Louise reported again is Louise: her own history counts, Louis's still does not.
    again = await triage_one(
        db, twin_report("ref_louise_2", "Louise", at=REPORTED + timedelta(days=1))
    )
    assert again.subject_key == louise.subject_key
    assert again.rules == []
    assert [p["subject_key"] for p in again.possible_matches or []] == [louis[0].subject_key]


async def test_a_namesake_elsewhere_with_intake_s_key_is_not_counted_as_the_child(
    db: Database,
) -> None:
    """Intake's key hashes the names and date of birth alone: a child of the same name
    and birthday in another district arrives with it. Matching finds them only
    possibly the same child, so they get a key of their own and nothing is counted."""
    here = [
        await triage_one(
            db, twin_report(f"ref_here_{n}", "Amy", at=REPORTED - timedelta(days=d), key="sub_amy")
        )
        for n, d in enumerate((40, 20))
    ]
    elsewhere = await triage_one(
        db, twin_report("ref_away", "Amy", at=REPORTED, postcode="PL4 8AA", key="sub_amy")
    )
    assert {row.subject_key for row in here} == {"sub_amy"}
    assert elsewhere.subject_key not in ("sub_amy", elsewhere.partition_key)
    assert elsewhere.subject_key.startswith("sub_") and elsewhere.partition_key == "sub_amy"
    assert elsewhere.rules == []
    [possible] = elsewhere.possible_matches or []
    assert possible["subject_key"] == "sub_amy"
    assert "a move, or a namesake" in possible["reason"]
    async with db.session() as session:
        subjects = (await session.exec(select(Subject))).all()
    assert {s.key for s in subjects} == {"sub_amy", elsewhere.subject_key}


async def test_a_decision_without_possible_matches_records_none(db: Database) -> None:
    row = await triage_one(db, report(1, "a", MOTHER))
    assert row.possible_matches == []
    async with units(db).begin() as uow:
        view = await decision_of(uow=uow, policy=DEMOSHIRE, referral_id=row.referral_id)
    assert view.possible_matches == [] and "possible earlier record" not in view.explanation


def with_narrative(referral: ReferralReceived, narrative: str) -> ReferralReceived:
    return referral.model_copy(
        update={"report": referral.report.model_copy(update={"narrative": narrative})}
    )


async def test_a_narrative_naming_an_uncoded_concern_needs_review_and_keeps_its_level(
    db: Database,
) -> None:
    plain = report(1, "a", concern="bullying")
    telling = with_narrative(
        report(2, "b", concern="bullying"),
        "Amy told staff that older boys made her start carrying a knife to the park.",
    )
    [(plain_row, plain_event), (row, event)] = await triage_together(db, plain, telling)

    # The same report without the words decides the same level: review never raises
    # or lowers it.
    assert (row.level, row.priority) == (plain_row.level, plain_row.priority)
    assert not plain_event.needs_review and plain_event.suspected_codes == []
    assert event.needs_review and event.suspected_codes == ["serious_violence"]
    async with units(db).begin() as uow:
        view = await decision_of(uow=uow, policy=DEMOSHIRE, referral_id=row.referral_id)
    assert view.needs_review
    assert [(s.code, s.terms) for s in view.suspected_concerns] == [
        ("serious_violence", ["carrying a knife"])
    ]
    assert "The narrative names concerns the report's codes do not: serious violence" in (
        view.explanation
    )
    assert "goes to the hub to review it" in view.explanation


async def test_an_override_is_the_review_the_narrative_called_for(db: Database) -> None:
    telling = with_narrative(
        report(1, "a", concern="bullying"), "Amy has been carrying a knife to school."
    )
    [(row, _)] = await triage_together(db, telling)
    async with units(db, DECIDED + timedelta(hours=1)).begin() as uow:
        view = await override_level(
            uow=uow,
            policy=DEMOSHIRE,
            principal=HUB,
            referral_id=row.referral_id,
            level=3,
            rationale="Knife carrying confirmed with the school: multi-agency support.",
        )
        [recorded] = uow.recorded
    data = event_data(recorded, ReferralTriaged)
    assert (data.needs_review, data.suspected_codes) == (False, ["serious_violence"])
    assert not view.needs_review
    assert "the practitioner's override below is the review" in view.explanation
