"""Migration 0007 adds the policy versions, their simulations and the audit trail of
acts, and takes them away again: on SQLite and PostgreSQL, a policy id and version are
drafted once, and the earlier tables keep their rows both ways.

Upgrading an empty database to exactly the models' schema, and adopting one the
previous release made, are tests/shared/test_migrations.py's for every history."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import inspect, text
from sqlalchemy.exc import IntegrityError

from shared.db import Database
from shared.migrations import TRIAGE, current_revision, upgrade
from tests.conftest import create_database
from tests.services.triage.migrations.test_0006_override_reason import migrate_to

REVISION = "0007_policy_versions"
BEFORE = "0006_override_reason"
TABLES = {"triage_policy_version", "triage_policy_simulation", "triage_policy_act"}
AT = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
INSERT_VERSION = text(
    "INSERT INTO triage_policy_version (id, policy_id, version, document, state, drafted_by,"
    " drafted_by_name, drafted_at) VALUES (:id, 'demoshire', '2027.1', '{}', 'draft',"
    " 'demoshire-hub/per_ann', 'Ann Shaw', :at)"
)


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


async def tables(db: Database) -> set[str]:
    async with db.engine.connect() as conn:
        return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))


async def test_0007_adds_the_policy_tables_and_its_downgrade_removes_them_keeping_the_rest(
    db: Database,
) -> None:
    await upgrade(db, TRIAGE)
    assert await current_revision(db, TRIAGE) == REVISION
    assert TABLES <= await tables(db)
    async with db.engine.begin() as conn:
        await conn.execute(INSERT_VERSION, {"id": "pol_1", "at": AT})
        await conn.execute(
            text(
                'INSERT INTO triage_policy_act (id, version_id, act, "by", by_name, at, detail)'
                " VALUES ('pla_1', 'pol_1', 'drafted', 'demoshire-hub/per_ann', 'Ann Shaw',"
                " :at, '{}')"
            ),
            {"at": AT},
        )
    with pytest.raises(IntegrityError):
        async with db.engine.begin() as conn:
            await conn.execute(INSERT_VERSION, {"id": "pol_2", "at": AT})

    async with db.engine.begin() as conn:
        await conn.execute(
            text(
                "INSERT INTO triage_override (id, referral_id, revision, from_level, to_level,"
                " priority, rationale, by_client_id, by_name, by_organisation, at)"
                " VALUES ('ovr_1', 'ref_1', 1, 2, 3, 'amber', 'Kept through the downgrade.',"
                " 'cli_hub', 'Sam Hale', 'demoshire-hub', :at)"
            ),
            {"at": AT},
        )
    await migrate_to(db, BEFORE, down=True)

    assert await current_revision(db, TRIAGE) == BEFORE
    assert not TABLES & await tables(db)
    async with db.engine.connect() as conn:
        kept = (await conn.execute(text("SELECT id FROM triage_override"))).all()
    assert [tuple(row) for row in kept] == [("ovr_1",)]

    await migrate_to(db, REVISION, down=False)

    assert await current_revision(db, TRIAGE) == REVISION
    assert TABLES <= await tables(db)
