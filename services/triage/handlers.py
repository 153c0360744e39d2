"""Triage's event consumer: each referral.received is decided as it arrives, in the unit
of work the consumer gives it (referral.triaged is recorded in the same unit)."""

from __future__ import annotations

from cloudevents.core.base import BaseCloudEvent

from services.triage import service
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import ReferralReceived, Topic
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    """Triage's one consumer group: referral.received."""

    async def on_received(uow: UnitOfWork, event: BaseCloudEvent) -> None:
        received = event_data(event, ReferralReceived)
        policy = await service.policy_for_decision(ctx, uow)
        await service.triage(uow=uow, policy=policy, received=received)
        ctx.metrics.decision_made(uow, since=received.received_at, after="received")

    return [Subscription(group="triage", topics=[Topic.REFERRAL_RECEIVED], handler=on_received)]
