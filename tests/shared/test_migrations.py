"""Each database's schema comes from its own Alembic history: an empty database is
upgraded to exactly the schema the models declare, a database the previous release
made is adopted with every row kept, and a process that must not migrate refuses a
database that is not at head."""

from __future__ import annotations

import asyncio
import sys
import uuid
import warnings
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, date, datetime
from enum import Enum
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import JSON, Column, Connection, Table, TypeDecorator, inspect, select, text
from sqlmodel import SQLModel

from services.console import definition as console
from services.intake import definition as intake
from services.notify import definition as notify
from services.routing import definition as routing
from services.triage import definition as triage
from shared.auth import ApiKey
from shared.db import Database, table_of
from shared.migrations import (
    HISTORIES,
    KEYS,
    ROUTING,
    MigrationHistory,
    SchemaNotAtHead,
    check_at_head,
    current_revision,
    head_revision,
    upgrade,
)
from shared.outbox import InboxEntry, OutboxMessage
from shared.ratelimit import RateLimitBucket
from tests.conftest import create_database
from tests.infra import ROOT

MODELS: dict[str, list[type[SQLModel]]] = {
    "intake": [*intake.tables, OutboxMessage, InboxEntry],
    "triage": [*triage.tables, OutboxMessage, InboxEntry],
    "routing": [*routing.tables, OutboxMessage, InboxEntry],
    "notify": [*notify.tables, OutboxMessage, InboxEntry],
    "console": [*console.tables, OutboxMessage, InboxEntry],
    "keys": [ApiKey, RateLimitBucket],
}

# What the previous release lacked, to imitate a database it made: a table a later
# version added, a nullable column a later version added (table, column), and, for
# routing, the index `create_all` never added to a table that already existed.
TABLE_ADDED_LATER: dict[str, str | None] = {
    "intake": "read_audit",
    "triage": "triage_override",
    "routing": "routing_deadline",
    "notify": "encompass_notice",
    "console": None,
    "keys": "rate_limit_bucket",
}
ADDED_LATER: dict[str, tuple[str, str] | None] = {
    "intake": ("report", "destination_routed_at"),
    "triage": ("triage_decision", "postcode_district"),
    "routing": ("routing_decision", "updated_at"),
    "notify": ("delivery", "notice_id"),
    "console": None,
    "keys": None,
}
DESTINATION_INDEX = "ix_routing_decision_destination_organisation"

by_name = pytest.mark.parametrize("history", HISTORIES, ids=[h.name for h in HISTORIES])


def tables_of(history: MigrationHistory) -> list[Table]:
    return [table_of(model) for model in MODELS[history.name]]


class Databases:
    """Fresh, empty databases on one backend; disposed of after the test."""

    def __init__(self, new_url: Callable[[], Awaitable[str]]) -> None:
        self._new_url = new_url
        self.opened: list[Database] = []

    async def fresh(self) -> Database:
        return self.open(await self._new_url())

    def open(self, url: str) -> Database:
        db = Database(url)
        self.opened.append(db)
        return db


@pytest.fixture(params=["sqlite", "postgres"])
async def databases(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Databases]:
    if request.param == "sqlite":

        async def new_url() -> str:
            return f"sqlite+aiosqlite:///{tmp_path / uuid.uuid4().hex}.db"

    else:
        admin_url: str = request.getfixturevalue("postgres_admin_url")

        async def new_url() -> str:
            return await create_database(admin_url, "t_" + uuid.uuid4().hex[:12])

    found = Databases(new_url)
    yield found
    for db in found.opened:
        await db.dispose()


@pytest.fixture
async def postgres(postgres_admin_url: str) -> AsyncIterator[Databases]:
    async def new_url() -> str:
        return await create_database(postgres_admin_url, "t_" + uuid.uuid4().hex[:12])

    found = Databases(new_url)
    yield found
    for db in found.opened:
        await db.dispose()


