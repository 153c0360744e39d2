"""Prometheus metrics: what an operator watches to know that reports flow, and where
they wait when they do not. Served at `GET /metrics` (the text exposition format) by
every app: one process's own series in distributed mode, every service's in embedded
mode, told apart by their `service` label.

Three kinds of series:

- **Counted as it happens**: HTTP requests (by the route's template, never the path
  a client sent), events consumed (by how each ended: handled, a duplicate the inbox
  recognised, parked on the DLQ), and how long a decision took from the moment what it
  decides on arrived. A count that belongs to a transaction is made only once the
  transaction commits (`UnitOfWork.after_commit`), so a retried unit counts once.
- **Read at scrape time** (`Reading`): consumer lag, DLQ depth, outbox backlog and the
  age of its oldest row, and each service's own (`ServiceDefinition.gauges`: notify's
  deliveries and Encompass notices, routing's statutory referrals past their deadline).
  Each source is one cheap query or a few broker round trips, bounded by
  `SOURCE_TIMEOUT_SECONDS`; a source that fails or is slow (a database down) is left
  out of that scrape, its `signpost_scrape_source_up` says 0 and
  `signpost_scrape_errors_total` counts it, and the scrape itself still answers 200.
- **The process's own** (CPU, memory, open files, garbage collection), from
  prometheus-client's collectors.

Each app has its own registry, not prometheus-client's process-wide default, so that
many apps in one process (the tests) never share or collide.

No label ever holds personal data or a referral id: labels are services, routes,
methods, statuses, topics, consumer groups, and partners' organisation and
subscription ids, each a small set.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_PLAIN_0_0_4
from prometheus_client.gc_collector import GCCollector
from prometheus_client.metrics_core import Metric
from prometheus_client.platform_collector import PlatformCollector
from prometheus_client.process_collector import ProcessCollector
from sqlalchemy import func, select
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from shared.bus.base import Bus, Consumer, Record
from shared.clock import Clock, as_utc
from shared.consuming import Handler, Subscription
from shared.db import Database, table_of
from shared.outbox import OutboxMessage
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

# The classic text format: what every Prometheus (and every other scraper) reads.
CONTENT_TYPE = CONTENT_TYPE_PLAIN_0_0_4
# A scrape-time source that has not answered by then is left out of the scrape.
SOURCE_TIMEOUT_SECONDS = 3.0
# The route label of a request no route matched (a scanner's paths are not labels).
UNMATCHED = "unmatched"
_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})

# Seconds from a report's receipt (or its triage decision) to a decision: well under a
# second when everything flows, hours when a consumer was down.
DECISION_BUCKETS = (
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
    300.0,
    900.0,
    3600.0,
    4 * 3600.0,
    24 * 3600.0,
)

# The outcomes of a consumed record (`signpost_events_consumed_total`).
HANDLED = "handled"
DUPLICATE = "duplicate"
DEAD_LETTERED = "dead_lettered"


@dataclass(frozen=True)
class Reading:
    """One value of a gauge, read at scrape time; the app adds the `service` label."""

    name: str
    help: str
    value: float
    labels: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class ScrapedGauge:
    """A gauge whose value is read at scrape time: its name and what it means."""

    name: str
    help: str

    def reading(self, value: float, **labels: str) -> Reading:
        return Reading(self.name, self.help, float(value), labels)


CONSUMER_LAG = ScrapedGauge(
    "signpost_consumer_lag",
    "Records waiting for a consumer group on a topic: the partitions' ends less where "
    "the group has handled to, over the partitions this process's member owns (sum "
    "over replicas for the group's whole lag).",
)
DLQ_DEPTH = ScrapedGauge(
    "signpost_dlq_depth",
    "Records parked on a dead-letter topic and not yet replayed (reported by each "
    "service that consumes the original topic: take the max per topic).",
)
OUTBOX_BACKLOG = ScrapedGauge(
    "signpost_outbox_backlog", "Outbox rows committed and not yet published to the bus."
)
OUTBOX_OLDEST_AGE = ScrapedGauge(
    "signpost_outbox_oldest_age_seconds",
    "Age of the oldest unpublished outbox row, by the service's clock (0 when none).",
)
SOURCE_UP = ScrapedGauge(
    "signpost_scrape_source_up",
    "1 when this scrape read the source (a database, the broker), 0 when it failed or "
    "was too slow: its series are missing from this scrape.",
)

# A scrape-time source: what it is called and how to read it.
ReadingsOf = Callable[[], Awaitable[Sequence[Reading]]]


class Gauges(Protocol):
    """A service's own scrape-time gauges (`ServiceDefinition.gauges`): read in a unit
    of work of its own that is never committed, at the unit's now."""

    def __call__(self, *, uow: UnitOfWork) -> Awaitable[Sequence[Reading]]: ...


