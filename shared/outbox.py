"""Transactional outbox and inbox.

A service writes its state change and the events it implies in one transaction
(`stage`); the `OutboxRelay` publishes committed rows and marks them sent only after
the bus acknowledged them, so a crash anywhere means re-publication, never loss.
While the broker is away the rows wait in the outbox (the relay does not try until the
bus is available again); a failing relay backs off and says so once, then once when it
publishes again. Each publish is a short PRODUCER span in the trace the event carries
(its `traceparent`, written as the unit of work recorded it: see shared.tracing).
Consumers record `(consumer, ce_source, ce_id)` in the inbox inside the handler's own
transaction, so a redelivered event changes nothing.
"""

from __future__ import annotations

import asyncio
import json
import logging
from base64 import b64decode, b64encode
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import (
    BigInteger,
    Column,
    Integer,
    LargeBinary,
    Row,
    bindparam,
    delete,
    func,
    insert,
    text,
    update,
)
from sqlalchemy import select as core_select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlmodel import Field, SQLModel, col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from shared import tracing
from shared.bus.base import Backoff, Bus, BusUnavailable, Record, pause
from shared.clock import Clock
from shared.db import Database, is_transient, table_of
from shared.envelope import to_record
from shared.logging import OutageLog

log = logging.getLogger(__name__)


class OutboxMessage(SQLModel, table=True):
    """An event waiting to be published (or published, until purged)."""

    __tablename__ = "outbox"

    id: int | None = Field(
        default=None,
        sa_column=Column(
            BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
        ),
    )
    topic: str = Field(max_length=200)
    key: bytes | None = Field(default=None, sa_column=Column(LargeBinary, nullable=True))
    value: bytes = Field(sa_column=Column(LargeBinary, nullable=False))
    headers: str
    created_at: datetime
    sent_at: datetime | None = Field(default=None, index=True)


class InboxEntry(SQLModel, table=True):
    """An event a consumer has already handled."""

    __tablename__ = "inbox"

    consumer: str = Field(primary_key=True, max_length=100)
    ce_source: str = Field(primary_key=True, max_length=300)
    ce_id: str = Field(primary_key=True, max_length=100)
    handled_at: datetime


def outbox_row(event: BaseCloudEvent, topic: str | None = None) -> dict[str, object]:
    """The outbox columns for an event, for a Core insert in the caller's transaction.
    The row is created at the event's own `time` (which came from the service's clock)."""
    record = to_record(event, topic)
    created_at = event.get_time()
    if created_at is None:
        raise ValueError("an event staged in the outbox must carry its time")
    return {
        "topic": record.topic,
        "key": record.key,
        "value": record.value,
        "headers": json.dumps([[k, b64encode(v).decode()] for k, v in record.headers]),
        "created_at": created_at,
    }


def stage(session: AsyncSession, event: BaseCloudEvent, topic: str | None = None) -> None:
    """Add an event to the caller's transaction; it is published after the commit."""
    session.add(OutboxMessage.model_validate(outbox_row(event, topic)))


_OUTBOX = table_of(OutboxMessage)
# The relay's statements, built once (Core: no ORM objects for rows it only reads).
_UNSENT = (
    core_select(_OUTBOX.c.id, _OUTBOX.c.topic, _OUTBOX.c.key, _OUTBOX.c.value, _OUTBOX.c.headers)
    .where(_OUTBOX.c.sent_at.is_(None))
    .order_by(_OUTBOX.c.id)
    .limit(bindparam("limit", type_=Integer))
)
_MARK_SENT = (
    update(_OUTBOX)
    .where(_OUTBOX.c.id.in_(bindparam("ids", expanding=True)))
    .values(sent_at=bindparam("sent_at"))
)


def _as_record(row: Row[*tuple[Any, ...]]) -> Record:
    return Record(
        topic=row.topic,
        key=row.key,
        value=row.value,
        headers=tuple((k, b64decode(v)) for k, v in json.loads(row.headers)),
    )


_INBOX = table_of(InboxEntry)
_HANDLED = core_select(_INBOX.c.ce_id).where(
    _INBOX.c.consumer == bindparam("consumer"),
    _INBOX.c.ce_source == bindparam("source"),
    _INBOX.c.ce_id == bindparam("event_id"),
)
_HANDLED_AMONG = core_select(_INBOX.c.ce_source, _INBOX.c.ce_id).where(
    _INBOX.c.consumer == bindparam("consumer"),
    _INBOX.c.ce_id.in_(bindparam("event_ids", expanding=True)),
)


async def already_handled(
    conn: AsyncConnection, *, consumer: str, source: str, event_id: str
) -> bool:
    """True when this consumer has handled the event before (in a committed transaction)."""
    params = {"consumer": consumer, "source": source, "event_id": event_id}
    return (await conn.execute(_HANDLED, params)).first() is not None


