"""Notify's scheduled work: the webhook dispatcher, and the Operation Encompass checks
(missed deadlines, the retention of a notice's content, the school calendar's end).

Each turn's database work is one unit of work calling `service`; the dispatcher's POSTs
go out between two units (claim, then record), never inside a transaction.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import date, datetime, timedelta

import aiohttp

from services.notify.school_days import SchoolCalendar, calendar_warnings
from services.notify.service import attempts, encompass
from services.notify.service.attempts import Attempt, Claim
from services.notify.settings import school_calendar_of, settings_of, sharing_policy_of
from services.notify.ssrf import (
    ForbiddenTarget,
    GuardedResolver,
    is_forbidden_address,
    literal_host,
)
from services.notify.webhooks import (
    THROTTLING_STATUSES,
    overlap_until,
    retry_after,
    signature_headers,
)
from shared.clock import transport_time
from shared.runtime import Loop, ServiceContext

log = logging.getLogger(__name__)

# The dispatcher's wake-up: set whenever a unit of work of notify commits.
WAKEUP = "deliveries"


class Dispatcher:
    """Delivers due deliveries, records every attempt, retries on the schedule."""

    def __init__(self, ctx: ServiceContext, *, concurrency: int = 32) -> None:
        self.ctx = ctx
        settings = settings_of(ctx)
        # aiohttp rather than httpx here: measured on this hot path it spends about
        # 0.15 ms of CPU per POST against httpx's 3-4 ms at 32 concurrent requests.
        # The resolver refuses private addresses at connect time (see `ssrf`).
        self.client = aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(
                resolver=GuardedResolver(lambda: settings.webhook_allow_private)
            ),
            timeout=aiohttp.ClientTimeout(total=settings.webhook_timeout_seconds),
            headers={"user-agent": "Signpost-Webhooks/1", "content-type": "application/json"},
        )
        self.concurrency = concurrency
        self.semaphore = asyncio.Semaphore(concurrency)

    async def claim_due(self, limit: int = 500) -> list[Claim]:
        """Claim (lease) the deliveries due now, in one unit of work (see
        `attempts.claim_due`)."""
        # A claim that finds nothing writes nothing, so its unit wakes nothing: the
        # dispatcher then waits for work instead of polling without pause.
        async with self.ctx.units.begin() as uow:
            return await attempts.claim_due(
                uow=uow,
                limit=limit,
                concurrency=self.concurrency,
                timeout_seconds=settings_of(self.ctx).webhook_timeout_seconds,
            )

    async def deliver_due(self) -> int:
        """Attempt every due head once and record the outcomes; returns how many."""
        heads = await self.claim_due()
        if heads:
            made = await asyncio.gather(*(self._attempt(claim) for claim in heads))
            async with self.ctx.units.begin() as uow:
                await attempts.record_round(uow=uow, attempts=made)
        return len(heads)

    async def _attempt(self, claim: Claim) -> Attempt:
        delivery, sub = claim
        async with self.semaphore:
            settings = settings_of(self.ctx)
            now = self.ctx.clock.now()
            # During a secret rotation's overlap the previous secret signs too.
            overlap = overlap_until(sub.previous_secret, sub.previous_secret_expires_at, now=now)
            previous = sub.previous_secret if overlap is not None else None
            headers = signature_headers(
                secret=sub.secret,
                webhook_id=delivery.id,
                # Checked by the partner against its own wall clock: the real time.
                timestamp=transport_time(),
                body=delivery.body,
                also_signed_with=[previous] if previous else [],
            )
            started = time.monotonic()
            status: int | None = None
            error: str | None = None
            wait: timedelta | None = None
            literal = literal_host(sub.url)
            if (
                literal is not None
                and not settings.webhook_allow_private
                and is_forbidden_address(literal)
            ):
                error = "forbidden_address"
            else:
                try:
                    # A redirect is a failure: the partner must give its final URL.
                    async with self.client.post(
                        sub.url,
                        data=delivery.body.encode(),
                        headers=headers,
                        allow_redirects=False,
                    ) as response:
                        status = response.status
                        if status in THROTTLING_STATUSES:
                            wait = retry_after(
                                response.headers.get("Retry-After"),
                                now=transport_time(),
                                cap=timedelta(seconds=settings.webhook_retry_after_max_seconds),
                            )
                except aiohttp.ClientConnectorError as exc:
                    forbidden = isinstance(exc.os_error, ForbiddenTarget)
                    error = "forbidden_address" if forbidden else type(exc).__name__
                except (aiohttp.ClientError, TimeoutError) as exc:
                    error = type(exc).__name__
                except Exception as exc:
                    # Recorded as a failed attempt: an escaping error would discard the
                    # outcomes of every other delivery sent in this round.
                    error = type(exc).__name__
            elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(delivery, sub, status, error, elapsed, wait)

    async def run(self) -> None:
        wakeup = self.ctx.wakeup(WAKEUP)
        try:
            while not self.ctx.stopping.is_set():
                wakeup.clear()
                attempted = await self.deliver_due()
                if attempted == 0 and not self.ctx.stopping.is_set():
                    try:
                        await asyncio.wait_for(wakeup.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await self.client.close()


async def dispatch(ctx: ServiceContext) -> None:
    await Dispatcher(ctx).run()


def warn_of_calendar_end(calendar: SchoolCalendar, now: datetime) -> None:
    """Log a warning for each set of the calendar's term dates that ends within a year of
    `now` (or has ended): past them, Encompass deadlines may come early."""
    for warning in calendar_warnings(calendar, now):
        log.warning(warning, extra={"calendar": calendar.id})


async def on_start(ctx: ServiceContext) -> None:
    """Read the area's sharing policy and school calendar now, so a broken file stops
    notify at start rather than at its first event, and warn of the calendar's end."""
    sharing_policy_of(ctx)
    warn_of_calendar_end(school_calendar_of(ctx), ctx.clock.now())