def _index_definitions(conn: Connection) -> list[tuple[str, str]]:
    """Each index's whole definition as the database keeps it, which the inspector does
    not give: the expressions it indexes and the condition of a partial index
    (PostgreSQL's `indexdef`, SQLite's statement without `IF NOT EXISTS`)."""
    if conn.dialect.name == "postgresql":
        query = (
            "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema()"
            " AND tablename NOT LIKE 'alembic_version%'"
        )
    else:
        query = (
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND sql IS NOT NULL"
            " AND tbl_name NOT LIKE 'alembic_version%'"
        )
    found = []
    for name, definition in conn.execute(text(query)):
        words = " ".join(str(definition).split()).replace(" IF NOT EXISTS", "")
        found.append((str(name), words))
    return sorted(found)


def _schema_now(conn: Connection) -> dict[str, Any]:
    """Everything a schema promises, as the database reports it (version tables aside)."""
    with warnings.catch_warnings():
        # SQLite's inspector skips an index on an expression, saying so; the index
        # definitions below compare it whole.
        warnings.filterwarnings("ignore", "Skipped unsupported reflection of expression-based")
        return _reflected(conn)


def _reflected(conn: Connection) -> dict[str, Any]:
    inspector = inspect(conn)
    schema: dict[str, Any] = {}
    for name in inspector.get_table_names():
        if name.startswith("alembic_version"):
            continue
        pk = inspector.get_pk_constraint(name)
        schema[name] = {
            "columns": {
                c["name"]: (
                    str(c["type"].compile(dialect=conn.dialect)),
                    c["nullable"],
                    c["default"],
                )
                for c in inspector.get_columns(name)
            },
            "primary key": (pk["name"], pk["constrained_columns"]),
            "indexes": sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name)
            ),
            "unique constraints": sorted(
                (u["name"] or "", tuple(u["column_names"]))
                for u in inspector.get_unique_constraints(name)
            ),
            "check constraints": sorted(
                str(c["sqltext"]) for c in inspector.get_check_constraints(name)
            ),
        }
    if conn.dialect.name == "postgresql":
        # Only the enum types a column uses: `create_all` on SQLModel's one MetaData
        # also made every other service's (the key registry's `clientkind`).
        used = {column[0] for table in schema.values() for column in table["columns"].values()}
        enums = inspector.get_enums()  # type: ignore[attr-defined]
        schema["(enum types)"] = [e for e in enums if e["name"] in used]
    schema["(index definitions)"] = _index_definitions(conn)
    return schema


async def schema_of(db: Database) -> dict[str, Any]:
    async with db.engine.connect() as conn:
        return await conn.run_sync(_schema_now)


async def index_names(db: Database, table: str) -> set[str]:
    async with db.engine.connect() as conn:
        indexes = await conn.run_sync(lambda c: inspect(c).get_indexes(table))
    return {str(i["name"]) for i in indexes}


def _value(column: Column[Any], n: int) -> object:
    """A value of the column's type that fits it (row `n`)."""
    type_ = column.type
    if isinstance(type_, TypeDecorator):  # SQLModel's AutoString, UTCDateTime
        type_ = type_.impl_instance
    if isinstance(type_, JSON):
        return {"n": n, "items": [column.name]}
    kind = type_.python_type
    if issubclass(kind, Enum):
        return list(kind)[n % len(kind)]
    if kind is str:
        return f"{column.name[0]}{n}"
    if kind is bool:
        return n % 2 == 0
    if kind is int:
        return n
    if kind is datetime:
        return datetime(2026, 3, 2, 9, n, tzinfo=UTC)
    if kind is date:
        return date(2016, 5, n)
    if kind is bytes:
        return f"payload {n}".encode()
    raise AssertionError(f"no sample value for {column.table.name}.{column.name} ({kind})")


def sample_rows(table: Table, *, leave_out: str | None = None) -> list[dict[str, object]]:
    return [{c.name: _value(c, n) for c in table.columns if c.name != leave_out} for n in (1, 2)]


