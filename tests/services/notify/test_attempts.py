"""Webhook delivery against a real local HTTP server: retry with the same webhook-id
until 2xx, every attempt recorded, 410 disables the subscription, 429/502/504 throttle
the endpoint and Retry-After is honoured, a spent schedule parks and flags (and the
partner replays), and a partner that was down gets everything once, in order."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlmodel import SQLModel, col, select, update
from standardwebhooks.webhooks import Webhook

from services.notify import definition
from services.notify.loops import Dispatcher
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.service import subscriptions
from services.notify.settings import settings_of
from services.notify.webhooks import RETRY_SCHEDULE
from shared.db import table_of
from shared.envelope import new_event
from shared.events import Destination, EventType, ReferralRouted, ReferralStatus
from shared.outbox import InboxEntry, OutboxMessage
from tests.e2e.harness import WebhookSink
from tests.services.conftest import Signpost, bearer, service_context
from tests.services.notify.conftest import consume

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


class HeaderedSink(ScriptedSink):
    """Answers the first requests with (status, headers) from `script`, then 204."""

    def __init__(self, script: list[tuple[int, dict[str, str]]]) -> None:
        super().__init__([status for status, _ in script])
        self.reply_headers = [headers for _, headers in script]
        scripted: Any = self.server.config.app

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            async def send_with_headers(message):  # type: ignore[no-untyped-def]
                if message["type"] == "http.response.start" and self.reply_headers:
                    extra = self.reply_headers.pop(0)
                    message = {
                        **message,
                        "headers": [(k.encode(), v.encode()) for k, v in extra.items()],
                    }
                await send(message)

            await scripted(scope, receive, send_with_headers)

        self.server.config.app = app


async def subscription(sp: Signpost) -> WebhookSubscription:
    ctx = sp.app.state.runtimes["notify"].ctx
    async with ctx.db.session() as session:
        [sub] = (await session.exec(select(WebhookSubscription))).all()
    return sub


async def test_429_with_retry_after_throttles_the_endpoint_until_then(signpost: Signpost) -> None:
    async with HeaderedSink([(429, {"Retry-After": "120"})]) as sink:
        await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
    [pending] = await deliveries(signpost)
    due_in = pending.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(seconds=115) < due_in <= timedelta(seconds=120)  # not the 5 s step
    sub = await subscription(signpost)
    assert sub.throttled_until is not None
    assert sub.throttled_until.replace(tzinfo=UTC) >= pending.next_attempt_at.replace(tzinfo=UTC)
    assert pending.last_response_status == 429


async def test_a_retry_after_beyond_the_cap_is_cut_to_the_cap(signpost: Signpost) -> None:
    settings_of(signpost.app.state.runtimes["notify"].ctx).webhook_retry_after_max_seconds = 60
    async with HeaderedSink([(504, {"Retry-After": "86400"})]) as sink:
        await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
    [pending] = await deliveries(signpost)
    due_in = pending.next_attempt_at.replace(tzinfo=UTC) - datetime.now(UTC)
    assert timedelta(seconds=55) < due_in <= timedelta(seconds=60)


async def test_a_throttled_endpoint_gets_nothing_until_the_throttle_ends(
    signpost: Signpost,
) -> None:
    async with HeaderedSink([(502, {"Retry-After": "3600"})]) as sink:
        await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
        await make_due_now(signpost)  # due, but the endpoint is throttled
        await asyncio.sleep(1.5)
        assert len(sink.requests) == 1
        ctx = signpost.app.state.runtimes["notify"].ctx
        async with ctx.db.session() as session:
            await session.exec(update(WebhookSubscription).values(throttled_until=None))
            await session.commit()
        ctx.published()
        await recorded(signpost, 2)
    [done] = await deliveries(signpost)
    assert done.status == "delivered"


async def test_a_spent_schedule_parks_flags_the_partner_and_replay_delivers_it(
    signpost: Signpost,
) -> None:
    sink = ScriptedSink([500])
    async with sink:
        await subscribe_and_report(signpost, sink.url)
        await recorded(signpost, 1)
        ctx = signpost.app.state.runtimes["notify"].ctx
        async with ctx.db.session() as session:  # as if nine attempts had failed
            await session.exec(update(Delivery).values(attempts=len(RETRY_SCHEDULE) - 1))
            await session.commit()
        sink.script = [500]
        await make_due_now(signpost)
        async with asyncio.timeout(20):
            while (await deliveries(signpost))[0].status != "parked":
                await asyncio.sleep(0.05)
        [parked] = await deliveries(signpost)
        sub = await subscription(signpost)
        assert sub.flagged_at is not None and sub.status == "active"

        hub = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
        other = bearer(await signpost.key("agency", "safe-homes", "subscriptions:write"))
        listed = await signpost.client.get("/v1/deliveries?status=parked", headers=hub)
        assert [d["id"] for d in listed.json()] == [parked.id]
        # Filtered by the referral it is about: that one, and none for another referral.
        about = await signpost.client.get(
            f"/v1/deliveries?referral_id={parked.referral_id}", headers=hub
        )
        assert [d["id"] for d in about.json()] == [parked.id]
        elsewhere = await signpost.client.get("/v1/deliveries?referral_id=ref_other", headers=hub)
        assert elsewhere.status_code == 200 and elsewhere.json() == []
        assert (
            await signpost.client.get("/v1/deliveries?status=parked", headers=other)
        ).json() == []
        assert (
            await signpost.client.post(f"/v1/deliveries/{parked.id}/replay", headers=other)
        ).status_code == 404
        [flagged] = (await signpost.client.get("/v1/subscriptions", headers=hub)).json()
        assert flagged["flagged_at"] is not None

        replayed = await signpost.client.post(f"/v1/deliveries/{parked.id}/replay", headers=hub)
        assert replayed.status_code == 202 and replayed.json()["status"] == "pending"
        async with asyncio.timeout(20):
            while (await deliveries(signpost))[0].status != "delivered":
                await asyncio.sleep(0.05)
        again = await signpost.client.post(f"/v1/deliveries/{parked.id}/replay", headers=hub)
        assert again.status_code == 409
    assert {h["webhook-id"] for h, _ in sink.requests} == {parked.id}
    assert len(sink.requests) == 3  # the first failure, the last failure, the replay


async def test_a_partner_down_for_a_while_gets_every_notification_once_in_order(
    signpost: Signpost,
) -> None:
    """Connection refused for several rounds, then the partner returns: every
    notification arrives exactly once, and each referral's in the order they happened."""
    sink = WebhookSink()  # its port is chosen now; nothing listens there yet
    hub = bearer(await signpost.key("hub", "demoshire-hub", "subscriptions:write"))
    created = await signpost.client.post(
        "/v1/subscriptions",
        headers=hub,
        json={
            "url": sink.url,
            "event_types": ["org.signpost.referral.routed.v1", "org.signpost.referral.status.v1"],
        },
    )
    assert created.status_code == 201
    secret = created.json()["secret"]
    ctx = signpost.app.state.runtimes["notify"].ctx
    steps = ["requested", "accepted", "in-progress", "completed"]
    referrals = [f"ref_down_{i}" for i in range(4)]
    for step in range(len(steps) + 1):
        await consume(ctx, *(_event(referral, step, steps) for referral in referrals))
    expected = len(referrals) * (len(steps) + 1)

    # Down: every head fails (connection refused) a few rounds running.
    for rounds in range(1, 4):
        await recorded(signpost, rounds * len(referrals))
        await make_due_now(signpost)
    assert all(d.status == "pending" for d in await deliveries(signpost))

    async with sink:  # back up
        async with asyncio.timeout(60):
            while len(sink.requests) < expected:
                await make_due_now(signpost)
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # a duplicate would arrive now

    ids = [h["webhook-id"] for h, _ in sink.requests]
    assert len(ids) == len(set(ids)) == expected
    seen: dict[str, list[str]] = {}
    for headers, body in sink.requests:
        payload = Webhook(secret).verify(body, headers)
        data = payload["data"]
        seen.setdefault(data["referral_id"], []).append(data.get("status", "routed"))
    assert seen == {r: ["routed", *steps] for r in referrals}
    assert all(d.status == "delivered" for d in await deliveries(signpost))


