"""Webhook targets (issue 12, item 3): where notify may send a child's notification.

- In production (distributed mode) a subscription URL is https; plain http only with
  WEBHOOK_ALLOW_HTTP (a development setting), at subscription and at every delivery.
- A URL with a user name or password is refused: credentials go in the subscription's
  own headers, stored sealed, sent with each delivery and never shown back.
- The SSRF guard judges an IPv6 address by every IPv4 address it carries (NAT64,
  6to4, Teredo, IPv4-mapped and -translated), and checks the addresses each
  connection uses, so a name re-pointed at this machine after subscribing (DNS
  rebinding) is refused at delivery.
- The embedded demo's sink on loopback works without lifting the guard for anyone
  else; lifting it for everyone takes WEBHOOK_ALLOW_PRIVATE, which `signpost run`'s
  banner states.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import stat
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from aiohttp.abc import AbstractResolver, ResolveResult
from sqlmodel import SQLModel, col, select, update
from standardwebhooks.webhooks import Webhook

from services.apps import embedded_app
from services.demo.setup import demo_setup
from services.notify import definition
from services.notify.loops import Dispatcher
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.sealed_headers import HeaderSeal, new_key
from services.notify.service import subscriptions
from services.notify.settings import NotifySettings, header_seal, settings_of
from services.notify.ssrf import ForbiddenTarget, GuardedResolver, check_target
from services.notify.ssrf import is_forbidden_address as forbidden
from shared.db import table_of
from shared.outbox import InboxEntry, OutboxMessage
from shared.problems import Problem
from shared.runtime import ServiceContext
from shared.settings import Settings, embedded_settings
from tests.e2e.harness import Process, WebhookSink, free_port, wait_ready
from tests.services.conftest import Signpost, bearer, service_context
from tests.services.conftest import signpost as signpost  # the embedded app, as a fixture

ROUTED = "org.signpost.referral.routed.v1"


def teredo(*, server: str, client: str) -> str:
    """A Teredo address (2001::/32): the server's IPv4 in bits 32 to 64, the client's
    in the last 32 bits, inverted."""
    value = (0x2001 << 112) | (int(ipaddress.IPv4Address(server)) << 64)
    return str(ipaddress.IPv6Address(value | (int(ipaddress.IPv4Address(client)) ^ 0xFFFFFFFF)))


# --- the addresses an IPv6 address carries ------------------------------------------


@pytest.mark.parametrize(
    ("address", "refused"),
    [
        # NAT64, the well-known prefix 64:ff9b::/96: the IPv4 address is the last 32 bits.
        ("64:ff9b::7f00:1", True),  # 127.0.0.1
        ("64:ff9b::a00:5", True),  # 10.0.0.5
        ("64:ff9b::a9fe:a9fe", True),  # 169.254.169.254, cloud metadata
        ("64:ff9b::808:808", False),  # 8.8.8.8: a public host reached through NAT64
        ("64:ff9b:1::808:808", True),  # the local-use NAT64 prefix: a local network
        # 6to4, 2002::/16: the IPv4 address is bits 16 to 48.
        ("2002:7f00:1::", True),  # 127.0.0.1
        ("2002:c0a8:101::1", True),  # 192.168.1.1
        ("2002:a9fe:a9fe::1", True),  # 169.254.169.254
        ("2002:808:808::1", False),  # 8.8.8.8
        # Teredo, 2001::/32: a server and a client IPv4 address (never a public target).
        (teredo(server="8.8.8.8", client="127.0.0.1"), True),
        (teredo(server="10.0.0.1", client="8.8.8.8"), True),
        (teredo(server="8.8.8.8", client="169.254.169.254"), True),
        # IPv4-compatible (deprecated) and IPv4-translated addresses.
        ("::127.0.0.1", True),
        ("::8.8.8.8", True),
        ("::ffff:0:7f00:1", True),  # IPv4-translated 127.0.0.1
        ("::ffff:0:808:808", False),  # IPv4-translated 8.8.8.8
        # IPv4-mapped, as before.
        ("::ffff:127.0.0.1", True),
        ("::ffff:8.8.8.8", False),
        # Site-local (deprecated, still routed inside some networks).
        ("fec0::1", True),
        ("feff::1", True),
    ],
)
def test_an_ipv6_address_is_refused_when_any_ipv4_address_it_carries_is_not_public(
    address: str, refused: bool
) -> None:
    assert forbidden(address) is refused


class Names(AbstractResolver):
    """A resolver whose answers the test sets (and changes: DNS rebinding)."""

    def __init__(self, **names: str) -> None:
        self.names = {name.replace("_", "."): address for name, address in names.items()}

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if host not in self.names:
            raise OSError(f"{host} does not resolve")
        address = self.names[host]
        kind = socket.AF_INET6 if ":" in address else socket.AF_INET
        return [
            ResolveResult(
                hostname=host,
                host=address,
                port=port,
                family=kind,
                proto=0,
                flags=socket.AI_NUMERICHOST,
            )
        ]

    async def close(self) -> None:
        pass


@pytest.mark.parametrize("answer", ["127.0.0.1", "64:ff9b::7f00:1", "2002:a9fe:a9fe::1"])
async def test_a_name_resolving_to_a_wrapped_private_address_is_refused_as_it_connects(
    answer: str,
) -> None:
    resolver = GuardedResolver(lambda: False, inner=Names(partner_test=answer))
    with pytest.raises(ForbiddenTarget):
        await resolver.resolve("partner.test", 443)
    with pytest.raises(ForbiddenTarget):
        await check_target(
            "https://partner.test/hooks", allow_private=False, resolver=Names(partner_test=answer)
        )


# --- DNS rebinding: public when subscribed, this machine at delivery ----------------


async def notify_alone(tmp_path: Path) -> ServiceContext:
    """Notify's context on its own SQLite database, driven by hand (no loops running)."""
    ctx = service_context(definition, f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}", tmp_path)
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
    await ctx.db.create_tables([table_of(m) for m in models])
    return ctx


