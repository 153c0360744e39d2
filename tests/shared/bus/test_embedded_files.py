"""The embedded log holds whole reports, so its files are its owner's alone (0600, the
write-ahead files too, whatever the umask; a looser log from before is tightened), and
its retention pass runs by itself soon after start, with the retention the process's
EMBEDDED_LOG_RETENTION_HOURS sets."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import stat
from collections.abc import Iterator
from pathlib import Path

import pytest

import shared.bus.embedded as embedded
from services.apps import make_bus
from shared.bus.base import Record
from shared.bus.embedded import EmbeddedBus
from shared.settings import embedded_settings


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that lets everyone read what is created (as a careless shell's might)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def record(n: int) -> Record:
    return Record(topic="t", key=b"k", value=f"a child's report {n}".encode(), headers=())


@pytest.mark.usefixtures("permissive_umask")
async def test_the_log_and_its_write_ahead_files_are_their_owners_alone(tmp_path: Path) -> None:
    log = EmbeddedBus(tmp_path / "events.db")
    await log.start()
    try:
        await log.publish([record(0)])
        files = sorted(tmp_path.glob("events.db*"))
        assert [f.name for f in files] == ["events.db", "events.db-shm", "events.db-wal"]
        assert {f.name: mode(f) for f in files} == {f.name: 0o600 for f in files}
    finally:
        await log.stop()


async def test_a_looser_log_from_before_is_tightened_at_start(tmp_path: Path) -> None:
    path = tmp_path / "events.db"
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("CREATE TABLE t (x)")
        conn.commit()
        wal = path.with_name("events.db-wal")  # kept while this connection is open
        for f in (path, wal):
            f.chmod(0o644)
        log = EmbeddedBus(path)
        await log.start()
        try:
            assert (mode(path), mode(wal)) == (0o600, 0o600)
        finally:
            await log.stop()


@pytest.mark.usefixtures("permissive_umask")
async def test_a_missing_folder_for_the_log_is_made_private(tmp_path: Path) -> None:
    log = EmbeddedBus(tmp_path / "var" / "events.db")
    await log.start()
    await log.stop()
    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "events.db") == 0o600


async def test_the_retention_pass_runs_by_itself_soon_after_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedded, "PRUNE_FIRST_SECONDS", 0.05)
    log = EmbeddedBus(tmp_path / "events.db", retention_seconds=0.01)
    await log.start()
    try:
        await log.publish([record(n) for n in range(3)])
        consumer = log.consumer(group="g", topics=["t"])
        await consumer.start()
        await consumer.commit(await consumer.fetch(timeout=0.1, max_records=10))
        await consumer.stop()
        async with asyncio.timeout(5):
            while True:
                with sqlite3.connect(tmp_path / "events.db") as conn:
                    left = conn.execute("SELECT COUNT(*) FROM records").fetchone()[0]
                if left == 0:
                    break
                await asyncio.sleep(0.02)
    finally:
        await log.stop()


def test_the_processs_log_keeps_consumed_records_for_the_configured_hours(
    tmp_path: Path,
) -> None:
    default = make_bus(embedded_settings(tmp_path / "a"), client_id="t")
    configured = make_bus(
        embedded_settings(tmp_path / "b", embedded_log_retention_hours=2), client_id="t"
    )
    assert isinstance(default, EmbeddedBus) and isinstance(configured, EmbeddedBus)
    assert default.retention_seconds == 24 * 3600
    assert configured.retention_seconds == 2 * 3600
    assert configured.path == tmp_path / "b" / "events.db"
