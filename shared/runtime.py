"""Wiring a service: its database, outbox relay, consumers and background loops, and
the FastAPI app that serves one service (distributed) or all four (embedded).

Start-up does the database part before the server answers (schemas checked or
migrated, the key registry, each service's `on_start`), waiting with a backoff while a
database is away. Everything that needs the broker starts in the background: the bus
connects, and each consumer joins its group, retrying on a backoff while the broker is
away, so HTTP is served (and reports accepted into the outbox) as soon as the
databases answer. `/readyz` says which part is not ready yet: each database, the bus,
each consumer group. A database outage during a request is a 503 (see
`shared.problems`), logged once per outage by the app's `Dependencies`. `/metrics` is
for Prometheus (see `shared.metrics`): the app's own registry, every service in it.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import socket
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Coroutine, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse, Response
from pydantic_settings import BaseSettings
from sqlmodel import SQLModel

from shared.auth import NO_KEY, KeyRegistry
from shared.bus.base import Backoff, Bus, pause
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database, is_transient
from shared.dlq import depth as dlq_depth
from shared.docs import install_docs
from shared.headers import install_security_headers
from shared.logging import OutageLog
from shared.metrics import (
    CONTENT_TYPE,
    DLQ_DEPTH,
    ConsumptionMeter,
    Gauges,
    Metrics,
    Reading,
    RequestMetrics,
    ServiceMetrics,
    outbox_readings,
)
from shared.migrations import KEYS, MigrationHistory, check_at_head, history_of, upgrade
from shared.outbox import OutboxRelay
from shared.person_tokens import person_token_keys
from shared.problems import URL_REFUSED, install_problem_handlers
from shared.settings import Settings
from shared.tracing import FASTAPI_TELEMETRY, instrument
from shared.uow import UnitOfWork, UnitsOfWork

C = TypeVar("C", bound=BaseSettings)
T = TypeVar("T")

log = logging.getLogger(__name__)

# A readiness check that takes longer than this counts as failed.
CHECK_TIMEOUT_SECONDS = 3.0
# While a database is away, how often the app asks whether it is back.
WATCH_SECONDS = 1.0


@dataclass
class ServiceContext:
    """What a service's routes, handlers and loops share while it runs."""

    name: str
    settings: Settings
    db: Database
    bus: Bus
    relay: OutboxRelay
    source: str
    # The process's one clock, shared by every service in it (see shared.clock).
    clock: Clock
    # This service's own settings (services/<name>/settings.py).
    config: BaseSettings
    # This service's share of the app's Prometheus metrics (see shared.metrics).
    metrics: ServiceMetrics
    state: dict[str, Any] = field(default_factory=dict)
    # Set at shutdown: loops finish the unit of work in hand, then return.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # Opens this service's units of work (see shared.uow): the only way to commit.
    units: UnitsOfWork = field(init=False)

    def __post_init__(self) -> None:
        self.units = UnitsOfWork(
            self.db,
            clock=self.clock,
            source=self.source,
            on_committed=self.committed,
            on_published=self._wake_relay,
        )

    def published(self) -> None:
        """Wake the relay and the service's own loops (a stop, a test)."""
        self._wake_relay()
        self.committed()

    def committed(self) -> None:
        """After a commit that may have staged work for a loop (deliveries, deadlines):
        wakes the service's own loops. The relay is woken by the units that wrote
        events to the outbox, and only by them: a batch that wrote none sends it
        looking for nothing."""
        for event in self.wakeups.values():
            event.set()

    def _wake_relay(self) -> None:
        self.relay.wake()

    def config_of(self, model: type[C]) -> C:
        """This service's own settings, as the model its definition names."""
        if not isinstance(self.config, model):
            raise TypeError(f"{self.name} is configured by {type(self.config).__name__}")
        return self.config

    def wakeup(self, name: str) -> asyncio.Event:
        """A named in-process wake-up for one of the service's loops."""
        return self.wakeups.setdefault(name, asyncio.Event())


Loop = Callable[[ServiceContext], Awaitable[None]]


