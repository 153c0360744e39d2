"""Operation Encompass in notify: record each notice, deliver it, raise an alert when it
has not reached its recipient by the start of the school day, remove the child's
details after the retention, and let recipients read (audited) and acknowledge.

A notice is delivered by webhook to the recipient's subscriptions for notices, carrying
only what the sharing policy grants that kind of partner; a recipient without a webhook
reads it through the API (each read audited) and acknowledges it.

Alerts (`encompass.alert`, ids only) go to the hub and the police force that reported:
at once when the recipient has no active subscription for notices, and when the
deadline passes with the notice neither delivered nor acknowledged. Each is raised
once: the deadline check takes its rows FOR UPDATE SKIP LOCKED, so one replica raises it.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta
from typing import Literal

from services.notify import repository
from services.notify.filters import wants
from services.notify.models import EncompassNoticeRecord
from services.notify.notices import (
    NOTICE_TYPE,
    AlertReason,
    NoticeStatus,
    addressed,
    progress,
    same_child,
    without_content,
)
from services.notify.school_days import SchoolCalendar
from services.notify.service.deliveries import queue
from services.notify.sharing import SharingPolicy
from shared.auth import Principal
from shared.clock import as_utc
from shared.events import EncompassAlert, EncompassNotice, EventType
from shared.pagination import Page, PageRequest, Position, page_of
from shared.privacy import ReadPublic, audit_read, only_overseers, reads_of
from shared.problems import NotFound
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

BATCH = 100
# The resource name of a notice in the read audit.
AUDITED = "encompass_notice"


async def record_notice(
    *,
    uow: UnitOfWork,
    notice: EncompassNotice,
    sent_at: datetime | None,
    policy: SharingPolicy,
    calendar: SchoolCalendar,
) -> None:
    """Keep a notice (once), queue a delivery to each of its recipient's subscriptions
    for notices, alert at once when none is active, and settle which notice a corrected
    report replaces."""
    session = uow.session
    if await repository.notice(session, notice.notice_id) is not None:
        return
    notice, covered = addressed(notice, calendar)
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
    recipients = [
        sub
        for sub in await repository.live_subscriptions(session, notice.recipient_organisation)
        if wants(sub, NOTICE_TYPE, data)
    ]
    queue(
        uow=uow,
        subscriptions=recipients,
        event_type=NOTICE_TYPE,
        referral_id=notice.referral_id,
        data=data,
        sent_at=sent_at or uow.now(),
        policy=policy,
        notice_id=notice.notice_id,
    )
    if not any(sub.status == "active" for sub in recipients):
        now = uow.now()
        _alert(uow, record, "no_subscription", now)
        record.unreachable_alerted_at = now
    session.add(record)
    await _supersede(uow, notice, record)


async def _supersede(
    uow: UnitOfWork, notice: EncompassNotice, record: EncompassNoticeRecord
) -> None:
    """A corrected police report replaces the earlier notice about the same child to
    the same recipient: the earlier one is no longer waited for (no alert for it), and
    its undelivered copies are cancelled. Either may be recorded first (they can travel
    on different partitions)."""
    session, recipient = uow.session, record.recipient_organisation
    replaced = (
        await repository.current_notices_of(session, recipient, notice.supersedes)
        if notice.supersedes
        else []
    )
    superseded: list[EncompassNoticeRecord] = []
    for later in await repository.corrections_to(session, recipient):
        if notice.referral_id in (later.supersedes or []) and same_child(later.body, notice):
            record.superseded_by = later.id  # the correction was recorded first
            superseded.append(record)
            break
    for earlier in replaced:
        if same_child(earlier.body, notice):
            earlier.superseded_by = notice.notice_id
            session.add(earlier)
            superseded.append(earlier)
    if superseded:
        await repository.cancel_deliveries(session, notice_ids=[old.id for old in superseded])


def _alert(
    uow: UnitOfWork, record: EncompassNoticeRecord, reason: AlertReason, now: datetime
) -> None:
    """Record an `encompass.alert` about a notice (ids only), raised `now`."""
    uow.record(
        type=EventType.ENCOMPASS_ALERT,
        subject=record.referral_id,
        partitionkey=record.id,
        data=EncompassAlert(
            **progress(record),
            reason=reason,
            received_late=as_utc(record.received_at) > as_utc(record.notify_by),
            raised_at=now,
        ),
        time=now,
    )


async def mark_notified(
    *,
    uow: UnitOfWork,
    notice_id: str,
    via: Literal["webhook", "acknowledged"],
    by: str | None = None,
) -> EncompassNoticeRecord | None:
    """Record that a notice reached its recipient now (the first way it did is kept, with
    who acknowledged it, `by`, for an acknowledgement); past its deadline, that is a
    missed deadline, alerted now if it was not already."""
    record = await repository.notice(uow.session, notice_id, lock=True)
    if record is not None and record.notified_at is None:
        now = uow.now()
        record.notified_at, record.notified_via = now, via
        record.acknowledged_by = by
        late = now > as_utc(record.notify_by)
        if late and record.missed_alerted_at is None and record.superseded_by is None:
            _alert(uow, record, "deadline_missed", now)
            record.missed_alerted_at = now
        uow.session.add(record)
    return record


async def alert_missed(*, uow: UnitOfWork, limit: int = BATCH) -> int:
    """Raise `deadline_missed` once for each notice past its deadline that was not
    delivered or acknowledged in time (not at all, or late) and has not been replaced
    by a corrected report; returns how many were raised."""
    now = uow.now()
    due = await repository.missed_deadlines(uow.session, now=now, limit=limit)
    for record in due:
        _alert(uow, record, "deadline_missed", now)
        record.missed_alerted_at = now
        uow.session.add(record)
    return len(due)


async def remove_old_content(*, uow: UnitOfWork, retention: timedelta, limit: int = BATCH) -> int:
    """Remove the child's details from notices their recipient has had for longer than
    the retention (NOTIFY_ENCOMPASS_RETENTION_DAYS), and from all their deliveries; the
    record of who was told, when, and who read it stays. A notice not yet received keeps
    its content. Returns how many notices were cut back."""
    now = uow.now()
    records = await repository.notified_before(uow.session, now - retention, limit=limit)
    for record in records:
        record.body = without_content(record.body)
        record.content_removed_at = now
        uow.session.add(record)
    if records:
        ids = [r.id for r in records]
        # A copy not yet delivered (parked, or held by a paused subscription) is
        # cancelled: the recipient has the notice already.
        await repository.cancel_deliveries(
            uow.session, notice_ids=ids, statuses=("pending", "parked")
        )
        await repository.empty_copies(uow.session, ids)
    return len(records)


async def find(
    *,
    uow: UnitOfWork,
    principal: Principal,
    status: NoticeStatus | None = None,
    referral_id: str | None = None,
    after: int | None = None,
    page: PageRequest,
) -> Page[EncompassNoticeRecord]:
    """The notices a reader may follow, a page at a time: a recipient its own, a police
    force those its reports raised, the hub and administrators every one.

    Without `after`, newest first (by `received_at`, then `id`), from `page.after`. With
    it, a poll: the notices recorded after the one whose `cursor` (`seq`) is `after`,
    oldest first by `seq` (`page.after` is not used); when more follow, the page's `next`
    is set and the next poll is after its last notice's `seq`."""
    police = principal.kind.value == "police"
    rows = await repository.notices(
        uow.session,
        now=uow.now(),
        # The force that reported sees whether each school was told in time.
        referrer=principal.organisation if police else None,
        recipient=None if police or principal.oversees else principal.organisation,
        referral_id=referral_id,
        status=status,
        after=after,
        page=page,
    )
    return page_of(rows, page.limit, lambda r: Position(as_utc(r.received_at), r.id))


