"""Triage's queries and statements on SQLite and PostgreSQL: the one identity read that
serves matching and household linking, households moved whole, the decided history
within a window, a decision with its overrides in order, and the overrides of the
referrals received in a period in one query."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from services.triage import repository
from services.triage.models import MatchVerdict, SubjectIdentity, TriageDecision, TriageOverride
from shared.clock import Clock
from shared.db import Database, table_of
from shared.uow import UnitOfWork, UnitsOfWork
from tests.conftest import statements_run, verbs

AT = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
UPN = "A123456789012"


@asynccontextmanager
async def unit(db: Database) -> AsyncIterator[UnitOfWork]:
    """A unit of work, committed (with the rows it holds) when the block ends."""
    async with UnitsOfWork(db, clock=Clock(AT), source="/signpost/triage/test").begin() as uow:
        yield uow


def identity(referral_id: str, born: date, postcode: str, upn: str | None = None) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "subject_key": "sub_" + referral_id,
        "given_name": "Amy",
        "family_name": "Stone",
        "date_of_birth": born,
        "postcode": postcode,
        "upn": upn,
        "members": [],
    }


def decision(referral_id: str, subject_key: str, reported_at: datetime) -> dict[str, Any]:
    return {
        "referral_id": referral_id,
        "subject_key": subject_key,
        "partition_key": subject_key,
        "household_key": None,
        "level": 2,
        "priority": "green",
        "decided_level": 2,
        "decided_priority": "green",
        "level_name": "Early help",
        "score": 4,
        "reasons": [],
        "factors": [],
        "rules": [],
        "rationale": "Level 2.",
        "policy_id": "demoshire",
        "policy_version": "1",
        "concern_codes": ["domestic_abuse"],
        "member_flags": [],
        "immediate_risk": False,
        "reported_at": reported_at,
        "received_at": reported_at,
        "decided_at": reported_at,
        "decide_by": None,
        "revision": 0,
        "source_kind": "police",
        "referrer_organisation": "demo-police",
        "child_age_years": 10,
        "postcode_district": "EX4",
    }


async def test_one_read_finds_identities_by_birthday_pupil_number_or_postcode(
    db: Database,
) -> None:
    async with unit(db) as uow:
        for values in [
            identity("ref_5", date(2012, 5, 5), "EX9 9ZZ"),  # nothing in common
            identity("ref_4", date(2011, 1, 1), "EX4 6PX"),  # the postcode
            identity("ref_3", date(2010, 1, 1), "EX2 2BB", UPN),  # the pupil number
            identity("ref_2", date(2015, 3, 2), "EX1 1AA"),  # the transposed birthday
            identity("ref_1", date(2015, 2, 3), "EX4 6PX"),  # the birthday
        ]:
            repository.add_identity(uow, values)
    dobs = [date(2015, 2, 3), date(2015, 3, 2)]
    async with unit(db) as uow:
        near = await repository.identities_near(uow, dobs=dobs, upn=UPN, postcode="EX4 6PX")
        by_birthday = await repository.identities_near(uow, dobs=dobs, upn=None, postcode=None)
    assert [row.referral_id for row in near] == ["ref_1", "ref_2", "ref_3", "ref_4"]
    # No pupil number or postcode matches nothing, not every identity without one.
    assert [row.referral_id for row in by_birthday] == ["ref_1", "ref_2"]


async def test_a_household_moves_whole_into_another(db: Database) -> None:
    async with unit(db) as uow:
        for key in ("sub_a", "sub_b", "sub_c"):
            repository.add_subject(uow, key=key, created_at=AT)
        await repository.set_household(uow, subject_key="sub_a", household="hh_a")
        await repository.set_household(uow, subject_key="sub_b", household="hh_b")
        await repository.set_household(uow, subject_key="sub_c", household="hh_b")
        await repository.move_household(uow, old="hh_b", household="hh_a")
    async with unit(db) as uow:
        members = await repository.household_members(uow, "hh_a")
        moved = await repository.subject(uow, "sub_c")
        assert await repository.subject(uow, "sub_nope") is None
        assert await repository.household_members(uow, "hh_b") == []
    assert sorted(members) == ["sub_a", "sub_b", "sub_c"]
    assert moved is not None and moved.household_key == "hh_a"


async def test_history_is_the_subjects_decisions_within_the_window_oldest_first(
    db: Database,
) -> None:
    async with unit(db) as uow:
        for values in [
            decision("ref_late", "sub_a", AT + timedelta(days=1)),  # after the report
            decision("ref_b", "sub_b", AT - timedelta(days=2)),
            decision("ref_a2", "sub_a", AT - timedelta(days=5)),
            decision("ref_a1", "sub_a", AT - timedelta(days=5)),
            decision("ref_old", "sub_a", AT - timedelta(days=40)),  # before the window
            decision("ref_other", "sub_z", AT - timedelta(days=1)),  # another child
            decision("ref_now", "sub_a", AT),  # the report itself
        ]:
            repository.add_decision(uow, values)
    async with unit(db) as uow:
        rows = await repository.history(
            uow,
            keys=["sub_a", "sub_b"],
            since=AT - timedelta(days=30),
            until=AT,
            exclude=["ref_now"],
        )
    assert [row.referral_id for row in rows] == ["ref_a1", "ref_a2", "ref_b"]


async def test_a_decision_is_read_with_its_overrides_in_the_order_they_were_made(
    db: Database,
) -> None:
    async with unit(db) as uow:
        repository.add_decision(uow, decision("ref_1", "sub_a", AT))
    async with db.session() as session:
        for revision in (2, 1):
            session.add(
                TriageOverride(
                    id=f"ovr_{revision}",
                    referral_id="ref_1",
                    revision=revision,
                    from_level=revision + 1,
                    to_level=revision + 2,
                    priority="amber",
                    rationale="Disclosure on a home visit.",
                    by_client_id="cli_hub",
                    by_name="Sam Hale",
                    by_organisation="demoshire-hub",
                    at=AT + timedelta(hours=revision),
                )
            )
        await session.commit()
    async with db.session() as session:
        locked = await repository.decision(session, "ref_1", lock=True)
        overrides = await repository.overrides(session, "ref_1")
        assert await repository.decision(session, "ref_nope") is None
    assert locked is not None and locked.subject_key == "sub_a"
    assert [o.id for o in overrides] == ["ovr_1", "ovr_2"]


def an_override(referral_id: str, revision: int, at: datetime) -> TriageOverride:
    return TriageOverride(
        id=f"ovr_{referral_id}_{revision}",
        referral_id=referral_id,
        revision=revision,
        from_level=2,
        to_level=3,
        priority="amber",
        rationale="Disclosure on a home visit.",
        reason_code="new_information" if revision == 1 else None,
        by_client_id="cli_hub",
        by_name="Sam Hale",
        by_organisation="demoshire-hub",
        at=at,
    )


async def test_the_overrides_of_the_referrals_received_in_a_period_are_read_in_one_query(
    db: Database,
) -> None:
    start, end = AT, AT + timedelta(days=30)
    async with unit(db) as uow:
        repository.add_decision(uow, decision("ref_in", "sub_a", AT))
        repository.add_decision(uow, decision("ref_last", "sub_b", end - timedelta(1)))
        repository.add_decision(uow, decision("ref_before", "sub_c", AT - timedelta(1)))
        repository.add_decision(uow, decision("ref_after", "sub_d", end))
    async with db.session() as session:
        for referral_id in ("ref_in", "ref_last", "ref_before", "ref_after"):
            for revision in (2, 1):
                # Overridden long after: a referral belongs to when it was received.
                session.add(an_override(referral_id, revision, end + timedelta(days=revision)))
        await session.commit()
    async with db.session() as session:
        engine = (await session.connection()).sync_engine
        with statements_run(engine) as statements:
            made = await repository.overrides_received(session, start, end)

    assert [(o.referral_id, o.revision) for o in made] == [
        ("ref_in", 1),
        ("ref_in", 2),
        ("ref_last", 1),
        ("ref_last", 2),
    ]
    assert [o.reason_code for o in made] == ["new_information", None] * 2
    assert len([s for s in statements if "triage_override" in s]) == 1


async def test_rows_held_by_a_unit_are_written_for_the_reads_that_would_find_them(
    db: Database,
) -> None:
    """A consumer's batch holds its new subjects, identities and decisions until it
    completes; a read that could find one (the same birthday, pupil number or postcode;
    the same subject) writes them first, so a child reported twice in one batch is
    matched and counted as across two batches. Other reads write nothing."""

    async def stored(uow: UnitOfWork, model: Any) -> int:
        conn = await uow.connection()
        return int(await conn.scalar(select(func.count()).select_from(table_of(model))) or 0)

    born = date(2015, 2, 3)
    async with unit(db) as uow:
        repository.add_subject(uow, key="sub_a", created_at=AT)
        repository.add_identity(uow, identity("ref_1", born, "EX4 6PX") | {"subject_key": "sub_a"})
        repository.add_decision(uow, decision("ref_1", "sub_a", AT - timedelta(days=1)))
        # Reads that cannot find them leave them held.
        assert (
            await repository.identities_near(
                uow, dobs=[date(2011, 1, 1)], upn=UPN, postcode="EX9 9ZZ"
            )
            == []
        )
        assert await repository.subject(uow, "sub_other") is None
        assert await stored(uow, SubjectIdentity) == 0
        assert await stored(uow, TriageDecision) == 0
        # The same birthday finds the held identity; the subject is written with it.
        near = await repository.identities_near(uow, dobs=[born], upn=None, postcode=None)
        assert [row.referral_id for row in near] == ["ref_1"]
        found = await repository.subject(uow, "sub_a")
        assert found is not None and found.household_key is None
        repository.add_decision(uow, decision("ref_2", "sub_a", AT - timedelta(hours=1)))
        assert await stored(uow, TriageDecision) == 1
        # The child's history holds the decision held a moment ago.
        rows = await repository.history(
            uow, keys=["sub_a"], since=AT - timedelta(days=30), until=AT, exclude=[]
        )
        assert [row.referral_id for row in rows] == ["ref_1", "ref_2"]
        repository.add_subject(uow, key="sub_b", created_at=AT)
        await repository.set_household(uow, subject_key="sub_b", household="hh_b")
        assert await repository.household_members(uow, "hh_b") == ["sub_b"]
    async with unit(db) as uow:
        assert await stored(uow, TriageDecision) == 2
        assert await repository.household_members(uow, "hh_b") == ["sub_b"]


async def test_a_read_ahead_answers_only_what_the_batch_has_not_changed_since(
    db: Database,
) -> None:
    """What a batch read ahead answers a read by keys it covers, with no statement; a
    read by a key the batch has since held or updated (a birthday, pupil number or
    postcode of a new identity, a subject, a subject's decisions) reads the database,
    which then holds the change; so does a read by a key it did not read ahead. The
    verdicts on the identities read ahead are read with them."""
    born, other = date(2015, 2, 3), date(2016, 4, 5)
    async with unit(db) as uow:
        repository.add_subject(uow, key="sub_a", created_at=AT)
        repository.add_identity(
            uow, identity("ref_1", born, "EX4 6PX", UPN) | {"subject_key": "sub_a"}
        )
        repository.add_decision(uow, decision("ref_1", "sub_a", AT - timedelta(days=2)))
        repository.add_subject(uow, key="sub_c", created_at=AT)
        await repository.set_household(uow, subject_key="sub_c", household="hh_c")
        uow.session.add(
            MatchVerdict(
                id="ver_1",
                subject_key="sub_a",
                referral_id="ref_1",
                identity_id="ref_1",
                other_identity_ids=["ref_0"],
                verdict="split",
                rationale="Two children.",
                by_person_id="per_sam",
                by_name="Sam Hale",
                at=AT - timedelta(days=1),
            )
        )

    window = {"since": AT - timedelta(days=30), "until": AT}
    async with unit(db) as uow:
        await repository.read_ahead(
            uow,
            dobs=[born, other],
            upns=[UPN],
            postcodes=["EX4 6PX"],
            subject_keys=["sub_a", "sub_b", "sub_c"],
            **window,
        )
        with statements_run(db.engine.sync_engine) as statements:
            near = await repository.identities_near(uow, dobs=[other], upn=UPN, postcode=None)
            assert [row.referral_id for row in near] == ["ref_1"]  # by pupil number
            assert (await repository.subject(uow, "sub_a")) is not None
            assert await repository.subject(uow, "sub_b") is None
            rows = await repository.history(uow, keys=["sub_a"], exclude=[], **window)
            assert [row.referral_id for row in rows] == ["ref_1"]
            verdicts = await repository.verdicts_on(uow, ["ref_1"])
            assert [row.id for row in verdicts] == ["ver_1"]
            assert statements == []  # all five answered from the read-ahead

            # The batch adds Ben (born `other`, at the same postcode) and a decision
            # about Amy; moves Cara's household: reads by those keys see the changes.
            repository.add_subject(uow, key="sub_b", created_at=AT)
            repository.add_identity(
                uow, identity("ref_2", other, "EX4 6PX") | {"subject_key": "sub_b"}
            )
            repository.add_decision(uow, decision("ref_3", "sub_a", AT - timedelta(hours=1)))
            await repository.move_household(uow, old="hh_c", household="hh_a")
            near = await repository.identities_near(uow, dobs=[other], upn=None, postcode=None)
            assert [row.referral_id for row in near] == ["ref_2"]
            assert (await repository.subject(uow, "sub_b")) is not None
            cara = await repository.subject(uow, "sub_c")
            assert cara is not None and cara.household_key == "hh_a"
            rows = await repository.history(uow, keys=["sub_a"], exclude=[], **window)
            assert [row.referral_id for row in rows] == ["ref_1", "ref_3"]
            # A wider window than was read ahead reads the database too.
            rows = await repository.history(
                uow, keys=["sub_a"], since=AT - timedelta(days=60), until=AT, exclude=["ref_1"]
            )
            assert [row.referral_id for row in rows] == ["ref_3"]
            # Ben's identity was not read ahead: the verdicts on it are read.
            verdicts = await repository.verdicts_on(uow, ["ref_1", "ref_2"])
            assert [row.id for row in verdicts] == ["ver_1"]
        assert verbs(statements).count("SELECT") == 6
