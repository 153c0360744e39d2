"""Triage's database for tests that drive its use cases and queries directly: its tables
and the outbox its units of work write to, on SQLite and on PostgreSQL."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlmodel import SQLModel

from services.triage import definition
from shared.db import Database, table_of
from shared.outbox import OutboxMessage
from tests.conftest import create_database


async def _database(kind: str, request: pytest.FixtureRequest, path: Path) -> Database:
    """An empty triage database on SQLite (at `path`) or on the test PostgreSQL."""
    if kind == "sqlite":
        url = f"sqlite:///{path}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    database = Database(url)
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage]
    await database.create_tables([table_of(m) for m in models])
    return database


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    database = await _database(request.param, request, tmp_path / "triage.db")
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def twin(
    db: Database, request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Database]:
    """A second empty triage database, on the same kind of database as `db`."""
    kind = "sqlite" if db.is_sqlite else "postgres"
    database = await _database(kind, request, tmp_path / "twin.db")
    try:
        yield database
    finally:
        await database.dispose()
