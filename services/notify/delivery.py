"""Fan-out of partner-facing events into deliveries, and the loop that delivers them.

A delivery is created in the same transaction that handles the event, so a crash
between handling and sending loses nothing. Deliveries for one referral reach a
subscription in order: only the oldest pending delivery of each (subscription,
referral) pair is attempted.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Literal

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.webhooks import next_delay, signature_headers
from shared.consuming import Subscription
from shared.envelope import new_event
from shared.events import PARTNER_FACING, EventType, NotificationDelivery, Topic
from shared.outbox import stage
from shared.runtime import ServiceContext

log = logging.getLogger(__name__)

WAKEUP = "deliveries"


def may_receive(subscription: WebhookSubscription, data: dict[str, object]) -> bool:
    """Whether a subscription's organisation may be told about this referral event.

    The hub (and administrators) hear about every referral; any other partner only
    about referrals addressed to it or raised by it.
    """
    if subscription.client_kind in ("hub", "admin"):
        return True
    destination = data.get("destination")
    parties = {data.get("referrer_organisation")}
    if isinstance(destination, dict):
        parties.add(destination.get("organisation"))
    return subscription.organisation in parties


async def fan_out(session: AsyncSession, event: BaseCloudEvent) -> None:
    """Create one delivery per subscription that wants and may see this event."""
    if event.get_type() not in PARTNER_FACING:
        return
    data = event.get_data()
    assert isinstance(data, dict)
    time_attr = event.get_time()
    body = json.dumps(
        {
            "type": event.get_type(),
            "timestamp": (time_attr or datetime.now(UTC)).isoformat(),
            "data": data,
        },
        separators=(",", ":"),
    )
    subscriptions = (
        await session.exec(
            select(WebhookSubscription).where(WebhookSubscription.status == "active")
        )
    ).all()
    for sub in subscriptions:
        if event.get_type() in sub.event_types and may_receive(sub, data):
            session.add(
                Delivery(
                    id="msg_" + uuid.uuid4().hex,
                    subscription_id=sub.id,
                    referral_id=event.get_subject(),
                    event_type=event.get_type(),
                    body=body,
                )
            )


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            group="notify", topics=[Topic.REFERRAL_ROUTED, Topic.REFERRAL_STATUS], handler=fan_out
        )
    ]


@dataclass(frozen=True)
class Attempt:
    """What one POST to a partner gave."""

    delivery: Delivery
    subscription: WebhookSubscription
    status: int | None
    error: str | None
    elapsed_ms: int


class Dispatcher:
    """Delivers due deliveries, records every attempt, retries on the schedule."""

    def __init__(self, ctx: ServiceContext, *, concurrency: int = 32) -> None:
        self.ctx = ctx
        # aiohttp rather than httpx here: measured on this hot path it spends about
        # 0.15 ms of CPU per POST against httpx's 3-4 ms at 32 concurrent requests.
        self.client = aiohttp.ClientSession(
            timeout=aiohttp.ClientTimeout(total=ctx.settings.webhook_timeout_seconds),
            headers={"user-agent": "Signpost-Webhooks/1", "content-type": "application/json"},
        )
        self.semaphore = asyncio.Semaphore(concurrency)

    async def due_heads(self, limit: int = 500) -> list[tuple[Delivery, WebhookSubscription]]:
        """The oldest pending delivery of each (subscription, referral), if it is due."""
        now = datetime.now(UTC)
        async with self.ctx.db.session() as session:
            pending = (
                await session.exec(
                    select(Delivery)
                    .where(Delivery.status == "pending")
                    .order_by(col(Delivery.seq))
                    .limit(limit)
                )
            ).all()
            subs = {
                s.id: s
                for s in (
                    await session.exec(
                        select(WebhookSubscription).where(
                            col(WebhookSubscription.id).in_({d.subscription_id for d in pending})
                        )
                    )
                ).all()
            }
        heads: dict[tuple[str, str | None], Delivery] = {}
        for delivery in pending:
            heads.setdefault((delivery.subscription_id, delivery.referral_id), delivery)
        return [
            (d, subs[d.subscription_id])
            for d in heads.values()
            if _aware(d.next_attempt_at) <= now and d.subscription_id in subs
        ]

    async def deliver_due(self) -> int:
        """Attempt every due head once and record the outcomes; returns how many."""
        heads = await self.due_heads()
        if heads:
            attempts = await asyncio.gather(*(self._attempt(d, s) for d, s in heads))
            await self._record(attempts)
        return len(heads)

    async def _attempt(self, delivery: Delivery, sub: WebhookSubscription) -> Attempt:
        async with self.semaphore:
            now = datetime.now(UTC)
            headers = signature_headers(
                secret=sub.secret, webhook_id=delivery.id, timestamp=now, body=delivery.body
            )
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            if sub.status != "active":
                error = "subscription_disabled"
            else:
                try:
                    # A redirect is a failure: the partner must give its final URL.
                    async with self.client.post(
                        sub.url,
                        data=delivery.body.encode(),
                        headers=headers,
                        allow_redirects=False,
                    ) as response:
                        status = response.status
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
            elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(delivery, sub, status, error, elapsed)

    async def _record(self, attempts: Sequence[Attempt]) -> None:
        """Record a round of attempts in one transaction: each attempt row, each
        delivery's new state, and an outcome event for the finished ones."""
        now = datetime.now(UTC)
        async with self.ctx.db.session() as session:
            rows = {
                row.seq: row
                for row in (
                    await session.exec(
                        select(Delivery).where(
                            col(Delivery.seq).in_([a.delivery.seq for a in attempts])
                        )
                    )
                ).all()
            }
            for attempt in attempts:
                row = rows.get(attempt.delivery.seq)
                if row is None or row.status != "pending":
                    continue
                self._apply(session, row, attempt, now)
            await session.commit()
        self.ctx.published()

    def _apply(self, session: AsyncSession, row: Delivery, attempt: Attempt, now: datetime) -> None:
        status = attempt.status
        row.attempts += 1
        session.add(
            DeliveryAttempt(
                delivery_id=row.id,
                response_status=status,
                error=attempt.error,
                duration_ms=attempt.elapsed_ms,
            )
        )
        outcome: Literal["delivered", "parked"] | None = None
        if status is not None and 200 <= status < 300:
            row.status, row.delivered_at, outcome = "delivered", now, "delivered"
        else:
            if status == 410:
                # The partner says the endpoint is gone: stop sending to it.
                attempt.subscription.status = "disabled"
                session.add(attempt.subscription)
            delay = next_delay(row.attempts)
            if delay is None or status == 410:
                row.status, outcome = "parked", "parked"
            else:
                row.next_attempt_at = now + delay
        session.add(row)
        if outcome is not None:
            stage(
                session,
                new_event(
                    type=EventType.NOTIFICATION_DELIVERY,
                    source=self.ctx.source,
                    subject=row.referral_id or row.id,
                    partitionkey=row.subscription_id,
                    data=NotificationDelivery(
                        delivery_id=row.id,
                        subscription_id=row.subscription_id,
                        organisation=attempt.subscription.organisation,
                        event_type=row.event_type,
                        referral_id=row.referral_id,
                        outcome=outcome,
                        attempts=row.attempts,
                        response_status=status,
                        occurred_at=now,
                    ),
                ),
            )

    async def run(self) -> None:
        wakeup = self.ctx.wakeup(WAKEUP)
        try:
            while not self.ctx.stopping.is_set():
                wakeup.clear()
                attempted = await self.deliver_due()
                if attempted == 0:
                    try:
                        await asyncio.wait_for(wakeup.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await self.client.close()


def _aware(moment: datetime) -> datetime:
    # SQLite hands datetimes back without a zone; every stored time is UTC.
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


async def dispatch(ctx: ServiceContext) -> None:
    await Dispatcher(ctx).run()


def partner_event_types() -> Sequence[str]:
    return sorted(t.value for t in PARTNER_FACING)


__all__ = ["Dispatcher", "EventType", "dispatch", "fan_out", "may_receive", "subscriptions"]
