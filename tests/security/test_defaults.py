"""Defaults a reviewer expects, on the whole embedded Signpost: every response says
`nosniff`; what holds a child's details (the claim check, Encompass notices, the
referral views) and every other answer but the API's description, problems included,
says `no-store`; the data folder is its owner's alone (0700) and so is every file in
it (0600: each SQLite database, its write-ahead files, and the event log that holds
whole reports), whatever the umask."""

from __future__ import annotations

import asyncio
import os
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from services.apps import embedded_app
from shared.settings import embedded_settings
from tests.services.conftest import Signpost, bearer
from tests.services.intake.conftest import example

# Saturday morning after the Friday-night incident of the domestic abuse example.
SATURDAY = datetime(2026, 11, 28, 10, 0, tzinfo=UTC)

pytestmark = pytest.mark.app


def start(data_dir: Path) -> Any:
    settings = embedded_settings(data_dir, auth_cache_seconds=0, webhook_allow_private=True)
    return embedded_app(settings)


@pytest.fixture
async def signpost(tmp_path: Path) -> AsyncIterator[Signpost]:
    app = start(tmp_path / "var")
    async with app.router.lifespan_context(app):
        app.state.clock.set(SATURDAY)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            yield Signpost(app, client, app.state.key_registry)


def assert_private(answer: httpx.Response) -> None:
    """Neither sniffed by a browser nor kept by any cache."""
    assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
    assert answer.headers["cache-control"] == "no-store", answer.request.url


async def eventually(check: Any, within: float = 15.0) -> Any:
    async with asyncio.timeout(within):
        while not (found := await check()):
            await asyncio.sleep(0.05)
    return found


async def reported(sp: Signpost) -> tuple[str, str]:
    """The domestic abuse example (Maya, and her brother Noah), once routed; and the
    police key that reported it."""
    police = await sp.key("police", "demo-police", "reports:write", "reports:read")
    answer = await sp.client.post(
        "/v1/reports", json=example("police-domestic-abuse-report.json"), headers=bearer(police)
    )
    assert answer.status_code == 202, answer.text
    referral_id: str = answer.json()["referral_id"]

    async def routed() -> bool:
        view = await sp.client.get(f"/v1/reports/{referral_id}", headers=bearer(police))
        return bool(view.json().get("destination"))

    await eventually(routed)
    return referral_id, police


async def test_every_kind_of_response_says_nosniff(signpost: Signpost) -> None:
    key = await signpost.key("police", "demo-police", "reports:write")
    answers = [
        await signpost.client.get("/healthz"),
        await signpost.client.get("/readyz"),
        await signpost.client.get("/openapi.json"),
        await signpost.client.get("/docs"),
        await signpost.client.get("/v1/vocabulary"),
        await signpost.client.get("/no-such-page"),  # 404 outside the API
        await signpost.client.get("/v1/reports/ref_x"),  # 401
        await signpost.client.get("/v1/referrals", headers=bearer(key)),  # 403
        await signpost.client.post("/v1/reports", json={}, headers=bearer(key)),  # 422
    ]
    assert [a.status_code for a in answers] == [200, 200, 200, 200, 200, 404, 401, 403, 422]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
    # Only the API's description and the concern vocabulary, the same for everyone, may
    # be cached; the vocabulary asks for revalidation with its ETag.
    cached = {a.request.url.path for a in answers if a.headers.get("cache-control") != "no-store"}
    assert cached == {"/openapi.json", "/docs", "/v1/vocabulary"}
    assert {a.headers.get("cache-control") for a in answers} == {None, "no-store", "no-cache"}
    [vocabulary] = [a for a in answers if a.request.url.path == "/v1/vocabulary"]
    assert vocabulary.headers["cache-control"] == "no-cache" and vocabulary.headers["etag"]


async def test_the_claim_check_is_never_stored(signpost: Signpost) -> None:
    referral_id, _ = await reported(signpost)
    hub = await signpost.key("hub", "demoshire-hub", "referrals:read")
    answer = await signpost.client.get(f"/v1/referrals/{referral_id}/report", headers=bearer(hub))
    assert answer.status_code == 200, answer.text
    assert answer.json()["report"]["child"]["given_name"] == "Maya"  # a child's details
    assert_private(answer)


