"""The console's scheduled work: forgetting sessions that ended or expired a day ago."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.console.service.sessions import forget_old_sessions
from shared.db import is_transient
from shared.logging import OutageLog
from shared.runtime import Loop, ServiceContext, doze

log = logging.getLogger(__name__)

WAKEUP = "console-sessions"
INTERVAL_SECONDS = 3600.0
KEPT = timedelta(days=1)


async def session_cleanup_loop(ctx: ServiceContext) -> None:
    """Once an hour, delete sessions over for a day (their ids are useless by then)."""
    wake = ctx.wakeup(WAKEUP)
    failing = OutageLog(
        "console session cleanup", log, down="session cleanup failed", up="session cleanup ok"
    )
    while not ctx.stopping.is_set():
        try:
            async with ctx.units.begin() as uow:
                await forget_old_sessions(uow=uow, older_than=KEPT)
            failing.recovered()
        except Exception as exc:
            failing.failed(exc, traceback=not is_transient(exc))
        wake.clear()
        await doze(wake, ctx.stopping, INTERVAL_SECONDS)


LOOPS: list[tuple[str, Loop]] = [(WAKEUP, session_cleanup_loop)]