@dataclass(frozen=True)
class ServiceDefinition:
    """What makes a service: routes, tables, subscriptions and background loops."""

    name: str
    router: APIRouter | None
    tables: Sequence[type[SQLModel]]
    settings: type[BaseSettings]
    subscriptions: Callable[[ServiceContext], Sequence[Subscription]] = lambda ctx: ()
    loops: Sequence[tuple[str, Loop]] = ()
    on_start: Callable[[ServiceContext], Awaitable[None]] | None = None
    # This service's own gauges, read at each scrape of /metrics (cheap counts on its
    # database, see shared.metrics); the outbox, lag and DLQ gauges every service has.
    gauges: Gauges | None = None


class BusLink:
    """The app's one bus, connected once. A local bus (the embedded log) is started
    before the app serves; a broker over the network is connected in the background,
    retried on a backoff while it is away (the bus logs the outage once), so the
    services answer HTTP meanwhile. Consumers wait for it before joining their groups."""

    def __init__(self, bus: Bus, *, backoff_cap: float = 2.0) -> None:
        self.bus = bus
        self.backoff_cap = backoff_cap
        self.connected = asyncio.Event()
        self._stopping = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    async def open(self, on_connected: Callable[[], None] = lambda: None) -> None:
        if not self.bus.remote:
            await self.bus.start()
            self.connected.set()
            return
        self._task = asyncio.create_task(self._connect(on_connected), name="bus:connect")

    async def _connect(self, on_connected: Callable[[], None]) -> None:
        backoff = Backoff(initial=0.2, cap=self.backoff_cap)
        logged: str | None = None
        while not self._stopping.is_set():
            try:
                await self.bus.start()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # The broker being away is the bus's to log (once); anything else
                # (a topic the cluster refuses to create) is said once per kind, and
                # /readyz keeps saying the bus is not ready.
                if not self.bus.is_outage(exc) and type(exc).__name__ != logged:
                    logged = type(exc).__name__
                    log.error("the bus cannot start; retrying", exc_info=exc)
                if await pause(backoff.next(), self._stopping):
                    return
                continue
            self.connected.set()
            on_connected()
            return

    async def wait(self, stopping: asyncio.Event) -> bool:
        """Until the bus is connected (True) or `stopping` is set (False)."""
        return await _unless(self.connected.wait(), stopping) and self.connected.is_set()

    async def close(self) -> None:
        """Stop trying to connect (the bus itself is stopped by its owner)."""
        self._stopping.set()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)


