"""Routing's consumer: each referral.triaged is routed (or routed again on a later
triage revision), in the unit of work the consumer gives it. At start, the agency
directory is seeded."""

from __future__ import annotations

import logging
from collections.abc import Sequence

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy.exc import IntegrityError

from services.routing.service.directory import VersionTaken, directory_cache, seed
from services.routing.service.referrals import prepare_routing, record_routing
from services.routing.settings import settings_of
from shared.consuming import Subscription
from shared.envelope import event_data
from shared.events import ReferralTriaged, Topic
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)


def subscriptions(ctx: ServiceContext) -> list[Subscription]:
    directories = directory_cache(ctx.state)

    async def route_referral(uow: UnitOfWork, event: BaseCloudEvent) -> None:
        triaged = event_data(event, ReferralTriaged)
        routed = await record_routing(uow=uow, directories=directories, triaged=triaged)
        if routed and triaged.revision == 0:
            # A referral's first routing; a later revision's `decided_at` is still the
            # first decision's, so it would count a practitioner's days as latency.
            ctx.metrics.decision_made(uow, since=triaged.decided_at, after="triaged")

    async def read_ahead(uow: UnitOfWork, events: Sequence[BaseCloudEvent]) -> None:
        referral_ids = [subject for e in events if (subject := e.get_subject())]
        await prepare_routing(uow=uow, referral_ids=referral_ids)

    return [
        Subscription(
            group="routing",
            topics=[Topic.REFERRAL_TRIAGED],
            handler=route_referral,
            prepare=read_ahead,
        )
    ]


async def on_start(ctx: ServiceContext) -> None:
    """First start: store the shipped demo directory (or DIRECTORY_PATH) as version 1."""
    try:
        async with ctx.units.begin() as uow:
            await seed(uow=uow, path=settings_of(ctx).directory_path)
    except (IntegrityError, VersionTaken):
        # Another replica stored the same version first.
        log.info("directory already seeded by another replica")
