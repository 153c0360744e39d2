"""Intake test helpers: example bodies, keys, an embedded Signpost with custom settings,
and an intake replica a test drives by hand (SQLite and PostgreSQL)."""

from __future__ import annotations

import json
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlmodel import SQLModel

from services.apps import embedded_app
from services.intake import definition
from shared.auth import ClientKind, Principal
from shared.clock import Clock
from shared.db import table_of
from shared.events import Topic
from shared.outbox import InboxEntry, OutboxMessage
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.conftest import create_database
from tests.services.conftest import Signpost, service_context

EXAMPLES = Path(__file__).resolve().parents[3] / "examples"
START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
# The example police reports' force, as a principal (for use cases called directly).
POLICE = Principal(
    key_id="k_police",
    client_id="c_police",
    name="test police",
    kind=ClientKind.POLICE,
    organisation="demo-police",
    scopes=frozenset({"reports:write", "reports:read"}),
)


def example(name: str) -> dict[str, Any]:
    body: dict[str, Any] = json.loads((EXAMPLES / name).read_text())
    return body


async def police_key(sp: Signpost, organisation: str = "demo-police") -> str:
    return await sp.key("police", organisation, "reports:write", "reports:read")


async def school_key(sp: Signpost, urn: str = "100001") -> str:
    return await sp.key("school", urn, "reports:write", "reports:read")


async def outbox_count(sp: Signpost, topic: str = Topic.REFERRAL_RECEIVED) -> int:
    """How many events intake staged on `topic` (by default: reports it passed on)."""
    ctx = sp.app.state.runtimes["intake"].ctx
    outbox = table_of(OutboxMessage)
    async with ctx.db.engine.connect() as conn:
        count = await conn.scalar(
            select(func.count()).select_from(outbox).where(outbox.c.topic == topic)
        )
        return int(count or 0)


async def received_events(
    sp: Signpost, topic: str = Topic.REFERRAL_RECEIVED
) -> list[dict[str, Any]]:
    """The data of every event intake staged on `topic`, oldest first."""
    ctx = sp.app.state.runtimes["intake"].ctx
    outbox = table_of(OutboxMessage)
    async with ctx.db.engine.connect() as conn:
        rows = await conn.execute(
            select(outbox.c.value).where(outbox.c.topic == topic).order_by(outbox.c.id)
        )
        return [json.loads(value) for (value,) in rows]


@pytest.fixture
def signpost_with(tmp_path: Path) -> Callable[..., Any]:
    """An embedded Signpost whose settings override the defaults."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Signpost]:
        settings = embedded_settings(tmp_path / "custom", auth_cache_seconds=0, **overrides)
        app = embedded_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as c:
                yield Signpost(app, c, app.state.key_registry)

    return start


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
async def replica(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ServiceContext]:
    """An intake replica on its own database (not started: nothing is published), its
    clock standing at START until a test moves it."""
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'intake.db'}"
    else:
        admin = request.getfixturevalue("postgres_admin_url")
        url = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    ctx = service_context(definition, url, tmp_path / "intake", clock=Clock(START))
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
    await ctx.db.create_tables([table_of(m) for m in models])
    try:
        yield ctx
    finally:
        await ctx.db.dispose()
