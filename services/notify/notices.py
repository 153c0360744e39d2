"""Operation Encompass notices: who a notice is addressed to and by when, what a partner
may see of it, whether a corrected report's notice replaces it, where it stands, and
what of it survives the retention. Pure: plain data in, plain data out.

A notice is addressed to the child's school (its organisation is its URN) or, for a
home-educated child, to the local authority team the area's calendar names. Its
deadline is the start of that school's next school day after the incident.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from services.notify.models import EncompassNoticeRecord
from services.notify.school_days import SchoolCalendar, notify_by
from services.notify.sharing import SharingPolicy
from shared.clock import as_utc
from shared.events import EncompassNotice, EventType

NOTICE_TYPE = EventType.ENCOMPASS_NOTICE.value
AlertReason = Literal["deadline_missed", "no_subscription"]
NoticeStatus = Literal["pending", "notified", "notified_late", "missed", "superseded"]
NotifiedVia = Literal["webhook", "acknowledged"]
RecipientKind = Literal["school", "local_authority"]

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


def same_child(body: dict[str, Any], notice: EncompassNotice) -> bool:
    """Whether a stored notice's body names the same child as `notice` (names ignoring
    case; dates of birth where both give one)."""
    child = body.get("child") or {}
    born = notice.child.date_of_birth
    return (
        str(child.get("given_name", "")).casefold() == notice.child.given_name.casefold()
        and str(child.get("family_name", "")).casefold() == notice.child.family_name.casefold()
        and (born is None or child.get("date_of_birth") in (None, born.isoformat()))
    )


def status_of(record: EncompassNoticeRecord, now: datetime) -> NoticeStatus:
    """Where a notice stands at `now`."""
    deadline = as_utc(record.notify_by)
    if record.notified_at is not None:
        return "notified" if as_utc(record.notified_at) <= deadline else "notified_late"
    if record.superseded_by is not None:
        return "superseded"
    return "missed" if now >= deadline else "pending"


def progress(record: EncompassNoticeRecord) -> dict[str, Any]:
    """A notice's ids, recipient and timing, without anything about the child: what an
    alert and a notice's summary both say."""
    recipient_kind: RecipientKind = (
        "school" if record.recipient_kind == "school" else "local_authority"
    )
    return {
        "notice_id": record.id,
        "referral_id": record.referral_id,
        "referrer_organisation": record.referrer_organisation,
        "recipient_organisation": record.recipient_organisation,
        "recipient_kind": recipient_kind,
        "school_urn": record.school_urn,
        "notify_by": as_utc(record.notify_by),
        "notified_at": as_utc(record.notified_at) if record.notified_at else None,
    }


def without_content(body: dict[str, Any]) -> dict[str, Any]:
    """A notice's body once the retention has passed: its ids and timing only."""
    return {k: v for k, v in body.items() if k in KEPT_AFTER_RETENTION}
