"""Intake's scheduled work: Idempotency-Key answers are forgotten once they are older
than INTAKE_IDEMPOTENCY_RETENTION_HOURS, so the table does not grow for ever."""

from __future__ import annotations

import asyncio
import logging
from datetime import timedelta

from services.intake import service
from services.intake.settings import settings_of
from shared.db import is_transient
from shared.logging import OutageLog
from shared.runtime import Loop, ServiceContext

log = logging.getLogger(__name__)

# How often the retention looks for old answers, and how many one unit deletes.
INTERVAL_SECONDS = 300.0
BATCH = 500


async def forget_old_answers(ctx: ServiceContext, *, limit: int = BATCH) -> int:
    """One turn, in one unit of work: delete at most `limit` answers past their
    retention; returns how many went."""
    retention = timedelta(hours=settings_of(ctx).intake_idempotency_retention_hours)
    async with ctx.units.begin() as uow:
        return await service.forget_idempotency_keys(uow=uow, older_than=retention, limit=limit)


async def idempotency_retention(ctx: ServiceContext) -> None:
    """A turn at start and every INTERVAL_SECONDS (at once again while a turn fills its
    batch) until stopping; stops between turns, never inside a transaction. Turns that
    fail are logged once (the first; with its traceback unless the database was away),
    and once more when a turn succeeds again."""
    failing = OutageLog(
        "idempotency retention",
        log,
        down="idempotency retention failed; retrying",
        up="idempotency retention succeeding again",
    )
    while not ctx.stopping.is_set():
        forgotten = 0
        try:
            forgotten = await forget_old_answers(ctx)
            failing.recovered()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            failing.failed(exc, traceback=not is_transient(exc))
        if forgotten:
            log.info("forgot old Idempotency-Key answers", extra={"answers": forgotten})
        if forgotten >= BATCH:
            continue  # more may be past their retention: no sleep
        try:
            await asyncio.wait_for(ctx.stopping.wait(), INTERVAL_SECONDS)
        except TimeoutError:
            pass


LOOPS: list[tuple[str, Loop]] = [("idempotency-retention", idempotency_retention)]
