"""Notify's share of the partnership measures (docs/measures.md), from its own tables:
Operation Encompass notices told to the school before the next school day, late, or
missed; and each partner's webhook deliveries, delivered (at the first attempt or after
retries), still pending, or parked after every retry.

A notice belongs to the period in which intake received its police report; a delivery
to the period in which notify queued it."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import datetime

from services.notify import repository
from services.notify.models import Delivery, EncompassNoticeRecord
from services.notify.notices import status_of
from shared.measures import Filters, MeasureRow, MeasuresView, Period, count, share
from shared.uow import UnitOfWork

NOTICE_STATUSES = ("notified", "notified_late", "missed", "pending")
DELIVERY_STATUSES = ("delivered", "pending", "parked", "cancelled")


def encompass_timeliness(
    notices: Sequence[EncompassNoticeRecord], now: datetime
) -> list[MeasureRow]:
    """Notices in time, late, missed and still due (superseded ones left out), and the
    share told in time of those whose deadline has come."""
    statuses: Counter[str] = Counter(status_of(notice, now) for notice in notices)
    statuses.pop("superseded", None)
    rows = [count("encompass_timeliness", sum(statuses.values()), "notices")]
    for status in NOTICE_STATUSES:
        rows.append(count("encompass_timeliness", statuses[status], "notices", status=status))
    due = statuses["notified"] + statuses["notified_late"] + statuses["missed"]
    rows.append(share("encompass_timeliness", statuses["notified"], due, status="notified"))
    return rows


def delivery_health(
    deliveries: Sequence[tuple[Delivery, str]],
) -> list[MeasureRow]:
    """For each partner organisation: its deliveries by status, those delivered at the
    first attempt, and the share delivered."""
    rows: list[MeasureRow] = []
    for partner in sorted({organisation for _, organisation in deliveries}):
        own = [delivery for delivery, organisation in deliveries if organisation == partner]
        statuses = Counter(delivery.status for delivery in own)
        first_time = sum(d.status == "delivered" and d.attempts <= 1 for d in own)
        rows.append(count("delivery_health", len(own), "deliveries", partner=partner))
        for status in DELIVERY_STATUSES:
            rows.append(
                count(
                    "delivery_health",
                    statuses[status],
                    "deliveries",
                    partner=partner,
                    status=status,
                )
            )
        rows.append(
            count(
                "delivery_health", first_time, "deliveries", partner=partner, status="first attempt"
            )
        )
        rows.append(share("delivery_health", statuses["delivered"], len(own), partner=partner))
    return rows


# Every Operation Encompass notice comes from a police report.
ENCOMPASS_SOURCE = "police"


async def measures(
    *, uow: UnitOfWork, period: Period, filters: Filters | None = None
) -> MeasuresView:
    """Notify's share of the partnership measures for `period`. A source narrows the
    Encompass notices (all from the police: another source has none); notify does not
    know a notice's or a delivery's local authority, nor a delivery's source, so those
    are left unfiltered."""
    filters = filters or Filters()
    notices = await repository.notices_received(uow.session, period.start_at, period.end_at)
    if filters.source not in (None, ENCOMPASS_SOURCE):
        notices = []
    deliveries = await repository.deliveries_created(uow.session, period.start_at, period.end_at)
    rows = [*encompass_timeliness(notices, uow.now()), *delivery_health(deliveries)]
    return filters.view("notify", period, rows, source=("encompass_timeliness",))
