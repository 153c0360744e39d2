"""Routing test helpers: an embedded Signpost with a controllable clock, triaged
referrals put straight on the bus, and what routing staged."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TypeVar

import httpx
import pytest
from sqlalchemy import select

from services.apps import embedded_app
from services.routing import definition
from services.routing.models import RoutingDecision
from services.routing.service.directory import seed
from shared.auth import ClientKind, Principal
from shared.clock import Clock
from shared.db import table_of
from shared.envelope import new_event, to_record
from shared.events import EventType, ReferralTriaged
from shared.migrations import ROUTING, upgrade
from shared.outbox import OutboxMessage
from shared.runtime import ServiceContext
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, bearer, service_context

T = TypeVar("T")

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)

# The partnership's administrator, who changes the directory (for use cases called
# without the API).
PARTNERSHIP = Principal(
    key_id="key_partnership",
    client_id="client_partnership",
    name="Demoshire partnership",
    kind=ClientKind.ADMIN,
    organisation="demoshire-partnership",
    scopes=frozenset({"directory:write"}),
)


def stopped_clock() -> Clock:
    """The app's clock in a routing test: stands at START until told to move."""
    return Clock(START)


async def replica(
    url: str, data_dir: Path, *, clock: Clock | None = None, seeded: bool = True
) -> ServiceContext:
    """Routing's context on the database at `url`, not started (a replica a test drives
    by hand), with its tables and, when `seeded`, the demo directory."""
    ctx = service_context(definition, url, data_dir, clock=clock or stopped_clock())
    await upgrade(ctx.db, ROUTING)
    if seeded:
        async with ctx.units.begin() as uow:
            await seed(uow=uow, path=None)
    return ctx


def triaged_event(referral_id: str, *, level: int = 2, revision: int = 0) -> ReferralTriaged:
    """A referral.triaged's data for a child of 8 in EX1 with a domestic abuse concern."""
    return ReferralTriaged(
        referral_id=referral_id,
        subject_key="s_" + referral_id,
        level=level,
        priority="green" if level < 4 else "red",
        concern_codes=["domestic_abuse"],
        immediate_risk=False,
        reasons=[],
        policy_version="test",
        decided_at=START,
        source_kind="police",
        referrer_organisation="demo-police",
        child_age_years=8,
        postcode_district="EX1",
        revision=revision,
    )


def routing(sp: Signpost) -> ServiceContext:
    ctx: ServiceContext = sp.app.state.runtimes["routing"].ctx
    return ctx


@asynccontextmanager
async def running(data_dir: Path, clock: Clock, **overrides: Any) -> AsyncIterator[Signpost]:
    """An embedded Signpost on `data_dir` whose services all read `clock`; the
    escalation scheduler ticks every 50 ms (unless `overrides` say otherwise) so a test
    sees it fire promptly."""
    settings = embedded_settings(
        data_dir,
        **{"auth_cache_seconds": 0, "routing_escalation_interval_seconds": 0.05, **overrides},
    )
    app = embedded_app(settings, clock=clock)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


@pytest.fixture
def clock() -> Clock:
    return stopped_clock()


@pytest.fixture
async def sp(tmp_path: Path, clock: Clock) -> AsyncIterator[Signpost]:
    async with running(tmp_path / "var", clock) as signpost:
        yield signpost


async def eventually(check: Callable[[], Awaitable[T | None]], within: float = 30.0) -> T:
    """The first truthy answer of `check`, polled until `within` seconds pass (as long
    as the bus contract tests give a record: a slow CI disk, fsyncing every commit,
    once took routing past 10 s)."""
    async with asyncio.timeout(within):
        while True:
            answer = await check()
            if answer:
                return answer
            await asyncio.sleep(0.02)


async def triage(
    sp: Signpost,
    *,
    level: int = 2,
    concerns: list[str] | None = None,
    age: int | None = 8,
    district: str | None = "EX1",
    referrer: str = "demo-police",
    referral_id: str | None = None,
    revision: int = 0,
    wait: bool = True,
    suspected: list[str] | None = None,
    source: str = "police",
    received_at: datetime | None = None,
) -> str:
    """Put a referral.triaged on the bus (as triage would) and wait until it is routed."""
    referral_id = referral_id or "ref_" + uuid.uuid4().hex[:20]
    priority = {1: "blue", 2: "green", 3: "amber"}.get(level, "red")
    data = ReferralTriaged(
        referral_id=referral_id,
        subject_key="subj_" + referral_id,
        level=level,
        priority=priority,  # type: ignore[arg-type]
        concern_codes=concerns if concerns is not None else ["domestic_abuse"],
        immediate_risk=False,
        reasons=[],
        policy_version="test",
        decided_at=START,
        source_kind=source,  # type: ignore[arg-type]
        referrer_organisation=referrer,
        child_age_years=age,
        postcode_district=district,
        revision=revision,
        needs_review=bool(suspected),
        suspected_codes=suspected or [],
        received_at=received_at,
    )
    event = new_event(
        time=datetime.now(UTC),
        type=EventType.REFERRAL_TRIAGED,
        source="/tests/triage",
        subject=referral_id,
        partitionkey=data.subject_key,
        data=data,
    )
    await routing(sp).bus.publish([to_record(event)])
    if wait:
        await eventually(lambda: decision(sp, referral_id, revision=revision))
    return referral_id


async def decision(sp: Signpost, referral_id: str, *, revision: int = 0) -> RoutingDecision | None:
    async with routing(sp).db.session() as session:
        row = await session.get(RoutingDecision, referral_id)
        return row if row is not None and row.triage_revision >= revision else None


async def staged(
    sp: Signpost, event_type: str, referral_id: str | None = None
) -> list[dict[str, Any]]:
    """The data of every event of `event_type` routing staged (about one referral)."""
    outbox = table_of(OutboxMessage)
    query = select(outbox.c.headers, outbox.c.value).order_by(outbox.c.id)
    async with routing(sp).db.engine.connect() as conn:
        rows = (await conn.execute(query)).all()
    found = []
    for headers, value in rows:
        names = dict(json.loads(headers))
        if base64.b64decode(names["ce_type"]).decode() != event_type:
            continue
        data = json.loads(value)
        if referral_id is None or data["referral_id"] == referral_id:
            found.append(data)
    return found


async def statuses(sp: Signpost, referral_id: str) -> list[tuple[str, str | None, str | None]]:
    """(status, destination id, reason code) of each referral.status, in order."""
    return [
        (d["status"], d["destination_id"], d["reason_code"])
        for d in await staged(sp, EventType.REFERRAL_STATUS.value, referral_id)
    ]


async def agency_key(sp: Signpost, organisation: str = "safe-homes") -> dict[str, str]:
    return bearer(await sp.key("agency", organisation, "referrals:read", "referrals:write"))


async def hub_key(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("hub", "demoshire-hub", "referrals:read", "referrals:write"))