async def read(
    *, uow: UnitOfWork, principal: Principal, notice_id: str, policy: SharingPolicy
) -> tuple[EncompassNoticeRecord, dict[str, object]]:
    """A notice and what the sharing policy lets the reader's kind of partner see of it,
    the read recorded in the audit (who, when, which fields)."""
    record = await _visible(uow, principal, notice_id)
    # The body is the notice as notify addressed it (or, after the retention, its ids).
    shown = policy.minimise(principal.kind.value, NOTICE_TYPE, record.body)
    audit_read(
        uow.session, principal, resource=AUDITED, resource_id=record.id, shown=shown, at=uow.now()
    )
    return record, shown


async def acknowledge(
    *, uow: UnitOfWork, principal: Principal, notice_id: str
) -> EncompassNoticeRecord:
    """The recipient says its Designated Safeguarding Lead has the notice: who said so
    (the school's key, or the person) is kept with it."""
    record = await _visible(uow, principal, notice_id, overseer_ok=False)
    await mark_notified(uow=uow, notice_id=record.id, via="acknowledged", by=principal.actor)
    return record


async def reads(*, uow: UnitOfWork, principal: Principal, notice_id: str) -> list[ReadPublic]:
    """Who has read a notice's content (the trail is the hub's and administrators')."""
    record = await _visible(uow, principal, notice_id)
    if not principal.oversees:
        raise only_overseers()
    return await reads_of(uow.session, AUDITED, record.id)


async def _visible(
    uow: UnitOfWork, principal: Principal, notice_id: str, *, overseer_ok: bool = True
) -> EncompassNoticeRecord:
    record = await repository.notice(uow.session, notice_id)
    mine = record is not None and record.recipient_organisation == principal.organisation
    if record is None or not (mine or (overseer_ok and principal.oversees)):
        raise NotFound("Notice")
    return record
