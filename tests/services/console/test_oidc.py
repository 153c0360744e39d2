"""Signing in to the console through a real OpenID Connect provider.

The provider is panva's certified `oidc-provider` (tests/services/console/oidc_provider),
started once for this module on a free loopback port, with PKCE required of every
client. The browser is one httpx client: it opens /console/oidc/start on the embedded
app, goes over real HTTP to the provider, signs in and consents on the provider's own
forms, and comes back to the app's callback; the app exchanges the code and reads the
provider's keys over real HTTP too.

Time: the provider signs real-time `iat`/`exp` into its ID tokens, and its cookies
expire by the real calendar in the browser, so it cannot run on a fixed date. Each
app's clock is instead set once, when the test starts, to the wall time (and stopped
there); the app checks the tokens against that clock within
CONSOLE_OIDC_LEEWAY_SECONDS, which covers the seconds a test takes. Nothing depends on
the date, so the tests pass on any day.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import shutil
import socket
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from pydantic import ValidationError
from sqlmodel import select

from services.apps import embedded_app
from services.console.api.oidc import STATE_COOKIE
from services.console.api.pages import SESSION_COOKIE
from services.console.models import ConsoleSession, OidcLogin, Person
from services.console.service.oidc import organisation_from, roles_from
from services.console.settings import ConsoleSettings
from shared.clock import Clock
from shared.settings import Settings, embedded_settings
from tests.services.conftest import Signpost
from tests.services.console.conftest import PASSWORD, csrf_of, person

PROVIDER_DIR = Path(__file__).parent / "oidc_provider"
APP = "https://signpost"
CALLBACK = f"{APP}/console/oidc/callback"
CLIENT_SECRET = "a-test-secret-for-the-console-only"  # provider.mjs's confidential client
ROLE_MAP = {
    "signpost-hub": ["hub_practitioner"],
    "signpost-admins": ["admin"],
    "signpost-agency": ["agency_worker"],
}


def account(
    email: str, *groups: str, organisation: str | None = "demoshire-hub", verified: bool = True
) -> dict[str, Any]:
    claims: dict[str, Any] = {
        "email": email,
        "email_verified": verified,
        "name": "Robin Ashe",
        "groups": list(groups),
    }
    if organisation is not None:
        claims["signpost_organisation"] = organisation
    return claims


@dataclass
class Provider:
    """The running provider, and its accounts (read again at every sign-in there)."""

    url: str
    accounts_file: Path

    def accounts(self, **accounts: dict[str, Any]) -> None:
        self.accounts_file.write_text(json.dumps(accounts))


def _unavailable(what: str) -> None:
    # Never a skip: without the provider these claims about sign-in are unproven.
    pytest.fail(f"the test OpenID Connect provider {what}", pytrace=False)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    node, npm = shutil.which("node"), shutil.which("npm")
    if node is None or npm is None:
        _unavailable("needs Node.js 20 or later and npm on the PATH")
    assert node is not None and npm is not None
    if not (PROVIDER_DIR / "node_modules" / "oidc-provider").is_dir():
        installed = subprocess.run(
            [npm, "ci", "--prefix", str(PROVIDER_DIR), "--no-audit", "--no-fund"],
            capture_output=True,
            text=True,
            timeout=300,
        )
        if installed.returncode != 0:
            _unavailable(f"could not be installed (npm ci):\n{installed.stderr[-2000:]}")
    folder = tmp_path_factory.mktemp("oidc-provider")
    port = _free_port()
    found = Provider(url=f"http://127.0.0.1:{port}", accounts_file=folder / "accounts.json")
    found.accounts()
    log = folder / "provider.log"
    with log.open("w") as output:
        process = subprocess.Popen(
            [node, str(PROVIDER_DIR / "provider.mjs"), str(port), str(found.accounts_file)],
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while True:
            if process.poll() is not None:
                _unavailable(f"stopped as it started:\n{log.read_text()[-2000:]}")
            try:
                ready = httpx.get(f"{found.url}/.well-known/openid-configuration", timeout=2)
                if ready.status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                _unavailable(f"did not answer within 30 s:\n{log.read_text()[-2000:]}")
            time.sleep(0.1)
        yield found
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@asynccontextmanager
async def console(
    provider: Provider, data: Path, **overrides: object
) -> AsyncIterator[tuple[Signpost, Clock]]:
    """An embedded Signpost whose console signs in through `provider`, its clock set to
    now (see the module's docstring), and a browser reaching both."""
    options: dict[str, object] = {
        "console_public_url": APP,  # so the callback is https://signpost/console/oidc/callback
        "console_oidc_issuer": provider.url,
        "console_oidc_client_id": "signpost-console",
        "console_oidc_client_secret": CLIENT_SECRET,
        "console_oidc_role_map": ROLE_MAP,
        "console_oidc_leeway_seconds": 30,
        **overrides,
    }
    clock = Clock(datetime.now(UTC))
    app = embedded_app(embedded_settings(data, auth_cache_seconds=0, **options), clock=clock)
    async with app.router.lifespan_context(app):
        async with browser_of(app, provider) as client:
            yield Signpost(app, client, app.state.key_registry), clock


@asynccontextmanager
async def browser_of(app: Any, provider: Provider) -> AsyncIterator[httpx.AsyncClient]:
    """A browser with its own cookies: the app in process, the provider over HTTP."""
    mounts = {
        "all://signpost": httpx.ASGITransport(app=app, raise_app_exceptions=False),
        f"all://127.0.0.1:{urlsplit(provider.url).port}": httpx.AsyncHTTPTransport(),
    }
    async with httpx.AsyncClient(mounts=mounts, base_url=APP) as client:
        yield client


@pytest.fixture
async def sp(provider: Provider, tmp_path: Path) -> AsyncIterator[Signpost]:
    async with console(provider, tmp_path / "var") as (signpost, _):
        yield signpost


def _action(page: str) -> str:
    found = re.search(r'<form[^>]*action="([^"]+)"', page)
    assert found, page
    return found.group(1)


async def to_callback(browser: httpx.AsyncClient, login: str, *, consent: bool = True) -> str:
    """Start at the console, sign in as `login` at the provider (consenting, or
    cancelling there) and return the callback URL the provider sends the browser to."""
    answer = await browser.get("/console/oidc/start")
    assert answer.status_code == 303, answer.text
    for _ in range(12):
        if answer.is_redirect:
            location = str(answer.next_request.url if answer.next_request else "")
            if location.startswith(CALLBACK):
                return location
            answer = await browser.get(location)
        elif 'name="login"' in answer.text:
            answer = await browser.post(
                _action(answer.text), data={"prompt": "login", "login": login, "password": "x"}
            )
        elif 'value="consent"' in answer.text and consent:
            answer = await browser.post(_action(answer.text), data={"prompt": "consent"})
        elif 'value="consent"' in answer.text:
            answer = await browser.get(_action(answer.text) + "/abort")
        else:
            raise AssertionError(f"unexpected page at the provider: {answer.text[:500]}")
    raise AssertionError("the provider never sent the browser back")


async def sign_in(browser: httpx.AsyncClient, login: str) -> httpx.Response:
    """The app's answer to the callback after signing in as `login` at the provider."""
    return await browser.get(await to_callback(browser, login))


async def person_row(sp: Signpost, email: str) -> Person | None:
    async with sp.app.state.runtimes["console"].ctx.units.begin() as uow:
        return (await uow.session.exec(select(Person).where(Person.email == email))).first()


def session_cookie(answer: httpx.Response) -> bool:
    return any(SESSION_COOKIE + "=" in h for h in answer.headers.get_list("set-cookie"))


# ------------------------------------------------------------------ end to end


async def test_a_person_in_a_mapped_group_signs_in_with_the_mapped_role_and_organisation(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("Robin@Demo.example", "signpost-hub", "unmapped-group"))
    answer = await sign_in(sp.client, "robin")
    assert answer.status_code == 303 and answer.headers["location"] == "/console/"
    cookie = next(h for h in answer.headers.get_list("set-cookie") if SESSION_COOKIE in h)
    assert "HttpOnly" in cookie and "Secure" in cookie and "SameSite=lax" in cookie
    queue = await sp.client.get("/console/", follow_redirects=True)
    assert queue.status_code == 200 and str(queue.url) == f"{APP}/console/queue"
    assert "Robin Ashe" in queue.text and "Hub practitioner" in queue.text
    row = await person_row(sp, "robin@demo.example")
    assert row is not None
    assert row.oidc_subject == "robin"
    assert row.roles == ["hub_practitioner"]
    assert row.organisation == "demoshire-hub"
    assert row.password_hash is None


async def test_the_authorization_request_carries_the_s256_code_challenge_of_the_kept_verifier(
    sp: Signpost, provider: Provider
) -> None:
    answer = await sp.client.get("/console/oidc/start")
    assert answer.status_code == 303
    url = answer.headers["location"]
    assert url.startswith(provider.url + "/")
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    assert query["code_challenge_method"] == "S256"
    assert query["redirect_uri"] == CALLBACK and query["response_type"] == "code"
    assert query["nonce"] and query["state"]
    assert set(query["scope"].split()) == {"openid", "email", "profile"}
    async with sp.app.state.runtimes["console"].ctx.units.begin() as uow:
        login = await uow.session.get(OidcLogin, query["state"])
    assert login is not None and login.nonce == query["nonce"]
    digest = hashlib.sha256(login.code_verifier.encode()).digest()
    assert query["code_challenge"] == base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


async def test_the_provider_requires_pkce_so_a_request_without_a_code_challenge_fails(
    provider: Provider,
) -> None:
    # The end-to-end sign-ins above succeed only because the console sends PKCE: this
    # provider, like a council's configured for it, refuses an authorization without.
    async with httpx.AsyncClient() as browser:
        answer = await browser.get(
            f"{provider.url}/auth",
            params={
                "client_id": "signpost-console",
                "response_type": "code",
                "scope": "openid",
                "redirect_uri": CALLBACK,
                "state": "s",
                "nonce": "n",
            },
        )
    assert answer.status_code == 303
    refused = parse_qs(urlsplit(answer.headers["location"]).query)
    assert refused["error"] == ["invalid_request"]
    assert "PKCE" in refused["error_description"][0]


async def test_a_replayed_callback_is_refused_even_with_its_state_cookie(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    callback = await to_callback(sp.client, "robin")
    state = parse_qs(urlsplit(callback).query)["state"][0]
    first = await sp.client.get(callback)
    assert first.status_code == 303 and session_cookie(first)
    async with browser_of(sp.app, provider) as thief:
        again = await thief.get(callback, headers={"cookie": f"{STATE_COOKIE}={state}"})
    assert again.status_code == 400
    assert "This sign-in cannot be used" in again.text and "Traceback" not in again.text
    assert not session_cookie(again)


async def test_a_callback_from_another_browser_without_the_state_cookie_is_refused(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    callback = await to_callback(sp.client, "robin")
    async with browser_of(sp.app, provider) as victim:
        answer = await victim.get(callback)
    assert answer.status_code == 400
    assert "not started in this browser" in answer.text
    assert not session_cookie(answer)
    # The sign-in itself is still the browser's that began it.
    assert (await sp.client.get(callback)).status_code == 303


async def test_a_person_whose_groups_map_to_no_role_is_refused_and_gets_no_account(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(kim=account("kim@demo.example", "finance", "everyone"))
    answer = await sign_in(sp.client, "kim")
    assert answer.status_code == 403
    assert "Your account has no Signpost role" in answer.text
    assert not session_cookie(answer)
    assert await person_row(sp, "kim@demo.example") is None
    assert (await sp.client.get("/console/queue")).headers["location"] == "/console/sign-in"


async def test_a_group_removed_at_the_provider_removes_its_role_at_the_next_sign_in(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub", "signpost-admins"))
    assert (await sign_in(sp.client, "robin")).status_code == 303
    row = await person_row(sp, "robin@demo.example")
    assert row is not None and row.roles == ["hub_practitioner", "admin"]

    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    async with browser_of(sp.app, provider) as second:
        assert (await sign_in(second, "robin")).status_code == 303
    row = await person_row(sp, "robin@demo.example")
    assert row is not None and row.roles == ["hub_practitioner"]

    # Every group gone: refused, and the sessions still open end with it.
    provider.accounts(robin=account("robin@demo.example"))
    async with browser_of(sp.app, provider) as third:
        refused = await sign_in(third, "robin")
    assert refused.status_code == 403 and not session_cookie(refused)
    assert (await sp.client.get("/console/queue")).headers["location"] == "/console/sign-in"


async def test_a_disabled_person_cannot_sign_in_through_the_provider(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    assert (await sign_in(sp.client, "robin")).status_code == 303
    async with sp.app.state.runtimes["console"].ctx.units.begin() as uow:
        row = (await uow.session.exec(select(Person).where(Person.oidc_subject == "robin"))).one()
        row.disabled_at = uow.now()
        uow.session.add(row)
    async with browser_of(sp.app, provider) as again:
        answer = await sign_in(again, "robin")
    assert answer.status_code == 403
    assert "This account is disabled" in answer.text
    assert not session_cookie(answer)


async def test_a_local_account_of_the_same_verified_email_and_organisation_is_linked(
    sp: Signpost, provider: Provider
) -> None:
    local_id = await person(sp, "robin@demo.example", "demoshire-hub", "hub_practitioner")
    provider.accounts(robin=account("robin@demo.example", "signpost-hub", "signpost-admins"))
    assert (await sign_in(sp.client, "robin")).status_code == 303
    row = await person_row(sp, "robin@demo.example")
    assert row is not None
    assert row.id == local_id and row.oidc_subject == "robin"
    assert row.roles == ["hub_practitioner", "admin"]


async def test_a_local_account_is_not_linked_to_an_unverified_email_or_another_organisation(
    sp: Signpost, provider: Provider
) -> None:
    await person(sp, "robin@demo.example", "demoshire-hub", "hub_practitioner")
    provider.accounts(
        unverified=account("robin@demo.example", "signpost-hub", verified=False),
        elsewhere=account("robin@demo.example", "signpost-agency", organisation="demo-agency"),
    )
    unverified = await sign_in(sp.client, "unverified")
    assert unverified.status_code == 403 and "not verified" in unverified.text
    async with browser_of(sp.app, provider) as other:
        elsewhere = await sign_in(other, "elsewhere")
    assert elsewhere.status_code == 409 and "another organisation" in elsewhere.text
    row = await person_row(sp, "robin@demo.example")
    assert row is not None and row.oidc_subject is None


async def test_groups_whose_roles_do_not_combine_are_refused_with_a_reason(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub", "signpost-agency"))
    answer = await sign_in(sp.client, "robin")
    assert answer.status_code == 403
    assert "do not go together" in answer.text and "do not combine" in answer.text
    assert not session_cookie(answer)


async def test_a_person_with_no_organisation_claim_takes_the_configured_one_or_is_refused(
    provider: Provider, tmp_path: Path
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-agency", organisation=None))
    async with console(provider, tmp_path / "without") as (sp, _):
        refused = await sign_in(sp.client, "robin")
        assert refused.status_code == 403 and "no organisation" in refused.text
    async with console(provider, tmp_path / "with", console_oidc_organisation="demo-agency") as (
        sp,
        _,
    ):
        assert (await sign_in(sp.client, "robin")).status_code == 303
        row = await person_row(sp, "robin@demo.example")
        assert row is not None and row.organisation == "demo-agency"


async def test_cancelling_at_the_provider_comes_back_as_access_denied_and_a_page(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    callback = await to_callback(sp.client, "robin", consent=False)
    assert parse_qs(urlsplit(callback).query)["error"] == ["access_denied"]
    answer = await sp.client.get(callback)
    assert answer.status_code == 403
    assert "did not sign you in" in answer.text and "Traceback" not in answer.text
    assert not session_cookie(answer)


async def test_an_id_token_issued_after_the_console_clock_plus_leeway_is_refused(
    provider: Provider, tmp_path: Path
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    async with console(provider, tmp_path / "var") as (sp, clock):
        callback = await to_callback(sp.client, "robin")
        # The console's clock an hour behind the provider's: the token is from its future.
        clock.advance(timedelta(hours=-1))
        answer = await sp.client.get(callback)
    assert answer.status_code == 401
    assert "ID token did not pass its checks" in answer.text
    assert not session_cookie(answer)


async def test_a_public_client_signs_in_with_pkce_and_no_secret(
    provider: Provider, tmp_path: Path
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    async with console(
        provider,
        tmp_path / "var",
        console_oidc_client_id="signpost-console-public",
        console_oidc_client_secret="",
    ) as (sp, _):
        answer = await sign_in(sp.client, "robin")
        assert answer.status_code == 303 and session_cookie(answer)


async def test_a_session_begun_at_the_provider_ends_by_signing_out_like_a_local_one(
    sp: Signpost, provider: Provider
) -> None:
    provider.accounts(robin=account("robin@demo.example", "signpost-hub"))
    assert (await sign_in(sp.client, "robin")).status_code == 303
    queue = await sp.client.get("/console/queue")
    await sp.client.post("/console/sign-out-everywhere", data={"csrf": csrf_of(queue.text)})
    assert (await sp.client.get("/console/queue")).headers["location"] == "/console/sign-in"
    async with sp.app.state.runtimes["console"].ctx.units.begin() as uow:
        sessions = (await uow.session.exec(select(ConsoleSession))).all()
    assert len(sessions) == 1 and sessions[0].ended_at is not None


async def test_the_sign_in_page_offers_the_provider_and_hides_passwords_when_told(
    provider: Provider, tmp_path: Path
) -> None:
    async with console(provider, tmp_path / "both") as (sp, _):
        both = await sp.client.get("/console/sign-in")
        assert 'href="/console/oidc/start"' in both.text and 'name="password"' in both.text
    async with console(provider, tmp_path / "only", console_local_accounts=False) as (sp, _):
        only = await sp.client.get("/console/sign-in")
        assert 'href="/console/oidc/start"' in only.text
        assert 'name="password"' not in only.text
        # Hidden is not enough: a password posted straight to the form is refused too.
        await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
        posted = await sp.client.post(
            "/console/sign-in",
            data={"email": "hub@demo.example", "password": PASSWORD, "csrf": "x"},
        )
        assert posted.status_code == 403 and "Passwords are not used here" in posted.text
        assert "signpost_console=" not in posted.headers.get("set-cookie", "")


async def test_without_an_issuer_the_console_offers_only_passwords_and_no_oidc_routes(
    provider: Provider, tmp_path: Path
) -> None:
    async with console(provider, tmp_path / "var", console_oidc_issuer="") as (sp, _):
        page = await sp.client.get("/console/sign-in")
        assert "/console/oidc/start" not in page.text and 'name="password"' in page.text
        assert (await sp.client.get("/console/oidc/start")).status_code == 404
        answer = await sp.client.get("/console/oidc/callback?state=x&code=y")
        assert answer.status_code == 404 and "not set up" in answer.text
        await person(sp, "hub@demo.example", "demoshire-hub", "hub_practitioner")
        signed = await sp.client.post(
            "/console/sign-in",
            data={"email": "hub@demo.example", "password": PASSWORD, "csrf": csrf_of(page.text)},
        )
        assert signed.status_code == 303


async def test_a_provider_that_cannot_be_reached_gives_a_page_to_try_again_later(
    provider: Provider, tmp_path: Path
) -> None:
    nowhere = f"http://127.0.0.1:{_free_port()}"
    async with console(provider, tmp_path / "var", console_oidc_issuer=nowhere) as (sp, _):
        answer = await sp.client.get("/console/oidc/start")
    assert answer.status_code == 503 and answer.headers["retry-after"]
    assert "could not be reached" in answer.text and "Traceback" not in answer.text


# ------------------------------------------------------------------ pure mapping, settings


def test_roles_come_from_mapped_groups_once_each_in_roles_order() -> None:
    claims = {"groups": ["signpost-admins", "signpost-hub", "signpost-admins", "other", 7]}
    assert roles_from(claims, claim="groups", role_map=ROLE_MAP) == ["hub_practitioner", "admin"]


def test_no_role_comes_from_an_absent_or_unmapped_or_malformed_claim() -> None:
    for claims in ({}, {"groups": ["other"]}, {"groups": {"signpost-hub": True}}, {"groups": 1}):
        assert roles_from(claims, claim="groups", role_map=ROLE_MAP) == []


def test_a_single_group_given_as_a_string_counts_as_one_group() -> None:
    claims = {"roles": "signpost-agency"}
    assert roles_from(claims, claim="roles", role_map=ROLE_MAP) == ["agency_worker"]


def test_the_organisation_claim_wins_over_the_configured_default() -> None:
    claim = "signpost_organisation"
    given = {claim: " demo-agency "}
    assert organisation_from(given, claim=claim, default="demoshire-hub") == "demo-agency"
    assert organisation_from({}, claim=claim, default="demoshire-hub") == "demoshire-hub"
    assert organisation_from({claim: ""}, claim=claim, default="") is None


def _oidc(**values: object) -> ConsoleSettings:
    base: dict[str, object] = {
        "console_oidc_issuer": "https://login.example.org/tenant/v2.0",
        "console_oidc_client_id": "signpost",
        "console_oidc_role_map": {"hub": ["hub_practitioner"]},
    }
    return ConsoleSettings(**{**base, **values})  # type: ignore[arg-type]


def test_an_unknown_role_in_the_role_map_stops_the_console_naming_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSOLE_OIDC_ROLE_MAP", json.dumps({"hub": ["hub_practicioner"]}))
    with pytest.raises(ValidationError, match=r"unknown role.*hub_practicioner"):
        Settings(mode="embedded").service_settings(ConsoleSettings)


def test_the_role_map_is_read_from_the_environment_as_json(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("CONSOLE_OIDC_ROLE_MAP", json.dumps({"hub": ["hub_practitioner"]}))
    settings = Settings(mode="embedded").service_settings(ConsoleSettings)
    assert settings.console_oidc_role_map == {"hub": ["hub_practitioner"]}


def test_a_group_mapped_to_roles_that_do_not_combine_stops_the_console() -> None:
    with pytest.raises(ValidationError, match="group 'mixed'"):
        _oidc(console_oidc_role_map={"mixed": ["hub_practitioner", "school_dsl"]})


def test_an_issuer_that_is_not_https_is_refused_unless_on_the_loopback_address() -> None:
    with pytest.raises(ValidationError, match="https"):
        _oidc(console_oidc_issuer="http://login.example.org")
    for loopback in ("http://127.0.0.1:9000", "http://localhost:9000", "http://[::1]:9000"):
        assert _oidc(console_oidc_issuer=loopback).console_oidc_issuer == loopback


def test_an_issuer_without_a_client_id_or_a_role_map_or_openid_is_refused() -> None:
    for values, said in (
        ({"console_oidc_client_id": ""}, "CLIENT_ID"),
        ({"console_oidc_role_map": {}}, "maps no group"),
        ({"console_oidc_scopes": "email profile"}, "openid"),
    ):
        with pytest.raises(ValidationError, match=said):
            _oidc(**values)


def test_a_settings_error_never_shows_the_client_secret() -> None:
    with pytest.raises(ValidationError) as raised:
        _oidc(console_oidc_client_secret="s3cret-value", console_oidc_client_id="")
    assert "s3cret-value" not in str(raised.value)


def test_the_callback_is_derived_from_the_public_url_unless_given() -> None:
    assert _oidc(console_public_url="https://console.example.org/").oidc_callback_url() == (
        "https://console.example.org/console/oidc/callback"
    )
    given = "https://sso.example.org/signpost/callback"
    assert _oidc(console_oidc_redirect_url=given).oidc_callback_url() == given
