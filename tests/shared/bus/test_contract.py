"""The bus contract, proved against BOTH implementations: the embedded log and a real
Apache Kafka broker. Each test uses fresh topics and groups."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func
from sqlalchemy.exc import OperationalError
from sqlmodel import Field, SQLModel, select

from shared.bus.base import Bus, Record
from shared.bus.embedded import EmbeddedBus
from shared.bus.kafka import KafkaBus
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database, table_of
from shared.envelope import from_record, new_event
from shared.events import EventType, ReferralStatus
from shared.outbox import InboxEntry, OutboxMessage, OutboxRelay, stage
from shared.uow import UnitOfWork, UnitsOfWork


class Effect(SQLModel, table=True):
    """A row a test handler writes, so duplicates would be visible."""

    __tablename__ = "test_effect"
    id: int | None = Field(default=None, primary_key=True)
    ce_id: str
    referral_id: str


BusFactory = Callable[[], Bus]


@pytest.fixture(params=["embedded", "kafka"])
async def make_bus(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BusFactory]:
    """Makes buses over the same storage: a second one is the same log after a restart."""
    created: list[Bus] = []

    def factory() -> Bus:
        bus: Bus
        if request.param == "embedded":
            bus = EmbeddedBus(tmp_path / "events.db", partitions=3)
        else:
            bootstrap = request.getfixturevalue("kafka_bootstrap")
            bus = KafkaBus(bootstrap, client_id="contract-test", partitions=3)
        created.append(bus)
        return bus

    yield factory
    for bus in created:
        await bus.stop()


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'service.db'}")
    await database.create_tables([table_of(m) for m in (Effect, OutboxMessage, InboxEntry)])
    yield database
    await database.dispose()


def topic() -> str:
    return "t-" + uuid.uuid4().hex[:10]


async def prepare(bus: Bus, *topics: str) -> None:
    await bus.start()
    if isinstance(bus, KafkaBus):
        await bus.ensure_topics(list(topics))


async def publish_statuses(bus: Bus, name: str, count: int) -> list[str]:
    """Publish `count` status events about one child on a fresh topic (and its DLQ);
    returns their CloudEvent ids in order."""
    await prepare(bus, name, name + ".dlq")
    records = [status_event(f"ref_{i}", "child-1") for i in range(count)]
    await bus.publish(
        [Record(topic=name, key=r.key, value=r.value, headers=r.headers) for r in records]
    )
    return [from_record(r).get_id() for r in records]


def status_event(referral: str, key: str) -> Record:
    from shared.envelope import to_record

    event = new_event(
        time=datetime.now(UTC),
        type=EventType.REFERRAL_STATUS,
        source="/test",
        subject=referral,
        partitionkey=key,
        data=ReferralStatus(
            referral_id=referral,
            status="accepted",
            occurred_at="2026-11-27T10:00:00Z",  # type: ignore[arg-type]
            referrer_organisation="demo-police",
        ),
    )
    return to_record(event)


async def drain(consumer: EventConsumer, *, expect: int, within: float = 30.0) -> None:
    """Poll until the consumer has handled or parked `expect` records."""
    async with asyncio.timeout(within):
        while consumer.handled + consumer.parked < expect:
            await consumer.poll_once(timeout=0.5)


async def consume_all(
    bus: Bus,
    db: Database,
    name: str,
    handler: Any,
    *,
    expect: int,
    max_attempts: int,
    backoff_seconds: float,
) -> EventConsumer:
    """Run a consumer of `name` until it has handled or parked `expect` records."""
    consumer = EventConsumer(
        bus=bus,
        units=units_on(db),
        subscription=Subscription(group="g-" + name, topics=[name], handler=handler),
        max_attempts=max_attempts,
        backoff_seconds=backoff_seconds,
    )
    await consumer.start()
    try:
        await drain(consumer, expect=expect, within=60)
    finally:
        await consumer.stop()
    return consumer


async def count_effects(db: Database) -> int:
    async with db.session() as session:
        return int((await session.exec(select(func.count()).select_from(Effect))).one())


async def record_effect(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
    session = uow.session
    session.add(Effect(ce_id=event.get_id(), referral_id=event.get_subject()))


async def test_records_with_one_key_are_consumed_in_publish_order(make_bus: BusFactory) -> None:
    bus, name = make_bus(), topic()
    await prepare(bus, name)
    keys = [f"child-{i}".encode() for i in range(4)]
    await bus.publish(
        [Record(topic=name, key=keys[i % 4], value=str(i // 4).encode()) for i in range(80)]
    )
    consumer = bus.consumer(group="g-" + name, topics=[name])
    await consumer.start()
    seen: dict[bytes, list[int]] = {k: [] for k in keys}
    async with asyncio.timeout(30):
        while sum(map(len, seen.values())) < 80:
            for record in await consumer.fetch(timeout=0.5, max_records=50):
                assert record.key is not None
                seen[record.key].append(int(record.value))
    await consumer.stop()
    for key in keys:
        assert seen[key] == list(range(20)), f"records for {key!r} out of order"


async def test_event_handled_but_not_committed_is_redelivered_and_changes_nothing(
    make_bus: BusFactory, db: Database
) -> None:
    bus, name = make_bus(), topic()
    await prepare(bus, name)
    record = status_event("ref_1", "child-1")
    await bus.publish(
        [Record(topic=name, key=record.key, value=record.value, headers=record.headers)]
    )
    group = "g-" + name
    subscription = Subscription(group=group, topics=[name], handler=record_effect)

    # First member handles the event (its transaction commits) but "crashes" before
    # committing the offset.
    first = EventConsumer(bus=bus, units=units_on(db), subscription=subscription)
    await first.start()
    async with asyncio.timeout(30):
        fetched: list[Record] = []
        while not fetched:
            assert first._consumer is not None
            fetched = await first._consumer.fetch(timeout=0.5, max_records=10)
    assert await first.handle(fetched[0]) is True
    # Leave without committing the offset (nothing was marked done), as a crash would.
    await first.stop()
    await bus.stop()

    # After the restart the same event is delivered again, and changes nothing.
    again = make_bus()
    await prepare(again, name)
    second = EventConsumer(bus=again, units=units_on(db), subscription=subscription)
    await second.start()
    redelivered: list[Record] = []
    async with asyncio.timeout(60):
        while not redelivered:
            assert second._consumer is not None
            redelivered = await second._consumer.fetch(timeout=0.5, max_records=10)
    assert from_record(redelivered[0]).get_id() == from_record(fetched[0]).get_id()
    assert await second.handle(redelivered[0]) is False
    await second._consumer.commit(redelivered)  # type: ignore[union-attr]
    await second.stop()
    assert await count_effects(db) == 1


class CrashingBus(Bus):
    """A bus whose publish dies, as a process would between commit and publish."""

    async def start(self) -> None: ...
    async def stop(self) -> None: ...
    async def ready(self) -> bool:
        return True

    async def publish(self, records):  # type: ignore[no-untyped-def]
        raise ConnectionError("process died before the broker acknowledged")

    def consumer(self, *, group, topics):  # type: ignore[no-untyped-def]
        raise NotImplementedError


async def test_crash_between_db_commit_and_publish_loses_nothing(
    make_bus: BusFactory, db: Database
) -> None:
    name = topic()
    async with db.session() as session:
        for i in range(5):
            stage(
                session,
                new_event(
                    time=datetime.now(UTC),
                    type=EventType.REFERRAL_STATUS,
                    source="/test",
                    subject=f"ref_{i}",
                    partitionkey="child-9",
                    data=ReferralStatus(
                        referral_id=f"ref_{i}",
                        status="accepted",
                        occurred_at="2026-11-27T10:00:00Z",  # type: ignore[arg-type]
                        referrer_organisation="demo-police",
                    ),
                ),
                topic=name,
            )
        await session.commit()

    with pytest.raises(ConnectionError):
        await OutboxRelay(db, CrashingBus()).relay_once()

    bus = make_bus()
    await prepare(bus, name)
    relay = OutboxRelay(db, bus)
    assert await relay.pending() == 5
    assert await relay.relay_once() == 5
    assert await relay.pending() == 0

    consumer = bus.consumer(group="g-" + name, topics=[name])
    await consumer.start()
    got: list[Record] = []
    async with asyncio.timeout(30):
        while len(got) < 5:
            got += await consumer.fetch(timeout=0.5, max_records=10)
    await consumer.stop()
    assert [from_record(r).get_subject() for r in got] == [f"ref_{i}" for i in range(5)]


async def test_poison_event_is_parked_on_the_dlq_after_n_tries_and_later_events_flow(
    make_bus: BusFactory, db: Database
) -> None:
    bus, name = make_bus(), topic()
    poison_id = (await publish_statuses(bus, name, 3))[0]
    calls: list[str] = []

    async def handler(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
        calls.append(event.get_id())
        if event.get_id() == poison_id:
            raise ValueError("cannot handle this one")
        await record_effect(uow, event)

    consumer = await consume_all(
        bus, db, name, handler, expect=3, max_attempts=3, backoff_seconds=0.01
    )

    assert calls.count(poison_id) == 3
    assert consumer.parked == 1
    assert await count_effects(db) == 2

    dlq = bus.consumer(group="dlq-reader-" + name, topics=[name + ".dlq"])
    await dlq.start()
    parked: list[Record] = []
    async with asyncio.timeout(30):
        while not parked:
            parked = await dlq.fetch(timeout=0.5, max_records=10)
    await dlq.stop()
    assert from_record(parked[0]).get_id() == poison_id
    assert parked[0].header("x-signpost-error-class") == b"ValueError"
    assert parked[0].header("x-signpost-error-attempts") == b"3"
    assert parked[0].header("x-signpost-original-topic") == name.encode()


async def test_a_database_outage_is_waited_out_and_parks_nothing(
    make_bus: BusFactory, db: Database
) -> None:
    bus, name = make_bus(), topic()
    first_id = (await publish_statuses(bus, name, 3))[0]
    calls: list[str] = []

    async def handler(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
        calls.append(event.get_id())
        if event.get_id() == first_id and calls.count(first_id) <= 7:
            # What the driver raises while the database restarts or fails over.
            raise OperationalError("INSERT ...", {}, ConnectionRefusedError("refused"))
        await record_effect(uow, event)

    consumer = await consume_all(
        bus, db, name, handler, expect=3, max_attempts=3, backoff_seconds=0.01
    )

    # Seven failures, more than max_attempts, and still not parked: handled once, in order.
    assert consumer.parked == 0
    assert calls.count(first_id) >= 8
    assert await count_effects(db) == 3


async def test_an_outage_like_error_while_the_database_answers_is_parked_in_the_end(
    make_bus: BusFactory, db: Database
) -> None:
    # On SQLite a missing table is an OperationalError too: with the database answering
    # every ping, the record is the problem after all, and the partition moves on.
    bus, name = make_bus(), topic()
    broken_id = (await publish_statuses(bus, name, 2))[0]

    async def handler(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
        if event.get_id() == broken_id:
            raise OperationalError("INSERT ...", {}, Exception("no such table: x"))
        await record_effect(uow, event)

    consumer = await consume_all(
        bus, db, name, handler, expect=2, max_attempts=2, backoff_seconds=0.001
    )
    assert consumer.parked == 1
    assert await count_effects(db) == 1


async def test_a_parked_event_can_be_replayed_onto_its_topic_and_then_handled(
    make_bus: BusFactory, db: Database
) -> None:
    from shared.dlq import replay

    bus, name = make_bus(), topic()
    await prepare(bus, name, name + ".dlq")
    record = status_event("ref_1", "child-1")
    await bus.publish(
        [Record(topic=name, key=record.key, value=record.value, headers=record.headers)]
    )
    broken = True

    async def handler(uow: UnitOfWork, event) -> None:  # type: ignore[no-untyped-def]
        if broken:
            raise RuntimeError("directory entry missing")
        await record_effect(uow, event)

    subscription = Subscription(group="g-" + name, topics=[name], handler=handler)
    consumer = EventConsumer(
        bus=bus, units=units_on(db), subscription=subscription, max_attempts=2, backoff_seconds=0.01
    )
    await consumer.start()
    await drain(consumer, expect=1)
    assert consumer.parked == 1 and await count_effects(db) == 0

    broken = False  # the cause is fixed
    assert await replay(bus, name, idle_seconds=2.0) == 1
    await drain(consumer, expect=2)
    await consumer.stop()
    assert await count_effects(db) == 1


async def test_embedded_log_keeps_its_partition_count_across_restarts(tmp_path: Path) -> None:
    first = EmbeddedBus(tmp_path / "log.db", partitions=3)
    await first.start()
    await first.publish([Record(topic="t", key=f"k{i}".encode(), value=b"v") for i in range(9)])
    await first.stop()
    reopened = EmbeddedBus(tmp_path / "log.db", partitions=1)
    await reopened.start()
    consumer = reopened.consumer(group="g", topics=["t"])
    await consumer.start()
    records = await consumer.fetch(timeout=0.5, max_records=100)
    await reopened.stop()
    assert reopened.partitions == 3
    assert len(records) == 9


def units_on(db: Database) -> UnitsOfWork:
    """Units of work on `db` for a consumer under test."""
    return UnitsOfWork(db, clock=Clock(), source="/test")


@pytest.mark.parametrize("linger", [0.0, 2.0])
async def test_a_lingering_consumer_takes_what_arrives_meanwhile_into_its_batch(
    make_bus: BusFactory, db: Database, linger: float
) -> None:
    """A fetch that comes back short of a batch waits `linger_seconds` for more: what
    was published meanwhile is handled in the same unit, after the rest of its key, and
    committed with it. Without a linger the batch is what the first fetch brought."""
    bus, name = make_bus(), topic()
    await prepare(bus, name)
    first = [status_event(f"ref_{i}", "child-1") for i in range(2)]
    late = status_event("ref_2", "child-1")
    await bus.publish(
        [Record(topic=name, key=r.key, value=r.value, headers=r.headers) for r in first]
    )
    handled: list[tuple[int, str]] = []

    async def handler(uow: UnitOfWork, event: Any) -> None:
        handled.append((id(uow), event.get_subject()))
        await record_effect(uow, event)

    consumer = EventConsumer(
        bus=bus,
        units=units_on(db),
        subscription=Subscription(group="g-" + name, topics=[name], handler=handler),
        linger_seconds=linger,
    )
    await consumer.start()
    assert consumer._consumer is not None
    fetch = consumer._consumer.fetch
    fetched = asyncio.Event()

    async def fetch_then_tell(*, timeout: float, max_records: int) -> list[Record]:
        records = await fetch(timeout=timeout, max_records=max_records)
        if records:
            fetched.set()
        return records

    consumer._consumer.fetch = fetch_then_tell  # type: ignore[method-assign]
    try:
        async with asyncio.timeout(60):
            polling = asyncio.create_task(consumer.poll_once(timeout=30))
            await fetched.wait()  # the first fetch brought the first two
            await bus.publish(
                [Record(topic=name, key=late.key, value=late.value, headers=late.headers)]
            )
            taken = await polling
            if linger:
                assert taken == 3
                assert [subject for _, subject in handled] == ["ref_0", "ref_1", "ref_2"]
                assert len({unit for unit, _ in handled}) == 1  # one unit, one commit
            else:
                assert taken == 2
                assert [subject for _, subject in handled] == ["ref_0", "ref_1"]
                await drain(consumer, expect=3)
    finally:
        await consumer.stop()
        await bus.stop()
    assert await count_effects(db) == 3


async def test_a_failed_fetch_after_the_linger_loses_nothing_the_first_fetch_brought(
    make_bus: BusFactory, db: Database
) -> None:
    """The first fetch moved the group's position past its records: when the fetch
    after the linger fails, they are handled and committed all the same."""
    bus, name = make_bus(), topic()
    await prepare(bus, name)
    first = [status_event(f"ref_{i}", "child-1") for i in range(2)]
    await bus.publish(
        [Record(topic=name, key=r.key, value=r.value, headers=r.headers) for r in first]
    )
    consumer = EventConsumer(
        bus=bus,
        units=units_on(db),
        subscription=Subscription(group="g-" + name, topics=[name], handler=record_effect),
        linger_seconds=0.05,
    )
    await consumer.start()
    assert consumer._consumer is not None
    fetch = consumer._consumer.fetch
    fetches = 0

    async def fetch_then_fail(*, timeout: float, max_records: int) -> list[Record]:
        # The fetch right after the first that brought records fails.
        nonlocal fetches
        if fetches == 1:
            fetches += 1
            raise RuntimeError("the broker refused the fetch")
        records = await fetch(timeout=timeout, max_records=max_records)
        fetches += bool(records)
        return records

    consumer._consumer.fetch = fetch_then_fail  # type: ignore[method-assign]
    try:
        async with asyncio.timeout(60):
            taken = 0
            while taken == 0:
                taken = await consumer.poll_once(timeout=5)
        assert taken == 2
        assert fetches == 2  # the fetch after the linger was made, and failed
        assert consumer.handled == 2
    finally:
        await consumer.stop()
        await bus.stop()
    assert await count_effects(db) == 2
