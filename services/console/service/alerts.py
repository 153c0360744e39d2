"""Queue emails (issue 14): a person who asks for them is told when a referral lands in
their queue and when its deadline is near or has passed, so a small agency with no IT
of its own hears of its referrals without webhooks, and nobody has to keep the queue
open to notice one.

What a person is told of is read as they read their queue: routing's
`GET /v1/referrals` called as that person. A referral lands in an organisation's queue
as a request (`requested`) addressed to it, and only a request has a deadline running
(once accepted, the agency works to its own plan); so the emails are about the
requests addressed to the person's organisation (the hub's people: those addressed to
the hub, not every referral the hub oversees). "Near" is what the queue page calls
near (`queue_view.deadline`): no more than CONSOLE_ALERT_NEAR_HOURS of working time
left, counted round the clock for red.

Each kind of email goes once per person and referral (`QueueAlert`), written only after
the mail server took the email: a crash in between sends it again (a duplicate), and
nothing can lose one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Set
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import aiosmtplib
import httpx
from sqlalchemy.exc import IntegrityError

from services.console import repository
from services.console.gateway import Services, app_of
from services.console.mail import AlertKind, QueueAlertMail, compose, mail_configured, send
from services.console.models import Person, QueueAlert
from services.console.queue_view import deadline
from services.console.service.queue import working_week
from services.console.settings import ConsoleSettings, settings_of
from shared.clock import as_utc
from shared.people import scopes_of
from shared.problems import Problem
from shared.runtime import ServiceContext
from shared.uow import UnitOfWork
from shared.working_time import WorkingWeek

log = logging.getLogger(__name__)

# Routing's largest page: a queue is read whole, this many referrals at a time.
QUEUE_PAGE = 500


@dataclass(frozen=True)
class Waiting:
    """A referral waiting in a person's queue, as far as an email may speak of it."""

    referral_id: str
    priority: str
    respond_by: datetime | None


@dataclass
class AlertRound:
    """What one round did: emails sent, and what stopped the rest (for the loop's log:
    error classes and counts only)."""

    sent: int = 0
    queues_unread: int = 0
    queue_error: BaseException | str | None = None
    mail_error: BaseException | None = None


def waiting_for(organisation: str, listed: Iterable[dict[str, Any]]) -> list[Waiting]:
    """The referrals in routing's answer that wait for `organisation` to respond (the
    hub's answer lists every referral in the partnership; its queue is what is
    addressed to the hub)."""
    queue = []
    for row in listed:
        destination = row.get("destination") or {}
        if row.get("status") != "requested" or destination.get("organisation") != organisation:
            continue
        due = row.get("respond_by")
        queue.append(
            Waiting(
                referral_id=str(row["referral_id"]),
                priority=str(row.get("priority") or ""),
                respond_by=as_utc(datetime.fromisoformat(due)) if due else None,
            )
        )
    return queue


def alerts_due(
    queue: Iterable[Waiting],
    sent: Set[tuple[str, str]],
    *,
    now: datetime,
    near: timedelta,
    week: WorkingWeek,
) -> list[QueueAlertMail]:
    """The emails a person is owed now about their queue, the soonest deadline first:
    `arrived` for each referral not yet told of, `deadline` for each whose deadline the
    queue page shows as near or missed (`queue_view.deadline`: working time, round the
    clock for red) and not yet told of. `sent` holds the (referral id, kind) emailed."""
    ordered = sorted(queue, key=lambda w: (w.respond_by is None, w.respond_by or now))
    due: list[QueueAlertMail] = []
    for w in ordered:
        standing = (
            None
            if w.respond_by is None
            else deadline(
                now=now,
                due=w.respond_by,
                week=week,
                near=near,
                round_the_clock=w.priority == "red",
            )
        )
        near_or_late = standing is not None and standing.signal != "on_time"
        kinds: list[AlertKind] = ["arrived", "deadline"] if near_or_late else ["arrived"]
        due.extend(
            QueueAlertMail(
                kind=kind,
                referral_id=w.referral_id,
                priority=w.priority,
                respond_by=w.respond_by,
                standing=standing,
            )
            for kind in kinds
            if (w.referral_id, kind) not in sent
        )
    return due


async def choose_email_alerts(*, uow: UnitOfWork, person: Person, wanted: bool) -> None:
    """Record whether `person` wants queue emails."""
    person.email_alerts = wanted
    uow.session.add(person)


async def send_queue_alerts(*, ctx: ServiceContext) -> AlertRound:
    """One round: each person who asked for queue emails (and whose account is open)
    gets the ones they are owed now. Nothing is sent while no mail server is set. A
    queue that cannot be read is left for the next round; a mail server that fails ends
    the round (the unsent emails go in the next one), except one that refuses a
    person's address, which skips only that person."""
    settings = settings_of(ctx)
    result = AlertRound()
    if not mail_configured(settings):
        return result
    async with ctx.units.begin() as uow:
        people = await repository.people_with_email_alerts(uow.session)
    near = timedelta(hours=settings.console_alert_near_hours)
    for person in people:
        if "referrals:read" not in scopes_of(person.roles):
            continue  # a role without a queue has nothing to be told of
        read = await _queue_of(ctx, settings, person, result)
        if read is None:
            continue
        queue, week = read
        async with ctx.units.begin() as uow:
            sent = await repository.queue_alerts_sent(
                uow.session, person.id, [w.referral_id for w in queue]
            )
        now = ctx.clock.now()
        for alert in alerts_due(queue, sent, now=now, near=near, week=week):
            message = compose(alert, to=person.email, settings=settings, now=now)
            try:
                await send(message, settings)
            except aiosmtplib.SMTPRecipientsRefused as exc:
                result.mail_error = exc
                break
            except (aiosmtplib.SMTPException, OSError) as exc:
                result.mail_error = exc
                return result
            await _record_sent(ctx, person, alert)
            result.sent += 1
    return result


async def _queue_of(
    ctx: ServiceContext, settings: ConsoleSettings, person: Person, result: AlertRound
) -> tuple[list[Waiting], WorkingWeek] | None:
    """The person's queue and the area's working week, read as them, or None (counted
    in `result`) when routing or triage could not answer."""
    try:
        services = Services.for_app(app_of(ctx), settings, person)
        week = await working_week(services)
        response = await services.get_all(
            "routing", "/v1/referrals", status="requested", limit=QUEUE_PAGE
        )
    except (httpx.HTTPError, Problem) as exc:
        result.queues_unread += 1
        result.queue_error = exc
        return None
    if response.status_code != 200:
        result.queues_unread += 1
        result.queue_error = f"routing answered {response.status_code}"
        return None
    listed = response.json()
    return waiting_for(person.organisation, listed if isinstance(listed, list) else []), week


async def _record_sent(ctx: ServiceContext, person: Person, alert: QueueAlertMail) -> None:
    """Remember an email the mail server took. Another console process may have sent
    the same one in the same moment: its row is as good as this one."""
    try:
        async with ctx.units.begin() as uow:
            row = QueueAlert(
                person_id=person.id,
                referral_id=alert.referral_id,
                kind=alert.kind,
                sent_at=uow.now(),
            )
            await repository.add_queue_alert(uow.session, row)
    except IntegrityError:
        log.info(
            "a queue email was sent twice",
            extra={"person_id": person.id, "referral_id": alert.referral_id, "kind": alert.kind},
        )
