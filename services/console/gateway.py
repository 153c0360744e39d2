"""The console reads and acts only through the four services' APIs, as the signed-in
person: each call carries a person token the console mints for it (valid a minute),
so the services authorise people exactly as they authorise keys, and record who did
what. Embedded mode calls the services in this process (the same app, through its
whole middleware stack); distributed mode calls each over HTTP (CONSOLE_*_URL).

A page calls them for the person signed in on its request (`Services(request, ...)`); a
loop, which has no request, for a person it works for (`Services.for_app`, with the app
the console runs in: `app_of(ctx)`)."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import httpx
from fastapi import FastAPI, Request

from services.console.models import Person as PersonRow
from services.console.settings import ConsoleSettings
from shared.people import Person
from shared.person_tokens import PersonTokenSigner
from shared.problems import Problem
from shared.runtime import ServiceContext

SERVICES = ("intake", "triage", "routing", "notify")

# The most pages `Services.get_all` follows: at 500 a page, 100,000 rows (far more open
# referrals than any partnership holds), so a list that never ends cannot hold a page
# open for ever.
MAX_PAGES = 200

log = logging.getLogger(__name__)


def app_of(ctx: ServiceContext) -> FastAPI:
    """The app the console runs in (`build_app` hands it to every service's context), for
    a loop that calls the services: it holds the person-token signer and, in embedded
    mode, the services themselves."""
    app = ctx.state.get("app")
    if not isinstance(app, FastAPI):
        raise RuntimeError(f"{ctx.name} runs outside an app: no services to call")
    return app


def as_person(row: PersonRow) -> Person:
    return Person(id=row.id, name=row.name, organisation=row.organisation, roles=tuple(row.roles))


@asynccontextmanager
async def _reaching(service: str) -> AsyncIterator[None]:
    """A service that cannot be reached (refused, reset, timed out) is a 503 with
    Retry-After, not a 500: the page says to try again shortly."""
    try:
        yield
    except httpx.TransportError as exc:
        log.warning(
            "a service could not be reached",
            extra={"service": service, "error": type(exc).__name__},
        )
        raise Problem(
            503,
            "A service could not answer",
            f"The {service} service could not be reached; try again shortly.",
            type="dependency-unavailable",
            headers={"Retry-After": "5"},
        ) from None


class Services:
    """The services' APIs, called as one person."""

    def __init__(self, request: Request, settings: ConsoleSettings, person: PersonRow) -> None:
        self._bind(request.app, settings, person)

    @classmethod
    def for_app(cls, app: FastAPI, settings: ConsoleSettings, person: PersonRow) -> Services:
        """The services called as `person` without a request (a loop working for them)."""
        services = cls.__new__(cls)
        services._bind(app, settings, person)
        return services

    def _bind(self, app: FastAPI, settings: ConsoleSettings, person: PersonRow) -> None:
        signer: PersonTokenSigner | None = getattr(app.state, "person_token_signer", None)
        if signer is None:
            raise Problem(
                503,
                "The console cannot sign in to the services",
                "PERSON_TOKEN_PRIVATE_KEY is not set for the console.",
                type="console-not-configured",
            )
        self._signer = signer
        self._person = as_person(person)
        self._settings = settings
        self._app = app
        self._embedded = app.state.settings.mode == "embedded"

    def _base(self, service: str) -> str:
        if self._embedded:
            return "http://signpost"
        url: str = getattr(self._settings, f"console_{service}_url")
        if not url:
            raise Problem(
                503,
                "The console cannot reach a service",
                f"CONSOLE_{service.upper()}_URL is not set.",
                type="console-not-configured",
            )
        return url.rstrip("/")

    def _client(self, service: str, *, timeout: float = 10) -> httpx.AsyncClient:
        token = self._signer.mint(self._person)
        headers = {"Authorization": f"Bearer {token}"}
        if self._embedded:
            transport = httpx.ASGITransport(app=self._app)
            return httpx.AsyncClient(
                transport=transport, base_url=self._base(service), headers=headers
            )
        return httpx.AsyncClient(base_url=self._base(service), headers=headers, timeout=timeout)

    async def get(self, service: str, path: str, **params: Any) -> httpx.Response:
        async with self._client(service) as client, _reaching(service):
            return await client.get(path, params={k: v for k, v in params.items() if v})

    async def get_all(self, service: str, path: str, **params: Any) -> httpx.Response:
        """Every page of a list, following its `Link: rel="next"` to the last, as one
        answer: a 200 with every row, or the first page's answer that was not a 200 as
        it came (so `web.answer` treats it as it would one page). A queue is never cut
        short at one page's `limit`."""
        rows: list[Any] = []
        async with self._client(service) as client, _reaching(service):
            response = await client.get(path, params={k: v for k, v in params.items() if v})
            for _ in range(MAX_PAGES):
                if response.status_code != 200:
                    return response
                rows += response.json()
                following = response.links.get("next")
                if following is None:
                    return httpx.Response(200, json=rows, request=response.request)
                response = await client.get(following["url"])
        # Ids and counts only: the path is a list's, never a child's.
        log.warning("list longer than the console reads", extra={"path": path, "rows": len(rows)})
        return httpx.Response(200, json=rows, request=response.request)

    async def post(
        self, service: str, path: str, body: dict[str, Any], *, timeout: float = 10
    ) -> httpx.Response:
        async with self._client(service, timeout=timeout) as client, _reaching(service):
            return await client.post(path, json=body)

    async def post_content(
        self, service: str, path: str, content: bytes, *, media_type: str, timeout: float
    ) -> httpx.Response:
        """A POST of a body that is not one JSON object (a simulation's NDJSON lines),
        with the time a batch may take."""
        async with self._client(service, timeout=timeout) as client, _reaching(service):
            return await client.post(path, content=content, headers={"Content-Type": media_type})
