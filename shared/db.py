"""Database engines and sessions for SQLite (embedded default) and PostgreSQL.

Each service owns one database. Alembic owns the services' schemas and the key
registry's: one migration history per database, applied by `shared.migrations`, never
by hand. `Database.create_tables` remains for ad-hoc tables (tests, tools).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession


def normalise_url(url: str) -> str:
    """Accept the usual `postgresql://` and `sqlite:///` forms and pick the async drivers."""
    for prefix in ("postgres://", "postgresql://", "postgresql+psycopg://"):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite:///"):
        return "sqlite+aiosqlite:///" + url[len("sqlite:///") :]
    return url


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    # WAL + FULL sync: a commit that returned is on disk, even after a power cut.
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=FULL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


class Database:
    """One service's database: an async engine and its session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1]
            if path and path != ":memory:":
                Path(path).parent.mkdir(parents=True, exist_ok=True)
            # SQLite has one writer at a time. One connection makes concurrent
            # transactions queue in order instead of sleeping in SQLite's busy handler
            # (which gave multi-second tail latencies under load). Code must therefore
            # never hold one session while opening another on the same database.
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=120)
        else:
            kwargs.update(pool_size=pool_size, max_overflow=pool_size, pool_pre_ping=True)
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        self.sessions = async_sessionmaker(self.engine, class_=AsyncSession, expire_on_commit=False)

    @asynccontextmanager
    async def session(self) -> AsyncIterator[AsyncSession]:
        """A session whose transaction the caller commits; rolled back on error."""
        async with self.sessions() as session:
            try:
                yield session
            except BaseException:
                await session.rollback()
                raise

    async def create_tables(self, tables: Sequence[Table]) -> None:
        """Create the given tables if they do not exist, and add the columns that
        later versions added to existing ones (the schema only grows additively).

        For ad-hoc tables only: a service's schema, and the key registry's, come from
        their migration histories (`shared.migrations.upgrade`)."""
        # Imported here: shared.migrations builds on this module.
        from shared.migrations import add_missing_columns

        async with self.engine.begin() as conn:
            await conn.run_sync(
                lambda sync_conn: SQLModel.metadata.create_all(
                    sync_conn, tables=list(tables), checkfirst=True
                )
            )
            await conn.run_sync(lambda sync_conn: add_missing_columns(sync_conn, tables))

    async def ping(self) -> bool:
        """True when the database answers a trivial query."""
        try:
            async with self.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            return True
        except Exception:
            return False

    async def dispose(self) -> None:
        await self.engine.dispose()


def table_of(model: type[SQLModel]) -> Table:
    """The SQLAlchemy table behind a SQLModel table class."""
    table = model.__table__  # type: ignore[attr-defined]
    assert isinstance(table, Table)
    return table
