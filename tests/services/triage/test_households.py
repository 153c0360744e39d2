"""Household linking on the database, in one consumer transaction as under load: a child
joins the household of a child living with them, two households found to be one merge
under the oldest key, and a sibling's history counts. On SQLite and PostgreSQL."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlmodel import select

from services.triage import definition
from services.triage.models import Subject, SubjectIdentity, TriageDecision
from services.triage.service import triage
from shared.db import Database, table_of
from shared.events import ReferralReceived
from shared.report import ConcernReport
from tests.conftest import create_database
from tests.services.triage.helpers import DEMOSHIRE

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "police-report.json"
POSTCODE = "EX4 6PX"
REPORTED = datetime(2026, 11, 2, 10, 0, tzinfo=UTC)
MOTHER = {"given_name": "Mia", "family_name": "Stone", "relationship": "mother"}
FATHER = {"given_name": "Finn", "family_name": "Rowe", "relationship": "father"}
CHILDREN = {
    "a": ("Amy", "2015-02-03"),
    "b": ("Ben", "2016-04-05"),
    "c": ("Cara", "2017-06-07"),
    "d": ("Dev", "2018-08-09"),
}


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'triage.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    database = Database(url)
    await database.create_tables([table_of(m) for m in definition.tables])
    try:
        yield database
    finally:
        await database.dispose()


def received(
    n: int, child: str, *members: dict[str, str], concern: str = "domestic_abuse"
) -> ReferralReceived:
    body: dict[str, Any] = json.loads(EXAMPLE.read_text())
    body["concerns"] = [{"code": concern, "detail": "Seen by officers."}]
    given, born = CHILDREN[child]
    body["source"]["reference"] = f"HH-{n}"
    body["reported_at"] = (REPORTED + timedelta(hours=n)).isoformat()
    body["child"].update(
        given_name=given, family_name="Stone", date_of_birth=born, address={"postcode": POSTCODE}
    )
    body["household"] = list(members)
    return ReferralReceived(
        referral_id=f"ref_hh_{n}",
        subject_key=f"sub_{child}",
        client_id="police",
        received_at=REPORTED + timedelta(hours=n, minutes=1),
        report=ConcernReport.model_validate(body),
        supersedes=[],
    )


async def households(db: Database) -> dict[str, str | None]:
    async with db.session() as session:
        rows = (await session.exec(select(Subject))).all()
    return {row.key: row.household_key for row in rows}


async def test_two_households_found_to_be_one_merge_under_the_oldest_key(db: Database) -> None:
    reports = [
        received(1, "a", MOTHER),
        received(2, "b", MOTHER),  # Amy's mother: Ben joins Amy's household
        received(3, "c", FATHER),
        received(4, "d", FATHER),  # Cara's father: Dev joins Cara's household
    ]
    async with db.session() as session:
        for report in reports:
            await triage(
                session, policy=DEMOSHIRE, now=REPORTED + timedelta(days=1), received=report
            )
        await session.commit()
    assert await households(db) == {
        "sub_a": "hh_a",
        "sub_b": "hh_a",
        "sub_c": "hh_c",
        "sub_d": "hh_c",
    }

    # Cara, now reported with both parents: the two households are one, and the
    # older key stays, for every child of both.
    async with db.session() as session:
        row, event = await triage(
            session,
            policy=DEMOSHIRE,
            now=REPORTED + timedelta(days=1),
            received=received(5, "c", MOTHER, FATHER),
        )
        await session.commit()
    assert set((await households(db)).values()) == {"hh_a"}
    assert row.household_key == "hh_a"
    async with db.session() as session:
        stored = await session.get(TriageDecision, "ref_hh_5")
        identities = (await session.exec(select(SubjectIdentity))).all()
    assert stored is not None and stored.household_key == "hh_a"
    assert event.subject_key == "sub_c"
    assert len(identities) == 5


async def test_a_report_in_the_same_transaction_sees_the_household_just_linked(
    db: Database,
) -> None:
    # Under load the consumer handles a batch in one transaction: each report must see
    # what the reports before it wrote.
    async with db.session() as session:
        await triage(
            session,
            policy=DEMOSHIRE,
            now=REPORTED + timedelta(days=1),
            received=received(1, "a", MOTHER),
        )
        await triage(
            session,
            policy=DEMOSHIRE,
            now=REPORTED + timedelta(days=1),
            received=received(2, "b", MOTHER),
        )
        again, _ = await triage(
            session,
            policy=DEMOSHIRE,
            now=REPORTED + timedelta(days=1),
            received=received(3, "a", MOTHER),
        )
        await session.commit()
    assert again.household_key == "hh_a"
    assert again.subject_key == "sub_a"
    async with db.session() as session:
        identities = (await session.exec(select(SubjectIdentity))).all()
    # Amy reported again with the same details adds nothing to the matching index.
    assert sorted(i.referral_id for i in identities) == ["ref_hh_1", "ref_hh_2"]


async def test_a_sibling_s_earlier_report_is_part_of_the_history(db: Database) -> None:
    async with db.session() as session:
        amy = received(1, "a", MOTHER, concern="household_substance_misuse")
        await triage(session, policy=DEMOSHIRE, now=REPORTED + timedelta(days=1), received=amy)
        await session.commit()
    async with db.session() as session:
        row, _ = await triage(
            session,
            policy=DEMOSHIRE,
            now=REPORTED + timedelta(days=1),
            received=received(2, "b", MOTHER),
        )
        await session.commit()
    assert row.household_key == "hh_a"
    from_sibling = [f for f in row.factors if f["source"].startswith("household: reported")]
    assert [f["code"] for f in from_sibling] == ["household_substance_misuse"]