def _event(referral: str, step: int, steps: list[str]) -> Any:
    now = datetime.now(UTC)
    if step == 0:
        return new_event(
            time=datetime.now(UTC),
            type=EventType.REFERRAL_ROUTED,
            source="/signpost/routing/test",
            subject=referral,
            partitionkey="k",
            data=ReferralRouted(
                referral_id=referral,
                destination=Destination(
                    kind="agency", id="ag_1", organisation="safe-homes", name="Safe Homes"
                ),
                level=2,
                priority="green",
                reason_codes=["single_agency_best_placed"],
                directory_version="1",
                routed_at=now,
                referrer_organisation="demo-police",
            ),
        )
    return new_event(
        time=datetime.now(UTC),
        type=EventType.REFERRAL_STATUS,
        source="/signpost/routing/test",
        subject=referral,
        partitionkey="k",
        data=ReferralStatus(
            referral_id=referral,
            status=steps[step - 1],  # type: ignore[arg-type]
            destination_id="ag_1",
            occurred_at=now,
            referrer_organisation="demo-police",
        ),
    )


class HoldingSink(WebhookSink):
    """Answers /hooks/fast with 204 at once and holds /hooks/slow open until released."""

    def __init__(self) -> None:
        super().__init__()
        self.release = asyncio.Event()
        self.slow_arrived = asyncio.Event()

        async def app(scope, receive, send):  # type: ignore[no-untyped-def]
            if scope["type"] != "http":
                return
            while (await receive()).get("more_body"):
                pass
            if scope["path"].endswith("/slow"):
                self.slow_arrived.set()
                await self.release.wait()
            await send({"type": "http.response.start", "status": 204, "headers": []})
            await send({"type": "http.response.body", "body": b""})

        self.server.config.app = app
        self.server.config.loaded = False


