"""Building the apps: one service alone (distributed) or all four in one process."""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from pathlib import Path
from urllib.parse import urlsplit

from fastapi import FastAPI

from services import intake, notify, routing, triage
from services.notify import demo_sink
from shared.auth import ClientKind, KeyRegistry
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


def service_app(name: str, settings: Settings, *, clock: Clock | None = None) -> FastAPI:
    """One service as its own process (distributed mode)."""
    definition = DEFINITIONS[name]
    return build_app(
        title=f"Signpost {name}",
        definitions=[definition],
        settings=settings,
        bus=make_bus(settings, client_id=f"signpost-{name}"),
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


LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})

DEMO_KEYS = {
    "police": (
        ClientKind.POLICE,
        "demo-police",
        ["reports:write", "reports:read", "encompass:read"],
    ),
    "school": (
        ClientKind.SCHOOL,
        "100001",
        ["reports:write", "reports:read", "encompass:read", "encompass:acknowledge"],
    ),
    "hub": (
        ClientKind.HUB,
        "demoshire-hub",
        [
            "subscriptions:write",
            "referrals:read",
            "referrals:write",
            "triage:override",
            "encompass:read",
        ],
    ),
}


def demo_setup(data_dir: Path, base_url: str) -> Callable[[FastAPI], Awaitable[None]]:
    """First run: demo keys, and hub and school subscriptions to the demo sink; later runs
    reuse them."""

    async def setup(app: FastAPI) -> None:
        state_file = data_dir / "demo.json"
        registry: KeyRegistry = app.state.key_registry
        if state_file.exists():
            state = json.loads(state_file.read_text())
        else:
            keys = {}
            for label, (kind, org, scopes) in DEMO_KEYS.items():
                _, key = await registry.create(
                    name=f"demo {label}", kind=kind, organisation=org, scopes=scopes
                )
                keys[label] = key
            from services.notify.models import WebhookSubscription
            from services.notify.webhooks import new_secret

            secret = new_secret()
            notify_ctx = app.state.runtimes["notify"].ctx
            async with notify_ctx.db.session() as session:
                session.add(
                    WebhookSubscription(
                        id="sub_demo_sink",
                        organisation="demoshire-hub",
                        client_kind="hub",
                        client_id="demo",
                        url=f"{base_url}/demo/sink/webhook",
                        event_types=[
                            "org.signpost.referral.routed.v1",
                            "org.signpost.referral.status.v1",
                            "org.signpost.encompass.alert.v1",
                        ],
                        secret=secret,
                        created_at=app.state.clock.now(),
                    )
                )
                # The demo school's DSL hears Operation Encompass notices at the sink too
                # (they name a child: only when the sink is reachable from this machine
                # alone, since GET /demo/sink needs no key).
                if urlsplit(base_url).hostname in LOOPBACK_HOSTS:
                    session.add(
                        WebhookSubscription(
                            id="sub_demo_school_sink",
                            organisation="100001",
                            client_kind="school",
                            client_id="demo",
                            url=f"{base_url}/demo/sink/webhook",
                            event_types=["org.signpost.encompass.notice.v1"],
                            secret=secret,
                            created_at=app.state.clock.now(),
                        )
                    )
                await session.commit()
            state = {"keys": keys, "sink_secret": secret}
            state_file.write_text(json.dumps(state, indent=2))
            state_file.chmod(0o600)
        if urlsplit(base_url).hostname not in LOOPBACK_HOSTS:
            # A later run on an open address: the school's notices (they name a child)
            # must not reach the unauthenticated sink.
            from services.notify.models import WebhookSubscription

            async with app.state.runtimes["notify"].ctx.db.session() as session:
                school = await session.get(WebhookSubscription, "sub_demo_school_sink")
                if school is not None:
                    await session.delete(school)
                    await session.commit()
        app.state.demo_sink = demo_sink.DemoSink(state["sink_secret"], data_dir / "demo-sink.jsonl")
        app.state.demo_keys = state["keys"]

    return setup


__all__ = ["DEFINITIONS", "demo_setup", "embedded_app", "service_app"]
