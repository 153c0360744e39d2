"""Runs an event handler over a consumer group with the delivery guarantees of DESIGN.md.

For each record, in partition order: decode the CloudEvent, skip it if the inbox has
it, else run the handler and record the inbox entry in the same transaction and
commit. Offsets are committed after the transactions. A handler that keeps failing
is retried with backoff a bounded number of times, then the record is parked on
`<topic>.dlq` with error headers and the partition moves on. An outage of the
database (connection lost, refused, failing over) is not the record's fault: the
record waits for the database, however long, and is never parked for it; the outage
is logged once when it begins and once when it ends, not at every retry.

Each event is handled inside a CONSUMER span, child of the trace context the event
carries (see shared.tracing), so the events its handler records carry the trace on.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from typing import Any

from cloudevents.core.base import BaseCloudEvent
from opentelemetry.trace import Span
from sqlalchemy.exc import IntegrityError

from shared import tracing
from shared.bus.base import Backoff, Bus, Consumer, Record, pause
from shared.db import is_transient
from shared.envelope import from_record
from shared.events import dlq_topic
from shared.logging import OutageLog
from shared.outbox import already_handled, handled_among, remember_handled
from shared.uow import UnitOfWork, UnitsOfWork

log = logging.getLogger(__name__)

# A handler gets the unit of work of the record (or of its whole batch): it changes
# rows through `uow.session` and records events with `uow.record`; the consumer commits.
Handler = Callable[[UnitOfWork, BaseCloudEvent], Awaitable[None]]
# Called once with the events of a batch that its unit is about to handle (those the
# group has not handled yet), before the first of them: it may read in one statement
# what each handler would read alone, and keep it in the unit (`uow.read_once`). It
# changes nothing; a record handled alone is not prepared (its handler reads itself).
Prepare = Callable[[UnitOfWork, Sequence[BaseCloudEvent]], Awaitable[None]]


@dataclass(frozen=True)
class Subscription:
    """A consumer group: the topics it reads, the handler it runs, and what it reads
    ahead for a batch (optional)."""

    group: str
    topics: Sequence[str]
    handler: Handler
    prepare: Prepare | None = None


class _Stopped(Exception):
    """Shutdown began while a record was unfinished: it stays uncommitted."""


# While the database is unreachable a record is retried at most this far apart.
MAX_OUTAGE_BACKOFF_SECONDS = 30.0
# An error that looks like an outage while the database answers this many pings in a
# row is the record's after all (on SQLite a missing table is an OperationalError too).
HEALTHY_PINGS_BEFORE_COUNTING = 10


def event_id(record: Record) -> str | None:
    """The CloudEvents id of a record (its `ce_id` header), for logs."""
    for name, value in record.headers:
        if name == "ce_id":
            return value.decode("utf-8", "replace")[:100]
    return None


class PoisonRecord(Exception):
    """The record can never be handled (it is not a valid CloudEvent)."""


class EventConsumer:
    """One group member: fetch, handle exactly once in effect, commit, park poison."""

    def __init__(
        self,
        *,
        bus: Bus,
        units: UnitsOfWork,
        subscription: Subscription,
        max_attempts: int = 5,
        backoff_seconds: float = 0.2,
        batch_size: int = 200,
        linger_seconds: float = 0.0,
    ) -> None:
        self.bus = bus
        self.units = units
        self.db = units.db
        self.clock = units.clock
        self.subscription = subscription
        self.max_attempts = max_attempts
        self.backoff_seconds = backoff_seconds
        self.on_committed = units.on_committed
        self.batch_size = batch_size
        self.linger_seconds = linger_seconds
        self._consumer: Consumer | None = None
        self._stopping = asyncio.Event()
        self.handled = 0
        self.parked = 0
        # True once the member has joined its group (partitions assigned).
        self.joined = False
        self.database = OutageLog("database", log)
        # What its spans name: the service (its units of work stamp events
        # `/signpost/<service>/…`) and the bus (a member driven by hand may have none).
        self.service = tracing.service_of(units.source)
        self.remote: bool = getattr(bus, "remote", False)

    async def start(self) -> None:
        """Join the group; one attempt (raises while the broker is away: call again)."""
        if self._consumer is None:
            self._consumer = self.bus.consumer(
                group=self.subscription.group, topics=self.subscription.topics
            )
        await self._consumer.start()
        self.joined = True

    async def stop(self) -> None:
        consumer, self._consumer = self._consumer, None
        self.joined = False
        if consumer is not None:
            await consumer.stop()

    async def run(self, stopping: asyncio.Event | None = None) -> None:
        """Consume until `stopping` is set; stops between records, never inside a
        handler's transaction, and leaves unfinished records uncommitted."""
        self._stopping = stopping or asyncio.Event()
        if not self.joined:
            await self.start()
        try:
            while not self._stopping.is_set():
                await self.poll_once(timeout=1.0)
        except _Stopped:
            return

    async def poll_once(self, *, timeout: float) -> int:
        """Fetch, handle and commit one batch; returns how many records it took."""
        consumer = self._consumer
        assert consumer is not None, "start() first"
        fetching = asyncio.ensure_future(
            consumer.fetch(timeout=timeout, max_records=self.batch_size)
        )
        stopping = asyncio.ensure_future(self._stopping.wait())
        await asyncio.wait({fetching, stopping}, return_when=asyncio.FIRST_COMPLETED)
        stopping.cancel()
        if not fetching.done():
            # Shutdown while idle: nothing was handed out, nothing to commit.
            fetching.cancel()
            await asyncio.gather(fetching, return_exceptions=True)
            return 0
        records = await self._linger(consumer, fetching.result())
        failed_at: int | None = None
        if len(records) > 1:
            failed_at = await self._handle_together(records)
            if failed_at is None:
                for record in records:
                    consumer.mark_done(record)
                await consumer.commit_soon(records)
                return len(records)
        done: list[Record] = []
        try:
            for index, record in enumerate(records):
                if self._stopping.is_set():
                    raise _Stopped
                # The record that broke the batch has used one of its attempts.
                await self._process(record, attempts_made=1 if index == failed_at else 0)
                consumer.mark_done(record)
                done.append(record)
        finally:
            if done:
                await consumer.commit_soon(done)
        return len(records)

    async def _linger(self, consumer: Consumer, records: list[Record]) -> list[Record]:
        """`records`, and what arrived for the batch while it waited `linger_seconds`
        (cut short by shutdown), when it was not full. The second fetch continues each
        partition where the first stopped, so every key keeps its order."""
        room = self.batch_size - len(records)
        if not records or room <= 0 or self.linger_seconds <= 0 or self._stopping.is_set():
            return records
        try:
            await asyncio.wait_for(self._stopping.wait(), self.linger_seconds)
        except TimeoutError:
            pass
        try:
            more = await consumer.fetch(timeout=0, max_records=room)
        except Exception as exc:
            # The first fetch moved the group's position past `records`: they are
            # handled now, whatever the second fetch met (the next poll meets it again).
            log.info(
                "fetch after the linger failed; handling the batch as it was",
                extra={"group": self.subscription.group, "error": type(exc).__name__},
            )
            return records
        return records + more

    async def _process(self, record: Record, *, attempts_made: int = 0) -> None:
        attempt = attempts_made
        outage = healthy = 0
        while True:
            attempt += 1
            try:
                changed = await self.handle(record)
                if changed and self.on_committed is not None:
                    self.on_committed()
                self.handled += 1
                self.database.recovered(group=self.subscription.group)
                return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                transient = is_transient(exc)
                if transient:
                    healthy = healthy + 1 if await self.db.ping() else 0
                    transient = healthy < HEALTHY_PINGS_BEFORE_COUNTING
                if transient:
                    # The database (or the network to it) is down, not this record: it
                    # waits for the database instead of spending its attempts and being
                    # parked (a failover must not send a report to the DLQ).
                    attempt -= 1
                    outage += 1
                final = not transient and (
                    isinstance(exc, PoisonRecord) or attempt >= self.max_attempts
                )
                where: dict[str, Any] = {
                    "group": self.subscription.group,
                    "topic": record.topic,
                    "partition": record.partition,
                    "offset": record.offset,
                    "event_id": event_id(record),
                }
                if transient:
                    # An outage is logged once (its class), however long it lasts.
                    self.database.failed(exc, **where)
                else:
                    log.warning(
                        "event handler failed",
                        # The traceback, redacted by the formatter, per failure of the
                        # record's own.
                        exc_info=exc,
                        extra={
                            **where,
                            "attempt": attempt,
                            "transient": False,
                            "error": type(exc).__name__,
                        },
                    )
                if final:
                    await self._park(record, exc, attempt)
                    return
                if self._stopping.is_set():
                    raise _Stopped from exc
                tries = outage if transient else attempt
                await asyncio.sleep(
                    min(self.backoff_seconds * 2 ** (tries - 1), MAX_OUTAGE_BACKOFF_SECONDS)
                )

    async def _handle_together(self, records: Sequence[Record]) -> int | None:
        """Handle a whole batch in one transaction, in order (the fast path under load).

        Returns None on success; otherwise the index of the record that failed (-1
        when unknown), with nothing changed: the batch is then handled record by
        record, so a poison record is retried and parked alone.
        """
        try:
            events = [from_record(r) for r in records]
        except Exception:
            return -1
        group = self.subscription.group
        index = -1
        try:
            async with self.units.open() as uow:
                conn = await uow.connection()
                seen = await handled_among(
                    conn, consumer=group, event_ids=[e.get_id() for e in events]
                )
                prepare = self.subscription.prepare
                if prepare is not None:
                    fresh = [e for e in events if (e.get_source(), e.get_id()) not in seen]
                    await prepare(uow, fresh)
                handled: list[tuple[str, str]] = []
                for index, event in enumerate(events):  # `index` is read in `except` too
                    key = (event.get_source(), event.get_id())
                    if key in seen:
                        continue
                    seen.add(key)
                    with self._span(event, records[index]):
                        await self.subscription.handler(uow, event)
                    handled.append(key)
                index = -1  # a failure from here on is the commit's, not a record's
                await remember_handled(conn, consumer=group, events=handled, at=uow.now())
                await uow.complete()
                changed = bool(handled)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.info(
                "batch failed; handling its records one by one",
                extra={"group": group, "records": len(records), "error": type(exc).__name__},
            )
            return index
        self.handled += len(records)
        if changed and self.on_committed is not None:
            self.on_committed()
        return None

    async def handle(self, record: Record) -> bool:
        """Handle one record in one transaction; False when it was a duplicate."""
        try:
            event = from_record(record)
        except Exception as exc:
            raise PoisonRecord(f"not a CloudEvent in binary mode: {type(exc).__name__}") from exc
        group = self.subscription.group
        source, event_id = event.get_source(), event.get_id()
        try:
            with self._span(event, record) as span:
                async with self.units.open() as uow:
                    conn = await uow.connection()
                    if await already_handled(
                        conn, consumer=group, source=source, event_id=event_id
                    ):
                        span.set_attribute("signpost.duplicate", True)
                        return False
                    await self.subscription.handler(uow, event)
                    await remember_handled(
                        conn, consumer=group, events=[(source, event_id)], at=uow.now()
                    )
                    await uow.complete()
                    return True
        except IntegrityError:
            # Another member handled the same event concurrently (a rebalance):
            # its transaction won; ours rolled back whole.
            async with self.db.engine.connect() as conn:
                if await already_handled(conn, consumer=group, source=source, event_id=event_id):
                    return False
            raise

    def _span(self, event: BaseCloudEvent, record: Record) -> AbstractContextManager[Span]:
        """The CONSUMER span of handling `event` (see shared.tracing.consuming)."""
        return tracing.consuming(
            event,
            record,
            group=self.subscription.group,
            service=self.service,
            remote=self.remote,
        )

    async def _park(self, record: Record, exc: BaseException, attempts: int) -> None:
        """Put the original record on the dead-letter twin, with why it failed."""
        # The error class and a bounded message: never the record's content, which
        # may hold personal data.
        message = str(exc)[:500] if isinstance(exc, PoisonRecord) else type(exc).__name__
        headers = (
            *record.headers,
            ("x-signpost-error-class", type(exc).__name__.encode()),
            ("x-signpost-error-message", message.encode()),
            ("x-signpost-error-consumer", self.subscription.group.encode()),
            ("x-signpost-error-attempts", str(attempts).encode()),
            ("x-signpost-original-topic", record.topic.encode()),
            ("x-signpost-original-partition", str(record.partition).encode()),
            ("x-signpost-original-offset", str(record.offset).encode()),
            ("x-signpost-parked-at", self.clock.now().isoformat().encode()),
        )
        backoff = Backoff(initial=0.5, cap=10.0)
        while True:
            try:
                await self.bus.publish(
                    [
                        Record(
                            topic=dlq_topic(record.topic),
                            key=record.key,
                            value=record.value,
                            headers=headers,
                        )
                    ]
                )
                break
            except asyncio.CancelledError:
                raise
            except Exception as publish_error:
                # The record stays uncommitted until it is parked: never dropped. Said
                # once; the bus logs its own outage.
                if backoff.attempts == 0:
                    log.error(
                        "could not park a record on the DLQ; retrying",
                        extra={
                            "group": self.subscription.group,
                            "error": type(publish_error).__name__,
                        },
                    )
                if await pause(backoff.next(), self._stopping):
                    raise _Stopped from publish_error
        self.parked += 1
        log.error(
            "event parked on the dead-letter topic",
            exc_info=exc,
            extra={
                "group": self.subscription.group,
                "topic": record.topic,
                "offset": record.offset,
                "event_id": event_id(record),
                "attempts": attempts,
            },
        )
