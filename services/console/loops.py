"""The console's scheduled work: forgetting sessions that ended or expired a day ago, and
the queue emails of the people who asked for them."""

from __future__ import annotations

import logging
from datetime import timedelta

from services.console.service.alerts import send_queue_alerts
from services.console.service.sessions import forget_old_sessions
from services.console.settings import settings_of
from shared.db import is_transient
from shared.logging import OutageLog
from shared.runtime import Loop, ServiceContext, doze

log = logging.getLogger(__name__)

WAKEUP = "console-sessions"
INTERVAL_SECONDS = 3600.0
KEPT = timedelta(days=1)

ALERTS = "console-alerts"


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


async def queue_alert_loop(ctx: ServiceContext) -> None:
    """Every CONSOLE_ALERT_INTERVAL_SECONDS, a round of queue emails
    (`send_queue_alerts`). Each outage is logged once, by what failed: the console's
    database, reading the queues, or the mail server (the error's class, never an
    address, a password or anything of a referral).

    It rests a whole interval, first and between rounds, woken only by a stop: the
    console's own commits wake its loops (every page touches a session), and a round on
    each page view would call routing as every opted-in person, against their rate
    limit."""
    interval = settings_of(ctx).console_alert_interval_seconds
    failing = OutageLog(
        "console queue emails", log, down="queue emails failed", up="queue emails work again"
    )
    queues = OutageLog(
        "routing (queue emails)",
        log,
        down="queue emails could not read a queue",
        up="queue emails read the queues again",
    )
    mail = OutageLog(
        "mail server",
        log,
        down="queue emails could not be sent",
        up="queue emails are sent again",
    )
    while not ctx.stopping.is_set():
        await doze(ctx.stopping, ctx.stopping, interval)
        if ctx.stopping.is_set():
            return
        try:
            done = await send_queue_alerts(ctx=ctx)
            failing.recovered()
        except Exception as exc:
            failing.failed(exc, traceback=not is_transient(exc))
            continue
        if done.queue_error is not None:
            queues.failed(done.queue_error, people=done.queues_unread)
        else:
            queues.recovered()
        if done.mail_error is not None:
            mail.failed(done.mail_error, sent=done.sent)
        else:
            mail.recovered(sent=done.sent)


LOOPS: list[tuple[str, Loop]] = [
    (WAKEUP, session_cleanup_loop),
    (ALERTS, queue_alert_loop),
]