async def imitate_previous_release(db: Database, history: MigrationHistory) -> None:
    """What the release before migrations left behind: `create_all` of the tables as
    they were (one table and one nullable column fewer, routing without its later
    index)."""
    await db.create_tables(tables_of(history))
    async with db.engine.begin() as conn:
        table_added_later = TABLE_ADDED_LATER[history.name]
        if table_added_later is not None:
            await conn.execute(text(f"DROP TABLE {table_added_later}"))
        if history is ROUTING:
            await conn.execute(text(f"DROP INDEX {DESTINATION_INDEX}"))
        added_later = ADDED_LATER[history.name]
        if added_later is not None:
            table, column = added_later
            await conn.execute(text(f"ALTER TABLE {table} DROP COLUMN {column}"))


@by_name
async def test_upgrading_an_empty_database_gives_exactly_the_schema_the_models_declare(
    databases: Databases, history: MigrationHistory
) -> None:
    migrated, declared = await databases.fresh(), await databases.fresh()

    await upgrade(migrated, history)
    await declared.create_tables(tables_of(history))

    assert await schema_of(migrated) == await schema_of(declared)
    assert await current_revision(migrated, history) == head_revision(history)
    if history is ROUTING:
        assert DESTINATION_INDEX in await index_names(migrated, "routing_decision")


@by_name
async def test_a_database_the_previous_release_made_is_adopted_with_every_row_kept(
    databases: Databases, history: MigrationHistory
) -> None:
    db, declared = await databases.fresh(), await databases.fresh()
    await imitate_previous_release(db, history)
    added_later = ADDED_LATER[history.name]
    rows: dict[str, list[dict[str, object]]] = {}
    async with db.engine.begin() as conn:
        for table in tables_of(history):
            if table.name == TABLE_ADDED_LATER[history.name]:
                rows[table.name] = []
                continue
            left_out = added_later[1] if added_later and added_later[0] == table.name else None
            rows[table.name] = sample_rows(table, leave_out=left_out)
            await conn.execute(table.insert(), rows[table.name])

    await upgrade(db, history)

    await declared.create_tables(tables_of(history))
    assert await schema_of(db) == await schema_of(declared)
    assert await current_revision(db, history) == head_revision(history)
    async with db.engine.connect() as conn:
        for table in tables_of(history):
            found = (
                (await conn.execute(select(table).order_by(*table.primary_key.columns)))
                .mappings()
                .all()
            )
            assert len(found) == len(rows[table.name])
            for row, inserted in zip(found, rows[table.name], strict=True):
                assert {k: row[k] for k in inserted} == inserted
            if added_later is not None and added_later[0] == table.name:
                assert [row[added_later[1]] for row in found] == [None, None]
    if history is ROUTING:
        assert DESTINATION_INDEX in await index_names(db, "routing_decision")


async def test_a_database_at_the_routing_baseline_gains_the_destination_organisation_index(
    databases: Databases,
) -> None:
    db = await databases.fresh()
    await upgrade(db, ROUTING)
    async with db.engine.begin() as conn:
        await conn.execute(text(f"DROP INDEX {DESTINATION_INDEX}"))
        await conn.execute(text("UPDATE alembic_version_routing SET version_num = '0001_baseline'"))

    await upgrade(db, ROUTING)

    assert DESTINATION_INDEX in await index_names(db, "routing_decision")
    assert await current_revision(db, ROUTING) == head_revision(ROUTING)


async def test_a_database_whose_first_upgrade_stopped_half_way_is_completed(
    databases: Databases,
) -> None:
    db, declared = await databases.fresh(), await databases.fresh()
    await upgrade(db, ROUTING)
    async with db.engine.begin() as conn:  # SQLite's DDL is not transactional
        await conn.execute(text("DELETE FROM alembic_version_routing"))
        await conn.execute(text("DROP TABLE routing_step"))

    await upgrade(db, ROUTING)

    await declared.create_tables(tables_of(ROUTING))
    assert await schema_of(db) == await schema_of(declared)
    await check_at_head(db, ROUTING)


async def test_check_at_head_refuses_a_database_a_newer_release_migrated(
    databases: Databases,
) -> None:
    db = await databases.fresh()
    await upgrade(db, ROUTING)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version_routing SET version_num = '0099_later'"))

    with pytest.raises(SchemaNotAtHead, match="0099_later, which this release does not know"):
        await check_at_head(db, ROUTING)


