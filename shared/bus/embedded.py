"""A durable local event log for the single-process default (no Kafka needed).

Records live in one SQLite file (WAL, synchronous=FULL): `publish` returns only after
the commit reached the disk, and each consumer group's position is stored beside the
records, so a restart resumes where the group last committed. Partitioning by key
hash keeps every key's records in order, as on Kafka.

Records carry children's personal data (`referral.received` holds the whole report),
so the log does not keep them for ever: a record every consumer group of its topic
has committed past, and older than the retention, is deleted (and overwritten on
disk: `secure_delete`). A record no group has consumed is kept, and so are parked
records on the `.dlq` topics until someone deals with them. Offsets never go back:
each partition's next offset is kept apart from the records. The first pass runs a
minute after start (once the process's consumers have joined, so a group that has not
committed yet still holds its records), then every ten minutes.

For the same reason the log's file is readable by this user only: created 0600 before
SQLite opens it (its `-wal` and `-shm` companions take the same mode), in the private
data folder (`shared.settings.private_file`); a looser existing file is tightened.

A group's lag and a dead-letter topic's depth (metrics, read at scrape time) come from
the same tables: each partition's kept end less the group's stored position.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
import zlib
from base64 import b64decode, b64encode
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

from shared.bus.base import Bus, Consumer, Record, next_positions
from shared.settings import private_file

T = TypeVar("T")
log = logging.getLogger(__name__)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS records (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    headers TEXT NOT NULL,
    PRIMARY KEY (topic, partition, offset)
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS positions (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
);
CREATE TABLE IF NOT EXISTS log_end (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (topic, partition)
);
"""

# When the log first looks for records it may delete (after start: the process's
# consumers have joined by then), and how often after that.
PRUNE_FIRST_SECONDS = 60.0
PRUNE_INTERVAL_SECONDS = 600.0


def partition_for(key: bytes | None, partitions: int) -> int:
    """Stable partition of a key (records without a key go to partition 0)."""
    if not key or partitions == 1:
        return 0
    return zlib.crc32(key) % partitions


def _encode_headers(headers: Sequence[tuple[str, bytes]]) -> str:
    return json.dumps([[name, b64encode(value).decode()] for name, value in headers])


def _decode_headers(text: str) -> tuple[tuple[str, bytes], ...]:
    return tuple((name, b64decode(value)) for name, value in json.loads(text))