async def test_encompass_notices_are_never_stored(signpost: Signpost) -> None:
    await reported(signpost)
    school = bearer(await signpost.key("school", "100001", "encompass:read"))

    async def listed() -> list[dict[str, Any]]:
        answer = await signpost.client.get("/v1/encompass/notices", headers=school)
        assert_private(answer)
        found: list[dict[str, Any]] = answer.json()
        return found

    [notice] = await eventually(listed)
    content = await signpost.client.get(
        f"/v1/encompass/notices/{notice['notice_id']}", headers=school
    )
    assert content.status_code == 200, content.text
    assert "Maya" in content.text
    assert_private(content)


async def test_referral_views_are_never_stored(signpost: Signpost) -> None:
    referral_id, police = await reported(signpost)
    hub = bearer(await signpost.key("hub", "demoshire-hub", "referrals:read"))
    views = [
        await signpost.client.get("/v1/referrals", headers=hub),
        await signpost.client.get(f"/v1/referrals/{referral_id}/routing", headers=hub),
        await signpost.client.get(f"/v1/referrals/{referral_id}/triage", headers=hub),
        # The referrer's own view of its report.
        await signpost.client.get(f"/v1/reports/{referral_id}", headers=bearer(police)),
    ]
    for view in views:
        assert view.status_code == 200, view.text
        assert_private(view)


async def test_problem_answers_are_nosniff_and_never_stored(tmp_path: Path) -> None:
    settings = embedded_settings(
        tmp_path / "var", auth_cache_seconds=0, rate_limit_per_minute=1, rate_limit_burst=1
    )
    app = embedded_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            sp = Signpost(app, client, app.state.key_registry)
            hub = bearer(await sp.key("hub", "demoshire-hub", "referrals:read"))
            unauthorised = await client.get("/v1/referrals/ref_x/report")
            not_found = await client.get("/v1/referrals/ref_x/report", headers=hub)
            limited = await client.get("/v1/referrals/ref_x/report", headers=hub)
    assert [unauthorised.status_code, not_found.status_code, limited.status_code] == [
        401,
        404,
        429,
    ]
    for answer in (unauthorised, not_found, limited):
        assert answer.headers["content-type"] == "application/problem+json"
        assert_private(answer)


@pytest.fixture
def permissive_umask() -> Iterator[None]:
    """A umask that lets everyone read what is created (as a careless shell's might)."""
    previous = os.umask(0)
    try:
        yield
    finally:
        os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.usefixtures("permissive_umask")
async def test_the_data_folder_and_every_file_in_it_are_their_owners_alone(
    tmp_path: Path,
) -> None:
    data = tmp_path / "var"
    app = start(data)
    async with app.router.lifespan_context(app):
        app.state.clock.set(SATURDAY)
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://signpost") as client:
            await reported(Signpost(app, client, app.state.key_registry))
        files = {p.name: mode(p) for p in data.iterdir()}
        # Whole reports are in the event log (and so a child's name), as in intake's
        # database.
        log_bytes = b"".join(p.read_bytes() for p in data.glob("events.db*"))
        assert b"Maya" in log_bytes
    assert mode(data) == 0o700
    for database in ("intake", "triage", "routing", "notify", "keys", "events"):
        for name in (f"{database}.db", f"{database}.db-wal", f"{database}.db-shm"):
            assert name in files, sorted(files)
    assert "pseudonym.secret" in files
    assert files == {name: 0o600 for name in files}


async def test_a_data_folder_left_open_is_closed_at_start(tmp_path: Path) -> None:
    data = tmp_path / "var"
    data.mkdir()
    data.chmod(0o755)
    (data / "intake.db").touch()
    (data / "intake.db").chmod(0o644)
    app = start(data)
    async with app.router.lifespan_context(app):
        assert mode(data) == 0o700
        assert mode(data / "intake.db") == 0o600


@pytest.mark.usefixtures("permissive_umask")
def test_the_demo_sinks_log_of_notices_is_its_owners_alone(tmp_path: Path) -> None:
    from services.demo.sink import DemoSink
    from services.notify.webhooks import new_secret

    log_file = tmp_path / "var" / "demo-sink.jsonl"
    DemoSink(new_secret(), log_file)
    assert stat.S_IMODE(log_file.stat().st_mode) == 0o600


async def test_the_standalone_demo_sink_never_lets_its_notices_be_stored(tmp_path: Path) -> None:
    from services.demo.sink_app import create_app
    from services.notify.webhooks import new_secret

    app = create_app(new_secret(), tmp_path / "demo-sink.jsonl")
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://sink") as client:
        answer = await client.get("/demo/sink")
    assert answer.status_code == 200
    assert_private(answer)