async def subscribed(ctx: ServiceContext, url: str, **columns: Any) -> str:
    """A subscription to `url` (as the use case stores it once its checks passed) with a
    ping queued to it; returns the ping's webhook-id."""
    async with ctx.units.begin() as uow:
        sub = WebhookSubscription(
            id="sub_partner",
            organisation="safe-homes",
            client_kind="agency",
            client_id="c",
            url=url,
            event_types=[ROUTED],
            secret="whsec_" + "A" * 32,
            created_at=uow.now(),
            **columns,
        )
        uow.session.add(sub)
        ping = await subscriptions.ping(uow=uow, subscription=sub)
        return ping.id


async def attempts_at(ctx: ServiceContext) -> list[DeliveryAttempt]:
    async with ctx.db.session() as session:
        return list((await session.exec(select(DeliveryAttempt))).all())


async def due_again(ctx: ServiceContext) -> None:
    async with ctx.db.session() as session:
        past = datetime.now(UTC) - timedelta(seconds=1)
        await session.exec(
            update(Delivery).where(col(Delivery.status) == "pending").values(next_attempt_at=past)
        )
        await session.commit()


async def test_a_name_public_when_subscribed_and_loopback_at_delivery_is_refused_at_delivery(
    tmp_path: Path,
) -> None:
    ctx = await notify_alone(tmp_path)
    settings_of(ctx).webhook_allow_private = False
    async with WebhookSink() as sink:
        url = f"http://partner.test:{sink.port}/hooks"
        names = Names(partner_test="93.184.216.34")
        await check_target(url, allow_private=False, resolver=names)  # public: subscribed
        await subscribed(ctx, url)
        names.names["partner.test"] = "127.0.0.1"  # then re-pointed at this machine
        dispatcher = Dispatcher(ctx, resolver=names)
        try:
            assert await dispatcher.deliver_due() == 1
            assert sink.requests == []
            [attempt] = await attempts_at(ctx)
            assert (attempt.error, attempt.response_status) == ("forbidden_address", None)

            # The same resolution, allowed, reaches the sink: the guard stood in the way.
            settings_of(ctx).webhook_allow_private = True
            await due_again(ctx)
            assert await dispatcher.deliver_due() == 1
            assert len(sink.requests) == 1
        finally:
            await dispatcher.close()
            await ctx.db.dispose()


# --- https, user-info ---------------------------------------------------------------