async def test_an_answer_is_recorded_while_the_rest_of_its_round_is_still_in_flight(
    tmp_path: Path,
) -> None:
    """Each outcome is recorded as soon as it is known, not when the round ends: a crash
    then re-sends only what was in flight, never a webhook the partner answered 2xx."""
    ctx = service_context(definition, f"sqlite+aiosqlite:///{tmp_path / 'notify.db'}", tmp_path)
    models: list[type[SQLModel]] = [*definition.tables, OutboxMessage, InboxEntry]
    await ctx.db.create_tables([table_of(m) for m in models])
    settings_of(ctx).webhook_allow_private = True
    dispatcher = Dispatcher(ctx)
    sink = HoldingSink()
    async with sink:
        async with ctx.units.begin() as uow:
            for name in ("slow", "fast"):
                sub = WebhookSubscription(
                    id=f"sub_{name}",
                    organisation="demoshire-hub",
                    client_kind="hub",
                    client_id="c",
                    url=sink.url + "/" + name,
                    event_types=[],
                    secret="whsec_" + "A" * 32,
                    created_at=uow.now(),
                )
                uow.session.add(sub)
                await subscriptions.ping(uow=uow, subscription=sub)
        round_ = asyncio.create_task(dispatcher.deliver_due())
        try:
            async with asyncio.timeout(20):
                await sink.slow_arrived.wait()
                while True:
                    async with ctx.db.session() as session:
                        rows = {
                            d.subscription_id: d for d in (await session.exec(select(Delivery)))
                        }
                    if rows["sub_fast"].status == "delivered":
                        break
                    await asyncio.sleep(0.02)
            assert not round_.done()  # the slow one is still in flight
            assert rows["sub_slow"].status == "pending" and rows["sub_slow"].attempts == 0
            sink.release.set()
            assert await round_ == 2
        finally:
            sink.release.set()
            await dispatcher.close()
    async with ctx.db.session() as session:
        assert {d.status for d in (await session.exec(select(Delivery)))} == {"delivered"}
        assert len((await session.exec(select(DeliveryAttempt))).all()) == 2
    await ctx.db.dispose()