class EmbeddedBus(Bus):
    """The embedded log: one SQLite file, one writer thread, in-process wake-ups."""

    def __init__(
        self, path: Path, *, partitions: int = 1, retention_seconds: float | None = None
    ) -> None:
        self.path = path
        self.partitions = partitions
        # None keeps every record (tests of the log itself); see `prune`.
        self.retention_seconds = retention_seconds
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="event-log")
        self._conn: sqlite3.Connection | None = None
        # Each member's wake-up, and the topics it reads: a publish wakes only the
        # members reading a topic it wrote to.
        self._wakeups: dict[asyncio.Event, frozenset[str]] = {}
        self._groups: set[str] = set()
        # The topics of each group with a member in this process.
        self._subscribed: dict[str, list[str]] = {}
        self._pruner: asyncio.Task[None] | None = None

    async def _run(self, fn: Callable[[sqlite3.Connection], T]) -> T:
        conn = self._conn
        if conn is None:
            raise RuntimeError("the embedded event log is not started")
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, fn, conn)

    async def start(self) -> None:
        if self._conn is not None:
            return
        # Whole reports: 0600 before SQLite creates the file (and its -wal, -shm).
        private_file(self.path)

        def open_log() -> sqlite3.Connection:
            conn = sqlite3.connect(self.path, check_same_thread=False, isolation_level=None)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=FULL")
            # Deleted records are overwritten, not left in free pages of the file.
            conn.execute("PRAGMA secure_delete=ON")
            conn.executescript(_SCHEMA)
            columns = {row[1] for row in conn.execute("PRAGMA table_info(records)")}
            if "appended_at" not in columns:  # a log from before retention
                conn.execute("ALTER TABLE records ADD COLUMN appended_at REAL")
            # The partition count is fixed when the log is created: reading a log
            # with another count would strand records in partitions nobody reads.
            conn.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('partitions', ?)",
                (str(self.partitions),),
            )
            row = conn.execute("SELECT value FROM meta WHERE key = 'partitions'").fetchone()
            self.partitions = int(row[0])
            return conn

        loop = asyncio.get_running_loop()
        self._conn = await loop.run_in_executor(self._executor, open_log)
        if self.retention_seconds is not None:
            self._pruner = asyncio.create_task(self._prune_periodically(self.retention_seconds))

    async def _prune_periodically(self, retention_seconds: float) -> None:
        delay = PRUNE_FIRST_SECONDS
        while True:
            await asyncio.sleep(delay)
            delay = PRUNE_INTERVAL_SECONDS
            try:
                await self.prune(retention_seconds=retention_seconds)
            except sqlite3.Error as exc:
                log.warning("event log pruning failed", exc_info=exc)

    async def prune(self, *, retention_seconds: float, now: float | None = None) -> int:
        """Delete records older than the retention that every consumer group of their
        topic has committed past; returns how many. Never a `.dlq` record, never one a
        group has not consumed, and never one of a topic no group has consumed yet."""
        cutoff = (time.time() if now is None else now) - retention_seconds
        subscribed = {g: list(t) for g, t in self._subscribed.items()}

        def delete(conn: sqlite3.Connection) -> int:
            conn.execute("BEGIN IMMEDIATE")
            try:
                deleted = 0
                parts = conn.execute("SELECT DISTINCT topic, partition FROM records").fetchall()
                positions: dict[tuple[str, str], dict[int, int]] = {}
                for grp, topic, part, offset in conn.execute(
                    "SELECT grp, topic, partition, offset FROM positions"
                ):
                    positions.setdefault((grp, topic), {})[part] = offset
                for topic, part in parts:
                    if topic.endswith(".dlq"):
                        continue
                    groups = {g for g, t in positions if t == topic}
                    groups |= {g for g, topics in subscribed.items() if topic in topics}
                    if not groups:
                        continue
                    bound = min(positions.get((g, topic), {}).get(part, 0) for g in groups)
                    deleted += conn.execute(
                        "DELETE FROM records WHERE topic = ? AND partition = ? AND offset < ? "
                        "AND (appended_at IS NULL OR appended_at < ?)",
                        (topic, part, bound, cutoff),
                    ).rowcount
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            if deleted:
                # Old copies of the deleted pages sit in the write-ahead log until it
                # is checkpointed and truncated.
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return deleted

        return await self._run(delete)

    async def stop(self) -> None:
        pruner, self._pruner = self._pruner, None
        if pruner is not None:
            # Safe to cancel: a prune in progress runs to its end on the log's thread.
            pruner.cancel()
            await asyncio.gather(pruner, return_exceptions=True)
        conn, self._conn = self._conn, None
        if conn is not None:
            loop = asyncio.get_running_loop()
            await loop.run_in_executor(self._executor, conn.close)
        self._groups.clear()

    async def ready(self) -> bool:
        if self._conn is None:
            return False
        try:
            await self._run(lambda c: c.execute("SELECT 1").fetchone())
            return True
        except sqlite3.Error:
            return False

    async def publish(self, records: Sequence[Record]) -> None:
        if not records:
            return

        appended_at = time.time()

        def append(conn: sqlite3.Connection) -> None:
            conn.execute("BEGIN IMMEDIATE")
            try:
                next_offset: dict[tuple[str, int], int] = {}
                for record in records:
                    part = partition_for(record.key, self.partitions)
                    tp = (record.topic, part)
                    if tp not in next_offset:
                        # The kept end, or (for a log from before it was kept) the
                        # records themselves: pruning never lets an offset be reused.
                        row = conn.execute(
                            "SELECT MAX(COALESCE((SELECT next_offset FROM log_end "
                            "WHERE topic = ?1 AND partition = ?2), 0), "
                            "COALESCE((SELECT MAX(offset) + 1 FROM records "
                            "WHERE topic = ?1 AND partition = ?2), 0))",
                            tp,
                        ).fetchone()
                        next_offset[tp] = int(row[0])
                    conn.execute(
                        "INSERT INTO records "
                        "(topic, partition, offset, key, value, headers, appended_at) "
                        "VALUES (?, ?, ?, ?, ?, ?, ?)",
                        (
                            record.topic,
                            part,
                            next_offset[tp],
                            record.key,
                            record.value,
                            _encode_headers(record.headers),
                            appended_at,
                        ),
                    )
                    next_offset[tp] += 1
                conn.executemany(
                    "INSERT INTO log_end (topic, partition, next_offset) VALUES (?, ?, ?) "
                    "ON CONFLICT (topic, partition) DO UPDATE SET next_offset = "
                    "excluded.next_offset",
                    [(t, p, o) for (t, p), o in next_offset.items()],
                )
                conn.execute("COMMIT")
            except BaseException:
                conn.execute("ROLLBACK")
                raise

        await self._run(append)
        written = {record.topic for record in records}
        for wakeup, topics in self._wakeups.items():
            if not topics.isdisjoint(written):
                wakeup.set()

    def consumer(self, *, group: str, topics: Sequence[str]) -> Consumer:
        self._subscribed[group] = list(topics)
        return EmbeddedConsumer(self, group=group, topics=list(topics))

    async def backlog(self, *, group: str, topics: Sequence[str]) -> dict[str, int]:
        totals = dict.fromkeys(topics, 0)
        for (topic, _), waiting in (await self._waiting(group, topics)).items():
            totals[topic] += waiting
        return totals

    async def _waiting(self, group: str, topics: Sequence[str]) -> dict[tuple[str, int], int]:
        """Per (topic, partition): the records kept past `group`'s committed position
        (from the first record kept when it never committed). Three lookups on primary
        keys per partition, so it costs the same however long the log has grown."""
        parts = [(t, p) for t in topics for p in range(self.partitions)]

        def count(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
            waiting: dict[tuple[str, int], int] = {}
            for topic, part in parts:
                end, first, committed = conn.execute(
                    "SELECT MAX(COALESCE((SELECT next_offset FROM log_end "
                    "WHERE topic = ?1 AND partition = ?2), 0), "
                    "COALESCE((SELECT MAX(offset) + 1 FROM records "
                    "WHERE topic = ?1 AND partition = ?2), 0)), "
                    "(SELECT MIN(offset) FROM records WHERE topic = ?1 AND partition = ?2), "
                    "(SELECT offset FROM positions "
                    "WHERE grp = ?3 AND topic = ?1 AND partition = ?2)",
                    (topic, part, group),
                ).fetchone()
                if first is None:
                    waiting[(topic, part)] = 0  # nothing kept: nothing to read
                    continue
                start = first if committed is None else max(committed, first)
                waiting[(topic, part)] = max(0, end - start)
            return waiting

        return await self._run(count)

    # -- used by EmbeddedConsumer ------------------------------------------------

    def _join(self, group: str, wakeup: asyncio.Event, topics: Sequence[str]) -> None:
        # One process owns the log, so a group has one member: a second member
        # would read the same partitions twice.
        if group in self._groups:
            raise RuntimeError(f"consumer group {group!r} already has a member in this process")
        self._groups.add(group)
        self._wakeups[wakeup] = frozenset(topics)

    def _leave(self, group: str, wakeup: asyncio.Event) -> None:
        self._groups.discard(group)
        self._wakeups.pop(wakeup, None)


class EmbeddedConsumer(Consumer):
    """The single member of a group on the embedded log; owns every partition."""

    def __init__(self, bus: EmbeddedBus, *, group: str, topics: list[str]) -> None:
        self.bus = bus
        self.group = group
        self.topics = topics
        self._wakeup = asyncio.Event()
        self._cursor: dict[tuple[str, int], int] = {}
        self._started = False

    async def start(self) -> None:
        self.bus._join(self.group, self._wakeup, self.topics)
        self._started = True
        self._wakeup.set()

        def load(conn: sqlite3.Connection) -> dict[tuple[str, int], int]:
            rows = conn.execute(
                "SELECT topic, partition, offset FROM positions WHERE grp = ?", (self.group,)
            ).fetchall()
            return {(t, p): o for t, p, o in rows}

        self._cursor = await self.bus._run(load)

    async def stop(self) -> None:
        if self._started:
            self.bus._leave(self.group, self._wakeup)
            self._started = False

    async def lag(self) -> dict[tuple[str, int], int]:
        """The group's single member owns every partition of its topics: the log's
        records past the group's committed positions."""
        if not self._started:
            return {}
        return await self.bus._waiting(self.group, self.topics)

    async def fetch(self, *, timeout: float, max_records: int) -> list[Record]:
        # Cleared before the read, not after: a publish that lands between an empty
        # read and the wait has set it again, so the wait does not sleep past it.
        self._wakeup.clear()
        records = await self._read(max_records)
        if records:
            return records
        try:
            await asyncio.wait_for(self._wakeup.wait(), timeout)
        except TimeoutError:
            return []
        return await self._read(max_records)

    async def _read(self, max_records: int) -> list[Record]:
        cursor = dict(self._cursor)
        # Every (topic, partition) is read from its cursor through the primary key, so
        # a fetch costs the same however long the log has grown.
        parts = [(t, p) for t in self.topics for p in range(self.bus.partitions)]

        def read(conn: sqlite3.Connection) -> list[Record]:
            out: list[Record] = []
            for topic, part in parts:
                if len(out) >= max_records:
                    break
                rows = conn.execute(
                    "SELECT offset, key, value, headers FROM records "
                    "WHERE topic = ? AND partition = ? AND offset >= ? ORDER BY offset LIMIT ?",
                    (topic, part, cursor.get((topic, part), 0), max_records - len(out)),
                ).fetchall()
                out.extend(
                    Record(
                        topic=topic,
                        partition=part,
                        offset=offset,
                        key=key,
                        value=value,
                        headers=_decode_headers(headers),
                    )
                    for offset, key, value, headers in rows
                )
            return out

        records = await self.bus._run(read)
        for tp, position in next_positions(records).items():
            self._cursor[tp] = position
        return records

    async def commit(self, records: Sequence[Record]) -> None:
        positions = next_positions(records)
        if not positions:
            return
        group = self.group

        def store(conn: sqlite3.Connection) -> None:
            conn.executemany(
                "INSERT INTO positions (grp, topic, partition, offset) VALUES (?, ?, ?, ?) "
                "ON CONFLICT (grp, topic, partition) DO UPDATE SET offset = excluded.offset "
                "WHERE excluded.offset > positions.offset",
                [(group, t, p, o) for (t, p), o in positions.items()],
            )

        await self.bus._run(store)
