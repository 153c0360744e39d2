"""Migration 0006 gives overrides and requests to lower the statutory level a nullable
reason code, and takes it away again: on SQLite and PostgreSQL, the rows already there
are kept both ways (an override made before the upgrade has no reason: "not given").

Upgrading an empty database to exactly the models' schema, and adopting one the
previous release made, are tests/shared/test_migrations.py's for every history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, inspect, text

from shared.db import Database
from shared.migrations import TRIAGE, current_revision, upgrade
from tests.conftest import create_database

REVISION = "0006_override_reason"
BEFORE = "0005_match_verdicts"
TABLES = ("triage_override", "triage_override_request")
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def db(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Database]:
    """An empty database."""
    if request.param == "sqlite":
        url = f"sqlite+aiosqlite:///{tmp_path / 'triage.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    database = Database(url)
    try:
        yield database
    finally:
        await database.dispose()


async def migrate_to(db: Database, revision: str, *, down: bool) -> None:
    """Alembic's upgrade or downgrade of the triage history to `revision`, on the
    connection Signpost's env.py expects."""

    def run(conn: Connection) -> None:
        config = Config(attributes={"connection": conn, "history": TRIAGE})
        config.set_main_option("script_location", TRIAGE.script_location)
        (command.downgrade if down else command.upgrade)(config, revision)

    async with db.engine.begin() as conn:
        await conn.run_sync(run)


async def columns(db: Database, table: str) -> dict[str, bool]:
    """The table's columns, each with whether it is nullable."""
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_columns(table))
    return {str(c["name"]): bool(c["nullable"]) for c in found}


async def indexes(db: Database, table: str) -> list[tuple[str, tuple[str, ...]]]:
    async with db.engine.connect() as conn:
        found = await conn.run_sync(lambda c: inspect(c).get_indexes(table))
    return sorted((str(i["name"]), tuple(str(c) for c in i["column_names"])) for i in found)


async def test_0006_adds_a_nullable_reason_code_and_its_downgrade_removes_it_keeping_rows(
    db: Database,
) -> None:
    await upgrade(db, TRIAGE)
    indexed = {table: await indexes(db, table) for table in TABLES}
    await migrate_to(db, BEFORE, down=True)
    assert await current_revision(db, TRIAGE) == BEFORE
    for table in TABLES:
        assert "reason_code" not in await columns(db, table)
    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO triage_override (id, referral_id, revision, from_level, to_level,"
                " priority, rationale, by_client_id, by_name, by_organisation, at)"
                " VALUES ('ovr_1', 'ref_1', 1, 2, 3, 'amber', 'Made before reason codes.',"
                " 'cli_hub', 'Sam Hale', 'demoshire-hub', :at)"
            ),
            {"at": AT},
        )

    await migrate_to(db, REVISION, down=False)

    assert await current_revision(db, TRIAGE) == REVISION
    for table in TABLES:
        assert (await columns(db, table))["reason_code"] is True  # nullable
        # SQLite's downgrade copies the table: its indexes come back with it.
        assert await indexes(db, table) == indexed[table]
    async with db.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT id, reason_code FROM triage_override"))).all()
    assert [tuple(row) for row in kept] == [("ovr_1", None)]

    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE triage_override SET reason_code = 'risk_reduced'"))
    await migrate_to(db, BEFORE, down=True)

    for table in TABLES:
        assert "reason_code" not in await columns(db, table)
    async with db.engine.connect() as conn:
        after = (await conn.execute(text("SELECT id, rationale FROM triage_override"))).all()
    assert [tuple(row) for row in after] == [("ovr_1", "Made before reason codes.")]