async def doze(wake: asyncio.Event, stopping: asyncio.Event, seconds: float) -> None:
    """A loop's rest between ticks: until it is woken, the service starts stopping, or
    `seconds` pass. Watching `stopping` itself, not only the wake-up a stop also sets,
    means a stop that lands while a tick clears its wake-up is never slept through."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(_unless(wake.wait(), stopping), seconds)


async def _unless(work: Coroutine[Any, Any, Any], stopping: asyncio.Event) -> bool:
    """Run `work` until it finishes (True; its error is raised) or `stopping` is set
    first (False; `work` is cancelled)."""
    task = asyncio.ensure_future(work)
    stop = asyncio.ensure_future(stopping.wait())
    try:
        await asyncio.wait({task, stop}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        stop.cancel()
        if not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    if task.cancelled():
        return False
    task.result()
    return True


# The youngest generation's collection threshold while serving (CPython's default: 700).
YOUNG_COLLECTION_THRESHOLD = 20_000


async def settle_heap(_app: FastAPI | None = None) -> None:
    """Keep the garbage collector off what start-up built: a server process calls this
    once it is up (`build_app(on_started=...)`; never in tests, which build many apps in
    one process).

    A service holds a large heap that lives as long as the process: modules, the app and
    its schemas, the policy, the directory, the metrics. CPython's collector would walk
    all of it at every full collection, which the steady allocation of request and
    event objects brings round again and again under load. Frozen (`gc.freeze`), it is
    never walked again; what the service allocates afterwards is collected as before,
    in fewer, larger young collections (reference counting frees most of it anyway)."""
    gc.collect()
    gc.freeze()
    _, middle, old = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, old)


class ServiceRuntime:
    """Starts and stops one service inside the current process."""

    def __init__(
        self,
        definition: ServiceDefinition,
        settings: Settings,
        bus: Bus,
        clock: Clock,
        metrics: Metrics | None = None,
    ) -> None:
        self.definition = definition
        metrics = metrics or Metrics()
        db = Database(settings.service_database_url(definition.name))
        self.ctx = ServiceContext(
            name=definition.name,
            settings=settings,
            db=db,
            bus=bus,
            relay=OutboxRelay(db, bus, clock=clock),
            source=f"/signpost/{definition.name}/{settings.instance}-{socket.gethostname()}",
            clock=clock,
            config=settings.service_settings(definition.settings),
            metrics=metrics.service(definition.name),
        )
        self.consumers: list[EventConsumer] = []
        self.meters: list[ConsumptionMeter] = []
        self._tasks: list[asyncio.Task[None]] = []
        self._link: BusLink | None = None
        self._measure(metrics)

    def _measure(self, metrics: Metrics) -> None:
        """Tell the app's metrics what to read of this service at each scrape."""
        ctx, name = self.ctx, self.definition.name
        metrics.add_source(name, "outbox", lambda: outbox_readings(ctx.db, ctx.clock))
        metrics.add_source(name, "consumer_lag", self._lag)
        metrics.add_source(name, "dlq", self._dlq)
        gauges = self.definition.gauges
        if gauges is not None:
            metrics.add_source(name, name, lambda: self._own(gauges))

    async def _own(self, gauges: Gauges) -> Sequence[Reading]:
        # Read only: the unit is never completed, so it rolls back.
        async with self.ctx.units.open() as uow:
            return await gauges(uow=uow)

    async def _lag(self) -> list[Reading]:
        return [reading for meter in self.meters for reading in await meter.lag()]

    async def _dlq(self) -> list[Reading]:
        """The depth of the dead-letter twin of each topic this service consumes: where
        its consumers park what they cannot handle."""
        topics = sorted({topic for meter in self.meters for topic in meter.topics})
        if not topics:
            return []
        parked = await dlq_depth(self.ctx.bus, topics)
        return [DLQ_DEPTH.reading(n, topic=topic) for topic, n in sorted(parked.items())]

    async def start(
        self, link: BusLink | None = None, *, database: OutageLog | None = None
    ) -> None:
        """The database part now (waiting while the database is away: `database` logs
        that once); the relay, the loops and the consumers in the background, each
        consumer joining its group once `link` is connected (None: the bus is started)."""
        ctx = self.ctx
        self._link = link
        outage = database or OutageLog("database", log)
        name = self.definition.name
        await when_available(
            lambda: prepare_schema(ctx.db, history_of(name), ctx.settings), outage, what=name
        )
        on_start = self.definition.on_start
        if on_start is not None:
            # A unit of work that met an outage rolled back whole: trying again is safe.
            await when_available(lambda: on_start(ctx), outage, what=name)
        for subscription in self.definition.subscriptions(ctx):
            # Counted from outside the consumer: its handler and its bus are watched.
            meter = ctx.metrics.meter(subscription)
            self.meters.append(meter)
            self.consumers.append(
                EventConsumer(
                    bus=meter.bus(ctx.bus),
                    units=ctx.units,
                    subscription=meter.subscription,
                    max_attempts=ctx.settings.consumer_max_attempts,
                    backoff_seconds=ctx.settings.consumer_backoff_seconds,
                    linger_seconds=ctx.settings.consumer_linger_ms / 1000,
                )
            )
        self._spawn("outbox-relay", lambda: ctx.relay.run(ctx.stopping))
        for consumer in self.consumers:
            self._spawn(
                f"consumer:{consumer.subscription.group}",
                lambda consumer=consumer: self._consume(consumer),  # type: ignore[misc]
            )
        for name, loop in self.definition.loops:
            self._spawn(name, lambda loop=loop: loop(ctx))  # type: ignore[misc]

    async def _consume(self, consumer: EventConsumer) -> None:
        """Join the group once the bus is there (retrying while the broker is away),
        then consume until the service stops."""
        ctx = self.ctx
        if self._link is not None and not await self._link.wait(ctx.stopping):
            return
        backoff = Backoff(initial=0.2, cap=ctx.settings.kafka_retry_backoff_max_ms / 1000)
        logged: str | None = None
        while not consumer.joined:
            try:
                if not await _unless(consumer.start(), ctx.stopping):
                    return
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                if not ctx.bus.is_outage(exc) and type(exc).__name__ != logged:
                    logged = type(exc).__name__
                    log.error(
                        "could not join the consumer group; retrying",
                        exc_info=exc,
                        extra={"service": ctx.name, "group": consumer.subscription.group},
                    )
                if await pause(backoff.next(), ctx.stopping):
                    return
        await consumer.run(ctx.stopping)

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        async def supervise() -> None:
            # A loop that dies is restarted: a stopped consumer or relay would
            # silently strand reports. A loop that keeps dying is restarted less and
            # less often (up to every 30 s), so its log stays readable.
            backoff = Backoff(initial=1.0, cap=30.0)
            while not self.ctx.stopping.is_set():
                began = time.monotonic()
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    if time.monotonic() - began > 60:
                        backoff.reset()
                    delay = backoff.next()
                    log.error(
                        "background loop crashed; restarting",
                        exc_info=exc,
                        extra={"service": self.ctx.name, "loop": name, "restart_in": delay},
                    )
                    if await pause(delay, self.ctx.stopping):
                        return

        self._tasks.append(asyncio.create_task(supervise(), name=f"{self.ctx.name}:{name}"))

    async def stop(self, grace_seconds: float = 15.0) -> None:
        """Stop the loops at a safe point; cancel only what outlives the grace period.

        Cancelling a loop mid-transaction could leave a database connection holding
        a lock, so loops are asked to stop first and given time to finish.
        """
        self.ctx.stopping.set()
        self.ctx.published()  # wake idle loops so they see `stopping`
        if self._tasks:
            _, late = await asyncio.wait(self._tasks, timeout=grace_seconds)
            for task in late:
                log.warning(
                    "loop did not stop in time; cancelling",
                    extra={"service": self.ctx.name, "loop": task.get_name()},
                )
                task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()
        for consumer in self.consumers:
            try:
                await consumer.stop()
            except Exception as exc:
                log.warning("consumer stop failed", extra={"error": type(exc).__name__})
        self.consumers.clear()
        self.meters.clear()
        await self.ctx.db.dispose()

    async def ready(self) -> bool:
        return (
            await self.ctx.db.ping()
            and await self.ctx.bus.ready()
            and all(consumer.joined for consumer in self.consumers)
        )