@dataclass(frozen=True)
class _Source:
    service: str
    name: str
    read: ReadingsOf


class _Snapshot:
    """The readings of the latest scrape, as gauge families (a prometheus-client
    collector); replaced whole at each scrape, so a family is never half updated."""

    def __init__(self) -> None:
        self.readings: list[tuple[str, Reading]] = []

    def collect(self) -> Iterable[Metric]:
        families: dict[str, Metric] = {}
        for service, reading in self.readings:
            family = families.get(reading.name)
            if family is None:
                family = families[reading.name] = Metric(reading.name, reading.help, "gauge")
            family.add_sample(reading.name, {"service": service, **reading.labels}, reading.value)
        return families.values()


class Metrics:
    """An app's registry, its instruments, and its scrape-time sources."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        # The process's own, as the default registry has them.
        ProcessCollector(registry=self.registry)
        PlatformCollector(registry=self.registry)
        GCCollector(registry=self.registry)
        self.requests = Counter(
            "signpost_http_requests",
            "HTTP requests answered, by service, route template, method and status.",
            ["service", "route", "method", "status"],
            registry=self.registry,
        )
        self.request_seconds = Histogram(
            "signpost_http_request_duration_seconds",
            "Time to answer an HTTP request, by service, route template and method.",
            ["service", "route", "method"],
            registry=self.registry,
        )
        self.consumed = Counter(
            "signpost_events_consumed",
            "Records a consumer group committed, by topic and how each ended: handled, "
            "duplicate (already handled: the inbox made it a no-op) or dead_lettered.",
            ["service", "group", "topic", "outcome"],
            registry=self.registry,
        )
        self.decision_seconds = Histogram(
            "signpost_decision_latency_seconds",
            "Seconds from when what a decision is made on arrived to the decision, by the "
            "service's clock: triage since the report's receipt (since=received), routing "
            "since the triage decision (since=triaged).",
            ["service", "since"],
            buckets=DECISION_BUCKETS,
            registry=self.registry,
        )
        self.scrape_errors = Counter(
            "signpost_scrape_errors",
            "Scrape-time sources that failed or were too slow (a database or the broker "
            "away), by service and source.",
            ["service", "source"],
            registry=self.registry,
        )
        self._snapshot = _Snapshot()
        self.registry.register(self._snapshot)
        self._sources: list[_Source] = []
        self._scraping = asyncio.Lock()

    def service(self, name: str) -> ServiceMetrics:
        """The instruments as one service uses them (its `service` label)."""
        return ServiceMetrics(self, name)

    def add_source(self, service: str, name: str, read: ReadingsOf) -> None:
        """Read `read` at each scrape, labelling its readings with `service`."""
        self._sources.append(_Source(service, name, read))
        # Zero from the start, so that a first failure is an increase (rate sees it).
        self.scrape_errors.labels(service=service, source=name)

    async def exposition(self) -> bytes:
        """Every series, with the scrape-time sources read now (the text format)."""
        async with self._scraping:
            results = await asyncio.gather(*(self._read(source) for source in self._sources))
            self._snapshot.readings = [reading for result in results for reading in result]
            return generate_latest(self.registry)

    async def _read(self, source: _Source) -> list[tuple[str, Reading]]:
        try:
            readings = await asyncio.wait_for(source.read(), SOURCE_TIMEOUT_SECONDS)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # Not logged at each scrape: the database's and the broker's outages are
            # logged once by their owners; this counter and the gauge say the rest.
            log.debug(
                "metrics source failed",
                extra={
                    "service": source.service,
                    "source": source.name,
                    "error": type(exc).__name__,
                },
            )
            self.scrape_errors.labels(service=source.service, source=source.name).inc()
            return [(source.service, SOURCE_UP.reading(0, source=source.name))]
        up = SOURCE_UP.reading(1, source=source.name)
        return [(source.service, r) for r in (up, *readings)]


class ServiceMetrics:
    """One service's share of its app's metrics."""

    def __init__(self, metrics: Metrics, service: str) -> None:
        self.metrics = metrics
        self.name = service

    def decision_made(self, uow: UnitOfWork, *, since: datetime, after: str) -> None:
        """Observe, once `uow` commits, how long a decision took: from `since` (when what
        it was made on arrived, `after` names what that was) to the unit's now."""
        seconds = max(0.0, (uow.now() - as_utc(since)).total_seconds())
        histogram = self.metrics.decision_seconds.labels(service=self.name, since=after)
        uow.after_commit(lambda: histogram.observe(seconds))

    def meter(self, subscription: Subscription) -> ConsumptionMeter:
        """The meter of one of this service's consumer groups."""
        return ConsumptionMeter(self, subscription)


