"""The transactional outbox and inbox, on SQLite and PostgreSQL: staged events and the
inbox entry are written in the transaction of the handler's effects, in the order
staged, and a transaction that does not commit leaves none of them."""

from __future__ import annotations

import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import pytest
from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import insert
from sqlalchemy.exc import IntegrityError
from sqlmodel import Field, SQLModel, col, select

from shared.bus.base import Record
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database, table_of
from shared.envelope import from_record, new_event, to_record
from shared.events import EventType, ReferralStatus
from shared.outbox import InboxEntry, OutboxMessage, OutboxRelay, remember_handled, stage
from shared.uow import UnitOfWork, UnitsOfWork
from tests.conftest import create_database

TOPIC = "outbox-test"


class OutboxEffect(SQLModel, table=True):
    """A row a test handler writes beside its staged events."""

    __tablename__ = "test_outbox_effect"
    id: int | None = Field(default=None, primary_key=True)
    ce_id: str = Field(unique=True)


_INSERT_EFFECT = insert(table_of(OutboxEffect))


async def _database(url: str) -> Database:
    database = Database(url)
    await database.create_tables([table_of(m) for m in (OutboxEffect, OutboxMessage, InboxEntry)])
    return database


@pytest.fixture(params=["sqlite", "postgres"])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'service.db'}"
    else:
        admin_url = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin_url, "t_" + uuid.uuid4().hex[:12])
    database = await _database(url)
    yield database
    await database.dispose()


@pytest.fixture
async def postgres_db(postgres_admin_url: str) -> AsyncIterator[Database]:
    """PostgreSQL alone: the cases that need two members committing at once (SQLite has
    one writer at a time, so no concurrent member can commit there)."""
    database = await _database(
        await create_database(postgres_admin_url, "t_" + uuid.uuid4().hex[:12])
    )
    yield database
    await database.dispose()


def event(subject: str, key: str = "child-1") -> BaseCloudEvent:
    return new_event(
        time=datetime.now(UTC),
        type=EventType.REFERRAL_STATUS,
        source="/test",
        subject=subject,
        partitionkey=key,
        data=ReferralStatus(
            referral_id=subject,
            status="accepted",
            occurred_at="2026-11-27T10:00:00Z",  # type: ignore[arg-type]
            referrer_organisation="demo-police",
        ),
    )


async def outbox_subjects(db: Database) -> list[str]:
    """The subjects of the outbox rows, in id (publication) order."""
    async with db.session() as session:
        rows = (await session.exec(select(OutboxMessage).order_by(col(OutboxMessage.id)))).all()
    subjects = []
    for row in rows:
        headers = tuple((k, base64.b64decode(v)) for k, v in json.loads(row.headers))
        record = Record(topic=row.topic, key=row.key, value=row.value, headers=headers)
        subjects.append(from_record(record).get_subject() or "")
    return subjects


async def count(db: Database, model: type[SQLModel]) -> int:
    async with db.session() as session:
        return len((await session.exec(select(model))).all())


async def test_staged_rows_commit_with_the_effects_in_the_order_staged(db: Database) -> None:
    async with db.session() as session:
        for i in range(12):
            if i % 3 == 0:
                session.add(OutboxEffect(ce_id=f"orm-{i}"))
            else:
                await (await session.connection()).execute(_INSERT_EFFECT, {"ce_id": f"core-{i}"})
            stage(session, event(f"ref_{i}"), topic=TOPIC)
        await session.commit()
        # The same session goes on: a second transaction stages after the first.
        stage(session, event("ref_12"), topic=TOPIC)
        await session.commit()
    assert await outbox_subjects(db) == [f"ref_{i}" for i in range(13)]
    assert await count(db, OutboxEffect) == 12


async def test_a_row_staged_with_nothing_else_in_the_transaction_is_written(db: Database) -> None:
    async with db.session() as session:
        stage(session, event("ref_alone"), topic=TOPIC)
        await session.commit()
    assert await outbox_subjects(db) == ["ref_alone"]
    relay_rows = await OutboxRelay(db, bus=None).pending()  # type: ignore[arg-type]
    assert relay_rows == 1


