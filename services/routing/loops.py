"""Routing's scheduled work: the escalation loop, which fires due response deadlines.

Deadlines are rows (`routing_deadline`), so a restart loses none: the first tick
after any start fires whatever fell due while the service was down, once.
"""

from __future__ import annotations

import asyncio
import logging

from services.routing.service.directory import directory_cache
from services.routing.service.referrals import escalate_due
from services.routing.settings import settings_of
from shared.db import is_transient
from shared.logging import OutageLog
from shared.runtime import Loop, ServiceContext, doze

log = logging.getLogger(__name__)

WAKEUP = "escalations"
BATCH = 100


async def escalation_loop(ctx: ServiceContext) -> None:
    """Tick every ROUTING_ESCALATION_INTERVAL_SECONDS (or when woken) until stopping;
    each tick is one unit of work, and the loop stops between ticks, never inside one.
    Ticks that fail are logged once (the first; with its traceback unless the database
    was away), and once more when a tick succeeds again."""
    wake = ctx.wakeup(WAKEUP)
    directories = directory_cache(ctx.state)
    failing = OutageLog(
        "escalation loop",
        log,
        down="escalation tick failed; retrying",
        up="escalation ticks succeeding again",
    )
    while not ctx.stopping.is_set():
        claimed = 0
        try:
            async with ctx.units.begin() as uow:
                due = await escalate_due(uow=uow, directories=directories, limit=BATCH)
            claimed = due  # counted once its unit committed
            failing.recovered()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failing.failed(exc, traceback=not is_transient(exc))
        # Every commit of the service wakes its loops, this tick's own included. (A wake
        # from another commit during the tick waits one interval at most: deadlines
        # are hours away when they are made.)
        wake.clear()
        if claimed:
            log.info("escalated overdue referrals to the hub", extra={"deadlines": claimed})
        if claimed >= BATCH:
            continue  # more may be due: no sleep
        await doze(wake, ctx.stopping, settings_of(ctx).routing_escalation_interval_seconds)


LOOPS: list[tuple[str, Loop]] = [(WAKEUP, escalation_loop)]
