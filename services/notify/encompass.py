"""Operation Encompass in notify: address each notice, time it, deliver it, and raise an
alert when it has not reached its recipient by the start of the school day.

A notice is addressed to the child's school (its organisation is its URN) or, for a
home-educated child, to the local authority team the area's calendar names. Its
deadline is the start of that school's next school day after the incident. It is
delivered by webhook to the recipient's subscriptions for notices, carrying only what
the sharing policy grants that kind of partner; a recipient without a webhook reads it
through the API (each read audited) and acknowledges it.

Alerts (`encompass.alert`, ids only) go to the hub and the police force that reported:
at once when the recipient has no active subscription for notices, and when the
deadline passes with the notice neither delivered nor acknowledged. Each is raised
once; the deadline check claims rows with FOR UPDATE SKIP LOCKED on PostgreSQL so one
replica raises it.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any, Literal

from cloudevents.core.base import BaseCloudEvent
from sqlalchemy import or_
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.filters import wants
from services.notify.models import Delivery, EncompassNoticeRecord, WebhookSubscription
from services.notify.school_days import SchoolCalendar, notify_by
from services.notify.sharing import SharingPolicy
from services.notify.webhooks import webhook_body
from shared.clock import as_utc
from shared.envelope import event_data, new_event
from shared.events import EncompassAlert, EncompassNotice, EventType
from shared.outbox import stage
from shared.runtime import ServiceContext

log = logging.getLogger(__name__)

NOTICE_TYPE = EventType.ENCOMPASS_NOTICE.value
BATCH = 100
AlertReason = Literal["deadline_missed", "no_subscription"]


async def notice_record(
    ctx: ServiceContext, session: AsyncSession, notice_id: str, *, lock: bool = False
) -> EncompassNoticeRecord | None:
    """A notice by its id; `lock` takes its row (PostgreSQL) so two writers take turns."""
    query = select(EncompassNoticeRecord).where(EncompassNoticeRecord.id == notice_id)
    if lock and not ctx.db.is_sqlite:
        query = query.with_for_update()
    return (await session.exec(query)).first()


def addressed(notice: EncompassNotice, calendar: SchoolCalendar) -> tuple[EncompassNotice, bool]:
    """The notice with its recipient and deadline filled in, and whether the calendar
    covered the deadline (if not, it assumed a school day: an early deadline)."""
    recipient = notice.school_urn or calendar.home_educated.organisation
    deadline = notify_by(calendar, notice.school_urn, notice.incident.occurred_at)
    update = {"recipient_organisation": recipient, "notify_by": deadline.at}
    return notice.model_copy(update=update), deadline.calendar_covered


def notice_body(notice: EncompassNotice, policy: SharingPolicy, kind: str) -> dict[str, object]:
    """What a partner of this kind may see of a notice (by webhook or through the API)."""
    return policy.minimise(kind, NOTICE_TYPE, notice.model_dump(mode="json"))


async def record_notice(
    ctx: ServiceContext,
    session: AsyncSession,
    event: BaseCloudEvent,
    *,
    policy: SharingPolicy,
    calendar: SchoolCalendar,
) -> None:
    """Keep a notice, queue a delivery to each of its recipient's subscriptions for
    notices, and alert at once when none is active."""
    received = event_data(event, EncompassNotice)
    if await notice_record(ctx, session, received.notice_id) is not None:
        return
    notice, covered = addressed(received, calendar)
    assert notice.recipient_organisation is not None and notice.notify_by is not None
    data = notice.model_dump(mode="json")
    record = EncompassNoticeRecord(
        id=notice.notice_id,
        referral_id=notice.referral_id,
        referrer_organisation=notice.referrer_organisation,
        recipient_organisation=notice.recipient_organisation,
        recipient_kind="school" if notice.school_urn else "local_authority",
        school_urn=notice.school_urn,
        body=data,
        received_at=notice.received_at,
        notify_by=notice.notify_by,
        calendar_covered=covered,
        supersedes=notice.supersedes or None,
    )
    if not covered:
        log.warning(
            "school calendar does not cover a notice's deadline; assumed a school day",
            extra={"calendar": calendar.id, "notice_id": notice.notice_id},
        )
    subscriptions = (
        await session.exec(
            select(WebhookSubscription).where(
                WebhookSubscription.organisation == notice.recipient_organisation,
                col(WebhookSubscription.status).in_(("active", "paused")),
            )
        )
    ).all()
    now = ctx.clock.now()
    timestamp = event.get_time() or now
    active = 0
    for sub in subscriptions:
        if not wants(sub, NOTICE_TYPE, data):
            continue
        active += sub.status == "active"
        session.add(
            Delivery(
                id="msg_" + uuid.uuid4().hex,
                subscription_id=sub.id,
                referral_id=notice.referral_id,
                event_type=NOTICE_TYPE,
                body=webhook_body(
                    NOTICE_TYPE, timestamp, notice_body(notice, policy, sub.client_kind)
                ),
                notice_id=notice.notice_id,
                next_attempt_at=now,
                created_at=now,
            )
        )
    if not active:
        stage_alert(ctx, session, record, "no_subscription", now)
        record.unreachable_alerted_at = now
    session.add(record)
    await _supersede(session, notice, record)


def _same_child(body: dict[str, Any], notice: EncompassNotice) -> bool:
    child = body.get("child") or {}
    born = notice.child.date_of_birth
    return (
        str(child.get("given_name", "")).casefold() == notice.child.given_name.casefold()
        and str(child.get("family_name", "")).casefold() == notice.child.family_name.casefold()
        and (born is None or child.get("date_of_birth") in (None, born.isoformat()))
    )


async def _supersede(
    session: AsyncSession, notice: EncompassNotice, record: EncompassNoticeRecord
) -> None:
    """A corrected police report replaces the earlier notice about the same child to
    the same recipient: the earlier one is no longer waited for (no alert for it), and
    its undelivered copies are cancelled. Either may be recorded first (they can travel
    on different partitions)."""
    recipient = EncompassNoticeRecord.recipient_organisation == notice.recipient_organisation
    replaced = (
        (
            await session.exec(
                select(EncompassNoticeRecord).where(
                    col(EncompassNoticeRecord.referral_id).in_(notice.supersedes),
                    recipient,
                    col(EncompassNoticeRecord.superseded_by).is_(None),
                )
            )
        ).all()
        if notice.supersedes
        else []
    )
    newer = (
        await session.exec(
            select(EncompassNoticeRecord).where(
                recipient, col(EncompassNoticeRecord.supersedes).is_not(None)
            )
        )
    ).all()
    superseded: list[EncompassNoticeRecord] = []
    for later in newer:
        if notice.referral_id in (later.supersedes or []) and _same_child(later.body, notice):
            record.superseded_by = later.id  # the correction was recorded first
            superseded.append(record)
            break
    for earlier in replaced:
        if _same_child(earlier.body, notice):
            earlier.superseded_by = notice.notice_id
            session.add(earlier)
            superseded.append(earlier)
    for old in superseded:
        await session.exec(
            update(Delivery)
            .where(col(Delivery.notice_id) == old.id, col(Delivery.status) == "pending")
            .values(status="cancelled")
        )


def stage_alert(
    ctx: ServiceContext,
    session: AsyncSession,
    record: EncompassNoticeRecord,
    reason: AlertReason,
    now: datetime,
) -> None:
    """Stage an `encompass.alert` about a notice (ids only)."""
    deadline = as_utc(record.notify_by)
    stage(
        session,
        new_event(
            type=EventType.ENCOMPASS_ALERT,
            source=ctx.source,
            subject=record.referral_id,
            partitionkey=record.id,
            data=EncompassAlert(
                notice_id=record.id,
                referral_id=record.referral_id,
                referrer_organisation=record.referrer_organisation,
                recipient_organisation=record.recipient_organisation,
                recipient_kind="school" if record.recipient_kind == "school" else "local_authority",
                school_urn=record.school_urn,
                reason=reason,
                notify_by=deadline,
                received_late=as_utc(record.received_at) > deadline,
                notified_at=as_utc(record.notified_at) if record.notified_at else None,
                raised_at=now,
            ),
            time=now,
        ),
    )


async def alert_missed(ctx: ServiceContext, *, now: datetime, limit: int = BATCH) -> int:
    """Raise `deadline_missed` once for each notice past its deadline that was not
    delivered or acknowledged in time (not at all, or late) and has not been replaced
    by a corrected report; returns how many were raised."""
    async with ctx.db.session() as session:
        notified_at = col(EncompassNoticeRecord.notified_at)
        deadline = col(EncompassNoticeRecord.notify_by)
        query = (
            select(EncompassNoticeRecord)
            .where(
                or_(notified_at.is_(None), notified_at > deadline),
                col(EncompassNoticeRecord.missed_alerted_at).is_(None),
                col(EncompassNoticeRecord.superseded_by).is_(None),
                deadline <= now,
            )
            .order_by(col(EncompassNoticeRecord.notify_by))
            .limit(limit)
        )
        if not ctx.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        due = list((await session.exec(query)).all())
        for record in due:
            stage_alert(ctx, session, record, "deadline_missed", now)
            record.missed_alerted_at = now
            session.add(record)
        await session.commit()
    if due:
        ctx.published()
    return len(due)


# What a notice keeps once its content has been removed: enough to show its history.
KEPT_AFTER_RETENTION = (
    "notice_id",
    "referral_id",
    "referrer_organisation",
    "school_urn",
    "home_educated",
    "recipient_organisation",
    "notify_by",
    "received_at",
)


async def remove_old_content(ctx: ServiceContext, *, now: datetime, limit: int = BATCH) -> int:
    """Remove the child's details from notices their recipient has had for longer than
    NOTIFY_ENCOMPASS_RETENTION_DAYS, and from their finished deliveries; the record
    of who was told, when, and who read it stays. A notice not yet received keeps its
    content. Returns how many notices were cut back."""
    cutoff = now - timedelta(days=ctx.settings.notify_encompass_retention_days)
    async with ctx.db.session() as session:
        query = (
            select(EncompassNoticeRecord)
            .where(
                col(EncompassNoticeRecord.notified_at).is_not(None),
                col(EncompassNoticeRecord.notified_at) < cutoff,
                col(EncompassNoticeRecord.content_removed_at).is_(None),
            )
            .limit(limit)
        )
        if not ctx.db.is_sqlite:
            query = query.with_for_update(skip_locked=True)
        records = list((await session.exec(query)).all())
        for record in records:
            record.body = {k: v for k, v in record.body.items() if k in KEPT_AFTER_RETENTION}
            record.content_removed_at = now
            session.add(record)
        if records:
            # Every copy loses its content; one not yet delivered (parked, or held by a
            # paused subscription) is cancelled: the recipient has the notice already.
            copies = col(Delivery.notice_id).in_([r.id for r in records])
            await session.exec(
                update(Delivery)
                .where(copies, col(Delivery.status).in_(("pending", "parked")))
                .values(status="cancelled")
            )
            await session.exec(update(Delivery).where(copies).values(body=""))
        await session.commit()
    return len(records)


async def mark_notified(
    ctx: ServiceContext,
    session: AsyncSession,
    notice_id: str,
    *,
    via: Literal["webhook", "acknowledged"],
    at: datetime,
) -> EncompassNoticeRecord | None:
    """Record that a notice reached its recipient (the first way it did is kept); past
    its deadline, that is a missed deadline, alerted now if it was not already."""
    record = await notice_record(ctx, session, notice_id, lock=True)
    if record is not None and record.notified_at is None:
        record.notified_at, record.notified_via = at, via
        late = at > as_utc(record.notify_by)
        if late and record.missed_alerted_at is None and record.superseded_by is None:
            stage_alert(ctx, session, record, "deadline_missed", at)
            record.missed_alerted_at = at
        session.add(record)
    return record


async def deadline_loop(ctx: ServiceContext) -> None:
    """Look for missed deadlines every NOTIFY_ENCOMPASS_INTERVAL_SECONDS until stopping;
    stops between ticks, never inside a transaction."""
    while not ctx.stopping.is_set():
        raised = 0
        try:
            raised = await alert_missed(ctx, now=ctx.clock.now())
            await remove_old_content(ctx, now=ctx.clock.now())
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            log.warning(
                "encompass deadline check failed; retrying", extra={"error": type(exc).__name__}
            )
        if raised:
            log.warning("encompass notices missed their deadline", extra={"notices": raised})
        if raised >= BATCH:
            continue
        try:
            await asyncio.wait_for(
                ctx.stopping.wait(), ctx.settings.notify_encompass_interval_seconds
            )
        except TimeoutError:
            pass
