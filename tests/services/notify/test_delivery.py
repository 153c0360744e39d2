"""Webhook delivery against a real local HTTP server: retry with the same webhook-id
until 2xx, every attempt recorded, 410 disables the subscription."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import col, select, update
from standardwebhooks.webhooks import Webhook

from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from tests.e2e.harness import WebhookSink
from tests.services.conftest import Signpost, bearer

EXAMPLE = Path(__file__).resolve().parents[3] / "examples" / "police-report.json"


class ScriptedSink(WebhookSink):
    """Answers each request with the next status in `script` (then 204)."""

    def __init__(self, script: list[int]) -> None:
        super().__init__()
        self.script = list(script)
        inner: Any = self.server.config.app

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] == "http" and self.script:
                status = self.script.pop(0)
                body = b""
                while True:
                    message = await receive()
                    body += message.get("body", b"")
                    if not message.get("more_body"):
                        break
                self.requests.append(({k.decode(): v.decode() for k, v in scope["headers"]}, body))
                self.arrived.set()
                await send({"type": "http.response.start", "status": status, "headers": []})
                await send({"type": "http.response.body", "body": b""})
                return
            await inner(scope, receive, send)

        self.server.config.app = app
        self.server.config.loaded = False


async def subscribe_and_report(sp: Signpost, url: str) -> str:
    hub = await sp.key("hub", "demoshire-hub", "subscriptions:write")
    created = await sp.client.post(
        "/v1/subscriptions",
        headers=bearer(hub),
        json={"url": url, "event_types": ["org.signpost.referral.routed.v1"]},
    )
    assert created.status_code == 201
    police = await sp.key("police", "demo-police", "reports:write")
    r = await sp.client.post(
        "/v1/reports", headers=bearer(police), json=json.loads(EXAMPLE.read_text())
    )
    assert r.status_code == 202
    secret: str = created.json()["secret"]
    return secret


async def make_due_now(sp: Signpost) -> None:
    ctx = sp.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        await session.exec(
            update(Delivery)
            .where(col(Delivery.status) == "pending")
            .values(next_attempt_at=datetime.now(UTC) - timedelta(seconds=1))
        )
        await session.commit()
    ctx.published()


async def recorded(sp: Signpost, attempts: int) -> None:
    """Wait until the dispatcher has recorded this many attempts."""
    async with asyncio.timeout(20):
        while sum(d.attempts for d in await deliveries(sp)) < attempts:
            await asyncio.sleep(0.05)


async def deliveries(sp: Signpost) -> list[Delivery]:
    ctx = sp.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        return list((await session.exec(select(Delivery))).all())


async def test_failed_delivery_is_retried_later_with_the_same_webhook_id(
    signpost: Signpost,
) -> None:
    async with ScriptedSink([500, 503]) as sink:
        secret = await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
        [pending] = await deliveries(signpost)
        assert pending.status == "pending" and pending.attempts == 1
        due_in = pending.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)
        assert timedelta(seconds=3) < due_in <= timedelta(seconds=6)  # the 5 s step

        await make_due_now(signpost)
        await recorded(signpost, 2)
        await make_due_now(signpost)
        await recorded(signpost, 3)

    ids = {headers["webhook-id"] for headers, _ in sink.requests}
    assert ids == {pending.id}
    for headers, body in sink.requests:
        Webhook(secret).verify(body, headers)
    [done] = await deliveries(signpost)
    assert done.status == "delivered" and done.attempts == 3
    ctx = signpost.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        statuses = [
            a.response_status
            for a in (
                await session.exec(select(DeliveryAttempt).order_by(col(DeliveryAttempt.id)))
            ).all()
        ]
    assert statuses == [500, 503, 204]


async def test_410_gone_parks_the_delivery_and_disables_the_subscription(
    signpost: Signpost,
) -> None:
    async with ScriptedSink([410]) as sink:
        await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
    [parked] = await deliveries(signpost)
    assert parked.status == "parked" and parked.attempts == 1
    ctx = signpost.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        [sub] = (await session.exec(select(WebhookSubscription))).all()
    assert sub.status == "disabled"


async def test_a_redirect_counts_as_a_failed_attempt(signpost: Signpost) -> None:
    async with ScriptedSink([302]) as sink:
        await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
    [pending] = await deliveries(signpost)
    assert pending.status == "pending" and pending.delivered_at is None
    assert len(sink.requests) == 1  # the redirect was not followed
