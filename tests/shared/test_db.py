"""The schema is created and grown by the project: a database made by an older
version gains the columns a newer version added, with its rows intact. A PostgreSQL
pool pings only connections that sat idle, and a dropped connection is never a 500."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text
from sqlalchemy.exc import DBAPIError

from shared.db import PING_AFTER_IDLE_SECONDS, Database, is_transient, needs_ping


@pytest.fixture(params=["sqlite", "postgres"])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite+aiosqlite:///{tmp_path / 'x.db'}"
    url: str = request.getfixturevalue("postgres_url")
    return url


async def test_create_tables_adds_new_nullable_columns_to_an_existing_table(
    database_url: str,
) -> None:
    old = Table("thing", MetaData(), Column("id", Integer, primary_key=True))
    new = Table(
        "thing",
        MetaData(),
        Column("id", Integer, primary_key=True),
        Column("label", String(20), nullable=True),
    )
    db = Database(database_url)
    await db.create_tables([old])
    async with db.engine.begin() as conn:
        await conn.execute(text("INSERT INTO thing (id) VALUES (1)"))
    await db.create_tables([new])
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE thing SET label = 'kept' WHERE id = 1"))
        rows = (await conn.execute(text("SELECT id, label FROM thing"))).all()
    await db.dispose()
    assert [tuple(r) for r in rows] == [(1, "kept")]


def test_only_a_connection_that_sat_idle_is_pinged_before_reuse() -> None:
    assert not needs_ping(None, 100.0)  # just opened
    assert not needs_ping(100.0, 100.0 + PING_AFTER_IDLE_SECONDS - 0.01)  # in steady use
    assert needs_ping(100.0, 100.0 + PING_AFTER_IDLE_SECONDS)


async def _kill_backends(postgres_url: str) -> int:
    """Terminate every other connection to the test database, as a server restart would."""
    admin = Database(postgres_url)
    try:
        async with admin.engine.connect() as conn:
            killed = (
                await conn.execute(
                    text(
                        "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()"
                    )
                )
            ).scalar_one()
    finally:
        await admin.dispose()
    return int(killed)


async def test_an_idle_connection_the_server_dropped_is_replaced_before_use(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert await _kill_backends(postgres_url) == 1
        # Idle past the threshold (made zero here rather than slept through).
        monkeypatch.setattr("shared.db.PING_AFTER_IDLE_SECONDS", 0.0)
        async with db.engine.connect() as conn:
            second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        assert second != first  # a new connection, and no error reached the caller
    finally:
        await db.dispose()


async def test_an_idle_connection_that_still_answers_is_kept(
    postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The ping really runs (and answers) at checkout: it does not replace every idle
    connection with a new one."""
    db = Database(postgres_url)
    pinged: list[bool] = []
    dialect = db.engine.sync_engine.dialect
    real = dialect.do_ping

    def counted(conn: Any) -> bool:
        pinged.append(True)
        return bool(real(conn))

    monkeypatch.setattr(dialect, "do_ping", counted)
    try:
        async with db.engine.connect() as conn:
            first = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
        monkeypatch.setattr("shared.db.PING_AFTER_IDLE_SECONDS", 0.0)
        async with db.engine.connect() as conn:
            second = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    finally:
        await db.dispose()
    assert pinged == [True] and second == first


async def test_a_busy_connection_the_server_dropped_fails_once_as_an_outage(
    postgres_url: str,
) -> None:
    """Unpinged reuse: the statement on the dead connection is an outage (a 503, a
    consumer's wait; never a 500 or a parked record), and the pool then starts afresh."""
    db = Database(postgres_url)
    try:
        async with db.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))
        await _kill_backends(postgres_url)
        with pytest.raises(DBAPIError) as failed:
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
        assert is_transient(failed.value)
        async with db.engine.connect() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await db.dispose()
