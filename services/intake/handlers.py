"""Intake follows each referral's journey from the events the other services emit,
so the referrer can see what happened (the feedback loop)."""

from __future__ import annotations

from collections.abc import Sequence

from cloudevents.core.base import BaseCloudEvent

from services.intake import service
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import (
    EventType,
    ReferralPathway,
    ReferralRouted,
    ReferralStatus,
    ReferralTriaged,
    Topic,
)
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork

_NEWS: dict[str, type[service.JourneyNews]] = {
    EventType.REFERRAL_TRIAGED: ReferralTriaged,
    EventType.REFERRAL_ROUTED: ReferralRouted,
    EventType.REFERRAL_STATUS: ReferralStatus,
    EventType.REFERRAL_PATHWAY: ReferralPathway,
}


async def follow_journey(uow: UnitOfWork, event: BaseCloudEvent) -> None:
    """Decode a triaged, routed, status or pathway event and add it to the referral's journey;
    other events on these topics are not the journey's."""
    model = _NEWS.get(event.get_type())
    referral_id = event.get_subject()
    if model is None or referral_id is None:
        return
    await service.follow_journey(
        uow=uow,
        referral_id=referral_id,
        event_id=event.get_id(),
        at=event.get_time(),
        news=event_data(event, model),
    )


async def read_ahead(uow: UnitOfWork, events: Sequence[BaseCloudEvent]) -> None:
    """Read the reports a batch's journey events are about in one statement."""
    referral_ids = [
        subject for e in events if e.get_type() in _NEWS and (subject := e.get_subject())
    ]
    await service.prepare_journeys(uow=uow, referral_ids=referral_ids)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    return [
        Subscription(
            group="intake-journey",
            topics=[
                Topic.REFERRAL_TRIAGED,
                Topic.REFERRAL_ROUTED,
                Topic.REFERRAL_STATUS,
                Topic.REFERRAL_PATHWAY,
            ],
            handler=follow_journey,
            prepare=read_ahead,
        )
    ]