class Dependencies:
    """The databases an app's requests need (each service's, and the key registry):
    `/readyz` asks each of them. An outage that a request (`request_failed`, told by
    the problem handlers) or a check meets is logged once; a watch then asks every
    second, and logs once more when every database answers again."""

    def __init__(self, databases: dict[str, Database]) -> None:
        self.databases = databases
        self.outage = OutageLog("database", log)
        self._watch: asyncio.Task[None] | None = None

    async def check(self) -> dict[str, bool]:
        """Whether each database answers now (the outage log is told)."""
        names = list(self.databases)
        answers = await asyncio.gather(*(_answers(self.databases[n]) for n in names))
        checks = dict(zip(names, answers, strict=True))
        down = [name for name, ok in checks.items() if not ok]
        if down:
            self.outage.failed("no answer", databases=down)
            self._watching()
        else:
            self.outage.recovered()
        return checks

    def request_failed(self, exc: BaseException) -> None:
        """A request met an outage (it was answered 503)."""
        self.outage.failed(exc)
        self._watching()

    def _watching(self) -> None:
        if self._watch is None or self._watch.done():
            self._watch = asyncio.create_task(self._until_back(), name="databases:watch")

    async def _until_back(self) -> None:
        while self.outage.down:
            await asyncio.sleep(WATCH_SECONDS)
            await self.check()

    async def close(self) -> None:
        watch, self._watch = self._watch, None
        if watch is not None:
            watch.cancel()
            await asyncio.gather(watch, return_exceptions=True)


async def _answers(db: Database) -> bool:
    try:
        return await asyncio.wait_for(db.ping(), CHECK_TIMEOUT_SECONDS)
    except TimeoutError:
        return False


