"""Notify's scheduled work: the webhook dispatcher, and the Operation Encompass checks
(missed deadlines, the retention of a notice's content, the school calendar's end).

Each turn's database work is one unit of work calling `service`; the dispatcher's POSTs
go out between units (a claim, then a record of each answer as it arrives), never
inside a transaction. Each POST is a CLIENT span in the trace of the event that queued
its delivery, and carries a `traceparent` header (see shared.tracing).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from datetime import date, datetime, timedelta
from urllib.parse import urlsplit

import aiohttp
from aiohttp.abc import AbstractResolver
from opentelemetry.trace import Span, SpanKind

from services.notify.models import Delivery, WebhookSubscription
from services.notify.school_days import SchoolCalendar, calendar_warnings
from services.notify.sealed_headers import SealError
from services.notify.service import attempts, encompass
from services.notify.service.attempts import Attempt, Claim
from services.notify.settings import (
    NotifySettings,
    header_seal_of,
    school_calendar_of,
    settings_of,
    sharing_policy_of,
)
from services.notify.ssrf import (
    ForbiddenTarget,
    GuardedResolver,
    is_forbidden_address,
    is_plain_http,
    literal_host,
)
from services.notify.webhooks import (
    THROTTLING_STATUSES,
    overlap_until,
    retry_after,
    signature_headers,
)
from shared import tracing
from shared.clock import transport_time
from shared.db import is_transient
from shared.logging import OutageLog
from shared.runtime import Loop, ServiceContext

log = logging.getLogger(__name__)

# The dispatcher's wake-up: set whenever a unit of work of notify commits.
WAKEUP = "deliveries"


class Dispatcher:
    """Delivers due deliveries, records every attempt, retries on the schedule."""

    def __init__(
        self,
        ctx: ServiceContext,
        *,
        concurrency: int = 32,
        resolver: AbstractResolver | None = None,
    ) -> None:
        self.ctx = ctx
        settings = settings_of(ctx)
        # aiohttp rather than httpx here: measured on this hot path it spends about
        # 0.15 ms of CPU per POST against httpx's 3-4 ms at 32 concurrent requests.
        # The resolver refuses private addresses at connect time (see `ssrf`); it asks
        # `resolver` (the system's by default) for the addresses.
        self.client = self._session(
            GuardedResolver(lambda: settings.webhook_allow_private, inner=resolver)
        )
        # The embedded demo's own sink alone (`local_target`) goes through a session
        # without the guard: its own, so that no connection it opened to this machine
        # is ever reused for another subscription.
        self.local_client = self._session(resolver)
        self.concurrency = concurrency
        self.semaphore = asyncio.Semaphore(concurrency)
        self.database = OutageLog(
            "webhook dispatcher",
            log,
            down="webhook dispatcher waiting for the database",
            up="webhook dispatcher delivering again",
        )

    def _session(self, resolver: AbstractResolver | None) -> aiohttp.ClientSession:
        return aiohttp.ClientSession(
            connector=aiohttp.TCPConnector(resolver=resolver),
            timeout=aiohttp.ClientTimeout(total=settings_of(self.ctx).webhook_timeout_seconds),
            headers={"user-agent": "Signpost-Webhooks/1", "content-type": "application/json"},
        )

    async def close(self) -> None:
        await self.client.close()
        await self.local_client.close()

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
        """Attempt every due head once, recording each outcome as soon as it is known;
        returns how many.

        The answers are recorded as they arrive, not at the end of the round: whatever
        has finished while the previous record was committing goes into the next unit of
        work (a group commit, never a wait for more). So a crash forgets at most the
        attempts in flight and the few in the unit then committing: a partner that
        answered 2xx earlier is never sent that webhook again.
        """
        heads = await self.claim_due()
        if not heads:
            return 0
        finished: asyncio.Queue[Attempt] = asyncio.Queue()
        sending = [asyncio.create_task(self._send(claim, finished)) for claim in heads]
        try:
            left = len(heads)
            while left:
                made = [await finished.get()]
                while not finished.empty():
                    made.append(finished.get_nowait())
                async with self.ctx.units.begin() as uow:
                    await attempts.record(uow=uow, attempts=made)
                left -= len(made)
        finally:
            # Only when recording failed (or the loop is cancelled) is anything left:
            # those deliveries stay leased and are sent again when the lease runs out.
            for task in sending:
                task.cancel()
            await asyncio.gather(*sending, return_exceptions=True)
        return len(heads)

    async def _send(self, claim: Claim, finished: asyncio.Queue[Attempt]) -> None:
        try:
            made = await self._attempt(claim)
        except Exception as exc:
            # Recorded as a failed attempt, so the round never waits for it in vain.
            made = Attempt(claim[0], claim[1], None, type(exc).__name__, 0)
        finished.put_nowait(made)

    async def _attempt(self, claim: Claim) -> Attempt:
        delivery, sub = claim
        async with self.semaphore:
            settings = settings_of(self.ctx)
            now = self.ctx.clock.now()
            # During a secret rotation's overlap the previous secret signs too.
            overlap = overlap_until(sub.previous_secret, sub.previous_secret_expires_at, now=now)
            previous = sub.previous_secret if overlap is not None else None
            started = time.monotonic()
            status: int | None = None
            wait: timedelta | None = None
            partner_headers, error = self._partner_headers(sub)
            if error is None and not sub.local_target:
                error = self._refusal(sub.url, settings)
            if error is None:
                headers = {
                    **partner_headers,
                    **signature_headers(
                        secret=sub.secret,
                        webhook_id=delivery.id,
                        # Checked by the partner against its own wall clock: the real time.
                        timestamp=transport_time(),
                        body=delivery.body,
                        also_signed_with=[previous] if previous else [],
                    ),
                }
                # The POST is a CLIENT span in the trace of the handling that queued the
                # delivery; its `traceparent` header lets the partner continue it. Only
                # webhook-id, webhook-timestamp and the body are signed: the header
                # changes no signature.
                span = post_span(delivery, sub, service=self.ctx.name)
                headers = {**tracing.trace_context(span), **headers}
                client = self.local_client if sub.local_target else self.client
                try:
                    # A redirect is a failure: the partner must give its final URL.
                    async with client.post(
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
                    # Recorded as a failed attempt, like any other failure to deliver.
                    error = type(exc).__name__
                posted(span, status, error)
            elapsed = int((time.monotonic() - started) * 1000)
        return Attempt(delivery, sub, status, error, elapsed, wait)

    @staticmethod
    def _refusal(url: str, settings: NotifySettings) -> str | None:
        """Why a partner's URL may not be called now, whatever it was when subscribed:
        plain http where it is not allowed (any more), an IP literal that is not public
        (a name is checked by the resolver as it connects)."""
        if is_plain_http(url) and not settings.http_allowed:
            return "insecure_url"
        literal = literal_host(url)
        if literal is not None and not settings.webhook_allow_private:
            if is_forbidden_address(literal):
                return "forbidden_address"
        return None

    def _partner_headers(self, sub: WebhookSubscription) -> tuple[dict[str, str], str | None]:
        """The subscription's own headers, opened; or why they cannot be (no key, or
        not this deployment's key)."""
        if not sub.sealed_headers:
            return {}, None
        seal = header_seal_of(self.ctx)
        if seal is None:
            return {}, "headers_unavailable"
        try:
            return seal.open(sub.sealed_headers), None
        except SealError:
            return {}, "headers_unreadable"

    async def run(self) -> None:
        """Deliver until stopping. While the database is away the dispatcher waits for
        it (a round that met the outage is tried again a second later), logged once
        when the outage begins and once when it ends; any other error ends the run (its
        supervisor logs it and starts the dispatcher again)."""
        wakeup = self.ctx.wakeup(WAKEUP)
        try:
            while not self.ctx.stopping.is_set():
                wakeup.clear()
                try:
                    attempted = await self.deliver_due()
                except Exception as exc:
                    if not is_transient(exc):
                        raise
                    self.database.failed(exc)
                    attempted = 0
                else:
                    self.database.recovered()
                if attempted == 0 and not self.ctx.stopping.is_set():
                    try:
                        await asyncio.wait_for(wakeup.wait(), 1.0)
                    except TimeoutError:
                        pass
        finally:
            await self.close()


