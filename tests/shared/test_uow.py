"""The unit of work: a state change and its events commit together or not at all, and
only a unit that wrote something wakes the relay and the loops."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cloudevents.core.v1.event import CloudEvent
from sqlmodel import Field, SQLModel, func, select

from shared.clock import Clock
from shared.db import Database, table_of
from shared.events import EventType, ReferralStatus
from shared.outbox import InboxEntry, OutboxMessage
from shared.uow import UnitOfWork, UnitsOfWork

NOW = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


class UowEffect(SQLModel, table=True):
    """A row a use case under test writes."""

    __tablename__ = "test_uow_effect"
    id: int | None = Field(default=None, primary_key=True)
    note: str


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'uow.db'}")
    await database.create_tables([table_of(m) for m in (UowEffect, OutboxMessage, InboxEntry)])
    yield database
    await database.dispose()


def record_status(uow: UnitOfWork) -> CloudEvent:
    """Record that ref_1 was accepted (keyed `k`)."""
    data = ReferralStatus(
        referral_id="ref_1", status="accepted", occurred_at=NOW, referrer_organisation="demo-police"
    )
    return uow.record(type=EventType.REFERRAL_STATUS, subject="ref_1", partitionkey="k", data=data)


def units_on(db: Database, woken: list[bool]) -> UnitsOfWork:
    """Units on `db` at NOW that note each time they wake the service's loops."""
    clock = Clock(NOW)
    return UnitsOfWork(db, clock=clock, source="/test", on_committed=lambda: woken.append(True))


async def count(db: Database, model: type[SQLModel]) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).select_from(model))).one())


async def test_a_unit_commits_its_rows_and_its_events_together_stamped_by_its_clock(
    db: Database,
) -> None:
    woken: list[bool] = []
    units = UnitsOfWork(
        db, clock=Clock(NOW), source="/test", on_committed=lambda: woken.append(True)
    )
    async with units.begin() as uow:
        uow.session.add(UowEffect(note="accepted"))
        event = record_status(uow)
    assert event.get_time() == NOW and event.get_source() == "/test"
    assert await count(db, UowEffect) == 1
    async with db.session() as session:
        [row] = (await session.exec(select(OutboxMessage))).all()
    assert row.topic == "referral.status" and row.key == b"k"
    assert woken == [True]


async def test_a_unit_that_fails_leaves_no_row_no_event_and_wakes_nothing(db: Database) -> None:
    woken: list[bool] = []
    units = UnitsOfWork(
        db, clock=Clock(NOW), source="/test", on_committed=lambda: woken.append(True)
    )
    with pytest.raises(RuntimeError):
        async with units.begin() as uow:
            uow.session.add(UowEffect(note="half done"))
            record_status(uow)
            await uow.session.flush()
            raise RuntimeError("the use case failed")
    assert await count(db, UowEffect) == 0 and await count(db, OutboxMessage) == 0
    assert woken == []


async def test_a_unit_that_only_reads_wakes_nothing_and_one_that_writes_a_row_does(
    db: Database,
) -> None:
    woken: list[bool] = []
    units = UnitsOfWork(
        db, clock=Clock(NOW), source="/test", on_committed=lambda: woken.append(True)
    )
    async with units.begin() as uow:
        await uow.session.exec(select(UowEffect))
    assert woken == []
    async with units.begin() as uow:
        uow.session.add(UowEffect(note="a delivery to make"))
    assert woken == [True]


async def test_a_fact_read_once_is_read_once_per_unit_and_afresh_in_the_next(
    db: Database,
) -> None:
    """What a consumer's batch (one unit) shares: one round trip per unit, and a change
    committed between units is seen by the next one (a deleted subscription, a new
    directory version)."""
    units = units_on(db, [])
    reads: list[int] = []

    async def notes(uow: UnitOfWork) -> int:
        reads.append(1)
        return int((await uow.session.exec(select(func.count()).select_from(UowEffect))).one())

    async with units.begin() as uow:
        assert await uow.read_once("notes", lambda: notes(uow)) == 0
        assert await uow.read_once("notes", lambda: notes(uow)) == 0
    assert len(reads) == 1
    async with units.begin() as uow:
        uow.session.add(UowEffect(note="between units"))
    async with units.begin() as uow:
        assert await uow.read_once("notes", lambda: notes(uow)) == 1
    assert len(reads) == 2
