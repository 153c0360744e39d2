"""The embedded log deletes what it no longer needs, and nothing else: records every
group has consumed and that are past the retention go; unconsumed records, parked
(.dlq) records and young records stay; offsets never go back after a prune."""

from __future__ import annotations

import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.bus.base import Record
from shared.bus.embedded import EmbeddedBus

DAY = 24 * 3600.0


def record(topic: str, n: int) -> Record:
    return Record(topic=topic, key=b"k", value=f"personal data {n}".encode(), headers=())


@pytest.fixture
async def bus(tmp_path: Path) -> AsyncIterator[EmbeddedBus]:
    log = EmbeddedBus(tmp_path / "events.db")
    await log.start()
    yield log
    await log.stop()


async def consume_all(bus: EmbeddedBus, group: str, topic: str) -> list[Record]:
    consumer = bus.consumer(group=group, topics=[topic])
    await consumer.start()
    try:
        got = await consumer.fetch(timeout=0.1, max_records=100)
        await consumer.commit(got)
        return got
    finally:
        await consumer.stop()


def on_disk(folder: Path) -> bytes:
    """Every byte of the log's files (the database and its write-ahead log)."""
    return b"".join(f.read_bytes() for f in sorted(folder.glob("events.db*")))


def stored(path: Path, topic: str) -> list[int]:
    with sqlite3.connect(path) as conn:
        rows = conn.execute(
            "SELECT offset FROM records WHERE topic = ? ORDER BY offset", (topic,)
        ).fetchall()
    return [offset for (offset,) in rows]


async def test_consumed_records_past_the_retention_are_deleted(
    bus: EmbeddedBus, tmp_path: Path
) -> None:
    await bus.publish([record("t", n) for n in range(3)])
    await consume_all(bus, "g", "t")
    # As SQLite's automatic checkpoints do: the records reach the database file itself.
    with sqlite3.connect(tmp_path / "events.db") as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    assert b"personal data" in (tmp_path / "events.db").read_bytes()
    later = time.time() + 2 * DAY
    assert await bus.prune(retention_seconds=DAY, now=later) == 3
    assert stored(tmp_path / "events.db", "t") == []
    # The bytes are gone from the files too, not just unlinked (secure_delete, and the
    # write-ahead log checkpointed and truncated).
    assert b"personal data" not in on_disk(tmp_path)


async def test_offsets_continue_after_a_prune_so_nothing_new_is_skipped(
    bus: EmbeddedBus,
) -> None:
    await bus.publish([record("t", n) for n in range(3)])
    await consume_all(bus, "g", "t")
    await bus.prune(retention_seconds=DAY, now=time.time() + 2 * DAY)
    await bus.publish([record("t", 3)])
    [fresh] = await consume_all(bus, "g", "t")
    assert (fresh.offset, fresh.value) == (3, b"personal data 3")


async def test_records_a_group_has_not_consumed_are_kept(bus: EmbeddedBus, tmp_path: Path) -> None:
    await bus.publish([record("t", n) for n in range(3)])
    await consume_all(bus, "fast", "t")
    slow = bus.consumer(group="slow", topics=["t"])  # subscribed, has committed nothing
    await slow.start()
    await slow.stop()
    assert await bus.prune(retention_seconds=DAY, now=time.time() + 2 * DAY) == 0
    assert stored(tmp_path / "events.db", "t") == [0, 1, 2]


async def test_a_topic_no_group_has_consumed_is_kept(bus: EmbeddedBus, tmp_path: Path) -> None:
    await bus.publish([record("unread", n) for n in range(2)])
    assert await bus.prune(retention_seconds=DAY, now=time.time() + 2 * DAY) == 0
    assert stored(tmp_path / "events.db", "unread") == [0, 1]


async def test_young_records_and_parked_records_are_kept(bus: EmbeddedBus, tmp_path: Path) -> None:
    await bus.publish([record("t", 0), record("t.dlq", 0)])
    await consume_all(bus, "g", "t")
    await consume_all(bus, "g", "t.dlq")
    assert await bus.prune(retention_seconds=DAY, now=time.time() + 60) == 0  # too young
    assert await bus.prune(retention_seconds=DAY, now=time.time() + 2 * DAY) == 1
    assert stored(tmp_path / "events.db", "t") == []
    assert stored(tmp_path / "events.db", "t.dlq") == [0]  # parked: kept until dealt with


async def test_a_log_from_before_retention_opens_and_keeps_its_offsets(tmp_path: Path) -> None:
    path = tmp_path / "old.db"
    with sqlite3.connect(path) as conn:  # the shape of a log written before this change
        conn.executescript(
            "CREATE TABLE records (topic TEXT NOT NULL, partition INTEGER NOT NULL, "
            "offset INTEGER NOT NULL, key BLOB, value BLOB NOT NULL, headers TEXT NOT NULL, "
            "PRIMARY KEY (topic, partition, offset));"
            "INSERT INTO records VALUES ('t', 0, 0, NULL, x'00', '[]');"
            "INSERT INTO records VALUES ('t', 0, 1, NULL, x'00', '[]');"
        )
    log = EmbeddedBus(path)
    await log.start()
    try:
        await log.publish([record("t", 2)])
        assert stored(path, "t") == [0, 1, 2]
    finally:
        await log.stop()