class ConsumptionMeter:
    """Counts the records a consumer group commits by how each ended, and reads its lag.

        It watches from outside the consumer (`shared.consuming.EventConsumer`): the handler
        it wraps notes each event whose unit committed; the bus it wraps notes each record
        parked on a DLQ; when the consumer marks records done (commits them, or notes them
    for a commit that `commit_soon` puts off), each is counted as handled,
        dead_lettered, or else a duplicate (the inbox knew it, so the handler never ran).
    """

    def __init__(self, service: ServiceMetrics, subscription: Subscription) -> None:
        self.service = service
        self.group = subscription.group
        self.topics = list(subscription.topics)
        # Events whose handler's unit committed, and records parked, until committed.
        self._handled: set[tuple[str, str]] = set()
        self._parked: set[tuple[str, int, int]] = set()
        # The member of the group in this process (None until the consumer starts).
        self.member: Consumer | None = None
        self.subscription = replace(subscription, handler=self._watched(subscription.handler))

    def _watched(self, handler: Handler) -> Handler:
        handled = self._handled

        async def watched(uow: UnitOfWork, event: Any) -> None:
            await handler(uow, event)
            key = (str(event.get_source()), str(event.get_id()))
            uow.after_commit(lambda: handled.add(key))

        return watched

    def bus(self, bus: Bus) -> Bus:
        """`bus` as the group's consumer uses it: the same records, watched."""
        return _MeteredBus(bus, self)

    def parked(self, records: Sequence[Record]) -> None:
        for record in records:
            topic = record.header("x-signpost-original-topic")
            partition = record.header("x-signpost-original-partition")
            offset = record.header("x-signpost-original-offset")
            if topic is not None and partition is not None and offset is not None:
                self._parked.add((topic.decode(), int(partition), int(offset)))

    def committed(self, records: Sequence[Record]) -> None:
        counter = self.service.metrics.consumed
        for record in records:
            source, event_id = record.header("ce_source"), record.header("ce_id")
            key = (
                source.decode("utf-8", "replace") if source else "",
                event_id.decode("utf-8", "replace") if event_id else "",
            )
            where = (record.topic, record.partition, record.offset)
            if where in self._parked:
                self._parked.discard(where)
                outcome = DEAD_LETTERED
            elif key in self._handled:
                self._handled.discard(key)
                outcome = HANDLED
            else:
                outcome = DUPLICATE
            counter.labels(
                service=self.service.name, group=self.group, topic=record.topic, outcome=outcome
            ).inc()

    async def lag(self) -> list[Reading]:
        """The group's lag per topic over the partitions this process's member owns."""
        member = self.member
        if member is None:
            return []
        per_topic: dict[str, int] = {}
        for (topic, _), waiting in (await member.lag()).items():
            per_topic[topic] = per_topic.get(topic, 0) + waiting
        return [
            CONSUMER_LAG.reading(waiting, group=self.group, topic=topic)
            for topic, waiting in sorted(per_topic.items())
        ]


