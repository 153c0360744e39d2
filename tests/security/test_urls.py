"""Hostile text in a URL (an id with a `%00`, a bidi override in a filter) is refused
before any route sees it, in every service, and is never a 500: PostgreSQL cannot
store or even compare a NUL, so until it was refused at the door such an id reached
the database and failed there."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from hypothesis import HealthCheck, given, settings

from services.apps import service_app
from shared.settings import embedded_settings
from tests.conftest import create_database
from tests.security.hostile import hostile_text
from tests.services.conftest import Signpost, bearer

# A route of each service that looks an id up in its database, and who may call it.
ID_ROUTES = {
    "intake": ("/v1/reports/{}", "police", "demo-police", ["reports:read"]),
    "triage": ("/v1/referrals/{}/triage", "hub", "demoshire-hub", ["referrals:read"]),
    "routing": ("/v1/referrals/{}/routing", "hub", "demoshire-hub", ["referrals:read"]),
    "notify": ("/v1/deliveries/{}", "hub", "demoshire-hub", ["subscriptions:read"]),
}


@pytest.fixture(
    params=[
        pytest.param((service, backend), marks=marks, id=f"{service}-{backend}")
        for service in ID_ROUTES
        for backend, marks in (("sqlite", ()), ("postgres", pytest.mark.postgres))
    ]
)
async def one_service(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[tuple[str, Signpost]]:
    """One service alone, on SQLite or on a real PostgreSQL database, through its API."""
    service, backend = request.param
    given: dict[str, object] = {}
    if backend == "postgres":
        admin: str = request.getfixturevalue("postgres_admin_url")
        given["database_url"] = await create_database(admin, "t_" + uuid.uuid4().hex[:12])
    app = service_app(service, embedded_settings(tmp_path / "var", auth_cache_seconds=0, **given))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield service, Signpost(app, client, app.state.key_registry)


async def caller(service: str, sp: Signpost) -> dict[str, str]:
    _, kind, organisation, scopes = ID_ROUTES[service]
    return bearer(await sp.key(kind, organisation, *scopes))


@pytest.mark.parametrize("text", ["ref\x00abc", "\u202eref", "ref\x1b[0m"])
async def test_an_id_holding_a_control_or_bidi_character_is_a_400_before_any_route(
    one_service: tuple[str, Signpost], text: str
) -> None:
    service, sp = one_service
    answer = await sp.client.get(
        ID_ROUTES[service][0].format(quote(text, safe="")), headers=await caller(service, sp)
    )
    assert answer.status_code == 400, answer.text
    assert answer.headers["content-type"] == "application/problem+json"
    assert answer.json()["type"].endswith("/forbidden-character")
    assert "U+" in answer.json()["detail"] and text not in answer.text


@pytest.mark.parametrize("value", ["requested\x00", "\u2066requested"])
async def test_a_query_parameter_holding_one_is_a_422_naming_the_parameter(
    tmp_path: Path, value: str
) -> None:
    app = service_app("routing", embedded_settings(tmp_path / "var", auth_cache_seconds=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            sp = Signpost(app, client, app.state.key_registry)
            key = bearer(await sp.key("agency", "safe-homes", "referrals:read"))
            answer = await client.get("/v1/referrals", params={"status": value}, headers=key)
    assert answer.status_code == 422, answer.text
    [error] = answer.json()["errors"]
    assert (error["field"], error["loc"], error["type"]) == (
        "status",
        ["query", "status"],
        "forbidden_character",
    )


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(text=hostile_text(max_size=70))
async def test_any_text_as_an_id_is_a_4xx_or_an_answer_never_a_500(
    one_service: tuple[str, Signpost], text: str
) -> None:
    service, sp = one_service
    answer = await sp.client.get(
        ID_ROUTES[service][0].format(quote(text, safe="")), headers=await caller(service, sp)
    )
    # Not found, refused, or (a "/" in it) no such route or a slash redirected. "." and
    # ".." are dot segments, removed by every client before a request is sent (RFC 3986
    # 5.2.4): "/v1/deliveries/." asks for the list, and may be answered.
    lowest = 200 if text in {".", ".."} else 300
    assert lowest <= answer.status_code < 500, answer.text
