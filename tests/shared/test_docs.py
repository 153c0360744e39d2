"""The API's documentation pages work offline: `/docs` and `/redoc` in a whole Signpost
load their JavaScript, stylesheet and icon from the app itself, never from a CDN."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from services.apps import embedded_app
from shared.docs import MEDIA_TYPES
from shared.headers import cacheable
from shared.settings import embedded_settings

ASSET = re.compile(r"""(?:src|href)\s*=\s*["']([^"']+)["']|url:\s*['"]([^'"]+)['"]""")


@pytest.fixture
async def client(tmp_path: Path) -> AsyncIterator[httpx.AsyncClient]:
    """A whole embedded Signpost, as a browser on a machine with no internet reaches it."""
    app = embedded_app(embedded_settings(tmp_path / "var"))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as c:
            yield c


def referenced(page: str) -> list[str]:
    """Every URL a documentation page loads or points its viewer at."""
    return [a or b for a, b in ASSET.findall(page)]


@pytest.mark.app
async def test_the_docs_pages_load_nothing_from_another_host(client: httpx.AsyncClient) -> None:
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        assert page.status_code == 200
        urls = referenced(page.text)
        assert urls, f"{path} references its assets"
        assert all(url.startswith("/") for url in urls), (path, urls)
        assert "googleapis" not in page.text and "jsdelivr" not in page.text


@pytest.mark.app
async def test_every_asset_the_docs_pages_reference_is_served_with_its_media_type(
    client: httpx.AsyncClient,
) -> None:
    served: set[str] = set()
    for path in ("/docs", "/redoc"):
        page = await client.get(path)
        for url in referenced(page.text):
            if not url.startswith("/docs/assets/"):
                assert url in ("/openapi.json", "/docs/oauth2-redirect"), url
                continue
            asset = await client.get(url)
            name = url.removeprefix("/docs/assets/")
            assert asset.status_code == 200, url
            assert asset.headers["content-type"].startswith(MEDIA_TYPES[name])
            assert len(asset.content) > 100
            assert "no-store" not in asset.headers.get("cache-control", "")
            served.add(name)
    # The Swagger UI script and stylesheet, ReDoc's script, the icon.
    assert served == set(MEDIA_TYPES)


@pytest.mark.app
async def test_only_the_shipped_assets_are_served(client: httpx.AsyncClient) -> None:
    for url in ("/docs/assets/../docs.py", "/docs/assets/docs.py", "/docs/assets/nope.js"):
        answer = await client.get(url)
        assert answer.status_code == 404, url
        assert answer.headers["content-type"].startswith("application/problem+json")


def test_the_docs_assets_may_be_cached_and_nothing_else_beside_them() -> None:
    assert cacheable("/docs/assets/swagger-ui-5.35.0.css")
    assert not cacheable("/docs/other")
    assert not cacheable("/v1/docs/assets/x.js")