async def when_available(attempt: Callable[[], Awaitable[T]], outage: OutageLog, *, what: str) -> T:
    """`attempt` once the database lets it: retried on a backoff while it fails with an
    outage (logged once by `outage`); any other error is raised (a schema behind
    head: the service refuses to start)."""
    backoff = Backoff(initial=0.2, cap=5.0)
    while True:
        try:
            result = await attempt()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if not is_transient(exc):
                raise
            outage.failed(exc, during="start", database=what)
            await asyncio.sleep(backoff.next())
            continue
        outage.recovered()
        return result


async def prepare_schema(db: Database, history: MigrationHistory, settings: Settings) -> None:
    """Embedded mode migrates its own databases at start; in distributed mode that is
    `signpost migrate`'s job (run once per release, before the services), and a service
    refuses to start on a database whose schema is not the one it was built for."""
    if settings.mode == "embedded":
        await upgrade(db, history)
    else:
        await check_at_head(db, history)


def context_of(request: Request, service: str) -> ServiceContext:
    """The running context of `service` inside this app."""
    runtimes: dict[str, ServiceRuntime] = request.app.state.runtimes
    return runtimes[service].ctx


def unit_of_work(service: str) -> Callable[[Request], AsyncIterator[UnitOfWork]]:
    """A route dependency (use with `Depends(..., scope="function")`) that opens one unit
    of work of `service` for the request and commits it, with its events, when the
    route returns: before the answer is sent, so a 2xx means durable. An error in the
    route rolls it back whole."""

    async def open_unit(request: Request) -> AsyncIterator[UnitOfWork]:
        async with context_of(request, service).units.begin() as uow:
            yield uow

    return open_unit


