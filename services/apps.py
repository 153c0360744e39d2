"""Building the apps: one service alone (distributed) or all four in one process.

A process serving one service imports that service's parts alone (`definition_of`):
before, each of the five service processes loaded all five, 22-31 MB of resident
memory it never used (bench/README.md, "The seventh round")."""

from __future__ import annotations

import importlib
from collections.abc import Awaitable, Callable
from typing import cast

from fastapi import FastAPI

from shared.bus.base import Bus
from shared.bus.embedded import EmbeddedBus
from shared.bus.kafka import KafkaBus
from shared.clock import Clock
from shared.events import all_topics
from shared.runtime import ServiceDefinition, build_app
from shared.settings import Settings

# Each is a package under services/: its `definition` and its `cli.register`.
SERVICES = ("intake", "triage", "routing", "notify", "console")


def definition_of(name: str) -> ServiceDefinition:
    """The named service's definition, its parts imported now (`services.<name>`)."""
    if name not in SERVICES:
        raise ValueError(f"no service {name!r}; one of: {', '.join(SERVICES)}")
    return cast(ServiceDefinition, importlib.import_module(f"services.{name}").definition)


def make_bus(settings: Settings, client_id: str) -> Bus:
    """Kafka when configured, else the embedded log (embedded mode only)."""
    if settings.kafka_bootstrap_servers:
        return KafkaBus(
            settings.kafka_bootstrap_servers,
            client_id=client_id,
            topics=all_topics(),
            partitions=settings.topic_partitions,
            replication_factor=settings.topic_replication_factor,
        )
    if settings.mode != "embedded":
        raise SystemExit("KAFKA_BOOTSTRAP_SERVERS is required outside embedded mode")
    return EmbeddedBus(
        settings.data_dir / "events.db",
        retention_seconds=settings.embedded_log_retention_hours * 3600,
    )


def service_app(
    name: str,
    settings: Settings,
    *,
    clock: Clock | None = None,
    on_started: Callable[[FastAPI], Awaitable[None]] | None = None,
) -> FastAPI:
    """One service as its own process (distributed mode)."""
    definition = definition_of(name)
    return build_app(
        title=f"Signpost {name}",
        definitions=[definition],
        settings=settings,
        bus=make_bus(settings, client_id=f"signpost-{name}"),
        on_started=on_started,
        clock=clock,
    )


def embedded_app(
    settings: Settings,
    *,
    on_started: Callable[[FastAPI], Awaitable[None]] | None = None,
    clock: Clock | None = None,
) -> FastAPI:
    """All four services in one process on one port, on the embedded log, reading one
    clock (`app.state.clock`)."""
    from services.demo import sink as demo_sink

    return build_app(
        title="Signpost",
        definitions=[definition_of(name) for name in SERVICES],
        settings=settings,
        bus=make_bus(settings, client_id="signpost"),
        extra_routers=[demo_sink.router],
        on_started=on_started,
        clock=clock,
    )


__all__ = ["SERVICES", "definition_of", "embedded_app", "make_bus", "service_app"]
