"""The escalation scheduler: a loop that fires due response deadlines.

Deadlines are rows (`routing_deadline`), so a restart loses none: the first tick
after any start fires whatever fell due while the service was down, once.
"""

from __future__ import annotations

import asyncio
import logging

from services.routing.service import escalate_due
from shared.runtime import ServiceContext

log = logging.getLogger(__name__)

WAKEUP = "escalations"
BATCH = 100


async def escalation_loop(ctx: ServiceContext) -> None:
    """Tick every ROUTING_ESCALATION_INTERVAL_SECONDS (or when woken) until stopping;
    stops between ticks, never inside a transaction."""
    wake = ctx.wakeup(WAKEUP)
    while not ctx.stopping.is_set():
        wake.clear()
        claimed = 0
        try:
            claimed = await escalate_due(ctx, now=ctx.clock.now(), limit=BATCH)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning("escalation tick failed; retrying", extra={"error": type(exc).__name__})
        if claimed:
            log.info("escalated overdue referrals to the hub", extra={"deadlines": claimed})
            ctx.published()
        if claimed >= BATCH:
            continue  # more may be due: no sleep
        try:
            await asyncio.wait_for(wake.wait(), ctx.settings.routing_escalation_interval_seconds)
        except TimeoutError:
            pass
