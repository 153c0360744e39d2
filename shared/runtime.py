"""Wiring a service: its database, outbox relay, consumers and background loops, and
the FastAPI app that serves one service (distributed) or all four (embedded)."""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from fastapi import APIRouter, FastAPI, Request
from fastapi.responses import JSONResponse
from pydantic_settings import BaseSettings
from sqlmodel import SQLModel

from shared.auth import KeyRegistry
from shared.bus.base import Bus
from shared.cli import Commands
from shared.clock import Clock
from shared.consuming import EventConsumer, Subscription
from shared.db import Database
from shared.migrations import KEYS, MigrationHistory, check_at_head, history_of, upgrade
from shared.outbox import OutboxRelay
from shared.problems import install_problem_handlers
from shared.settings import Settings
from shared.uow import UnitOfWork, UnitsOfWork

C = TypeVar("C", bound=BaseSettings)

log = logging.getLogger(__name__)


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
    state: dict[str, Any] = field(default_factory=dict)
    # Set at shutdown: loops finish the unit of work in hand, then return.
    stopping: asyncio.Event = field(default_factory=asyncio.Event)
    wakeups: dict[str, asyncio.Event] = field(default_factory=dict)
    # Opens this service's units of work (see shared.uow): the only way to commit.
    units: UnitsOfWork = field(init=False)

    def __post_init__(self) -> None:
        self.units = UnitsOfWork(
            self.db, clock=self.clock, source=self.source, on_committed=self.published
        )

    def published(self) -> None:
        """Call after committing a transaction that staged work for a loop (outbox rows,
        deliveries): wakes the relay and the service's own loops."""
        self.relay.wake()
        for event in self.wakeups.values():
            event.set()

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
    # Registers this service's `signpost` sub-commands (its cli.register).
    commands: Callable[[Commands], None] | None = None


class ServiceRuntime:
    """Starts and stops one service inside the current process."""

    def __init__(
        self, definition: ServiceDefinition, settings: Settings, bus: Bus, clock: Clock
    ) -> None:
        self.definition = definition
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
        )
        self.consumers: list[EventConsumer] = []
        self._tasks: list[asyncio.Task[None]] = []

    async def start(self) -> None:
        ctx = self.ctx
        await prepare_schema(ctx.db, history_of(self.definition.name), ctx.settings)
        if self.definition.on_start is not None:
            await self.definition.on_start(ctx)
        for subscription in self.definition.subscriptions(ctx):
            consumer = EventConsumer(
                bus=ctx.bus,
                units=ctx.units,
                subscription=subscription,
                max_attempts=ctx.settings.consumer_max_attempts,
                backoff_seconds=ctx.settings.consumer_backoff_seconds,
            )
            await consumer.start()
            self.consumers.append(consumer)
        self._spawn("outbox-relay", lambda: ctx.relay.run(ctx.stopping))
        for consumer in self.consumers:
            self._spawn(
                f"consumer:{consumer.subscription.group}",
                lambda consumer=consumer: consumer.run(ctx.stopping),  # type: ignore[misc]
            )
        for name, loop in self.definition.loops:
            self._spawn(name, lambda loop=loop: loop(ctx))  # type: ignore[misc]

    def _spawn(self, name: str, run: Callable[[], Awaitable[None]]) -> None:
        async def supervise() -> None:
            # A loop that dies is restarted: a stopped consumer or relay would
            # silently strand reports.
            while not self.ctx.stopping.is_set():
                try:
                    await run()
                    return
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.error(
                        "background loop crashed; restarting",
                        exc_info=exc,
                        extra={"service": self.ctx.name, "loop": name},
                    )
                    await asyncio.sleep(1.0)

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
        await self.ctx.db.dispose()

    async def ready(self) -> bool:
        return await self.ctx.db.ping() and await self.ctx.bus.ready()


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
    moves time for all of them at once."""
    if clock is None:
        clock = Clock(settings.clock_start, running=True)
    runtimes = {d.name: ServiceRuntime(d, settings, bus, clock) for d in definitions}
    registry = KeyRegistry(
        Database(settings.key_registry_url()),
        cache_seconds=settings.auth_cache_seconds,
        clock=clock,
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await prepare_schema(registry.db, KEYS, settings)
        await bus.start()
        started: list[ServiceRuntime] = []
        try:
            for runtime in runtimes.values():
                await runtime.start()
                started.append(runtime)
            if on_started is not None:
                await on_started(app)
            yield
        finally:
            await asyncio.gather(*(runtime.stop() for runtime in started))
            await bus.stop()
            await registry.db.dispose()

    app = FastAPI(
        title=title,
        version="1.0.0",
        lifespan=lifespan,
        description="Signpost: event-driven referral routing for early help.",
    )
    app.state.runtimes = runtimes
    app.state.key_registry = registry
    app.state.settings = settings
    app.state.clock = clock
    install_problem_handlers(app)
    for definition in definitions:
        if definition.router is not None:
            app.include_router(definition.router)
    for router in extra_routers:
        app.include_router(router)

    @app.get("/healthz", tags=["health"], summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @app.get("/readyz", tags=["health"], summary="Ready only when every database and the bus are")
    async def readyz() -> JSONResponse:
        checks = {name: await rt.ctx.db.ping() for name, rt in runtimes.items()}
        checks["bus"] = await bus.ready()
        checks["keys"] = await registry.db.ping()
        ok = all(checks.values())
        return JSONResponse(
            {"status": "ready" if ok else "not ready", "checks": checks},
            status_code=200 if ok else 503,
        )

    return app
