"""Every service limits each API key (429 problem+json with Retry-After), not only
intake; intake's report routes keep their own published limit (INTAKE_RATE_PER_MINUTE,
INTAKE_BURST) and every other route has the general one (RATE_LIMIT_PER_MINUTE,
RATE_LIMIT_BURST); a request spends one token however many dependencies authenticate
it; and in distributed mode replicas share one limit through the key registry's
PostgreSQL database, so two replicas together allow the limit, not twice it."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Annotated, Any

import httpx
import pytest
from fastapi import FastAPI

from services.apps import embedded_app
from services.routing import definition as routing
from shared.auth import KeyRegistry, Principal, requires
from shared.bus.embedded import EmbeddedBus
from shared.db import Database
from shared.migrations import KEYS, ROUTING, upgrade
from shared.problems import install_problem_handlers
from shared.runtime import build_app
from shared.settings import Settings, embedded_settings
from tests.conftest import create_database
from tests.services.conftest import Signpost, bearer

pytestmark = pytest.mark.app


@pytest.fixture
def signpost_with(tmp_path: Path) -> Callable[..., Any]:
    """An embedded Signpost whose settings override the defaults."""

    @asynccontextmanager
    async def start(**overrides: Any) -> AsyncIterator[Signpost]:
        settings = embedded_settings(tmp_path / uuid.uuid4().hex, auth_cache_seconds=0, **overrides)
        app = embedded_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as c:
                yield Signpost(app, c, app.state.key_registry)

    return start


# One route of each service that needs a key, the key's kind and organisation, the
# scopes it needs, and what it answers within the limit.
ROUTES = {
    "intake (the claim check)": (
        "/v1/referrals/ref_unknown/report",
        ("agency", "safe-homes", "referrals:read"),
        404,
    ),
    "triage": ("/v1/referrals/ref_unknown/triage", ("hub", "demoshire-hub", "referrals:read"), 404),
    "routing": ("/v1/directory", ("agency", "safe-homes"), 200),
    "notify (subscriptions)": (
        "/v1/subscriptions",
        ("agency", "safe-homes", "subscriptions:read"),
        200,
    ),
    "notify (encompass)": ("/v1/encompass/notices", ("school", "100001", "encompass:read"), 200),
}


def assert_too_many(answer: httpx.Response, *, at_most: int) -> None:
    assert answer.status_code == 429, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("rate-limited")
    assert 1 <= int(answer.headers["retry-after"]) <= at_most


@pytest.mark.parametrize(("path", "key", "within"), ROUTES.values(), ids=ROUTES.keys())
async def test_every_service_limits_each_key_with_429_and_retry_after(
    signpost_with: Callable[..., Any], path: str, key: tuple[str, ...], within: int
) -> None:
    async with signpost_with(rate_limit_per_minute=6, rate_limit_burst=2) as sp:
        headers = bearer(await sp.key(*key))
        answers = [await sp.client.get(path, headers=headers) for _ in range(3)]
        assert [a.status_code for a in answers[:2]] == [within, within]
        assert_too_many(answers[2], at_most=10)  # one token every 10 s
        # Another key of the same organisation is not held back by the first's use.
        other = await sp.client.get(path, headers=bearer(await sp.key(*key)))
        assert other.status_code == within


async def test_intakes_report_routes_keep_their_own_limit_apart_from_the_general_one(
    signpost_with: Callable[..., Any],
) -> None:
    async with signpost_with(
        rate_limit_per_minute=1,
        rate_limit_burst=1,
        intake_rate_per_minute=6,
        intake_burst=3,
    ) as sp:
        key = bearer(await sp.key("police", "demo-police", "reports:read", "referrals:read"))
        reads = [await sp.client.get("/v1/reports/ref_x", headers=key) for _ in range(4)]
        assert [r.status_code for r in reads[:3]] == [404, 404, 404]  # INTAKE_BURST, not 1
        assert_too_many(reads[3], at_most=10)
        # The general bucket was not touched by the report routes: its one token is left.
        claim = [await sp.client.get("/v1/referrals/ref_x/report", headers=key) for _ in range(2)]
        assert claim[0].status_code == 404
        assert_too_many(claim[1], at_most=60)


async def test_intakes_published_environment_names_still_set_its_limit(
    signpost_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("INTAKE_RATE_PER_MINUTE", "1")
    monkeypatch.setenv("INTAKE_BURST", "1")
    async with signpost_with() as sp:
        key = bearer(await sp.key("police", "demo-police", "reports:read"))
        first, second = [await sp.client.get("/v1/reports/ref_x", headers=key) for _ in range(2)]
        assert first.status_code == 404
        assert_too_many(second, at_most=60)
        assert second.headers["retry-after"] == "60"


async def test_the_general_limit_is_read_from_its_environment_names(
    signpost_with: Callable[..., Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("RATE_LIMIT_PER_MINUTE", "2")
    monkeypatch.setenv("RATE_LIMIT_BURST", "1")
    async with signpost_with() as sp:
        key = bearer(await sp.key("agency", "safe-homes"))
        first, second = [await sp.client.get("/v1/directory", headers=key) for _ in range(2)]
        assert first.status_code == 200
        assert_too_many(second, at_most=30)


async def test_a_zero_rate_turns_the_general_limit_off(
    signpost_with: Callable[..., Any],
) -> None:
    async with signpost_with(rate_limit_per_minute=0, rate_limit_burst=1) as sp:
        key = bearer(await sp.key("agency", "safe-homes"))
        answers = [await sp.client.get("/v1/directory", headers=key) for _ in range(20)]
        assert {a.status_code for a in answers} == {200}


async def test_a_revoked_or_unknown_key_is_401_not_429(signpost_with: Callable[..., Any]) -> None:
    async with signpost_with(rate_limit_per_minute=1, rate_limit_burst=1) as sp:
        answers = [
            await sp.client.get("/v1/directory", headers=bearer("sp_unknown_key")) for _ in range(3)
        ]
        assert {a.status_code for a in answers} == {401}


async def test_a_request_authenticated_twice_spends_one_token(tmp_path: Path) -> None:
    settings = embedded_settings(tmp_path / "var", rate_limit_per_minute=1, rate_limit_burst=2)
    registry = KeyRegistry(Database(settings.key_registry_url()), cache_seconds=0)
    app = FastAPI()
    install_problem_handlers(app)
    app.state.settings = settings
    app.state.key_registry = registry

    @app.get("/v1/both")
    async def both(
        reader: Annotated[Principal, requires("referrals:read")],
        writer: Annotated[Principal, requires("referrals:write")],
    ) -> dict[str, str]:
        return {"key": reader.key_id}

    await registry.create_schema()
    try:
        _, key = await registry.create(
            name="t",
            kind="agency",  # type: ignore[arg-type]
            organisation="safe-homes",
            scopes=["referrals:read", "referrals:write"],
        )
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            answers = [await client.get("/v1/both", headers=bearer(key)) for _ in range(3)]
    finally:
        await registry.db.dispose()
    assert [a.status_code for a in answers[:2]] == [200, 200]  # two requests, two tokens
    assert answers[2].status_code == 429


# -- distributed mode: replicas share one limit ----------------------------------------


@asynccontextmanager
async def routing_replicas(
    postgres_admin_url: str, tmp_path: Path, count: int, **settings: Any
) -> AsyncIterator[list[tuple[FastAPI, httpx.AsyncClient]]]:
    """`count` routing replicas in distributed mode on one PostgreSQL routing database
    and one key registry (migrated first, as `signpost migrate` does)."""
    suffix = uuid.uuid4().hex[:8]
    keys_url = await create_database(postgres_admin_url, f"keys_{suffix}")
    routing_url = await create_database(postgres_admin_url, f"routing_{suffix}")
    for url, history in ((keys_url, KEYS), (routing_url, ROUTING)):
        db = Database(url)
        try:
            await upgrade(db, history)
        finally:
            await db.dispose()
    async with AsyncExitStack() as stack:
        replicas = []
        for n in range(count):
            app = build_app(
                title=f"routing {n}",
                definitions=[routing],
                settings=Settings(
                    mode="distributed",
                    instance=f"replica-{n}",
                    database_url=routing_url,
                    keys_database_url=keys_url,
                    auth_cache_seconds=0,
                    **settings,
                ),
                # Each replica's own (unused) log: routing here only answers requests.
                bus=EmbeddedBus(tmp_path / f"replica-{n}.db"),
            )
            await stack.enter_async_context(app.router.lifespan_context(app))
            transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
            client = await stack.enter_async_context(
                httpx.AsyncClient(transport=transport, base_url=f"http://replica-{n}")
            )
            replicas.append((app, client))
        yield replicas


@pytest.mark.postgres
async def test_two_replicas_share_one_limit_through_the_key_registry(
    postgres_admin_url: str, tmp_path: Path
) -> None:
    burst = 5
    async with routing_replicas(
        postgres_admin_url, tmp_path, 2, rate_limit_per_minute=0.6, rate_limit_burst=burst
    ) as replicas:
        registry: KeyRegistry = replicas[0][0].state.key_registry
        _, key = await registry.create(
            name="t",
            kind="agency",  # type: ignore[arg-type]
            organisation="safe-homes",
            scopes=[],
        )
        answers = await asyncio.gather(
            *(
                client.get("/v1/directory", headers=bearer(key))
                for _ in range(10)
                for _, client in replicas
            )
        )
    statuses = [a.status_code for a in answers]
    assert statuses.count(200) == burst, statuses
    assert statuses.count(429) == 2 * 10 - burst
    for answer in answers:
        if answer.status_code == 429:
            assert_too_many(answer, at_most=100)
