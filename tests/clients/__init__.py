"""The Python client (`clients/python`) against a whole embedded Signpost in this
process: reached through httpx's ASGI transport (the async client), or served by
uvicorn on a free loopback port in the test's event loop (the sync client, called from
a thread with `asyncio.to_thread`)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import uvicorn
from fastapi import FastAPI
from signpost_client import AsyncSignpostClient, SignpostClient

from services.apps import embedded_app
from shared.auth import KIND_SCOPES, ClientKind
from shared.clock import Clock
from shared.settings import embedded_settings
from tests.e2e.harness import ROOT, free_port

# The one clock of the app, stopped here: after every example's `reported_at`.
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
DEMO_SCHOOL = "100001"
DEMO_AGENCY = "demoshire-families"

T = TypeVar("T")


async def polled(check: Callable[[], Awaitable[T | None]], within: float = 15.0) -> T:
    """The first truthy answer of `check`, asked every 0.1 s (as an integrator polls:
    well within the API's rate limit) until `within` seconds pass."""
    async with asyncio.timeout(within):
        while True:
            answer = await check()
            if answer:
                return answer
            await asyncio.sleep(0.1)


def example(name: str) -> dict[str, Any]:
    """An example report of `examples/` (a fresh copy)."""
    report: dict[str, Any] = json.loads((ROOT / "examples" / f"{name}.json").read_text())
    return report


def school_report(
    reference: str,
    given_name: str,
    date_of_birth: str,
    family_name: str = "Sample",
    postcode: str = "EX4 6PX",
) -> dict[str, Any]:
    """The example school report about another child, under its own reference
    (attendance and a young carer: routed to Supporting Families)."""
    report = example("school-report")
    report["source"]["reference"] = reference
    report["child"].update(
        given_name=given_name, family_name=family_name, date_of_birth=date_of_birth
    )
    report["child"]["address"]["postcode"] = postcode
    return report


@dataclass
class Embedded:
    """An embedded Signpost; `base_url` is set when uvicorn serves it."""

    app: FastAPI
    base_url: str | None = None

    async def key(self, kind: str, organisation: str) -> str:
        """A new key of this kind and organisation, with its kind's scopes (as the
        demo's keys have)."""
        client_kind = ClientKind(kind)
        _, key = await self.app.state.key_registry.create(
            name=f"client test {kind}",
            kind=client_kind,
            organisation=organisation,
            scopes=list(KIND_SCOPES[client_kind]),
        )
        return str(key)

    def transport(self) -> httpx.ASGITransport:
        return httpx.ASGITransport(app=self.app, raise_app_exceptions=False)

    async def client(self, kind: str, organisation: str) -> AsyncSignpostClient:
        """The async client with a new key, in process."""
        key = await self.key(kind, organisation)
        return AsyncSignpostClient("http://signpost", key, transport=self.transport())

    async def sync_client(self, kind: str, organisation: str) -> SignpostClient:
        """The sync client with a new key, over HTTP (call it from a thread)."""
        assert self.base_url is not None, "serve the app (embedded(..., serve=True))"
        return SignpostClient(self.base_url, await self.key(kind, organisation))


@asynccontextmanager
async def embedded(data_dir: Path, *, serve: bool = False) -> AsyncIterator[Embedded]:
    """An embedded Signpost with its clock stopped at START; with `serve`, also served
    by uvicorn on a free loopback port in this event loop."""
    settings = embedded_settings(data_dir, auth_cache_seconds=0, webhook_allow_private=True)
    app = embedded_app(settings, clock=Clock(START))
    if not serve:
        async with app.router.lifespan_context(app):
            yield Embedded(app)
        return
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=free_port(), log_level="warning")
    )
    serving = asyncio.create_task(server.serve())
    try:
        while not server.started:
            if serving.done():
                serving.result()
                raise AssertionError("the server stopped before it started")
            await asyncio.sleep(0.05)
        yield Embedded(app, f"http://127.0.0.1:{server.config.port}")
    finally:
        server.should_exit = True
        await serving