def post_span(delivery: Delivery, sub: WebhookSubscription, *, service: str) -> Span:
    """The CLIENT span of one POST of a delivery, child of the trace context the delivery
    kept (a new trace when it kept none). Ids and the partner's host only: never the
    URL's path or query, which may hold a partner's token."""
    attributes: dict[str, str | int | bool] = {
        "http.request.method": "POST",
        "signpost.delivery.id": delivery.id,
        "signpost.delivery.attempt": delivery.attempts + 1,
        "signpost.subscription.id": sub.id,
        "cloudevents.event_type": delivery.event_type,
    }
    # A URL the span cannot read is the POST's to fail on, not the span's.
    with contextlib.suppress(ValueError):
        target = urlsplit(sub.url)
        attributes["url.scheme"] = target.scheme
        attributes["server.address"] = target.hostname or ""
        if target.port is not None:
            attributes["server.port"] = target.port
    if delivery.referral_id:
        attributes["signpost.referral_id"] = delivery.referral_id
    parent = tracing.context_from(
        {tracing.TRACEPARENT: delivery.traceparent, tracing.TRACESTATE: delivery.tracestate}
    )
    return tracing.start(
        "POST", service=service, kind=SpanKind.CLIENT, parent=parent, attributes=attributes
    )


def posted(span: Span, status: int | None, error: str | None) -> None:
    """End a POST's span with what the partner answered (an error: its code or class)."""
    if status is not None:
        with contextlib.suppress(Exception):
            span.set_attribute("http.response.status_code", status)
    if error is not None:
        tracing.fail(span, error)
    elif status is not None and status >= 400:
        tracing.fail(span, str(status))
    tracing.end(span)


async def dispatch(ctx: ServiceContext) -> None:
    await Dispatcher(ctx).run()


def warn_of_calendar_end(calendar: SchoolCalendar, now: datetime) -> None:
    """Log a warning for each set of the calendar's term dates that ends within a year of
    `now` (or has ended): past them, Encompass deadlines may come early."""
    for warning in calendar_warnings(calendar, now):
        log.warning(warning, extra={"calendar": calendar.id})


async def on_start(ctx: ServiceContext) -> None:
    """Read the area's sharing policy, school calendar and header-sealing key now, so a
    broken file or key stops notify at start rather than at its first event (or its
    first subscription), and warn of the calendar's end."""
    sharing_policy_of(ctx)
    header_seal_of(ctx)
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
        # Failed turns are logged once (the first; with its traceback unless the
        # database was away), and once more when a turn succeeds again.
        self.failing = OutageLog(
            "encompass deadline check",
            log,
            down="encompass deadline check failed; retrying",
            up="encompass deadline checks succeeding again",
        )

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
                self.failing.recovered()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.failing.failed(exc, traceback=not is_transient(exc))
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