class _MeteredBus(Bus):
    """The app's bus as one consumer group uses it: its member and its parked records
    are watched by the group's meter; everything else is the bus's own."""

    def __init__(self, bus: Bus, meter: ConsumptionMeter) -> None:
        self.inner = bus
        self.meter = meter
        self.remote = bus.remote

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    @property
    def available(self) -> bool:
        return self.inner.available

    def is_outage(self, exc: BaseException) -> bool:
        return self.inner.is_outage(exc)

    async def ready(self) -> bool:
        return await self.inner.ready()

    async def publish(self, records: Sequence[Record]) -> None:
        # The group's consumer publishes only to park a record on a DLQ.
        await self.inner.publish(records)
        self.meter.parked(records)

    def consumer(self, *, group: str, topics: Sequence[str]) -> Consumer:
        member = _MeteredConsumer(self.inner.consumer(group=group, topics=topics), self.meter)
        self.meter.member = member
        return member

    async def backlog(self, *, group: str, topics: Sequence[str]) -> dict[str, int]:
        return await self.inner.backlog(group=group, topics=topics)


class _MeteredConsumer(Consumer):
    """A group member whose commits are counted by the group's meter."""

    def __init__(self, consumer: Consumer, meter: ConsumptionMeter) -> None:
        self.inner = consumer
        self.meter = meter

    async def start(self) -> None:
        await self.inner.start()

    async def stop(self) -> None:
        await self.inner.stop()

    async def fetch(self, *, timeout: float, max_records: int) -> list[Record]:
        return await self.inner.fetch(timeout=timeout, max_records=max_records)

    def mark_done(self, record: Record) -> None:
        self.inner.mark_done(record)

    async def commit(self, records: Sequence[Record]) -> None:
        await self.inner.commit(records)
        self.meter.committed(records)

    async def commit_soon(self, records: Sequence[Record]) -> None:
        await self.inner.commit_soon(records)
        self.meter.committed(records)

    async def lag(self) -> dict[tuple[str, int], int]:
        return await self.inner.lag()


_OUTBOX = table_of(OutboxMessage)
_UNSENT = select(func.count(), func.min(_OUTBOX.c.created_at)).where(_OUTBOX.c.sent_at.is_(None))


async def outbox_readings(db: Database, clock: Clock) -> list[Reading]:
    """The service's unpublished outbox rows and the age of the oldest (one query on
    the `sent_at` index)."""
    async with db.engine.connect() as conn:
        count, oldest = (await conn.execute(_UNSENT)).one()
    age = 0.0 if oldest is None else (clock.now() - as_utc(oldest)).total_seconds()
    return [OUTBOX_BACKLOG.reading(count), OUTBOX_OLDEST_AGE.reading(max(0.0, age))]


class RequestMetrics:
    """ASGI middleware: counts and times each HTTP request by the service that answered
    it, the route's template (`/v1/reports/{referral_id}`), the method and the status.
    A request no route matched is labelled `unmatched`; a method outside HTTP's usual
    ones `other`: a client cannot make new series by inventing paths or methods."""

    def __init__(self, app: ASGIApp, *, metrics: Metrics, service_of: Callable[[Any], str]) -> None:
        self.app = app
        self.metrics = metrics
        self.service_of = service_of

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        # An error that escapes the app is answered 500 by the outermost middleware.
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
            await send(message)

        try:
            await self.app(scope, receive, sending)
        finally:
            route = scope.get("route")
            template = getattr(route, "path_format", None) or getattr(route, "path", None)
            method = str(scope.get("method", "")).upper()
            labels = {
                "service": self.service_of(route),
                "route": str(template) if template else UNMATCHED,
                "method": method if method in _METHODS else "other",
            }
            self.metrics.requests.labels(**labels, status=str(status)).inc()
            self.metrics.request_seconds.labels(**labels).observe(time.perf_counter() - began)