async def test_check_at_head_refuses_a_database_behind_head_naming_both_revisions(
    databases: Databases,
) -> None:
    db = await databases.fresh()
    await upgrade(db, ROUTING)
    async with db.engine.begin() as conn:
        await conn.execute(text("UPDATE alembic_version_routing SET version_num = '0001_baseline'"))

    with pytest.raises(SchemaNotAtHead) as refused:
        await check_at_head(db, ROUTING)

    message = str(refused.value)
    assert "0001_baseline" in message
    assert head_revision(ROUTING) in message
    assert "signpost migrate" in message


@by_name
async def test_check_at_head_refuses_a_database_never_migrated(
    databases: Databases, history: MigrationHistory
) -> None:
    db = await databases.fresh()
    await imitate_previous_release(db, history)

    with pytest.raises(SchemaNotAtHead, match=r"never migrated.*signpost migrate"):
        await check_at_head(db, history)
    assert await current_revision(db, history) is None


@by_name
async def test_check_at_head_accepts_a_database_at_head(
    databases: Databases, history: MigrationHistory
) -> None:
    db = await databases.fresh()
    await upgrade(db, history)

    await check_at_head(db, history)


@by_name
async def test_upgrading_a_database_already_at_head_changes_nothing(
    databases: Databases, history: MigrationHistory
) -> None:
    db = await databases.fresh()
    await upgrade(db, history)
    table = tables_of(history)[0]
    async with db.engine.begin() as conn:
        await conn.execute(table.insert(), sample_rows(table))
    schema = await schema_of(db)

    await upgrade(db, history)

    assert await schema_of(db) == schema
    assert await current_revision(db, history) == head_revision(history)
    async with db.engine.connect() as conn:
        assert len((await conn.execute(select(table))).all()) == 2


async def test_histories_sharing_one_database_keep_their_own_revisions(
    databases: Databases,
) -> None:
    db = await databases.fresh()

    for history in HISTORIES:
        await upgrade(db, history)

    for history in HISTORIES:
        await check_at_head(db, history)
    tables = {t.name for history in HISTORIES for t in tables_of(history)}
    assert set(await schema_of(db)) - {"(enum types)", "(index definitions)"} == tables


async def test_upgrades_started_together_in_one_process_take_turns(
    databases: Databases,
) -> None:
    dbs = {history.name: await databases.fresh() for history in HISTORIES}

    async with asyncio.timeout(120):
        await asyncio.gather(*(upgrade(dbs[history.name], history) for history in HISTORIES))

    for history in HISTORIES:
        await check_at_head(dbs[history.name], history)


# A replica: its imports done, it waits for the word, then upgrades.
REPLICA = """
import asyncio, sys
from shared.db import Database
from shared.migrations import history_of, upgrade

async def main(url: str, name: str) -> None:
    db = Database(url)
    try:
        sys.stdin.readline()
        await upgrade(db, history_of(name))
    finally:
        await db.dispose()

asyncio.run(main(sys.argv[1], sys.argv[2]))
"""


@pytest.mark.postgres
@pytest.mark.parametrize("history", [ROUTING, KEYS], ids=["routing", "keys"])
async def test_replicas_upgrading_one_postgres_database_at_once_both_succeed(
    postgres: Databases, history: MigrationHistory
) -> None:
    db = await postgres.fresh()
    replicas = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            REPLICA,
            db.url,
            history.name,
            cwd=ROOT,
            stdin=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for _ in range(2)
    ]
    try:
        for replica in replicas:
            assert replica.stdin is not None
            replica.stdin.write(b"go\n")
        async with asyncio.timeout(120):
            outcomes = [await replica.communicate() for replica in replicas]
    finally:
        for replica in replicas:
            if replica.returncode is None:
                replica.kill()
                await replica.wait()

    assert [r.returncode for r in replicas] == [0, 0], [err.decode()[-2000:] for _, err in outcomes]
    await check_at_head(db, history)
    declared = await postgres.fresh()
    await declared.create_tables(tables_of(history))
    assert await schema_of(db) == await schema_of(declared)
