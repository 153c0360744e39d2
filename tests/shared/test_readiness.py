"""The two readiness probes: `/readyz` is everything the process runs (each database,
the key registry, the bus, each consumer group joined), for operators and deploy gates;
`/readyz/serving` is what the API needs (the databases and the key registry), for a
load balancer. A broker outage takes a service out of the first only, so intake keeps
answering 202 (the report waits in its outbox); a database that does not answer takes
it out of both."""

from __future__ import annotations

import asyncio
import json
import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from services.apps import embedded_app, service_app
from shared.auth import ClientKind
from shared.clock import Clock
from shared.settings import embedded_settings

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)


def closed_port() -> int:
    """A loopback port nothing listens on: a broker that is away."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port


@asynccontextmanager
async def serving(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield client


async def probe(client: httpx.AsyncClient, path: str) -> tuple[int, dict[str, Any]]:
    answer = await client.get(path)
    body: dict[str, Any] = answer.json()
    return answer.status_code, body


async def until_ready(client: httpx.AsyncClient) -> None:
    """Until both probes answer 200 (the consumers join in the background)."""
    async with asyncio.timeout(10):
        for path in ("/readyz", "/readyz/serving"):
            while (answer := await client.get(path)).status_code != 200:
                await asyncio.sleep(0.05)
            assert answer.json()["down"] == []


async def test_a_broker_outage_leaves_intake_serving_but_not_ready(tmp_path: Path) -> None:
    settings = embedded_settings(
        tmp_path / "var",
        auth_cache_seconds=0,
        kafka_bootstrap_servers=f"127.0.0.1:{closed_port()}",
    )
    app = service_app("intake", settings, clock=Clock(START, running=True))
    async with serving(app) as client:
        status, ready = await probe(client, "/readyz")
        assert status == 503
        assert ready["status"] == "not ready"
        assert "bus" in ready["down"]
        assert ready["checks"]["intake"] is ready["checks"]["keys"] is True
        assert all(part.startswith("intake:") for part in set(ready["down"]) - {"bus"})

        status, body = await probe(client, "/readyz/serving")
        assert status == 200
        assert body == {"status": "ready", "checks": {"intake": True, "keys": True}, "down": []}

        # What a load balancer keeps sending is answered: the report is durable in
        # intake's outbox, and waits there for the broker.
        _, key = await app.state.key_registry.create(
            name="test police",
            kind=ClientKind.POLICE,
            organisation="demo-police",
            scopes=("reports:write",),
        )
        report = json.loads((EXAMPLES / "police-report.json").read_text())
        answer = await client.post(
            "/v1/reports", json=report, headers={"Authorization": f"Bearer {key}"}
        )
        assert answer.status_code == 202, answer.text
        assert await app.state.runtimes["intake"].ctx.relay.pending() >= 1


async def test_a_database_that_does_not_answer_takes_the_app_out_of_both(tmp_path: Path) -> None:
    data = tmp_path / "var"
    app = embedded_app(embedded_settings(data, auth_cache_seconds=0))
    async with serving(app) as client:
        await until_ready(client)

        # Routing's database goes away: its file cannot be opened any more.
        routing = app.state.runtimes["routing"].ctx.db
        await routing.dispose()
        (data / "routing.db").rename(data / "routing.db.away")
        (data / "routing.db").mkdir()
        try:
            status, ready = await probe(client, "/readyz")
            assert status == 503
            assert "routing" in ready["down"]
            assert ready["checks"]["routing"] is False
            assert ready["checks"]["bus"] is True

            status, body = await probe(client, "/readyz/serving")
            assert status == 503
            assert body["status"] == "not ready"
            assert body["down"] == ["routing"]
            assert set(body["checks"]) == {
                "intake",
                "triage",
                "routing",
                "notify",
                "console",
                "keys",
            }
        finally:
            (data / "routing.db").rmdir()
            (data / "routing.db.away").rename(data / "routing.db")

        # Back: both answer 200 again.
        await until_ready(client)