async def hub_key(sp: Signpost) -> dict[str, str]:
    return bearer(await sp.key("hub", "demoshire-hub", "subscriptions:write"))


async def stored_subscriptions(sp: Signpost) -> list[WebhookSubscription]:
    async with sp.app.state.runtimes["notify"].ctx.db.session() as session:
        return list((await session.exec(select(WebhookSubscription))).all())


def the_error(answer: httpx.Response) -> dict[str, Any]:
    assert answer.status_code == 422, answer.text
    assert answer.headers["content-type"].startswith("application/problem+json")
    [error] = answer.json()["errors"]
    found: dict[str, Any] = error
    return found


@pytest.mark.parametrize(
    "url",
    [
        "https://user:s3cr3t-pw@partner.example/hooks",
        "https://user@partner.example/hooks",
        "https://:s3cr3t-pw@partner.example/hooks",
        "http://admin:s3cr3t-pw@127.0.0.1:9/hooks",
    ],
)
async def test_a_url_with_a_user_name_or_password_is_refused_naming_url(
    signpost: Signpost, url: str
) -> None:
    answer = await signpost.client.post(
        "/v1/subscriptions",
        headers=await hub_key(signpost),
        json={"url": url, "event_types": [ROUTED]},
    )
    assert the_error(answer)["field"] == "url"
    assert "s3cr3t" not in answer.text
    assert await stored_subscriptions(signpost) == []


async def test_a_subscription_made_with_credentials_in_its_url_never_shows_them(
    signpost: Signpost,
) -> None:
    """One made before user-info was refused: its URL is shown without them."""
    ctx = signpost.app.state.runtimes["notify"].ctx
    async with ctx.units.begin() as uow:
        uow.session.add(
            WebhookSubscription(
                id="sub_old",
                organisation="demoshire-hub",
                client_kind="hub",
                client_id="c",
                url="https://user:s3cr3t-pw@partner.example/hooks",
                event_types=[ROUTED],
                secret="whsec_" + "A" * 32,
                created_at=uow.now(),
            )
        )
    key = await hub_key(signpost)
    for path in ("/v1/subscriptions", "/v1/subscriptions/sub_old"):
        answer = await signpost.client.get(path, headers=key)
        assert answer.status_code == 200 and "s3cr3t" not in answer.text
    shown = (await signpost.client.get("/v1/subscriptions/sub_old", headers=key)).json()
    assert shown["url"] == "https://partner.example/hooks"


def notify_settings(**given: Any) -> NotifySettings:
    """Notify's settings as a process given these values has them."""
    return Settings(_env_file=None, **given).service_settings(NotifySettings)