def build_app(
    *,
    title: str,
    definitions: Sequence[ServiceDefinition],
    settings: Settings,
    bus: Bus,
    extra_routers: Sequence[APIRouter] = (),
    on_started: Callable[[FastAPI], Awaitable[None]] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """A FastAPI app serving the given services, with health, readiness and problems.

    Every service in the app reads the one `clock` (`app.state.clock`): setting it
    moves time for all of them at once, person tokens' lives included
    (`app.state.person_tokens` verifies them; `app.state.person_token_signer` signs them
    where there is a private key: the console, or embedded mode)."""
    if clock is None:
        clock = Clock(settings.clock_start, running=True)
    # Before anything else: a person-token key that does not parse stops the process here.
    signer, person_tokens = person_token_keys(settings, clock=clock)
    # One registry per app: every service in it, each series labelled with its service.
    metrics = Metrics()
    runtimes = {d.name: ServiceRuntime(d, settings, bus, clock, metrics) for d in definitions}
    registry = KeyRegistry(
        Database(settings.key_registry_url()),
        cache_seconds=settings.auth_cache_seconds,
        clock=clock,
    )

    dependencies = Dependencies(
        {name: rt.ctx.db for name, rt in runtimes.items()} | {"keys": registry.db}
    )
    bus.tune(settings)
    link = BusLink(bus, backoff_cap=settings.kafka_retry_backoff_max_ms / 1000)

    def wake_relays() -> None:
        # The bus is there: what waited in the outboxes goes now.
        for runtime in runtimes.values():
            runtime.ctx.published()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Before the server answers: the databases only. The bus and the consumer
        # groups come up in the background (see BusLink and ServiceRuntime.start).
        await when_available(
            lambda: prepare_schema(registry.db, KEYS, settings), dependencies.outage, what="keys"
        )
        await link.open(on_connected=wake_relays)
        started: list[ServiceRuntime] = []
        try:
            for runtime in runtimes.values():
                await runtime.start(link, database=dependencies.outage)
                started.append(runtime)
            if on_started is not None:
                await on_started(app)
            yield
        finally:
            await link.close()
            await asyncio.gather(*(runtime.stop() for runtime in started))
            await dependencies.close()
            await bus.stop()
            await registry.db.dispose()

    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        description="Signpost: event-driven referral routing for early help.",
        # Where `make run` serves it; a deployment serves the same paths at its address.
        servers=[
            {"url": "http://127.0.0.1:8000", "description": "Signpost as `make run` starts it"}
        ],
        license_info={"name": "MIT", "identifier": "MIT"},
        # The documentation pages come from this package, not a CDN (shared/docs.py).
        docs_url=None,
        redoc_url=None,
        # Our own server spans (shared.tracing) keep one trace per referral; FastAPI's
        # would split it and record paths and queries.
        telemetry=FASTAPI_TELEMETRY,
    )
    install_docs(app)
    app.state.runtimes = runtimes
    for runtime in runtimes.values():
        # A loop that calls the services as a person (the console's queue emails) goes
        # through this app, as its pages do: in embedded mode the services are in it.
        runtime.ctx.state["app"] = app
    app.state.key_registry = registry
    # Verifies the console's person tokens (None: this process accepts none); the signer
    # is there only where PERSON_TOKEN_PRIVATE_KEY is (the console), or in embedded mode.
    app.state.person_tokens = person_tokens
    app.state.person_token_signer = signer
    app.state.settings = settings
    app.state.clock = clock
    app.state.dependencies = dependencies
    install_problem_handlers(app, on_outage=dependencies.request_failed)
    install_security_headers(app)
    instrument(app, services=[d.name for d in definitions])
    app.state.metrics = metrics
    # The routes no service owns (health, metrics, documentation) are the app's: its one
    # service's in distributed mode, "signpost" in embedded mode.
    app_service = definitions[0].name if len(definitions) == 1 else "signpost"

    def service_of(route: Any) -> str:
        module = getattr(getattr(route, "endpoint", None), "__module__", None) or ""
        parts = module.split(".")
        if len(parts) > 1 and parts[0] == "services" and parts[1] in runtimes:
            return parts[1]
        return app_service

    app.add_middleware(RequestMetrics, metrics=metrics, service_of=service_of)
    for definition in definitions:
        if definition.router is not None:
            app.include_router(definition.router, responses=URL_REFUSED)
    for router in extra_routers:
        app.include_router(router, responses=URL_REFUSED)

    @app.get(
        "/healthz",
        tags=["health"],
        summary="The process is alive",
        openapi_extra=NO_KEY,
        responses=URL_REFUSED,
    )
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    def readiness(checks: dict[str, bool]) -> JSONResponse:
        down = [part for part, ok in checks.items() if not ok]
        return JSONResponse(
            {"status": "not ready" if down else "ready", "checks": checks, "down": down},
            status_code=503 if down else 200,
        )

    @app.get(
        "/readyz",
        tags=["health"],
        openapi_extra=NO_KEY,
        responses=URL_REFUSED,
        summary="Ready when every database answers, the bus is connected and every "
        "consumer has joined its group; `down` names what is not",
        description="Everything this process runs is up: each service's database, the "
        "key registry, the bus, and each consumer group joined (`<service>:<group>`). "
        "For operators and deploy gates; a load balancer should ask `/readyz/serving`, "
        "which stays 200 through a broker outage while the API still works (intake "
        "accepts reports into its outbox). 503 while any part is down.",
    )
    async def readyz() -> JSONResponse:
        checks = await dependencies.check()
        checks["bus"] = await bus.ready()
        for name, runtime in runtimes.items():
            for consumer in runtime.consumers:
                checks[f"{name}:{consumer.subscription.group}"] = consumer.joined
        return readiness(checks)

    @app.get(
        "/readyz/serving",
        tags=["health"],
        openapi_extra=NO_KEY,
        responses=URL_REFUSED,
        summary="Ready to serve the API: every database this process uses and the key "
        "registry answer",
        description="For load balancers (a Kubernetes readinessProbe): the API needs "
        "only the databases, so the bus and the consumer groups are not asked and a "
        "broker outage leaves this 200 (a 202 from intake is durable in its outbox). "
        "503 while a database or the key registry does not answer; `checks` has only "
        "those, `down` names the ones that do not.",
    )
    async def readyz_serving() -> JSONResponse:
        return readiness(await dependencies.check())

    # For Prometheus, inside the deployment: no key (a scraper holds none) and no rate
    # limit, kept off the public API's OpenAPI. It names no child and no referral, only
    # services, topics, groups and partners' organisations and subscriptions; keep it
    # off the public ingress all the same (deploy/README.md, "Monitoring").
    @app.get("/metrics", include_in_schema=False)
    async def prometheus_metrics() -> Response:
        return Response(await metrics.exposition(), media_type=CONTENT_TYPE)

    return app
