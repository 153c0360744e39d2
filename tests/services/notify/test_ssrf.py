"""The SSRF guard: webhook URLs that resolve to private, loopback, link-local or
reserved addresses are refused at creation and at delivery, unless allowed."""

from __future__ import annotations

import asyncio

import pytest
from sqlmodel import select

from services.notify.models import Delivery, DeliveryAttempt
from services.notify.settings import settings_of
from services.notify.ssrf import (
    ForbiddenTarget,
    GuardedResolver,
    check_target,
    is_forbidden_address,
)
from tests.e2e.harness import WebhookSink
from tests.services.conftest import Signpost, bearer


@pytest.mark.parametrize(
    ("address", "forbidden"),
    [
        ("127.0.0.1", True),  # loopback
        ("10.1.2.3", True),  # private
        ("172.16.0.1", True),
        ("192.168.1.1", True),
        ("169.254.169.254", True),  # link-local: cloud metadata
        ("100.64.0.1", True),  # shared address space
        ("0.0.0.0", True),  # unspecified
        ("224.0.0.1", True),  # multicast
        ("240.0.0.1", True),  # reserved
        ("::1", True),
        ("fe80::1", True),
        ("fc00::1", True),  # unique local
        ("::ffff:127.0.0.1", True),  # IPv4-mapped loopback
        ("ff02::1", True),
        ("not-an-ip", True),
        ("8.8.8.8", False),
        ("151.101.0.1", False),
        ("2a00:1450:4009:81f::200e", False),
    ],
)
def test_only_public_unicast_addresses_are_allowed(address: str, forbidden: bool) -> None:
    assert is_forbidden_address(address) is forbidden


async def test_a_name_that_resolves_to_loopback_is_refused() -> None:
    with pytest.raises(ForbiddenTarget):
        await check_target("http://localhost:8080/hooks", allow_private=False)
    await check_target("http://localhost:8080/hooks", allow_private=True)
    resolver = GuardedResolver(lambda: False)
    try:
        with pytest.raises(ForbiddenTarget):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8080/hooks",
        "http://localhost/hooks",
        "http://169.254.169.254/latest/meta-data",
        "http://10.0.0.5/hooks",
        "http://[::1]/hooks",
    ],
)
async def test_creating_a_subscription_to_a_private_address_is_refused(
    signpost: Signpost, url: str
) -> None:
    settings_of(signpost.app.state.runtimes["notify"].ctx).webhook_allow_private = False
    hub = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    r = await signpost.client.post(
        "/v1/subscriptions",
        headers=hub,
        json={"url": url, "event_types": ["org.signpost.referral.routed.v1"]},
    )
    assert r.status_code == 422, r.text
    assert r.headers["content-type"].startswith("application/problem+json")
    [error] = r.json()["errors"]
    assert error["field"] == "url" and error["type"] == "forbidden_target"


async def test_a_delivery_to_a_private_address_is_not_sent_once_the_allowance_is_gone(
    signpost: Signpost,
) -> None:
    async with WebhookSink() as sink:
        # Subscribed while allowed (as a test or the demo is), then the allowance goes.
        hub = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
        created = await signpost.client.post(
            "/v1/subscriptions",
            headers=hub,
            json={"url": sink.url, "event_types": ["org.signpost.referral.routed.v1"]},
        )
        assert created.status_code == 201
        settings_of(signpost.app.state.runtimes["notify"].ctx).webhook_allow_private = False
        ping = await signpost.client.post(
            f"/v1/subscriptions/{created.json()['id']}/ping", headers=hub
        )
        ctx = signpost.app.state.runtimes["notify"].ctx
        async with asyncio.timeout(20):
            while True:
                async with ctx.db.session() as session:
                    attempts = (await session.exec(select(DeliveryAttempt))).all()
                if attempts:
                    break
                await asyncio.sleep(0.05)
    assert sink.requests == []
    [attempt] = attempts
    assert attempt.error == "forbidden_address" and attempt.response_status is None
    async with ctx.db.session() as session:
        row = (await session.exec(select(Delivery).where(Delivery.id == ping.json()["id"]))).one()
    assert row.status == "pending"  # retried on the schedule, in case the allowance returns
