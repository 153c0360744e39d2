"""Fan-out of partner-facing events into deliveries, and the loop that delivers them.

A delivery is created in the same transaction that handles the event, so a crash
between handling and sending loses nothing. Deliveries for one referral reach a
subscription in order: only the oldest pending delivery of each (subscription,
referral) pair is attempted. A paused, disabled or throttled subscription holds its
deliveries without spending their retry schedule.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

import aiohttp
from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import exists, func, or_
from sqlalchemy.orm import aliased
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.encompass import mark_notified, record_notice
from services.notify.filters import wants
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.school_days import load_calendar
from services.notify.sharing import IDS_ONLY_POLICY, SharingPolicy, policy_of
from services.notify.ssrf import (
    ForbiddenTarget,
    GuardedResolver,
    is_forbidden_address,
    literal_host,
)
from services.notify.webhooks import (
    THROTTLING_STATUSES,
    next_delay,
    retry_after,
    signature_headers,
    webhook_body,
)
from shared.clock import as_utc, transport_time
from shared.consuming import Subscription
from shared.envelope import new_event
from shared.events import PARTNER_FACING, EventType, NotificationDelivery, Topic
from shared.outbox import stage
from shared.runtime import ServiceContext

log = logging.getLogger(__name__)

WAKEUP = "deliveries"
# A claimed delivery is leased for the webhook timeout plus this: then it is due again.
LEASE_MARGIN_SECONDS = 30
# A webhook-only type: the test ping a partner asks for. Never on a topic.
PING_TYPE = "org.signpost.webhook.ping.v1"


def may_receive(subscription: WebhookSubscription, data: dict[str, object]) -> bool:
    """Whether a subscription's organisation may be told about this referral event.

    The hub (and administrators) hear about every referral; any other partner only
    about referrals addressed to it or raised by it, and Encompass alerts about notices
    addressed to it.
    """
    if subscription.client_kind in ("hub", "admin"):
        return True
    destination = data.get("destination")
    parties = {data.get("referrer_organisation"), data.get("recipient_organisation")}
    if isinstance(destination, dict):
        parties.add(destination.get("organisation"))
    return subscription.organisation in parties


async def fan_out(
    session: AsyncSession,
    event: BaseCloudEvent,
    *,
    now: datetime,
    policy: SharingPolicy = IDS_ONLY_POLICY,
) -> None:
    """Create one delivery per subscription that wants and may see this event, carrying
    only what the sharing policy lets that kind of partner see."""
    if event.get_type() not in PARTNER_FACING:
        return
    data = event.get_data()
    assert isinstance(data, dict)
    event_type = event.get_type()
    timestamp = event.get_time() or now
    subscriptions = (
        await session.exec(
            select(WebhookSubscription).where(
                col(WebhookSubscription.status).in_(("active", "paused"))
            )
        )
    ).all()
    bodies: dict[str, str] = {}
    for sub in subscriptions:
        if not (wants(sub, event_type, data) and may_receive(sub, data)):
            continue
        if sub.client_kind not in bodies:
            shared = policy.minimise(sub.client_kind, event_type, data)
            bodies[sub.client_kind] = webhook_body(event_type, timestamp, shared)
        session.add(
            Delivery(
                id="msg_" + uuid.uuid4().hex,
                subscription_id=sub.id,
                referral_id=event.get_subject(),
                event_type=event_type,
                body=bodies[sub.client_kind],
                next_attempt_at=now,
                created_at=now,
            )
        )


def ping(subscription: WebhookSubscription, *, now: datetime) -> Delivery:
    """A test notification for a subscription, delivered and recorded like any other."""
    return Delivery(
        id="msg_" + uuid.uuid4().hex,
        subscription_id=subscription.id,
        referral_id=None,
        event_type=PING_TYPE,
        body=webhook_body(PING_TYPE, now, {"subscription_id": subscription.id}),
        next_attempt_at=now,
        created_at=now,
    )


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    policy = policy_of(ctx)
    calendar = load_calendar(ctx.settings.notify_school_calendar_path)

    async def handle(session: AsyncSession, event: BaseCloudEvent) -> None:
        if event.get_type() == EventType.ENCOMPASS_NOTICE:
            await record_notice(ctx, session, event, policy=policy, calendar=calendar)
        else:
            await fan_out(session, event, now=ctx.clock.now(), policy=policy)

    return [
        Subscription(
            group="notify",
            topics=[
                Topic.REFERRAL_ROUTED,
                Topic.REFERRAL_STATUS,
                Topic.ENCOMPASS_NOTICE,
                Topic.ENCOMPASS_ALERT,
            ],
            handler=handle,
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
    retry_after: timedelta | None = None


class Dispatcher:
    """Delivers due deliveries, records every attempt, retries on the schedule."""

    def __init__(self, ctx: ServiceContext, *, concurrency: int = 32) -> None:
        self.ctx = ctx
        settings = ctx.settings
        # aiohttp rather than httpx here: measured on this hot path it spends about
        # 0.15 ms of CPU per POST against httpx's 3-4 ms at 32 concurrent requests.
        # The resolver refuses private addresses at connect time (see `ssrf`).
        self.client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=GuardedResolver(lambda: settings.webhook_allow_private)
            ),
            timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds),
            headers={"user-agent": "Signpost-Webhooks/1", "content-type": "application/json"},
        )
        self.concurrency = concurrency
        self.semaphore = asyncio.Semaphore(concurrency)

    async def claim_due(self, limit: int = 500) -> list[tuple[Delivery, WebhookSubscription]]:
        """Claim the oldest pending delivery of each (subscription, referral) pair, where it
        is due and its subscription is active and not throttled.

        A claim is a lease: the claimed deliveries' next attempt moves past the time the
        whole round can take (each wave of `concurrency` attempts at its timeout), in the
        claiming transaction, so another notify replica does not
        send them too (on PostgreSQL the rows are taken FOR UPDATE SKIP LOCKED; SQLite's
        single connection serialises). Recording the attempt sets the real next time; if
        this process dies first, the lease runs out and any replica sends it again, with
        the same webhook-id.
        """
        now = self.ctx.clock.now()
        older = aliased(Delivery)
        earlier_pending = exists().where(
            col(older.subscription_id) == col(Delivery.subscription_id),
            col(older.status) == "pending",
            col(older.seq) < col(Delivery.seq),
            func.coalesce(older.referral_id, "") == func.coalesce(Delivery.referral_id, ""),
        )
        query = (
            select(Delivery, WebhookSubscription)
            .join(
                WebhookSubscription,
                col(WebhookSubscription.id) == col(Delivery.subscription_id),
            )
            .where(
                col(Delivery.status) == "pending",
                col(Delivery.next_attempt_at) <= now,
                col(WebhookSubscription.status) == "active",
                or_(
                    col(WebhookSubscription.throttled_until).is_(None),
                    col(WebhookSubscription.throttled_until) <= now,
                ),
                ~earlier_pending,
            )
            .order_by(col(Delivery.seq))
            .limit(limit)
        )
        if not self.ctx.db.is_sqlite:
            query = query.with_for_update(skip_locked=True, of=Delivery)
        async with self.ctx.db.session() as session:
            rows = (await session.exec(query)).all()
            if rows:
                # The round sends `concurrency` at a time and records them all at the
                # end: the lease covers every wave at the longest timeout, and more.
                waves = -(-len(rows) // self.concurrency)
                timeout = self.ctx.settings.webhook_timeout_seconds
                lease = timedelta(seconds=waves * timeout + LEASE_MARGIN_SECONDS)
                await session.exec(
                    update(Delivery)
                    .where(col(Delivery.seq).in_([d.seq for d, _ in rows]))
                    .values(next_attempt_at=now + lease)
                )
                await session.commit()
        return [(d, s) for d, s in rows]

    async def deliver_due(self) -> int:
        """Attempt every due head once and record the outcomes; returns how many."""
        heads = await self.claim_due()
        if heads:
            attempts = await asyncio.gather(*(self._attempt(d, s) for d, s in heads))
            await self._record(attempts)
        return len(heads)

    def _signing_secrets(self, sub: WebhookSubscription, now: datetime) -> list[str]:
        expires = sub.previous_secret_expires_at
        if sub.previous_secret and expires is not None and as_utc(expires) > now:
            return [sub.previous_secret]
        return []

    async def _attempt(self, delivery: Delivery, sub: WebhookSubscription) -> Attempt:
        async with self.semaphore:
            now = self.ctx.clock.now()
            headers = signature_headers(
                secret=sub.secret,
                webhook_id=delivery.id,
                # Checked by the partner against its own wall clock: the real time.
                timestamp=transport_time(),
                body=delivery.body,
                also_signed_with=self._signing_secrets(sub, now),
            )
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            wait: timedelta | None = None
            literal = literal_host(sub.url)
            if (
                literal is not None
                and not self.ctx.settings.webhook_allow_private
                and is_forbidden_address(literal)
            ):
                error = "forbidden_address"
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
                        if status in THROTTLING_STATUSES:
                            wait = retry_after(
                                response.headers.get("Retry-After"),
                                now=transport_time(),
                                cap=timedelta(
                                    seconds=self.ctx.settings.webhook_retry_after_max_seconds
                                ),
                            )
                except aiohttp.ClientConnectorError as exc:
                    forbidden = isinstance(exc.os_error, ForbiddenTarget)
                    error = "forbidden_address" if forbidden else type(exc).__name__
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                except Exception as exc:
                    # Recorded as a failed attempt: an escaping error would discard the
                    # outcomes of every other delivery sent in this round.
                    error = type(exc).__name__
            elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(delivery, sub, status, error, elapsed, wait)

    async def _record(self, attempts: Sequence[Attempt]) -> None:
        """Record a round of attempts in one transaction: each attempt row, each
        delivery's new state, and an outcome event for the finished ones."""
        now = self.ctx.clock.now()
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
            subs = {
                sub.id: sub
                for sub in (
                    await session.exec(
                        select(WebhookSubscription).where(
                            col(WebhookSubscription.id).in_({a.subscription.id for a in attempts})
                        )
                    )
                ).all()
            }
            for attempt in attempts:
                row = rows.get(attempt.delivery.seq)
                if row is None or row.status != "pending":
                    continue
                self._apply(session, row, subs.get(row.subscription_id), attempt, now)
                if row.status == "delivered" and row.notice_id is not None:
                    await mark_notified(self.ctx, session, row.notice_id, via="webhook", at=now)
            await session.commit()
        self.ctx.published()

    def _apply(
        self,
        session: AsyncSession,
        row: Delivery,
        sub: WebhookSubscription | None,
        attempt: Attempt,
        now: datetime,
    ) -> None:
        status = attempt.status
        row.attempts += 1
        row.last_response_status = status
        session.add(
            DeliveryAttempt(
                delivery_id=row.id,
                response_status=status,
                error=attempt.error,
                duration_ms=attempt.elapsed_ms,
                attempted_at=now,
            )
        )
        outcome: Literal["delivered", "parked"] | None = None
        if status is not None and 200 <= status < 300:
            row.status, row.delivered_at, outcome = "delivered", now, "delivered"
        else:
            delay = next_delay(row.attempts)
            if status == 410 and sub is not None:
                # The partner says the endpoint is gone: stop sending to it.
                sub.status = "disabled"
            if delay is None or status == 410:
                row.status, outcome = "parked", "parked"
                if sub is not None and sub.flagged_at is None:
                    sub.flagged_at = now
            else:
                if attempt.retry_after is not None:
                    delay = max(delay, attempt.retry_after)
                row.next_attempt_at = now + delay
                if status in THROTTLING_STATUSES and sub is not None:
                    # Slow down for the whole endpoint, not just this referral.
                    sub.throttled_until = now + delay
            if sub is not None:
                session.add(sub)
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
                    time=now,
                ),
            )

    async def run(self) -> None:
        wakeup = self.ctx.wakeup(WAKEUP)
        try:
            while not self.ctx.stopping.is_set():
                wakeup.clear()
                attempted = await self.deliver_due()
                if attempted == 0 and not self.ctx.stopping.is_set():
                    try:
                        await asyncio.wait_for(wakeup.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await self.client.close()


async def dispatch(ctx: ServiceContext) -> None:
    await Dispatcher(ctx).run()


__all__ = [
    "PING_TYPE",
    "Dispatcher",
    "EventType",
    "dispatch",
    "fan_out",
    "may_receive",
    "ping",
    "subscriptions",
    "wants",
]
