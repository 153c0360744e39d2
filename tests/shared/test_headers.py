"""Every response says `nosniff`; every answer but the API's description says
`no-store` (and a route cannot loosen it); an unexpected error's 500 carries both; a
streamed body still streams."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI, Response
from fastapi.responses import StreamingResponse

from shared.headers import SecurityHeaders, cacheable, install_security_headers
from shared.problems import NotFound, install_problem_handlers


def app_with_routes() -> FastAPI:
    app = FastAPI()
    install_problem_handlers(app)
    install_security_headers(app)

    @app.get("/v1/things/{thing}")
    async def thing(thing: str) -> dict[str, str]:
        if thing == "missing":
            raise NotFound("thing")
        return {"thing": thing}

    @app.get("/v1/cached")
    async def cached(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "public, max-age=3600"
        return {}

    @app.get("/v1/boom")
    async def boom() -> None:
        raise RuntimeError("unexpected")

    @app.get("/v1/stream")
    async def stream() -> StreamingResponse:
        async def chunks() -> AsyncIterator[bytes]:
            for n in range(3):
                yield f"chunk {n}\n".encode()

        return StreamingResponse(chunks(), media_type="text/plain")

    @app.get("/public")
    async def public(response: Response) -> dict[str, str]:
        response.headers["Cache-Control"] = "public, max-age=60"
        return {}

    return app


def client(app: FastAPI) -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url="http://test")


async def test_an_api_answer_is_nosniff_and_no_store() -> None:
    async with client(app_with_routes()) as c:
        r = await c.get("/v1/things/a")
    assert r.status_code == 200
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


async def test_problem_answers_under_v1_are_nosniff_and_no_store() -> None:
    async with client(app_with_routes()) as c:
        missing = await c.get("/v1/things/missing")
        unrouted = await c.get("/v1/nothing-here")
    for r in (missing, unrouted):
        assert r.status_code == 404
        assert r.headers["content-type"] == "application/problem+json"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"


async def test_an_unexpected_errors_500_carries_both_headers() -> None:
    async with client(app_with_routes()) as c:
        r = await c.get("/v1/boom")
    assert r.status_code == 500
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


async def test_a_route_under_v1_cannot_loosen_no_store() -> None:
    async with client(app_with_routes()) as c:
        r = await c.get("/v1/cached")
    assert r.headers.get_list("cache-control") == ["no-store"]


async def test_outside_v1_too_answers_are_no_store_whatever_the_route_set() -> None:
    async with client(app_with_routes()) as c:
        r = await c.get("/public")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers.get_list("cache-control") == ["no-store"]


async def test_only_the_api_description_may_be_cached() -> None:
    async with client(app_with_routes()) as c:
        answers = [await c.get(path) for path in ("/openapi.json", "/docs", "/redoc")]
    for r in answers:
        assert r.status_code == 200
        assert r.headers["x-content-type-options"] == "nosniff"
        assert "cache-control" not in r.headers


async def test_a_streamed_body_streams_whole_with_the_headers() -> None:
    async with client(app_with_routes()) as c, c.stream("GET", "/v1/stream") as r:
        chunks = [chunk async for chunk in r.aiter_bytes()]
    assert b"".join(chunks) == b"chunk 0\nchunk 1\nchunk 2\n"
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["cache-control"] == "no-store"


async def test_the_headers_are_set_once_not_repeated() -> None:
    app = app_with_routes()
    install_security_headers(app)  # twice: still one of each
    async with client(app) as c:
        r = await c.get("/v1/things/a")
    assert r.headers.get_list("x-content-type-options") == ["nosniff"]
    assert r.headers.get_list("cache-control") == ["no-store"]


async def test_other_asgi_traffic_passes_through_untouched() -> None:
    seen: list[str] = []

    async def inner(scope: dict[str, object], receive: object, send: object) -> None:
        seen.append(str(scope["type"]))

    await SecurityHeaders(inner)({"type": "lifespan"}, None, None)  # type: ignore[arg-type]
    assert seen == ["lifespan"]


def test_what_is_cacheable_is_the_api_description_and_the_vocabulary_alone() -> None:
    assert cacheable("/openapi.json") and cacheable("/docs") and cacheable("/redoc")
    # The concern vocabulary: the same for everyone, no personal data, fetched with an ETag.
    assert cacheable("/v1/vocabulary")
    for path in (
        "/v1/referrals/ref_1/report",
        "/v1/encompass/notices",
        "/v1/vocabulary/x",
        "/v1/vocabulary/",
        "/v1/reports",
        "/demo/sink",
        "/healthz",
        "/docs/../v1/x",
        "/openapi.json/x",
        "",
    ):
        assert not cacheable(path), path