@pytest.mark.parametrize(
    ("given", "http_allowed"),
    [
        ({"mode": "distributed"}, False),  # production
        ({"mode": "distributed", "webhook_allow_http": True}, True),  # development, said so
        ({"mode": "embedded"}, True),  # the demo and a newcomer's machine
        ({"mode": "embedded", "webhook_allow_http": False}, False),
    ],
)
def test_plain_http_is_for_embedded_mode_unless_webhook_allow_http_says_otherwise(
    given: dict[str, object], http_allowed: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("WEBHOOK_ALLOW_HTTP", raising=False)
    assert notify_settings(**given).http_allowed is http_allowed


async def test_in_production_a_plain_http_url_is_refused_naming_url(signpost: Signpost) -> None:
    config = settings_of(signpost.app.state.runtimes["notify"].ctx)
    config.mode = "distributed"
    key = await hub_key(signpost)
    body = {"url": "http://127.0.0.1:9/hooks", "event_types": [ROUTED]}
    answer = await signpost.client.post("/v1/subscriptions", headers=key, json=body)
    error = the_error(answer)
    assert (error["field"], error["type"]) == ("url", "insecure_url")
    assert await stored_subscriptions(signpost) == []

    https = {**body, "url": "https://127.0.0.1:9/hooks"}
    assert (await signpost.client.post("/v1/subscriptions", headers=key, json=https)).is_success
    config.webhook_allow_http = True  # the development setting
    assert (await signpost.client.post("/v1/subscriptions", headers=key, json=body)).is_success


async def wait_for_attempt(sp: Signpost, delivery_id: str) -> dict[str, Any]:
    key = await hub_key(sp)
    async with asyncio.timeout(20):
        while True:
            detail: dict[str, Any] = (
                await sp.client.get(f"/v1/deliveries/{delivery_id}", headers=key)
            ).json()
            if detail["attempt_log"]:
                return detail
            await asyncio.sleep(0.05)


async def test_a_plain_http_subscription_is_not_sent_to_once_production_refuses_http(
    signpost: Signpost,
) -> None:
    async with WebhookSink() as sink:
        key = await hub_key(signpost)
        created = await signpost.client.post(
            "/v1/subscriptions", headers=key, json={"url": sink.url, "event_types": [ROUTED]}
        )
        assert created.status_code == 201, created.text  # embedded: http allowed
        settings_of(signpost.app.state.runtimes["notify"].ctx).mode = "distributed"
        ping = await signpost.client.post(
            f"/v1/subscriptions/{created.json()['id']}/ping", headers=key
        )
        detail = await wait_for_attempt(signpost, ping.json()["id"])
    assert sink.requests == []
    assert [a["error"] for a in detail["attempt_log"]] == ["insecure_url"]
    assert detail["status"] == "pending"  # retried on the schedule


# --- the subscription's own headers -------------------------------------------------


async def test_a_subscriptions_headers_go_with_each_delivery_and_are_never_shown_back(
    signpost: Signpost,
) -> None:
    given = {"Authorization": "Bearer tok-S3CR3T-1", "X-Api-Key": "key-S3CR3T-2"}
    key = await hub_key(signpost)
    async with WebhookSink() as sink:
        created = await signpost.client.post(
            "/v1/subscriptions",
            headers=key,
            json={"url": sink.url, "event_types": [ROUTED], "headers": given},
        )
        assert created.status_code == 201, created.text
        sub_id = created.json()["id"]
        answers = [
            created,
            await signpost.client.get("/v1/subscriptions", headers=key),
            await signpost.client.get(f"/v1/subscriptions/{sub_id}", headers=key),
            await signpost.client.post(f"/v1/subscriptions/{sub_id}/rotate-secret", headers=key),
        ]
        secret = answers[-1].json()["secret"]
        ping = await signpost.client.post(f"/v1/subscriptions/{sub_id}/ping", headers=key)
        await sink.wait_for(1, within=20)
    for answer in answers:
        assert "S3CR3T" not in answer.text
    assert created.json()["header_names"] == ["Authorization", "X-Api-Key"]
    [row] = await stored_subscriptions(signpost)
    assert row.sealed_headers is not None and "S3CR3T" not in row.sealed_headers
    [(received, body)] = sink.requests
    assert received["authorization"] == given["Authorization"]
    assert received["x-api-key"] == given["X-Api-Key"]
    assert received["webhook-id"] == ping.json()["id"]
    Webhook(secret).verify(body, received)


@pytest.mark.parametrize(
    "headers",
    [
        {"Host": "internal.example"},
        {"Content-Length": "0"},
        {"Transfer-Encoding": "chunked"},
        {"Connection": "close"},
        {"Webhook-Signature": "v1,forged"},
        {"webhook-id": "msg_forged"},
        {"Content-Type": "text/plain"},
        {"User-Agent": "x"},
        {"Cookie": "session=1"},
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Api-Key": ""},
        {"X-Api-Key": "a\r\nX-Injected: 1"},
        {"X-Api-Key": "caf\u00e9"},
        {"X-Api-Key": "x" * 1025},
        {"Authorization": "a", "authorization": "b"},
        {f"X-Key-{n}": "v" for n in range(6)},
    ],
)
async def test_a_header_a_partner_may_not_set_is_refused_naming_headers(
    signpost: Signpost, headers: dict[str, str]
) -> None:
    answer = await signpost.client.post(
        "/v1/subscriptions",
        headers=await hub_key(signpost),
        json={"url": "https://127.0.0.1:9/hooks", "event_types": [ROUTED], "headers": headers},
    )
    assert the_error(answer)["field"].split(".")[0] == "headers"
    assert await stored_subscriptions(signpost) == []


async def test_without_a_key_to_seal_them_headers_are_refused_naming_headers(
    signpost: Signpost,
) -> None:
    """Distributed mode without NOTIFY_SECRETS_KEY has nothing to seal headers with."""
    assert header_seal(notify_settings(mode="distributed")) is None
    with pytest.raises(Problem) as refused:
        async with signpost.app.state.runtimes["notify"].ctx.units.begin() as uow:
            await subscriptions.create(
                uow=uow,
                organisation="demoshire-hub",
                client_kind="hub",
                client_id="c",
                url="https://127.0.0.1:9/hooks",
                event_types=[ROUTED],
                allow_private=True,
                allow_http=False,
                headers={"Authorization": "Bearer t"},
                seal=None,
            )
    assert refused.value.status == 422
    assert [e["field"] for e in refused.value.extra["errors"]] == ["headers"]
    assert await stored_subscriptions(signpost) == []


def test_embedded_mode_makes_its_secrets_key_once_readable_by_its_owner_alone(
    tmp_path: Path,
) -> None:
    first = header_seal(notify_settings(mode="embedded", data_dir=tmp_path))
    again = header_seal(notify_settings(mode="embedded", data_dir=tmp_path))
    assert first is not None and again is not None
    assert again.open(first.seal({"Authorization": "x"})) == {"Authorization": "x"}
    key_file = tmp_path / "notify-secrets.key"
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600


def test_a_rotated_key_still_opens_what_the_old_one_sealed() -> None:
    old, new = new_key(), new_key()
    sealed = HeaderSeal([old]).seal({"X-Api-Key": "k"})
    rotated = header_seal(notify_settings(mode="distributed", notify_secrets_key=f"{new},{old}"))
    assert rotated is not None and rotated.open(sealed) == {"X-Api-Key": "k"}


def test_a_key_file_cut_short_on_its_first_run_is_made_again(tmp_path: Path) -> None:
    (tmp_path / "notify-secrets.key").write_text("")
    seal = header_seal(notify_settings(mode="embedded", data_dir=tmp_path))
    assert seal is not None and seal.open(seal.seal({"X-Api-Key": "k"})) == {"X-Api-Key": "k"}
    assert (tmp_path / "notify-secrets.key").read_text().strip()


async def test_a_secrets_key_that_is_not_a_fernet_key_stops_notify_at_start_unechoed(
    tmp_path: Path,
) -> None:
    secret = "not-a-fernet-key-but-a-secret-all-the-same"
    valid = new_key()
    app = embedded_app(embedded_settings(tmp_path / "var", notify_secrets_key=f"{valid},{secret}"))
    with pytest.raises(ValueError, match="key 2 of NOTIFY_SECRETS_KEY") as refused:
        async with app.router.lifespan_context(app):
            pass
    assert secret not in str(refused.value) and valid not in str(refused.value)


async def test_headers_sealed_with_another_key_are_not_sent(tmp_path: Path) -> None:
    ctx = await notify_alone(tmp_path)
    async with WebhookSink() as sink:
        sealed = HeaderSeal([new_key()]).seal({"Authorization": "Bearer t"})
        await subscribed(ctx, sink.url, sealed_headers=sealed, header_names=["Authorization"])
        dispatcher = Dispatcher(ctx)
        settings_of(ctx).webhook_allow_private = True
        try:
            assert await dispatcher.deliver_due() == 1
            [attempt] = await attempts_at(ctx)
        finally:
            await dispatcher.close()
            await ctx.db.dispose()
    assert sink.requests == []
    assert attempt.error == "headers_unreadable"


# --- the embedded demo --------------------------------------------------------------


@pytest.fixture
async def demo_on_a_port(tmp_path: Path) -> AsyncIterator[tuple[str, Any]]:
    """The embedded app with the demo, on embedded defaults (no WEBHOOK_ALLOW_PRIVATE),
    serving on a loopback port so that its dispatcher really calls its own sink."""
    data_dir = tmp_path / "var"
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    app = embedded_app(
        embedded_settings(data_dir, auth_cache_seconds=0),
        on_started=demo_setup(data_dir, base),
    )
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    serving = asyncio.create_task(server.serve())
    try:
        async with asyncio.timeout(60):
            while not server.started:
                if serving.done():
                    serving.result()
                await asyncio.sleep(0.05)
        yield base, app
    finally:
        server.should_exit = True
        await serving


async def test_on_embedded_defaults_partners_keep_the_guard_while_the_demo_sink_works(
    demo_on_a_port: tuple[str, Any],
) -> None:
    base, app = demo_on_a_port
    assert settings_of(app.state.runtimes["notify"].ctx).webhook_allow_private is False
    _, partner_key = await app.state.key_registry.create(
        name="partner", kind="agency", organisation="safe-homes", scopes=["subscriptions:write"]
    )
    hub = bearer(app.state.demo_keys["hub"])
    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        for url in ("http://127.0.0.1:9/hooks", f"{base}/demo/sink/webhook"):
            answer = await client.post(
                "/v1/subscriptions",
                headers=bearer(partner_key),
                json={"url": url, "event_types": [ROUTED]},
            )
            error = the_error(answer)
            assert (error["field"], error["type"]) == ("url", "forbidden_target"), url
        ping = await client.post("/v1/subscriptions/sub_demo_sink/ping", headers=hub)
        assert ping.status_code == 202, ping.text
        async with asyncio.timeout(20):
            while True:
                received = (await client.get("/demo/sink")).json()
                if ping.json()["id"] in [r["webhook_id"] for r in received]:
                    break
                await asyncio.sleep(0.1)


async def test_a_demo_subscribed_by_an_earlier_release_keeps_reaching_its_sink(
    tmp_path: Path,
) -> None:
    """A data folder whose demo subscriptions predate their mark gets it at the next
    start, for the sink's own URL only."""
    data_dir, base = tmp_path / "var", "http://127.0.0.1:8000"

    async def started(then: Any = None) -> dict[str, bool | None]:
        app = embedded_app(embedded_settings(data_dir), on_started=demo_setup(data_dir, base))
        async with app.router.lifespan_context(app):
            ctx = app.state.runtimes["notify"].ctx
            if then is not None:
                await then(ctx)
            async with ctx.db.session() as session:
                rows = (await session.exec(select(WebhookSubscription))).all()
        return {row.id: row.local_target for row in rows}

    async def as_an_earlier_release_left_them(ctx: ServiceContext) -> None:
        async with ctx.db.session() as session:
            await session.exec(update(WebhookSubscription).values(local_target=None))
            await session.commit()

    first = await started(as_an_earlier_release_left_them)
    assert first == {"sub_demo_sink": None, "sub_demo_school_sink": None}
    assert await started() == {"sub_demo_sink": True, "sub_demo_school_sink": True}


async def banner_of(tmp_path: Path, env: dict[str, str], *args: str) -> tuple[str, Process, str]:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    proc = Process(
        ["run", "--port", str(port), "--data-dir", str(tmp_path / "var"), *args],
        env,
        tmp_path / "signpost.log",
    )
    await wait_ready(base, [proc])
    async with asyncio.timeout(20):
        while "Signpost is running" not in proc.log.read_text():
            await asyncio.sleep(0.1)
    await asyncio.sleep(0.2)
    return base, proc, proc.log.read_text()


async def test_signpost_run_states_in_its_banner_that_webhook_allow_private_is_on(
    tmp_path: Path,
) -> None:
    _, proc, banner = await banner_of(tmp_path, {"WEBHOOK_ALLOW_PRIVATE": "true"}, "--no-demo")
    proc.stop()
    assert "WEBHOOK_ALLOW_PRIVATE is on" in banner


async def test_signpost_run_with_its_demo_keeps_the_guard_for_every_partner(
    tmp_path: Path,
) -> None:
    base, proc, banner = await banner_of(tmp_path, {"WEBHOOK_ALLOW_PRIVATE": "false"})
    try:
        key = banner.split("demo hub key:")[1].split()[0]
        async with httpx.AsyncClient(base_url=base, headers=bearer(key), timeout=30) as client:
            answer = await client.post(
                "/v1/subscriptions",
                json={"url": "http://127.0.0.1:9/hooks", "event_types": [ROUTED]},
            )
    finally:
        proc.stop()
    assert "WEBHOOK_ALLOW_PRIVATE is on" not in banner
    assert the_error(answer)["type"] == "forbidden_target"
    # The console and one demo person per role, with how to sign in.
    assert f"console:       {base}/console/" in banner
    assert "demo hub practitioner: hub@demo.example / password: " in banner