async def test_a_transaction_that_rolls_back_leaves_no_staged_rows(db: Database) -> None:
    with pytest.raises(RuntimeError):
        async with db.session() as session:
            session.add(OutboxEffect(ce_id="a"))
            stage(session, event("ref_1"), topic=TOPIC)
            await remember_handled(
                await session.connection(),
                consumer="c",
                events=[("/test", "e1")],
                at=datetime.now(UTC),
            )
            stage(session, event("ref_2"), topic=TOPIC)
            raise RuntimeError("handler failed")
    async with db.session() as session:
        stage(session, event("ref_3"), topic=TOPIC)
        await session.rollback()
        # Reused after the rollback: only what this transaction staged is written.
        stage(session, event("ref_4"), topic=TOPIC)
        await session.commit()
    async with db.session() as session:
        stage(session, event("ref_5"), topic=TOPIC)
        # Closed without a commit (no statement ever ran): dropped, not carried over.
        await session.close()
        await session.commit()
    assert await outbox_subjects(db) == ["ref_4"]
    assert await count(db, OutboxEffect) == 0
    assert await count(db, InboxEntry) == 0


async def test_when_the_effects_fail_at_commit_the_staged_rows_are_not_written(
    db: Database,
) -> None:
    async with db.session() as session:
        session.add(OutboxEffect(ce_id="taken"))
        await session.commit()
    with pytest.raises(IntegrityError):
        async with db.session() as session:
            stage(session, event("ref_1"), topic=TOPIC)
            await remember_handled(
                await session.connection(),
                consumer="c",
                events=[("/test", "e1")],
                at=datetime.now(UTC),
            )
            session.add(OutboxEffect(ce_id="taken"))  # flushed by the commit, and fails
            await session.commit()
    assert await outbox_subjects(db) == []
    assert await count(db, InboxEntry) == 0


# --- through the consumer -------------------------------------------------------


def records(n: int, start: int = 0) -> list[Record]:
    return [to_record(event(f"ref_{i}", key=f"child-{i % 2}"), "in") for i in range(start, n)]


def consumer(db: Database, handler) -> EventConsumer:  # type: ignore[no-untyped-def]
    return EventConsumer(
        bus=None,  # type: ignore[arg-type]
        units=units_on(db),
        subscription=Subscription(group="g", topics=["in"], handler=handler),
    )


def staging_handler(fail_on: set[str]):  # type: ignore[no-untyped-def]
    """Writes an effect and stages two events per event; raises for `fail_on` subjects."""

    async def handler(uow: UnitOfWork, ev: BaseCloudEvent) -> None:
        session = uow.session
        subject = ev.get_subject() or ""
        await (await session.connection()).execute(_INSERT_EFFECT, {"ce_id": ev.get_id()})
        stage(session, event(subject + "/a"), topic=TOPIC)
        stage(session, event(subject + "/b"), topic=TOPIC)
        if subject in fail_on:
            raise ValueError("cannot handle this one")

    return handler


async def test_a_failing_batch_writes_nothing_and_its_records_then_commit_in_order(
    db: Database,
) -> None:
    batch = records(4)
    member = consumer(db, staging_handler(fail_on={"ref_2"}))
    assert await member._handle_together(batch) == 2
    assert await outbox_subjects(db) == []
    assert await count(db, OutboxEffect) == 0
    assert await count(db, InboxEntry) == 0

    # One by one: the failing record's transaction leaves nothing, the others commit.
    for record in batch:
        if from_record(record).get_subject() == "ref_2":
            with pytest.raises(ValueError):
                await member.handle(record)
        else:
            assert await member.handle(record) is True
    assert await outbox_subjects(db) == [
        f"ref_{i}/{part}" for i in (0, 1, 3) for part in ("a", "b")
    ]
    assert await count(db, OutboxEffect) == 3
    assert await count(db, InboxEntry) == 3


