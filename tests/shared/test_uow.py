"""The unit of work: a state change and its events commit together or not at all, and
only a unit that wrote something wakes the relay and the loops. Works that arrive
together share one unit (a group commit) without sharing a failure."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cloudevents.core.v1.event import CloudEvent
from sqlalchemy import bindparam, insert, update
from sqlmodel import Field, SQLModel, func, select

from shared.clock import Clock
from shared.db import Database, table_of
from shared.events import EventType, ReferralStatus
from shared.outbox import InboxEntry, OutboxMessage
from shared.uow import ReadAhead, UnitOfWork, UnitsOfWork

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


async def test_the_relay_is_woken_by_units_that_wrote_events_and_only_by_them(
    db: Database,
) -> None:
    relay: list[str] = []
    loops: list[str] = []
    units = UnitsOfWork(
        db,
        clock=Clock(NOW),
        source="/test",
        on_committed=lambda: loops.append("woken"),
        on_published=lambda: relay.append("woken"),
    )
    # A unit that writes rows and no event (a journey step, a delivery): loops only.
    async with units.begin() as uow:
        uow.session.add(UowEffect(note="a delivery to make"))
    assert (relay, loops) == ([], ["woken"])
    # One that records an event, whoever owns it: a use case's, a consumer's batch...
    async with units.begin() as uow:
        record_status(uow)
    async with units.open() as uow:
        record_status(uow)
        await uow.complete()
    assert relay == ["woken", "woken"]

    # ...or a shared unit of works arriving together: once for the unit.
    async def records(uow: UnitOfWork) -> None:
        record_status(uow)

    await asyncio.gather(units.together(records), units.together(records))
    assert relay == ["woken"] * 3
    # A unit that failed, or only read, wakes neither.
    with pytest.raises(RuntimeError):
        async with units.begin() as uow:
            record_status(uow)
            raise RuntimeError("the use case failed")
    async with units.begin() as uow:
        await uow.session.exec(select(UowEffect))
    assert relay == ["woken"] * 3 and len(loops) == 3
    assert await count(db, OutboxMessage) == 4


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


async def test_held_rows_are_written_for_a_read_that_touches_their_keys_and_in_order(
    db: Database,
) -> None:
    """Rows held until the unit completes (one statement per table for a batch) are
    written early only for a read that names one of the keys they were held under;
    held UPDATEs run in the order they were held, so the last change wins."""
    effects = table_of(UowEffect)
    add = insert(effects)
    rename = update(effects).where(effects.c.id == bindparam("b_id"))
    units = units_on(db, [])

    async def stored(uow: UnitOfWork) -> list[str]:
        conn = await uow.connection()
        return list((await conn.scalars(select(effects.c.note).order_by(effects.c.id))).all())

    async with units.begin() as uow:
        uow.insert(add, {"id": 1, "note": "first"}, keys=[("effect", 1)])
        uow.insert(add, {"id": 2, "note": "second"}, keys=[("effect", 2)])
        assert await uow.write_inserts(touching=[("effect", 3)]) is False
        assert await stored(uow) == []
        assert await uow.write_inserts(touching=[("effect", 2)]) is True
        assert await stored(uow) == ["first", "second"]
        uow.insert(rename, {"b_id": 1, "note": "renamed"}, keys=[("effect", 1)])
        uow.insert(rename, {"b_id": 1, "note": "renamed again"}, keys=[("effect", 1)])
        assert await stored(uow) == ["first", "second"]
    async with units.begin() as uow:
        assert await stored(uow) == ["renamed again", "second"]
        # Nothing held: nothing to write, whatever the keys.
        assert await uow.write_inserts(touching=[("effect", 1)]) is False


async def test_works_arriving_together_share_one_unit_and_each_gets_its_answer(
    db: Database,
) -> None:
    woken: list[bool] = []
    units = units_on(db, woken)

    def note(text: str) -> Callable[[UnitOfWork], Awaitable[int]]:
        async def work(uow: UnitOfWork) -> int:
            uow.session.add(UowEffect(note=text))
            record_status(uow)
            # Each sees what the works before it wrote, as if each had committed alone.
            return int((await uow.session.exec(select(func.count()).select_from(UowEffect))).one())

        return work

    answers = await asyncio.gather(*(units.together(note(f"n{i}")) for i in range(5)))
    assert answers == [1, 2, 3, 4, 5]
    assert woken == [True]  # one commit for the five
    assert await count(db, UowEffect) == 5 and await count(db, OutboxMessage) == 5


async def test_a_work_that_fails_in_a_shared_unit_fails_alone_and_the_rest_commit(
    db: Database,
) -> None:
    units = units_on(db, [])

    async def fine(uow: UnitOfWork) -> str:
        uow.session.add(UowEffect(note="fine"))
        record_status(uow)
        return "stored"

    async def broken(uow: UnitOfWork) -> str:
        uow.session.add(UowEffect(note="half-done"))
        record_status(uow)
        await uow.session.flush()
        raise ValueError("refused")

    answers = await asyncio.gather(
        units.together(fine), units.together(broken), units.together(fine), return_exceptions=True
    )
    assert answers[0] == answers[2] == "stored"
    assert isinstance(answers[1], ValueError)
    async with db.session() as session:
        notes = (await session.exec(select(UowEffect.note))).all()
    assert sorted(notes) == ["fine", "fine"]  # nothing of the broken work
    assert await count(db, OutboxMessage) == 2


async def test_each_work_runs_in_its_callers_context(db: Database) -> None:
    units = units_on(db, [])
    caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller")

    async def as_caller(name: str) -> str:
        caller.set(name)

        async def work(uow: UnitOfWork) -> str:
            return caller.get()

        return await units.together(work)

    assert await asyncio.gather(*(as_caller(n) for n in ("a", "b", "c"))) == ["a", "b", "c"]


async def test_a_shared_unit_reads_ahead_once_for_all_its_works_and_a_lone_work_never(
    db: Database,
) -> None:
    units = units_on(db, [])
    caller: contextvars.ContextVar[str] = contextvars.ContextVar("caller", default="leader")
    reads: list[tuple[str, list[Hashable]]] = []

    async def read(uow: UnitOfWork, keys: list[Hashable]) -> None:
        reads.append((caller.get(), keys))
        uow.keep("ahead", set(keys))

    async def as_caller(name: str) -> object:
        caller.set(name)

        async def work(uow: UnitOfWork) -> object:
            return uow.kept("ahead")

        return await units.together(work, ahead=ReadAhead(read, (name, name.upper())))

    answers = await asyncio.gather(*(as_caller(n) for n in ("a", "b", "c")))
    # One read for the group, with every work's keys, in the first caller's context.
    assert reads == [("a", ["a", "A", "b", "B", "c", "C"])]
    assert answers == [{"a", "A", "b", "B", "c", "C"}] * 3
    reads.clear()
    assert await as_caller("d") is None  # alone: it reads for itself
    assert reads == []


async def test_a_read_ahead_that_fails_leaves_each_work_to_run_alone(db: Database) -> None:
    units = units_on(db, [])

    async def broken(uow: UnitOfWork, keys: list[Hashable]) -> None:
        raise ConnectionError("the read ahead failed")

    async def work(uow: UnitOfWork) -> object:
        uow.session.add(UowEffect(note="stored"))
        return uow.kept("ahead")

    answers = await asyncio.gather(
        *(units.together(work, ahead=ReadAhead(broken, (n,))) for n in range(3))
    )
    assert answers == [None, None, None]  # each ran alone, reading for itself
    assert await count(db, UowEffect) == 3


async def test_a_caller_gone_before_its_unit_began_has_nothing_stored(db: Database) -> None:
    units = units_on(db, [])
    ran: list[str] = []

    def work(name: str) -> Callable[[UnitOfWork], Awaitable[None]]:
        async def run(uow: UnitOfWork) -> None:
            ran.append(name)

        return run

    kept = asyncio.ensure_future(units.together(work("kept")))
    gone = asyncio.ensure_future(units.together(work("gone")))
    await asyncio.sleep(0)  # both wait for the unit now, which has not begun
    gone.cancel()
    await kept
    assert ran == ["kept"]
