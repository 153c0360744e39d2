"""Database engines and sessions for SQLite (embedded default) and PostgreSQL.

Each service owns one database. Alembic owns the services' schemas and the key
registry's: one migration history per database, applied by `shared.migrations`, never
by hand. `Database.create_tables` remains for ad-hoc tables (tests, tools).

A database can be away (restarting, failing over, unreachable): `is_transient` tells
such an outage from an error of the statement, so a consumer waits for the database
instead of parking the record and a request answers 503 instead of 500. A PostgreSQL
pool checks a connection that has been idle for `PING_AFTER_IDLE_SECONDS` before
handing it out, so connections that a restart broke while the service was quiet are
replaced, and gives up connecting after `CONNECT_TIMEOUT_SECONDS` rather than hang
while the server is unreachable. A connection in steady use is not pinged (a round trip
on every checkout was a tenth of intake's CPU under load): if the server went away
under it, its statement fails as an outage (`is_transient`: a 503, a consumer's wait),
and SQLAlchemy then replaces every connection the pool held before the failure.
"""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

from sqlalchemy import Table, event, text
from sqlalchemy.exc import DBAPIError, DisconnectionError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as SATimeoutError
from sqlalchemy.ext.asyncio import AsyncEngine, async_sessionmaker, create_async_engine
from sqlmodel import SQLModel
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.settings import private_file

# How long opening a PostgreSQL connection may take before it counts as a failure.
CONNECT_TIMEOUT_SECONDS = 10.0
# A pooled PostgreSQL connection idle this long is pinged before it is handed out.
PING_AFTER_IDLE_SECONDS = 2.0
_CHECKED_IN = "signpost.checked_in"

# PostgreSQL SQLSTATEs of an outage rather than of the statement: connection exceptions
# (08), insufficient resources such as too many connections (53), operator
# intervention such as "starting up" or "shutting down" (57P), a read-only standby
# after a failover (25006), and serialization failures and deadlocks (40001, 40P01).
_OUTAGE_CLASSES = ("08", "53", "57P")
_OUTAGE_STATES = frozenset({"25006", "40001", "40P01"})
# OSErrors of the local file system, not of a dependency over the network.
_LOCAL_OS_ERRORS = (
    FileNotFoundError,
    FileExistsError,
    IsADirectoryError,
    NotADirectoryError,
    PermissionError,
)


def _outage_state(state: object) -> bool | None:
    if isinstance(state, str) and state:
        return state.startswith(_OUTAGE_CLASSES) or state in _OUTAGE_STATES
    return None


# SQLite's errors of the database file rather than of the statement: another writer
# holds it, it cannot be opened (gone, a permission, its disk), or its disk failed.
_SQLITE_OUTAGE = re.compile(
    r"database is locked|database table is locked|unable to open database file|"
    r"disk I/O error|database or disk is full"
)


def is_transient(exc: BaseException) -> bool:
    """An error of the infrastructure, not of the statement or the record: the database
    (or the network to it) is down, restarting, overloaded or failing over, or the
    connection was lost."""
    if isinstance(exc, DBAPIError):
        if exc.connection_invalidated:
            return True
        state = _outage_state(
            getattr(exc.orig, "sqlstate", None) or getattr(exc.orig, "pgcode", None)
        )
        if state is not None:
            return state
        if type(exc.orig).__module__.startswith("sqlite3"):
            # SQLite has no SQLSTATE and calls most of its errors operational, a
            # missing table too (a bug, not an outage): only these are the file's.
            return _SQLITE_OUTAGE.search(str(exc.orig)) is not None
        # No SQLSTATE: a driver error before the server answered.
        return isinstance(exc, OperationalError | InterfaceError)
    # A driver's own error that reached us unwrapped (asyncpg's carry their SQLSTATE).
    state = _outage_state(getattr(exc, "sqlstate", None))
    if state is not None:
        return state
    if isinstance(exc, _LOCAL_OS_ERRORS):
        return False
    return isinstance(exc, SATimeoutError | OSError | TimeoutError)


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


def needs_ping(checked_in: float | None, now: float) -> bool:
    """Whether a pooled connection returned at `checked_in` (monotonic seconds; None for
    one never returned, that is, just opened) must be pinged before reuse at `now`."""
    return checked_in is not None and now - checked_in >= PING_AFTER_IDLE_SECONDS


def _checked_in(_dbapi_connection: Any, record: Any) -> None:
    record.info[_CHECKED_IN] = time.monotonic()


def _ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any, *, dialect: Any) -> None:
    if not needs_ping(record.info.get(_CHECKED_IN), time.monotonic()):
        return
    try:
        alive = dialect.do_ping(dbapi_connection)
    except Exception as exc:
        # The pool discards this connection and opens another (SQLAlchemy's own
        # "pessimistic disconnect handling", for connections that sat idle).
        raise DisconnectionError("an idle pooled connection did not answer") from exc
    if alive is False:
        raise DisconnectionError("an idle pooled connection did not answer")


class Database:
    """One service's database: an async engine and its session factory."""

    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = normalise_url(url)
        self.is_sqlite = self.url.startswith("sqlite")
        kwargs: dict[str, Any] = {}
        if self.is_sqlite:
            path = self.url.split(":///", 1)[1]
            if path and path != ":memory:":
                # Children's data: the file (and its -wal and -shm, which SQLite gives
                # the file's mode) is its owner's alone, whatever the umask.
                private_file(Path(path))
            # SQLite has one writer at a time. One connection makes concurrent
            # transactions queue in order instead of sleeping in SQLite's busy handler
            # (which gave multi-second tail latencies under load). Code must therefore
            # never hold one session while opening another on the same database.
            kwargs.update(pool_size=1, max_overflow=0, pool_timeout=120)
        else:
            kwargs.update(
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args={"timeout": CONNECT_TIMEOUT_SECONDS},
            )
        self.engine: AsyncEngine = create_async_engine(self.url, **kwargs)
        if self.is_sqlite:
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
        else:
            pool = self.engine.sync_engine.pool
            event.listen(pool, "checkin", _checked_in)
            event.listen(
                pool,
                "checkout",
                partial(_ping_if_idle, dialect=self.engine.sync_engine.dialect),
            )
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
