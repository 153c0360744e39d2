"""The schema is created and grown by the project: a database made by an older
version gains the columns a newer version added, with its rows intact."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import Column, Integer, MetaData, String, Table, text

from shared.db import Database


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
