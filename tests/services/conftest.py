"""An embedded Signpost in this process, reached through httpx's ASGI transport."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from services.apps import embedded_app
from shared.auth import ClientKind, KeyRegistry
from shared.bus.embedded import EmbeddedBus
from shared.clock import Clock
from shared.people import Person
from shared.person_tokens import PersonTokenSigner
from shared.runtime import ServiceContext, ServiceDefinition, ServiceRuntime
from shared.settings import embedded_settings


@dataclass
class Signpost:
    app: FastAPI
    client: httpx.AsyncClient
    registry: KeyRegistry

    @property
    def clock(self) -> Clock:
        """The one clock every service in this app reads."""
        clock: Clock = self.app.state.clock
        return clock

    async def key(self, kind: str, organisation: str, *scopes: str) -> str:
        _, key = await self.registry.create(
            name=f"test {kind}", kind=ClientKind(kind), organisation=organisation, scopes=scopes
        )
        return key

    def person(
        self, organisation: str, *roles: str, person_id: str = "per_test", name: str = "Test Person"
    ) -> str:
        """A person token for this person, as the console sends it (the embedded signer)."""
        signer: PersonTokenSigner = self.app.state.person_token_signer
        return signer.mint(
            Person(id=person_id, name=name, organisation=organisation, roles=tuple(roles))
        )


@pytest.fixture
async def signpost(tmp_path: Path) -> AsyncIterator[Signpost]:
    app = embedded_app(
        embedded_settings(tmp_path / "var", auth_cache_seconds=0, webhook_allow_private=True)
    )
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


def service_context(
    definition: ServiceDefinition, url: str, data_dir: Path, *, clock: Clock | None = None
) -> ServiceContext:
    """One service's context on the database at `url`, without starting it (a replica
    a test drives by hand); its embedded bus is never started, so nothing is published."""
    settings = embedded_settings(data_dir, database_url=url)
    bus = EmbeddedBus(data_dir / "bus.db")
    return ServiceRuntime(definition, settings, bus, clock or Clock()).ctx


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


_NEXT = re.compile(r'<(/v1/[^>]+)>; rel="next"')


async def every_page(
    sp: Signpost, path: str, headers: dict[str, str], **params: Any
) -> tuple[list[dict[str, Any]], list[str]]:
    """Every row of the list at `path`, from the first page to the last by following its
    `Link: rel="next"` (each a link to the same list), and each link followed."""
    r = await sp.client.get(path, params=params, headers=headers)
    listed: list[dict[str, Any]] = []
    links: list[str] = []
    while True:
        assert r.status_code == 200, r.text
        listed += r.json()
        link = r.headers.get("link")
        if link is None:
            return listed, links
        found = _NEXT.fullmatch(link)
        assert found is not None, link
        assert found[1].startswith(path + "?"), link
        links.append(found[1])
        assert len(links) < 50, "the links never end"
        r = await sp.client.get(found[1], headers=headers)
