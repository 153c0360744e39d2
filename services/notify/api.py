"""Notify's REST API: webhook subscriptions and their deliveries, for the caller's own
organisation only (anything belonging to another organisation is a 404)."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import AnyHttpUrl, BaseModel, Field
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.delivery import ping
from services.notify.filters import SubscriptionFilter
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from services.notify.ssrf import ForbiddenTarget, check_target
from services.notify.webhooks import new_secret
from shared.asyncapi import asyncapi_document
from shared.auth import Principal, requires
from shared.clock import as_utc
from shared.problems import NotFound, Problem
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1", tags=["notify"])

PartnerEventType = Literal[
    "org.signpost.referral.routed.v1",
    "org.signpost.referral.status.v1",
    "org.signpost.encompass.alert.v1",
    "org.signpost.encompass.notice.v1",
]
DeliveryStatus = Literal["pending", "delivered", "parked", "cancelled"]


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "notify")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
SubscriptionsWrite = Annotated[Principal, requires("subscriptions:write")]


async def _reader(principal: Annotated[Principal, requires()]) -> Principal:
    if not (principal.has("subscriptions:read") or principal.has("subscriptions:write")):
        raise Problem(
            403,
            "Forbidden",
            "This key lacks the scope(s): subscriptions:read.",
            type="missing-scope",
            missing_scopes=["subscriptions:read"],
        )
    return principal


SubscriptionsRead = Annotated[Principal, Depends(_reader)]


class SubscriptionCreate(BaseModel):
    url: AnyHttpUrl = Field(description="Where to POST signed notifications (http or https).")
    event_types: list[PartnerEventType] = Field(min_length=1, max_length=10)
    filter: SubscriptionFilter | None = Field(
        default=None, description="Optional: hear only about referrals that match."
    )


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    filter: SubscriptionFilter | None = None
    status: str = Field(description="active, paused (deliveries held) or disabled (410 Gone).")
    created_at: datetime
    flagged_at: datetime | None = Field(
        default=None, description="When a delivery last ran out of retries and was parked."
    )
    previous_secret_expires_at: datetime | None = Field(
        default=None, description="Until then the previous secret also signs each delivery."
    )

    @classmethod
    def of(cls, sub: WebhookSubscription, *, now: datetime) -> SubscriptionPublic:
        return cls(
            id=sub.id,
            url=sub.url,
            event_types=sub.event_types,
            filter=SubscriptionFilter.model_validate(sub.event_filter)
            if sub.event_filter
            else None,
            status=sub.status,
            created_at=sub.created_at,
            flagged_at=sub.flagged_at,
            previous_secret_expires_at=_active_overlap(sub, now),
        )


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="The whsec_ signing secret. Shown once: store it now.")


class SecretRotated(BaseModel):
    id: str
    secret: str = Field(description="The new whsec_ secret. Shown once: store it now.")
    previous_secret_expires_at: datetime | None = Field(
        description="Until then deliveries carry a signature with each secret."
    )


class AttemptPublic(BaseModel):
    attempted_at: datetime
    response_status: int | None
    error: str | None
    duration_ms: int


class DeliveryPublic(BaseModel):
    id: str = Field(description="The webhook-id, the same on every attempt.")
    subscription_id: str
    referral_id: str | None
    event_type: str
    status: DeliveryStatus
    attempts: int
    last_response_status: int | None
    created_at: datetime
    next_attempt_at: datetime | None
    delivered_at: datetime | None

    @classmethod
    def of(cls, row: Delivery) -> DeliveryPublic:
        return cls(
            id=row.id,
            subscription_id=row.subscription_id,
            referral_id=row.referral_id,
            event_type=row.event_type,
            status=row.status,
            attempts=row.attempts,
            last_response_status=row.last_response_status,
            created_at=row.created_at,
            next_attempt_at=row.next_attempt_at if row.status == "pending" else None,
            delivered_at=row.delivered_at,
        )


class DeliveryDetail(DeliveryPublic):
    attempt_log: list[AttemptPublic]


def _active_overlap(sub: WebhookSubscription, now: datetime) -> datetime | None:
    expires = sub.previous_secret_expires_at
    if sub.previous_secret is None or expires is None:
        return None
    expires = as_utc(expires)
    return expires if expires > now else None


async def _own_subscription(
    session: AsyncSession, principal: Principal, subscription_id: str
) -> WebhookSubscription:
    sub = await session.get(WebhookSubscription, subscription_id)
    if sub is None or sub.organisation != principal.organisation:
        raise NotFound("Subscription")
    return sub


async def _own_delivery(
    session: AsyncSession, principal: Principal, delivery_id: str
) -> tuple[Delivery, WebhookSubscription]:
    row = (await session.exec(select(Delivery).where(Delivery.id == delivery_id))).first()
    sub = await session.get(WebhookSubscription, row.subscription_id) if row else None
    if row is None or sub is None or sub.organisation != principal.organisation:
        raise NotFound("Delivery")
    return row, sub


def _refused_url(reason: str) -> Problem:
    return Problem(
        422,
        "The request is not valid",
        f"1 field error(s): url ({reason})",
        type="validation",
        errors=[
            {
                "loc": ["body", "url"],
                "pointer": "/url",
                "field": "url",
                "message": f"Webhook targets must be public internet addresses: {reason}.",
                "type": "forbidden_target",
            }
        ],
    )


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe your organisation to referral events by webhook",
)
async def create_subscription(
    body: SubscriptionCreate, principal: SubscriptionsWrite, ctx: Ctx
) -> SubscriptionCreated:
    url = str(body.url)
    try:
        await check_target(url, allow_private=ctx.settings.webhook_allow_private)
    except ForbiddenTarget as exc:
        raise _refused_url(str(exc)) from None
    sub = WebhookSubscription(
        id="sub_" + uuid.uuid4().hex,
        organisation=principal.organisation,
        client_kind=principal.kind.value,
        client_id=principal.client_id,
        url=url,
        event_types=sorted(set(body.event_types)),
        event_filter=body.filter.model_dump(exclude_none=True) if body.filter else None,
        secret=new_secret(),
        created_at=ctx.clock.now(),
    )
    async with ctx.db.session() as session:
        session.add(sub)
        await session.commit()
    return SubscriptionCreated(
        **SubscriptionPublic.of(sub, now=ctx.clock.now()).model_dump(), secret=sub.secret
    )


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionPublic],
    summary="Your organisation's subscriptions (secrets are never shown again)",
)
async def list_subscriptions(principal: SubscriptionsRead, ctx: Ctx) -> list[SubscriptionPublic]:
    async with ctx.db.session() as session:
        rows = (
            await session.exec(
                select(WebhookSubscription)
                .where(WebhookSubscription.organisation == principal.organisation)
                .order_by(col(WebhookSubscription.created_at))
            )
        ).all()
    return [SubscriptionPublic.of(r, now=ctx.clock.now()) for r in rows]


@router.get(
    "/subscriptions/{subscription_id}",
    response_model=SubscriptionPublic,
    summary="One of your organisation's subscriptions",
)
async def get_subscription(
    subscription_id: str, principal: SubscriptionsRead, ctx: Ctx
) -> SubscriptionPublic:
    async with ctx.db.session() as session:
        sub = await _own_subscription(session, principal, subscription_id)
        return SubscriptionPublic.of(sub, now=ctx.clock.now())


async def _set_status(
    ctx: ServiceContext, principal: Principal, subscription_id: str, status: str
) -> SubscriptionPublic:
    async with ctx.db.session() as session:
        sub = await _own_subscription(session, principal, subscription_id)
        sub.status = status
        if status == "active":
            # Resuming is the partner saying "fixed": send again now.
            sub.flagged_at = None
            sub.throttled_until = None
        session.add(sub)
        await session.commit()
    ctx.published()
    return SubscriptionPublic.of(sub, now=ctx.clock.now())


@router.post(
    "/subscriptions/{subscription_id}/pause",
    response_model=SubscriptionPublic,
    summary="Hold deliveries: new notifications queue until you resume",
)
async def pause_subscription(
    subscription_id: str, principal: SubscriptionsWrite, ctx: Ctx
) -> SubscriptionPublic:
    return await _set_status(ctx, principal, subscription_id, "paused")


@router.post(
    "/subscriptions/{subscription_id}/resume",
    response_model=SubscriptionPublic,
    summary="Resume a paused or disabled subscription; queued notifications flow in order",
)
async def resume_subscription(
    subscription_id: str, principal: SubscriptionsWrite, ctx: Ctx
) -> SubscriptionPublic:
    return await _set_status(ctx, principal, subscription_id, "active")


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a subscription; its undelivered notifications are cancelled",
)
async def delete_subscription(
    subscription_id: str, principal: SubscriptionsWrite, ctx: Ctx
) -> Response:
    async with ctx.db.session() as session:
        sub = await _own_subscription(session, principal, subscription_id)
        await session.exec(
            update(Delivery)
            .where(col(Delivery.subscription_id) == sub.id, col(Delivery.status) == "pending")
            .values(status="cancelled")
        )
        await session.delete(sub)
        await session.commit()
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    response_model=SecretRotated,
    summary="Issue a new signing secret; the old one keeps signing during the overlap",
)
async def rotate_secret(
    subscription_id: str, principal: SubscriptionsWrite, ctx: Ctx
) -> SecretRotated:
    overlap = timedelta(hours=ctx.settings.webhook_secret_overlap_hours)
    async with ctx.db.session() as session:
        sub = await _own_subscription(session, principal, subscription_id)
        sub.previous_secret = sub.secret if overlap > timedelta(0) else None
        sub.previous_secret_expires_at = (
            ctx.clock.now() + overlap if overlap > timedelta(0) else None
        )
        sub.secret = new_secret()
        session.add(sub)
        await session.commit()
    return SecretRotated(
        id=sub.id,
        secret=sub.secret,
        previous_secret_expires_at=_active_overlap(sub, ctx.clock.now()),
    )


@router.post(
    "/subscriptions/{subscription_id}/ping",
    status_code=202,
    response_model=DeliveryPublic,
    summary="Send a signed test notification; follow it at GET /v1/deliveries/{id}",
)
async def ping_subscription(
    subscription_id: str, principal: SubscriptionsWrite, ctx: Ctx
) -> DeliveryPublic:
    async with ctx.db.session() as session:
        sub = await _own_subscription(session, principal, subscription_id)
        delivery = ping(sub, now=ctx.clock.now())
        session.add(delivery)
        await session.commit()
    ctx.published()
    return DeliveryPublic.of(delivery)


@router.get(
    "/deliveries",
    response_model=list[DeliveryPublic],
    summary="Your organisation's deliveries, oldest first (e.g. ?status=parked)",
)
async def list_deliveries(
    principal: SubscriptionsRead,
    ctx: Ctx,
    status: DeliveryStatus | None = None,
    subscription_id: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryPublic]:
    async with ctx.db.session() as session:
        own = select(WebhookSubscription.id).where(
            WebhookSubscription.organisation == principal.organisation
        )
        query = select(Delivery).where(col(Delivery.subscription_id).in_(own))
        if status is not None:
            query = query.where(Delivery.status == status)
        if subscription_id is not None:
            query = query.where(Delivery.subscription_id == subscription_id)
        rows = (await session.exec(query.order_by(col(Delivery.seq)).limit(limit))).all()
    return [DeliveryPublic.of(r) for r in rows]


@router.get(
    "/deliveries/{delivery_id}",
    response_model=DeliveryDetail,
    summary="One delivery with every attempt made",
)
async def get_delivery(delivery_id: str, principal: SubscriptionsRead, ctx: Ctx) -> DeliveryDetail:
    async with ctx.db.session() as session:
        row, _ = await _own_delivery(session, principal, delivery_id)
        attempts = (
            await session.exec(
                select(DeliveryAttempt)
                .where(DeliveryAttempt.delivery_id == row.id)
                .order_by(col(DeliveryAttempt.id))
            )
        ).all()
    return DeliveryDetail(
        **DeliveryPublic.of(row).model_dump(),
        attempt_log=[
            AttemptPublic(
                attempted_at=a.attempted_at,
                response_status=a.response_status,
                error=a.error,
                duration_ms=a.duration_ms,
            )
            for a in attempts
        ],
    )


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    response_model=DeliveryPublic,
    summary="Send a parked delivery again (same webhook-id), on a fresh retry schedule",
)
async def replay_delivery(
    delivery_id: str, principal: SubscriptionsWrite, ctx: Ctx
) -> DeliveryPublic:
    async with ctx.db.session() as session:
        row, sub = await _own_delivery(session, principal, delivery_id)
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
        row.next_attempt_at = ctx.clock.now()
        session.add(row)
        await session.commit()
    ctx.published()
    return DeliveryPublic.of(row)


@router.get(
    "/asyncapi.json",
    summary="AsyncAPI 3.0 description of Signpost's Kafka topics (for partners on Kafka)",
)
async def asyncapi() -> dict[str, Any]:
    return asyncapi_document()
