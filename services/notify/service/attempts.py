"""The dispatcher's rounds, as units of work around the POSTs (which are sent outside
any transaction): claim what is due, then record what each attempt gave as soon as its
answer is known (each answer, or the few that arrived together, in a unit of its own).

Deliveries for one referral reach a subscription in order: only the oldest pending
delivery of each (subscription, referral) pair is claimed. A paused, disabled or
throttled subscription holds its deliveries without spending their retry schedule.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from services.notify import repository
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.service.encompass import mark_notified
from services.notify.webhooks import THROTTLING_STATUSES, next_delay
from shared.events import EventType, NotificationDelivery
from shared.uow import UnitOfWork

# A claimed delivery is leased for the round's timeouts plus this: then it is due again.
LEASE_MARGIN_SECONDS = 30

# A claimed delivery and the subscription it goes to.
Claim = tuple[Delivery, WebhookSubscription]


@dataclass(frozen=True)
class Attempt:
    """What one POST to a partner gave."""

    delivery: Delivery
    subscription: WebhookSubscription
    status: int | None
    error: str | None
    elapsed_ms: int
    retry_after: timedelta | None = None


async def claim_due(
    *, uow: UnitOfWork, limit: int, concurrency: int, timeout_seconds: float
) -> list[Claim]:
    """Claim the oldest pending delivery of each (subscription, referral) pair, where it
    is due and its subscription is active and not throttled.

    A claim is a lease: the claimed deliveries' next attempt moves past the time the
    whole round can take (each wave of `concurrency` attempts at `timeout_seconds`), in
    the claiming unit, so another notify replica does not send them too. Recording the
    attempt sets the real next time; if this process dies first, the lease runs out and
    any replica sends it again, with the same webhook-id.
    """
    now = uow.now()
    heads = await repository.due_heads(uow.session, now=now, limit=limit)
    if heads:
        # The round sends `concurrency` at a time and records each as it is answered:
        # the lease covers the last wave at the longest timeout, and more.
        waves = -(-len(heads) // concurrency)
        lease = timedelta(seconds=waves * timeout_seconds + LEASE_MARGIN_SECONDS)
        await repository.postpone(uow.session, [d.seq for d, _ in heads], until=now + lease)
    return heads


async def record(*, uow: UnitOfWork, attempts: Sequence[Attempt]) -> None:
    """Record attempts whose answers are in: each attempt row, each delivery's new
    state (delivered, due again on the schedule, or parked), its subscription's
    (disabled on 410 Gone, throttled, flagged), an outcome event for each finished
    delivery, and a delivered Encompass notice as notified."""
    now = uow.now()
    rows = await repository.deliveries_by_seq(uow.session, [a.delivery.seq for a in attempts])
    subs = await repository.subscriptions_by_id(uow.session, {a.subscription.id for a in attempts})
    for attempt in attempts:
        row = rows.get(attempt.delivery.seq)
        if row is None or row.status != "pending":
            continue
        _apply(uow, row, subs.get(row.subscription_id), attempt, now)
        if row.status == "delivered" and row.notice_id is not None:
            await mark_notified(uow=uow, notice_id=row.notice_id, via="webhook")


def _apply(
    uow: UnitOfWork,
    row: Delivery,
    sub: WebhookSubscription | None,
    attempt: Attempt,
    now: datetime,
) -> None:
    status = attempt.status
    row.attempts += 1
    row.last_response_status = status
    uow.session.add(
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
            uow.session.add(sub)
    uow.session.add(row)
    if outcome is not None:
        uow.record(
            type=EventType.NOTIFICATION_DELIVERY,
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
        )