class EncompassChecks:
    """Every NOTIFY_ENCOMPASS_INTERVAL_SECONDS: raise the alerts for missed deadlines,
    remove the child's details from notices past the retention (one unit of work), and,
    once a day, warn operators if the calendar's term dates end within a year."""

    def __init__(self, ctx: ServiceContext) -> None:
        self.ctx = ctx
        self.calendar = school_calendar_of(ctx)
        # The day (in the calendar's time zone) it last looked for warnings to give:
        # `on_start` looked today.
        self.warned_on = self._day(ctx.clock.now())

    def _day(self, now: datetime) -> date:
        return now.astimezone(self.calendar.zone).date()

    async def turn(self) -> int:
        """One turn; returns how many missed deadlines it raised."""
        now = self.ctx.clock.now()
        if self._day(now) != self.warned_on:
            warn_of_calendar_end(self.calendar, now)
            self.warned_on = self._day(now)
        retention = timedelta(days=settings_of(self.ctx).notify_encompass_retention_days)
        async with self.ctx.units.begin() as uow:
            raised = await encompass.alert_missed(uow=uow)
            await encompass.remove_old_content(uow=uow, retention=retention)
        if raised:
            log.warning("encompass notices missed their deadline", extra={"notices": raised})
        return raised

    async def run(self) -> None:
        """Turn until stopping; stops between turns, never inside a transaction."""
        while not self.ctx.stopping.is_set():
            raised = 0
            try:
                raised = await self.turn()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("encompass deadline check failed; retrying", exc_info=exc)
            if raised >= encompass.BATCH:
                continue  # more are waiting
            try:
                await asyncio.wait_for(
                    self.ctx.stopping.wait(),
                    settings_of(self.ctx).notify_encompass_interval_seconds,
                )
            except TimeoutError:
                pass


async def encompass_checks(ctx: ServiceContext) -> None:
    await EncompassChecks(ctx).run()


LOOPS: list[tuple[str, Loop]] = [
    ("webhook-dispatcher", dispatch),
    ("encompass-deadlines", encompass_checks),
]
