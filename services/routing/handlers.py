"""Routing consumes referral.triaged, picks the destination, emits referral.routed."""

from __future__ import annotations

from cloudevents.core.base import BaseCloudEvent
from sqlmodel.ext.asyncio.session import AsyncSession

from services.routing.service import record_routing
from services.routing.store import seed_directory
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import ReferralTriaged, Topic
from shared.runtime import ServiceContext


def make_handler(ctx: ServiceContext):  # type: ignore[no-untyped-def]
    async def route_referral(session: AsyncSession, event: BaseCloudEvent) -> None:
        await record_routing(ctx, session, event_data(event, ReferralTriaged))

    return route_referral


async def on_start(ctx: ServiceContext) -> None:
    await seed_directory(ctx)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(group="routing", topics=[Topic.REFERRAL_TRIAGED], handler=make_handler(ctx))
    ]
