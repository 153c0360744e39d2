"""Notify's REST API: webhook subscriptions for a partner's own organisation."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Request
from pydantic import AnyHttpUrl, BaseModel, Field
from sqlmodel import select

from services.notify.models import WebhookSubscription
from services.notify.webhooks import new_secret
from shared.auth import Principal, requires
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1", tags=["notify"])

PartnerEventType = Literal["org.signpost.referral.routed.v1", "org.signpost.referral.status.v1"]


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "notify")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
SubscriptionsWrite = Annotated[Principal, requires("subscriptions:write")]


class SubscriptionCreate(BaseModel):
    url: AnyHttpUrl = Field(description="Where to POST signed notifications (http or https).")
    event_types: list[PartnerEventType] = Field(min_length=1, max_length=10)


class SubscriptionPublic(BaseModel):
    id: str
    url: str
    event_types: list[str]
    status: str
    created_at: datetime


class SubscriptionCreated(SubscriptionPublic):
    secret: str = Field(description="The whsec_ signing secret. Shown once: store it now.")


@router.post(
    "/subscriptions",
    status_code=201,
    response_model=SubscriptionCreated,
    summary="Subscribe your organisation to referral events by webhook",
)
async def create_subscription(
    body: SubscriptionCreate, principal: SubscriptionsWrite, ctx: Ctx
) -> SubscriptionCreated:
    sub = WebhookSubscription(
        id="sub_" + uuid.uuid4().hex,
        organisation=principal.organisation,
        client_kind=principal.kind.value,
        client_id=principal.client_id,
        url=str(body.url),
        event_types=sorted(set(body.event_types)),
        secret=new_secret(),
    )
    async with ctx.db.session() as session:
        session.add(sub)
        await session.commit()
    return SubscriptionCreated(
        id=sub.id,
        url=sub.url,
        event_types=sub.event_types,
        status=sub.status,
        created_at=sub.created_at,
        secret=sub.secret,
    )


@router.get(
    "/subscriptions",
    response_model=list[SubscriptionPublic],
    summary="Your organisation's subscriptions (secrets are never shown again)",
)
async def list_subscriptions(principal: SubscriptionsWrite, ctx: Ctx) -> list[SubscriptionPublic]:
    async with ctx.db.session() as session:
        rows = (
            await session.exec(
                select(WebhookSubscription).where(
                    WebhookSubscription.organisation == principal.organisation
                )
            )
        ).all()
    return [
        SubscriptionPublic(
            id=r.id, url=r.url, event_types=r.event_types, status=r.status, created_at=r.created_at
        )
        for r in rows
    ]
