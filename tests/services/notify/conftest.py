"""Driving notify's consumer and its Encompass checks by hand, each in a unit of work of
its own, as the consumer and the loop run them."""

from __future__ import annotations

from datetime import datetime, timedelta

from cloudevents.core.base import BaseCloudEvent

from services.notify.handlers import subscriptions
from services.notify.notices import NotifiedVia
from services.notify.service import encompass
from services.notify.settings import settings_of
from shared.runtime import ServiceContext


async def consume(ctx: ServiceContext, *events: BaseCloudEvent) -> None:
    """Handle the events in order, in one unit of work, with notify's handler (as the
    consumer handles a batch)."""
    [subscription] = subscriptions(ctx)
    async with ctx.units.begin() as uow:
        for event in events:
            await subscription.handler(uow, event)


async def alert_missed(ctx: ServiceContext, *, now: datetime, limit: int = encompass.BATCH) -> int:
    """The missed-deadline check, with the service's clock set to `now`."""
    ctx.clock.set(now)
    async with ctx.units.begin() as uow:
        return await encompass.alert_missed(uow=uow, limit=limit)


async def remove_old_content(ctx: ServiceContext, *, now: datetime) -> int:
    """The retention check (NOTIFY_ENCOMPASS_RETENTION_DAYS), with the clock set to `now`."""
    ctx.clock.set(now)
    retention = timedelta(days=settings_of(ctx).notify_encompass_retention_days)
    async with ctx.units.begin() as uow:
        return await encompass.remove_old_content(uow=uow, retention=retention)


async def mark_notified(
    ctx: ServiceContext, notice_id: str, *, via: NotifiedVia, at: datetime
) -> None:
    """Record that a notice reached its recipient at `at`."""
    ctx.clock.set(at)
    async with ctx.units.begin() as uow:
        await encompass.mark_notified(uow=uow, notice_id=notice_id, via=via)
