"""Building the apps: one service alone (distributed) or all four in one process."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from fastapi import FastAPI

from services import console, intake, notify, routing, triage
from services.demo import sink as demo_sink
from shared.bus.base import Bus
from shared.bus.embedded import EmbeddedBus
from shared.bus.kafka import KafkaBus
from shared.clock import Clock
from shared.events import all_topics
from shared.runtime import ServiceDefinition, build_app
from shared.settings import Settings

DEFINITIONS: dict[str, ServiceDefinition] = {
    "intake": intake.definition,
    "triage": triage.definition,
    "routing": routing.definition,
    "notify": notify.definition,
    "console": console.definition,
}


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
    definition = DEFINITIONS[name]
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
    return build_app(
        title="Signpost",
        definitions=list(DEFINITIONS.values()),
        settings=settings,
        bus=make_bus(settings, client_id="signpost"),
        extra_routers=[demo_sink.router],
        on_started=on_started,
        clock=clock,
    )


__all__ = ["DEFINITIONS", "embedded_app", "make_bus", "service_app"]
