"""Notifications queued as deliveries (one per event per subscription), and a partner's
view of its own deliveries.

A delivery is queued in the same transaction that handles the event, so a crash between
handling and sending loses nothing; the dispatcher (`attempts`) sends it.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from services.notify import repository
from services.notify.filters import may_receive, wants
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.service import changes
from services.notify.sharing import SharingPolicy
from services.notify.webhooks import webhook_body
from shared.auth import Principal
from shared.clock import as_utc
from shared.events import PARTNER_FACING
from shared.pagination import Page, PageRequest, Position, page_of
from shared.problems import NotFound, Problem
from shared.tracing import TRACEPARENT, TRACESTATE, trace_context
from shared.uow import UnitOfWork


def new_delivery(
    subscription: WebhookSubscription,
    *,
    referral_id: str | None,
    event_type: str,
    body: str,
    now: datetime,
    notice_id: str | None = None,
) -> Delivery:
    """A delivery of an event (or a notice) to the subscription, due now, in the trace
    of what queued it (the event's handling, or the request)."""
    trace = trace_context()
    return Delivery(
        subscription_id=subscription.id,
        referral_id=referral_id,
        notice_id=notice_id,
        # The stable `webhook-id` of every attempt.
        id="msg_" + uuid.uuid4().hex,
        event_type=event_type,
        body=body,
        next_attempt_at=now,
        created_at=now,
        traceparent=trace.get(TRACEPARENT),
        tracestate=trace.get(TRACESTATE),
    )


def queue(
    *,
    uow: UnitOfWork,
    subscriptions: Iterable[WebhookSubscription],
    event_type: str,
    referral_id: str | None,
    data: dict[str, Any],
    sent_at: datetime,
    policy: SharingPolicy,
    notice_id: str | None = None,
) -> None:
    """Queue a delivery of the event to each subscription, carrying only what the
    sharing policy lets that kind of partner see."""
    now = uow.now()
    bodies: dict[str, str] = {}
    for sub in subscriptions:
        if sub.client_kind not in bodies:
            shared = policy.minimise(sub.client_kind, event_type, data)
            bodies[sub.client_kind] = webhook_body(event_type, sent_at, shared)
        uow.session.add(
            new_delivery(
                sub,
                referral_id=referral_id,
                event_type=event_type,
                body=bodies[sub.client_kind],
                now=now,
                notice_id=notice_id,
            )
        )


async def fan_out(
    *,
    uow: UnitOfWork,
    event_type: str,
    referral_id: str | None,
    data: dict[str, Any],
    sent_at: datetime | None,
    policy: SharingPolicy,
) -> None:
    """Queue a partner-facing event to every live subscription that wants it and whose
    organisation may be told of it (anything else is not for partners: ignored)."""
    if event_type not in PARTNER_FACING:
        return
    subscriptions = await uow.read_once(
        "notify.live_subscriptions", lambda: repository.live_subscriptions(uow.session)
    )
    queue(
        uow=uow,
        subscriptions=(
            s for s in subscriptions if wants(s, event_type, data) and may_receive(s, data)
        ),
        event_type=event_type,
        referral_id=referral_id,
        data=data,
        sent_at=sent_at or uow.now(),
        policy=policy,
    )


async def find(
    *,
    uow: UnitOfWork,
    organisation: str,
    status: str | None = None,
    subscription_id: str | None = None,
    referral_id: str | None = None,
    page: PageRequest,
) -> Page[Delivery]:
    """An organisation's deliveries, oldest first (by `created_at`, then `id`), a page
    at a time."""
    rows = await repository.deliveries_of(
        uow.session,
        organisation,
        status=status,
        subscription_id=subscription_id,
        referral_id=referral_id,
        page=page,
    )
    return page_of(rows, page.limit, lambda row: Position(as_utc(row.created_at), row.id))


async def get(
    *, uow: UnitOfWork, organisation: str, delivery_id: str
) -> tuple[Delivery, Sequence[DeliveryAttempt]]:
    """One of the organisation's deliveries and every attempt made at it."""
    row, _ = await _own(uow, organisation, delivery_id)
    return row, await repository.attempts_of(uow.session, row.id)


async def replay(
    *, uow: UnitOfWork, organisation: str, delivery_id: str, principal: Principal | None = None
) -> Delivery:
    """Send a parked delivery again, with the same webhook-id, on a fresh schedule; its
    subscription must be active. Who asked (`principal`; None: Signpost itself) is
    recorded against the subscription."""
    row, sub = await _own(uow, organisation, delivery_id)
    if row.status != "parked":
        raise Problem(
            409,
            "Conflict",
            f"Only parked deliveries can be replayed; this one is {row.status}.",
            type="not-parked",
        )
    if sub.status != "active":
        raise Problem(
            409,
            "Conflict",
            f"The subscription is {sub.status}: resume it before replaying.",
            type="subscription-not-active",
        )
    row.status = "pending"
    row.attempts = 0
    row.replays = (row.replays or 0) + 1
    row.next_attempt_at = uow.now()
    uow.session.add(row)
    changes.record(
        uow,
        subscription_id=sub.id,
        action="replayed",
        by=changes.who(principal),
        delivery_id=row.id,
    )
    return row


async def _own(
    uow: UnitOfWork, organisation: str, delivery_id: str
) -> tuple[Delivery, WebhookSubscription]:
    row = await repository.delivery(uow.session, delivery_id)
    sub = await repository.subscription(uow.session, row.subscription_id) if row else None
    if row is None or sub is None or sub.organisation != organisation:
        raise NotFound("Delivery")
    return row, sub
