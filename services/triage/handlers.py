"""Triage's event consumer: each referral.received is decided as it arrives, in the unit
of work the consumer gives it (referral.triaged is recorded in the same unit). A batch
reads ahead, once, what its decisions read (`service.prepare_batch`)."""

from __future__ import annotations

from collections.abc import Sequence

from cloudevents.core.base import BaseCloudEvent

from services.triage import service
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import ReferralReceived, Topic
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork

# The batch's referrals as its read-ahead read them, by event (source and id): each is
# read from its event once.
_READ = "triage.received"


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    """Triage's one consumer group: referral.received."""

    async def on_received(uow: UnitOfWork, event: BaseCloudEvent) -> None:
        read = uow.kept(_READ)
        key = (event.get_source(), event.get_id())
        received = read.pop(key, None) if isinstance(read, dict) else None
        if not isinstance(received, ReferralReceived):
            received = event_data(event, ReferralReceived)
        policy = await service.policy_for_decision(ctx, uow)
        await service.triage(uow=uow, policy=policy, received=received)
        ctx.metrics.decision_made(uow, since=received.received_at, after="received")

    async def read_ahead(uow: UnitOfWork, events: Sequence[BaseCloudEvent]) -> None:
        batch = {
            (event.get_source(), event.get_id()): event_data(event, ReferralReceived)
            for event in events
        }
        uow.keep(_READ, dict(batch))
        policy = await service.policy_for_decision(ctx, uow)
        await service.prepare_batch(uow, policy=policy, batch=list(batch.values()))

    return [
        Subscription(
            group="triage",
            topics=[Topic.REFERRAL_RECEIVED],
            handler=on_received,
            prepare=read_ahead,
        )
    ]
