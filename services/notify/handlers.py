"""Notify's consumer: partner-facing events become deliveries to the subscriptions that
want them; Operation Encompass notices are recorded and delivered to their recipient."""

from __future__ import annotations

from typing import Any

from cloudevents.core.base import BaseCloudEvent

from services.notify.service import deliveries, encompass
from services.notify.settings import school_calendar_of, sharing_policy_of
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import EncompassNotice, EventType, Topic
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    policy = sharing_policy_of(ctx)
    calendar = school_calendar_of(ctx)

    async def handle(uow: UnitOfWork, event: BaseCloudEvent) -> None:
        if event.get_type() == EventType.ENCOMPASS_NOTICE:
            await encompass.record_notice(
                uow=uow,
                notice=event_data(event, EncompassNotice),
                sent_at=event.get_time(),
                policy=policy,
                calendar=calendar,
            )
        else:
            await deliveries.fan_out(
                uow=uow,
                event_type=event.get_type(),
                referral_id=event.get_subject(),
                data=_data(event),
                sent_at=event.get_time(),
                policy=policy,
            )

    return [
        Subscription(
            group="notify",
            topics=[
                Topic.REFERRAL_ROUTED,
                Topic.REFERRAL_STATUS,
                Topic.REFERRAL_PATHWAY,
                Topic.ENCOMPASS_NOTICE,
                Topic.ENCOMPASS_ALERT,
            ],
            handler=handle,
        )
    ]


def _data(event: BaseCloudEvent) -> dict[str, Any]:
    # Passed on as it came (a policy drops what it does not grant, fields a newer
    # producer added included): every partner-facing event's data is an object.
    data = event.get_data()
    assert isinstance(data, dict)
    return data