async def handled_among(
    conn: AsyncConnection, *, consumer: str, event_ids: Sequence[str]
) -> set[tuple[str, str]]:
    """The (source, id) pairs among these event ids that this consumer has handled."""
    rows = await conn.execute(_HANDLED_AMONG, {"consumer": consumer, "event_ids": list(event_ids)})
    return {(source, event_id) for source, event_id in rows}


_INSERT_INBOX = insert(_INBOX)


async def remember_handled(
    conn: AsyncConnection, *, consumer: str, events: Sequence[tuple[str, str]], at: datetime
) -> None:
    """Record in the handlers' transaction, as it commits, that these (source, id) events
    are handled (at `at`): a member that handled one meanwhile makes the commit fail."""
    if events:
        await conn.execute(
            _INSERT_INBOX,
            [
                {"consumer": consumer, "ce_source": source, "ce_id": event_id, "handled_at": at}
                for source, event_id in events
            ],
        )


# Any constant works: it only has to be the same in every replica of one service.
_RELAY_LOCK = 0x5167_6E70
_RELAY_LOCK_SQL = text(f"SELECT pg_advisory_xact_lock({_RELAY_LOCK})")


class OutboxRelay:
    """Publishes committed outbox rows in order, then marks them sent."""

    def __init__(
        self,
        db: Database,
        bus: Bus,
        *,
        batch_size: int = 500,
        idle_seconds: float = 1.0,
        keep_sent: timedelta = timedelta(hours=1),
        clock: Clock | None = None,
    ) -> None:
        self.db = db
        self.bus = bus
        self.batch_size = batch_size
        self.idle_seconds = idle_seconds
        self.keep_sent = keep_sent
        self.clock = clock or Clock()
        self._wakeup = asyncio.Event()
        self._last_purge = self.clock.now()
        self.failing = OutageLog(
            "outbox relay",
            log,
            down="outbox relay failed; retrying",
            up="outbox relay publishing again",
        )

    def wake(self) -> None:
        """Tell the relay that new rows were committed (otherwise it polls)."""
        self._wakeup.set()

    async def relay_once(self) -> int:
        """Publish one batch of unsent rows; returns how many were published."""
        async with self.db.engine.begin() as conn:
            if not self.db.is_sqlite:
                # One relay per service at a time across replicas keeps per-key order.
                await conn.execute(_RELAY_LOCK_SQL)
            rows = (await conn.execute(_UNSENT, {"limit": self.batch_size})).all()
            if not rows:
                return 0
            records = [_as_record(r) for r in rows]
            # Each record's publish is a short span in the trace its event carries.
            spans = tracing.publishing(records, remote=self.bus.remote)
            try:
                await self.bus.publish(records)
            except BaseException as exc:
                tracing.published(spans, exc)
                raise
            tracing.published(spans)
            await conn.execute(
                _MARK_SENT, {"ids": [r.id for r in rows], "sent_at": self.clock.now()}
            )
            return len(rows)

    async def pending(self) -> int:
        """How many rows wait to be published."""
        async with self.db.session() as session:
            result = await session.exec(
                select(func.count())
                .select_from(OutboxMessage)
                .where(OutboxMessage.sent_at.is_(None))  # type: ignore[union-attr]
            )
            return int(result.one())

    async def _purge(self) -> None:
        cutoff = self.clock.now() - self.keep_sent
        async with self.db.session() as session:
            await session.exec(delete(OutboxMessage).where(col(OutboxMessage.sent_at) < cutoff))
            await session.commit()
        self._last_purge = self.clock.now()

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Relay until `stopping` is set (between batches, never mid-transaction);
        a failed publish is retried, never dropped."""
        stopping = stopping or asyncio.Event()
        backoff = Backoff(initial=0.2, cap=2.0)
        while not stopping.is_set():
            # Cleared before reading, so a wake-up during a batch is not lost.
            self._wakeup.clear()
            if not self.bus.available:
                # The broker is away (the bus says so, once): the rows are safe in the
                # outbox; publishing now would only hold a transaction until it timed out.
                await self._idle(self.idle_seconds)
                continue
            try:
                published = await self.relay_once()
                if self.clock.now() - self._last_purge > self.keep_sent:
                    await self._purge()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.next()
                # Once per run of failures; the traceback unless it is an outage of the
                # database or the bus (those say what they are).
                outage = (
                    is_transient(exc) or isinstance(exc, BusUnavailable) or not self.bus.available
                )
                self.failing.failed(exc, traceback=not outage, retry_in=round(delay, 2))
                await pause(delay, stopping)
                continue
            backoff.reset()
            self.failing.recovered()
            if published < self.batch_size:
                await self._idle(self.idle_seconds)

    async def _idle(self, seconds: float) -> None:
        try:
            await asyncio.wait_for(self._wakeup.wait(), seconds)
        except TimeoutError:
            pass
