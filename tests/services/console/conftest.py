"""The console in an embedded Signpost in this process, reached over https (its cookies
are Secure), with the one clock stopped at START until a test moves it."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from services.apps import embedded_app
from services.console.service.people import create_person
from shared.clock import Clock
from shared.settings import embedded_settings
from tests.services.conftest import Signpost

START = datetime(2026, 11, 30, 9, 0, tzinfo=UTC)
PASSWORD = "correct horse battery staple"


@pytest.fixture
async def sp(tmp_path: Path) -> AsyncIterator[Signpost]:
    settings = embedded_settings(
        tmp_path / "var", auth_cache_seconds=0, routing_escalation_interval_seconds=0.05
    )
    app = embedded_app(settings, clock=Clock(START))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="https://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


async def person(
    sp: Signpost, email: str, organisation: str, *roles: str, name: str = "Sam Hale"
) -> str:
    """A local account with PASSWORD; returns its id."""
    async with sp.app.state.runtimes["console"].ctx.units.begin() as uow:
        row = await create_person(
            uow=uow,
            email=email,
            name=name,
            organisation=organisation,
            roles=list(roles),
            password=PASSWORD,
        )
    return row.id


def csrf_of(page: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', page)
    assert found, "the page has a CSRF field"
    return found.group(1)


async def signed_in_client(sp: Signpost, email: str) -> httpx.AsyncClient:
    """A browser of its own (its own cookies), signed in as `email`."""
    transport = httpx.ASGITransport(app=sp.app, raise_app_exceptions=False)
    client = httpx.AsyncClient(transport=transport, base_url="https://signpost")
    form = await client.get("/console/sign-in")
    answer = await client.post(
        "/console/sign-in",
        data={"email": email, "password": PASSWORD, "csrf": csrf_of(form.text)},
    )
    assert answer.status_code == 303, answer.text
    return client