async def test_a_batch_commits_effects_inbox_and_events_together_and_duplicates_change_nothing(
    db: Database,
) -> None:
    member = consumer(db, staging_handler(fail_on=set()))
    first = records(3)
    assert await member._handle_together(first) is None
    # Redelivered (with one new record), in a batch and one by one: nothing is handled twice.
    assert await member._handle_together([*first, *records(4, start=3)]) is None
    assert await member.handle(first[0]) is False
    assert await outbox_subjects(db) == [f"ref_{i}/{part}" for i in range(4) for part in ("a", "b")]
    assert await count(db, OutboxEffect) == 4
    async with db.session() as session:
        inbox = (await session.exec(select(InboxEntry.ce_id))).all()
    assert len(inbox) == 4


async def test_a_batch_is_prepared_once_with_its_unhandled_events_before_the_first_is_handled(
    db: Database,
) -> None:
    """A subscription's `prepare` reads ahead for a batch: called once per batch, in the
    batch's unit, with the events the group has not handled yet, in order, before any
    handler runs. A record handled alone is not prepared."""
    calls: list[tuple[str, object]] = []
    inner = staging_handler(fail_on=set())

    def answer(text: str) -> Callable[[], Awaitable[str]]:
        async def read() -> str:
            return text

        return read

    async def prepare(uow: UnitOfWork, events: Sequence[BaseCloudEvent]) -> None:
        calls.append(("prepare", [e.get_subject() for e in events]))
        await uow.read_once("ahead", answer("read ahead"))

    async def handler(uow: UnitOfWork, ev: BaseCloudEvent) -> None:
        # In a batch, the unit it was prepared in: what was read ahead is there.
        read = await uow.read_once("ahead", answer("read by the handler"))
        calls.append(("handle", f"{ev.get_subject()}: {read}"))
        await inner(uow, ev)

    member = EventConsumer(
        bus=None,  # type: ignore[arg-type]
        units=units_on(db),
        subscription=Subscription(group="g", topics=["in"], handler=handler, prepare=prepare),
    )
    first = records(2)
    assert await member._handle_together(first) is None
    assert await member._handle_together([*first, *records(4, start=2)]) is None
    assert calls == [
        ("prepare", ["ref_0", "ref_1"]),
        ("handle", "ref_0: read ahead"),
        ("handle", "ref_1: read ahead"),
        ("prepare", ["ref_2", "ref_3"]),  # ref_0 and ref_1 were handled: not for this batch
        ("handle", "ref_2: read ahead"),
        ("handle", "ref_3: read ahead"),
    ]
    calls.clear()
    assert await member.handle(records(5, start=4)[0]) is True
    assert calls == [("handle", "ref_4: read by the handler")]


async def test_an_event_another_member_handled_meanwhile_is_recognised(
    postgres_db: Database, tmp_path: Path
) -> None:
    """The inbox entry is written at the commit: a concurrent member's entry makes it
    fail whole (effects and events too), and the record is then seen as a duplicate."""
    db = postgres_db
    batch = records(2)
    others = {from_record(batch[1]).get_id()}
    inner = staging_handler(fail_on=set())

    async def racing(uow: UnitOfWork, ev: BaseCloudEvent) -> None:
        await inner(uow, ev)
        if ev.get_id() in others:
            others.discard(ev.get_id())
            # Another member commits the same event while this transaction is open.
            async with db.session() as rival:
                await remember_handled(
                    await rival.connection(),
                    consumer="g",
                    events=[("/test", ev.get_id())],
                    at=datetime.now(UTC),
                )
                await rival.commit()

    member = consumer(db, racing)
    assert await member._handle_together(batch) == -1  # the commit failed, not a record
    assert await outbox_subjects(db) == []
    assert await count(db, OutboxEffect) == 0
    others.add(from_record(batch[0]).get_id())
    assert await member.handle(batch[0]) is False  # IntegrityError, then found in the inbox
    assert await member.handle(batch[1]) is False
    assert await outbox_subjects(db) == []
    assert await count(db, OutboxEffect) == 0


def units_on(db: Database) -> UnitsOfWork:
    """Units of work on `db` for a consumer under test."""
    return UnitsOfWork(db, clock=Clock(), source="/test")
