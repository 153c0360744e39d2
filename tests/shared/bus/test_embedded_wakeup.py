"""A consumer of the embedded log that finds nothing waits for the next publish, and a
publish that lands between its empty read and its wait still wakes it: the record is
handed out at once, not after the fetch's timeout. A publish to topics it does not
read leaves it waiting."""

from __future__ import annotations

import asyncio
from pathlib import Path

from shared.bus.base import Record
from shared.bus.embedded import EmbeddedBus, EmbeddedConsumer

RECORD = Record(topic="t", key=b"k", value=b"a referral", headers=())


async def test_a_publish_between_an_empty_read_and_the_wait_wakes_the_consumer(
    tmp_path: Path,
) -> None:
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.start()
    consumer = bus.consumer(group="g", topics=["t"])
    assert isinstance(consumer, EmbeddedConsumer)
    await consumer.start()
    read = consumer._read
    calls = 0

    async def read_then_publish(max_records: int) -> list[Record]:
        # The first read finds nothing; the publish lands before the consumer waits.
        nonlocal calls
        calls += 1
        found = await read(max_records)
        if calls == 1:
            await bus.publish([RECORD])
        return found

    consumer._read = read_then_publish  # type: ignore[method-assign]
    try:
        # Before the fix the wake-up was cleared after the read: the wait slept its
        # whole timeout and the fetch came back empty.
        records = await consumer.fetch(timeout=5.0, max_records=10)
        assert [r.value for r in records] == [b"a referral"]
    finally:
        await consumer.stop()
        await bus.stop()


async def test_a_fetch_with_nothing_published_waits_its_timeout_and_returns_nothing(
    tmp_path: Path,
) -> None:
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.start()
    consumer = bus.consumer(group="g", topics=["t"])
    await consumer.start()
    try:
        assert await consumer.fetch(timeout=0.1, max_records=10) == []
    finally:
        await consumer.stop()
        await bus.stop()


async def test_a_publish_to_another_topic_leaves_a_waiting_consumer_asleep(
    tmp_path: Path,
) -> None:
    # In one process every service's consumers share the log: a wake-up for each
    # publish made every one of them read the log again, for nothing.
    bus = EmbeddedBus(tmp_path / "events.db")
    await bus.start()
    consumer = bus.consumer(group="g", topics=["t"])
    await consumer.start()
    try:
        assert await consumer.fetch(timeout=0.05, max_records=10) == []
        waiting = asyncio.create_task(consumer.fetch(timeout=5.0, max_records=10))
        await asyncio.sleep(0.05)
        await bus.publish([Record(topic="other", key=b"k", value=b"not for g", headers=())])
        await asyncio.sleep(0.2)
        # Woken, it would have read nothing and come back empty before its timeout.
        assert not waiting.done()
        await bus.publish([RECORD])
        records = await asyncio.wait_for(waiting, 2.0)
        assert [r.value for r in records] == [b"a referral"]
    finally:
        await consumer.stop()
        await bus.stop()
