"""The unit of work: one transaction, the state it changes and the events it implies,
committed together.

A use case (`services/<name>/service.py`) takes a `uow`, changes rows through
`uow.session` and records the events its change implies with `uow.record(...)`. Only
the owner of the unit commits: `UnitsOfWork.begin()` (API dependencies, loops, a use
case that must retry a whole transaction) or the event consumer (one unit per record
or batch, with the inbox entry). Committing writes the recorded events to the outbox in
the same transaction, so a state change and its events are durable together or not at
all (DESIGN.md, delivery guarantees 1-2); then the relay is woken when the unit wrote
events, and the service's loops when it wrote anything. Time inside a unit comes from
`uow.clock`.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Hashable, Iterable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import datetime
from typing import Any, TypeVar

from cloudevents.core.v1.event import CloudEvent
from pydantic import BaseModel
from sqlalchemy import Insert, Update, event, insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.orm import Session
from sqlmodel.ext.asyncio.session import AsyncSession

from shared.clock import Clock
from shared.db import Database, table_of
from shared.envelope import new_event
from shared.events import EventType
from shared.outbox import OutboxMessage, outbox_row

T = TypeVar("T")
log = logging.getLogger(__name__)

_INSERT_OUTBOX = insert(table_of(OutboxMessage))
_WROTE = "signpost.wrote"


@event.listens_for(Session, "after_flush")
def _remember_a_write(session: Session, _context: object) -> None:
    # A unit that flushed rows may have staged work for a loop (a delivery, a
    # deadline): its owner wakes the loops after the commit (see `complete`).
    session.info[_WROTE] = True


class UnitOfWork:
    """One open transaction of one service, and the events recorded in it.

    The transaction is a connection's; an ORM session joins it the first time a use
    case asks for `session`, so a use case that only runs Core statements (intake's
    POST, the consumers' hot paths) pays for no session at all.
    """

    def __init__(
        self,
        conn: AsyncConnection,
        *,
        clock: Clock,
        source: str,
        on_published: Callable[[], None] | None = None,
    ) -> None:
        self._conn = conn
        # Called once a commit wrote events to the outbox (the relay's wake-up).
        self._on_published = on_published
        self._session: AsyncSession | None = None
        self.clock = clock
        self.source = source
        self._events: list[tuple[CloudEvent, str | None]] = []
        self._after_commit: list[Callable[[], None]] = []
        self._read: dict[str, Any] = {}
        self._inserts: dict[Insert | Update, list[dict[str, Any]]] = {}
        self._held_keys: set[Hashable] = set()

    @property
    def session(self) -> AsyncSession:
        """An ORM session in the unit's transaction (it never commits by itself)."""
        if self._session is None:
            self._session = AsyncSession(
                bind=self._conn, expire_on_commit=False, join_transaction_mode="rollback_only"
            )
        return self._session

    def now(self) -> datetime:
        """The service clock's now."""
        return self.clock.now()

    async def connection(self) -> AsyncConnection:
        """The transaction's connection, for Core statements on hot paths."""
        return self._conn

    def record(
        self,
        *,
        type: EventType,
        subject: str,
        partitionkey: str,
        data: BaseModel,
        time: datetime | None = None,
        topic: str | None = None,
    ) -> CloudEvent:
        """Record an event this unit's change implies; it reaches the outbox when the unit
        commits, and is dropped with everything else if it does not."""
        event = new_event(
            type=type,
            source=self.source,
            subject=subject,
            partitionkey=partitionkey,
            data=data,
            time=time or self.clock.now(),
        )
        self._events.append((event, topic))
        return event

    def insert(
        self, statement: Insert | Update, row: dict[str, Any], *, keys: Iterable[Hashable] = ()
    ) -> None:
        """Run `statement` with `row` when the unit completes, together with every other
        row of the same statement: one round trip for all the rows a consumer's batch or
        a group of requests (`UnitsOfWork.together`) adds to a table. An UPDATE by key
        (its parameters in `row`) is held the same way; rows run in the order given.

        Statements are written in the order of their first use, after the session's
        rows and before the outbox. A held row is not in the database until then, so a
        read in the same unit that must see it first writes what is held:
        `write_inserts()` before it, or, cheaper, `write_inserts(touching=...)` with the
        `keys` the row was held under (the referral, the child, the date of birth it
        would be found by), which writes only when a row held under one of them waits.
        Use it without keys only for rows whose later reads in the same unit would find
        them only in a conflict a constraint refuses at `complete()` (the whole unit then
        rolls back, and a shared one runs each of its works alone)."""
        self._inserts.setdefault(statement, []).append(row)
        self._held_keys.update(keys)

    async def write_inserts(self, *, touching: Iterable[Hashable] | None = None) -> bool:
        """Write the rows `insert` holds now, before a read that must see them; whether
        there were any. With `touching`, only when a row was held under one of those
        keys (else nothing is written, and False)."""
        if touching is not None and self._held_keys.isdisjoint(touching):
            return False
        inserts, self._inserts = self._inserts, {}
        self._held_keys = set()
        for statement, rows in inserts.items():
            await self._conn.execute(statement, rows)
        return bool(inserts)

    async def read_once(self, name: str, read: Callable[[], Awaitable[T]]) -> T:
        """What `read()` answers, read at most once in this unit under `name`.

        A consumer handles a whole batch of events in one unit, so a fact each event
        needs and none changes (notify's live subscriptions, the directory's newest
        version) costs one round trip per batch instead of one per event. The answer is
        the database as it was at the first read: only for what the unit itself does not
        change, and a unit is short (a batch is handled in well under a second)."""
        if name not in self._read:
            self._read[name] = await read()
        answer: T = self._read[name]
        return answer

    def keep(self, name: str, value: object) -> None:
        """Keep `value` under `name` for the rest of this unit (`kept`): what a batch read
        ahead, which its own reads then answer from. Its keeper decides when a kept
        answer no longer stands (the unit changed what it answers)."""
        self._read[name] = value

    def kept(self, name: str) -> object | None:
        """What was kept under `name` in this unit (`keep`, `read_once`), or None."""
        return self._read.get(name)

    def after_commit(self, callback: Callable[[], None]) -> None:
        """Call `callback` once this unit has committed, never if it rolls back: for what
        must count only work that happened (a metric: a retried unit counts once)."""
        self._after_commit.append(callback)

    @property
    def recorded(self) -> list[CloudEvent]:
        """The events recorded so far (not yet in the outbox)."""
        return [event for event, _ in self._events]

    async def complete(self) -> bool:
        """Write the recorded events to the outbox and commit. Only a unit's owner calls
        this (`UnitsOfWork.begin`, the event consumer). Returns whether the unit wrote
        anything (events, or rows through the session): the relay and the service's
        loops then have work; a read-only unit wakes nothing."""
        wrote = False
        if self._session is not None:
            await self._session.flush()
            wrote = bool(self._session.sync_session.info.pop(_WROTE, False))
        inserts = await self.write_inserts()
        events, self._events = self._events, []
        if events:
            await self._conn.execute(_INSERT_OUTBOX, [outbox_row(e, t) for e, t in events])
        await self._conn.commit()
        callbacks, self._after_commit = self._after_commit, []
        for callback in callbacks:
            callback()
        if events and self._on_published is not None:
            self._on_published()
        return bool(events) or inserts or wrote

    async def close(self) -> None:
        """Let go of the session (the connection's owner ends the transaction)."""
        if self._session is not None:
            await self._session.close()
            self._session = None


class UnitsOfWork:
    """Opens units of work on one service's database."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Clock,
        source: str,
        on_committed: Callable[[], None] | None = None,
        on_published: Callable[[], None] | None = None,
        most_together: int = 64,
    ) -> None:
        self.db = db
        self.clock = clock
        self.source = source
        # After a unit that wrote anything commits (the service's loops' wake-up)...
        self.on_committed = on_committed
        # ...and, first, after one that wrote events to the outbox (the relay's).
        self.on_published = on_published
        self.most_together = most_together
        self._waiting: list[_Waiting] = []
        self._leader: asyncio.Task[None] | None = None

    @asynccontextmanager
    async def open(self) -> AsyncIterator[UnitOfWork]:
        """A unit its caller completes with `complete()` (the event consumer, which adds
        the inbox entry to the same transaction); rolled back unless completed."""
        async with self.db.engine.connect() as conn:
            await conn.begin()
            unit = UnitOfWork(
                conn, clock=self.clock, source=self.source, on_published=self.on_published
            )
            try:
                yield unit
            finally:
                await unit.close()
            # Leaving the connection rolls back a transaction nobody committed.

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[UnitOfWork]:
        """A unit that commits, with its events, when the block ends without an error, and
        rolls back whole when it raises."""
        async with self.open() as unit:
            yield unit
            wrote = await unit.complete()
        if wrote and self.on_committed is not None:
            self.on_committed()

    async def together(
        self, work: Callable[[UnitOfWork], Awaitable[T]], *, ahead: ReadAhead | None = None
    ) -> T:
        """`work`'s answer once the unit it ran in has committed: a unit it may share with
        the work of other callers that arrived meanwhile (a group commit: one BEGIN, one
        COMMIT and one outbox write for the lot, where requests arrive together).

        `ahead` names what the work will read by key: a shared unit first reads what all
        its works named in one call of each `ReadAhead.read` (one statement for the group
        rather than one per work), which keeps it in the unit for the works to answer
        from. A work alone in its unit reads for itself.

        `work` changes rows and records events in the unit it is given and never
        completes it. The works of a shared unit run one after another in arrival order,
        each in its caller's context (its trace, so the events it records carry its own),
        and each sees what those before it wrote, as if each had committed alone in that
        order. When anything in a shared unit fails, nothing of it is kept and each of
        its works runs again alone in its own unit (`begin`): a failure, a refusal or a
        lost race is only ever its own work's, exactly as without sharing. A caller that
        goes away after its work started does not stop it: it commits with the rest.
        """
        done: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append(_Waiting(work, done, contextvars.copy_context(), ahead))
        if self._leader is None or self._leader.done():
            self._leader = asyncio.create_task(self._lead())
        answer: T = await done
        return answer

    async def _lead(self) -> None:
        """Run what waits, a unit at a time, until nothing does."""
        group: list[_Waiting] = []
        try:
            while self._waiting:
                group = self._waiting[: self.most_together]
                del self._waiting[: self.most_together]
                group = [w for w in group if not w.done.done()]  # callers gone before
                if len(group) > 1 and await self._shared(group):
                    continue
                for waiting in group:
                    await self._alone(waiting)
        finally:
            # Only when this task itself is cancelled (the loop shutting down): nobody
            # waits forever. An outage to the caller (a 503 with Retry-After; a retry
            # with the same Idempotency-Key is safe), since its unit may have committed.
            for waiting in (*group, *self._waiting):
                if not waiting.done.done():
                    waiting.done.set_exception(ConnectionError("the service is stopping"))

    async def _shared(self, group: list[_Waiting]) -> bool:
        """Run `group` in one unit; False (nothing kept) when anything in it failed."""
        try:
            async with self.open() as unit:
                await _read_ahead(unit, group)
                answers = [await waiting.run(unit) for waiting in group]
                wrote = await unit.complete()
        except Exception as exc:
            log.info(
                "a shared unit of work failed; its works run alone",
                extra={"works": len(group), "error": type(exc).__name__},
            )
            return False
        if wrote and self.on_committed is not None:
            self.on_committed()
        for waiting, answer in zip(group, answers, strict=True):
            if not waiting.done.done():
                waiting.done.set_result(answer)
        return True

    async def _alone(self, waiting: _Waiting) -> None:
        try:
            async with self.begin() as unit:
                answer = await waiting.run(unit)
        except Exception as exc:
            if not waiting.done.done():
                waiting.done.set_exception(exc)
            return
        if not waiting.done.done():
            waiting.done.set_result(answer)


@dataclass(frozen=True)
class ReadAhead:
    """What a work given to `UnitsOfWork.together` will read: the `keys` that `read`
    (the same function for every work that reads the same thing) reads for a whole
    group at once. `read(unit, keys)` keeps what it found in the unit (`keep`); the work
    answers from it only where nothing in the unit has changed it since."""

    read: Callable[[UnitOfWork, list[Hashable]], Awaitable[None]]
    keys: tuple[Hashable, ...]


async def _read_ahead(unit: UnitOfWork, group: list[_Waiting]) -> None:
    """Each `ReadAhead.read` the group's works named, once, with all their keys, in the
    context of the first work that named it (its trace holds the statement)."""
    wanted: dict[Callable[..., Awaitable[None]], tuple[contextvars.Context, list[Hashable]]] = {}
    for waiting in group:
        if waiting.ahead is not None:
            _, keys = wanted.setdefault(waiting.ahead.read, (waiting.context, []))
            keys.extend(waiting.ahead.keys)
    for read, (context, keys) in wanted.items():
        await asyncio.create_task(_call(read, unit, keys), context=context)


@dataclass(frozen=True)
class _Waiting:
    """A caller's work waiting for a unit, how to answer it, its context, and what it
    will read (for a shared unit to read for all its works at once)."""

    work: Callable[[UnitOfWork], Awaitable[Any]]
    done: asyncio.Future[Any]
    context: contextvars.Context
    ahead: ReadAhead | None = None

    async def run(self, unit: UnitOfWork) -> Any:
        """The work, in its caller's context (a task: a coroutine cannot switch contexts)."""
        return await asyncio.create_task(_call(self.work, unit), context=self.context)


async def _call(work: Callable[..., Awaitable[Any]], *args: Any) -> Any:
    """`work(*args)` as a coroutine, for a task run in another context."""
    return await work(*args)
