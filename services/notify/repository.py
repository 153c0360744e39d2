"""Notify's queries and statements over its tables, in the caller's transaction. No
rules: the use cases in `service` decide what to ask for and what to change.

Claims take their rows FOR UPDATE SKIP LOCKED so that two notify replicas never take
the same row (PostgreSQL); SQLite renders no FOR UPDATE, and its one connection
serialises writers anyway.

The dispatcher's statements (claiming due heads, reading back what a round sent) are
built once, with bound parameters: SQLAlchemy then finds each compiled in its cache
without building the statement and its cache key again on every round.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import (
    BindParameter,
    ColumnElement,
    bindparam,
    case,
    exists,
    func,
    literal_column,
    or_,
)
from sqlalchemy.orm import aliased
from sqlmodel import col, select, update
from sqlmodel.ext.asyncio.session import AsyncSession
from sqlmodel.sql.expression import Select

from services.notify.models import (
    NO_REFERRAL_LITERAL,
    PENDING_LITERAL,
    Delivery,
    DeliveryAttempt,
    EncompassNoticeRecord,
    WebhookSubscription,
)
from services.notify.notices import NoticeStatus
from shared.db import table_of
from shared.pagination import PageRequest, newest_first, oldest_first

LIVE = ("active", "paused")

_SUBSCRIPTIONS = table_of(WebhookSubscription)
_DELIVERIES = table_of(Delivery)
_NOTICES = table_of(EncompassNoticeRecord)

# --- subscriptions ---------------------------------------------------------------------


async def subscription(session: AsyncSession, subscription_id: str) -> WebhookSubscription | None:
    return await session.get(WebhookSubscription, subscription_id)


async def subscriptions_of(
    session: AsyncSession, organisation: str
) -> Sequence[WebhookSubscription]:
    """Every one of an organisation's subscriptions, oldest first (by `created_at`, then
    `id`), unpaged: for Signpost's own use. The API lists them a page at a time
    (`subscriptions_page`)."""
    query = select(WebhookSubscription).where(WebhookSubscription.organisation == organisation)
    query = query.order_by(_SUBSCRIPTIONS.c.created_at, _SUBSCRIPTIONS.c.id)
    return (await session.exec(query)).all()


async def subscriptions_page(
    session: AsyncSession, organisation: str, page: PageRequest
) -> Sequence[WebhookSubscription]:
    """An organisation's subscriptions, oldest first (by `created_at`, then `id`), the
    page after `page.after` and one more (see `shared.pagination`)."""
    query = select(WebhookSubscription).where(WebhookSubscription.organisation == organisation)
    query = oldest_first(query, _SUBSCRIPTIONS.c.created_at, _SUBSCRIPTIONS.c.id, page)
    return (await session.exec(query)).all()


async def live_subscriptions(
    session: AsyncSession, organisation: str | None = None
) -> Sequence[WebhookSubscription]:
    """The subscriptions that still queue deliveries (active or paused), of one
    organisation or of all."""
    query = select(WebhookSubscription).where(col(WebhookSubscription.status).in_(LIVE))
    if organisation is not None:
        query = query.where(WebhookSubscription.organisation == organisation)
    return (await session.exec(query)).all()


async def subscriptions_by_id(
    session: AsyncSession, ids: Collection[str]
) -> dict[str, WebhookSubscription]:
    rows = await session.exec(_SUBSCRIPTIONS_BY_ID, params={"ids": list(ids)})
    return {sub.id: sub for sub in rows.all()}


# --- deliveries ------------------------------------------------------------------------


async def delivery(session: AsyncSession, delivery_id: str) -> Delivery | None:
    return (await session.exec(select(Delivery).where(Delivery.id == delivery_id))).first()


async def deliveries_of(
    session: AsyncSession,
    organisation: str,
    *,
    status: str | None,
    subscription_id: str | None,
    page: PageRequest,
    referral_id: str | None = None,
) -> Sequence[Delivery]:
    """An organisation's deliveries, oldest first (by `created_at`, then `id`), the page
    after `page.after` and one more (see `shared.pagination`), optionally of one status,
    one of its subscriptions, or about one referral."""
    own = select(WebhookSubscription.id).where(WebhookSubscription.organisation == organisation)
    query = select(Delivery).where(col(Delivery.subscription_id).in_(own))
    if status is not None:
        query = query.where(Delivery.status == status)
    if subscription_id is not None:
        query = query.where(Delivery.subscription_id == subscription_id)
    if referral_id is not None:
        query = query.where(Delivery.referral_id == referral_id)
    query = oldest_first(query, _DELIVERIES.c.created_at, _DELIVERIES.c.id, page)
    return (await session.exec(query)).all()


async def attempts_of(session: AsyncSession, delivery_id: str) -> Sequence[DeliveryAttempt]:
    """Every attempt made at a delivery, in order."""
    query = (
        select(DeliveryAttempt)
        .where(DeliveryAttempt.delivery_id == delivery_id)
        .order_by(col(DeliveryAttempt.id))
    )
    return (await session.exec(query)).all()


def _due_heads() -> Select[Delivery, WebhookSubscription]:
    # Spelled as the partial index of pending deliveries spells them (`PENDING`,
    # `PAIR_REFERRAL` in the models: literals, not bound parameters), so both the
    # claim's scan and its look-back for an earlier pending delivery of the pair read
    # that index: what waits, never every delivery the subscription has had.
    pending: ColumnElement[str] = literal_column(PENDING_LITERAL)
    no_referral: ColumnElement[str] = literal_column(NO_REFERRAL_LITERAL)
    older = aliased(Delivery)
    earlier_pending = exists().where(
        col(older.subscription_id) == col(Delivery.subscription_id),
        col(older.status) == pending,
        col(older.seq) < col(Delivery.seq),
        func.coalesce(older.referral_id, no_referral)
        == func.coalesce(Delivery.referral_id, no_referral),
    )
    now = bindparam("now", type_=_DELIVERIES.c.next_attempt_at.type)
    return (
        select(Delivery, WebhookSubscription)
        .join(WebhookSubscription, col(WebhookSubscription.id) == col(Delivery.subscription_id))
        .where(
            col(Delivery.status) == pending,
            col(Delivery.next_attempt_at) <= now,
            col(WebhookSubscription.status) == "active",
            or_(
                col(WebhookSubscription.throttled_until).is_(None),
                col(WebhookSubscription.throttled_until) <= now,
            ),
            ~earlier_pending,
        )
        .order_by(col(Delivery.seq))
        .limit(bindparam("limit"))
        .with_for_update(skip_locked=True, of=Delivery)
    )


_DUE_HEADS = _due_heads()
_SEQS: BindParameter[Any] = bindparam("seqs", expanding=True)
_POSTPONE = (
    update(Delivery)
    .where(col(Delivery.seq).in_(_SEQS))
    .values(next_attempt_at=bindparam("until", type_=_DELIVERIES.c.next_attempt_at.type))
)
_DELIVERIES_BY_SEQ = select(Delivery).where(col(Delivery.seq).in_(_SEQS))
_SUBSCRIPTIONS_BY_ID = select(WebhookSubscription).where(
    col(WebhookSubscription.id).in_(bindparam("ids", expanding=True))
)


async def due_heads(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[tuple[Delivery, WebhookSubscription]]:
    """Take the oldest pending delivery of each (subscription, referral) pair where it is
    due at `now` and its subscription is active and not throttled, oldest first."""
    rows = await session.exec(_DUE_HEADS, params={"now": now, "limit": limit})
    return [(d, s) for d, s in rows.all()]


async def postpone(session: AsyncSession, seqs: Collection[int | None], *, until: datetime) -> None:
    """Move these deliveries' next attempt to `until`."""
    await session.exec(_POSTPONE, params={"seqs": list(seqs), "until": until})


async def deliveries_by_seq(
    session: AsyncSession, seqs: Collection[int | None]
) -> dict[int | None, Delivery]:
    rows = await session.exec(_DELIVERIES_BY_SEQ, params={"seqs": list(seqs)})
    return {row.seq: row for row in rows.all()}


async def cancel_deliveries(
    session: AsyncSession,
    *,
    subscription_id: str | None = None,
    notice_ids: Collection[str] | None = None,
    statuses: Collection[str] = ("pending",),
) -> None:
    """Cancel the deliveries in these statuses of a subscription, or that carry one of
    these notices."""
    await session.exec(
        update(Delivery)
        .where(_carrying(subscription_id, notice_ids), col(Delivery.status).in_(statuses))
        .values(status="cancelled")
    )


async def empty_copies(session: AsyncSession, notice_ids: Collection[str]) -> None:
    """Remove the body of every delivery that carries one of these notices."""
    await session.exec(update(Delivery).where(_carrying(None, notice_ids)).values(body=""))


def _carrying(
    subscription_id: str | None, notice_ids: Collection[str] | None
) -> ColumnElement[bool]:
    if subscription_id is not None:
        return col(Delivery.subscription_id) == subscription_id
    assert notice_ids is not None
    return col(Delivery.notice_id).in_(notice_ids)


# --- Operation Encompass notices -------------------------------------------------------


async def notice(
    session: AsyncSession, notice_id: str, *, lock: bool = False
) -> EncompassNoticeRecord | None:
    """A notice by its id; `lock` takes its row (PostgreSQL) so two writers take turns."""
    query = select(EncompassNoticeRecord).where(EncompassNoticeRecord.id == notice_id)
    if lock:
        query = query.with_for_update()
    return (await session.exec(query)).first()


async def notices(
    session: AsyncSession,
    *,
    now: datetime,
    referrer: str | None,
    recipient: str | None,
    referral_id: str | None,
    status: NoticeStatus | None,
    after: int | None,
    page: PageRequest,
) -> Sequence[EncompassNoticeRecord]:
    """Notices raised by `referrer` or addressed to `recipient` (either, both or neither
    given), in `status` at `now`, one more than the page (so the caller can tell whether
    more follow): without `after`, newest first (by `received_at`, then `id`) from just
    after `page.after` (see `shared.pagination`); with it, a poll: those recorded after
    the notice whose `seq` is `after`, oldest first by `seq`."""
    query = select(EncompassNoticeRecord)
    if referrer is not None:
        query = query.where(EncompassNoticeRecord.referrer_organisation == referrer)
    if recipient is not None:
        query = query.where(EncompassNoticeRecord.recipient_organisation == recipient)
    if referral_id is not None:
        query = query.where(EncompassNoticeRecord.referral_id == referral_id)
    if status is not None:
        query = query.where(_in_status(status, now))
    if after is None:
        query = newest_first(query, _NOTICES.c.received_at, _NOTICES.c.id, page)
    else:
        seq = col(EncompassNoticeRecord.seq)
        query = query.where(seq > after).order_by(seq).limit(page.limit + 1)
    return (await session.exec(query)).all()


def _in_status(status: NoticeStatus, now: datetime) -> ColumnElement[bool]:
    # `notices.status_of`, as SQL.
    notified_at = col(EncompassNoticeRecord.notified_at)
    deadline = col(EncompassNoticeRecord.notify_by)
    superseded = col(EncompassNoticeRecord.superseded_by).is_not(None)
    waiting = notified_at.is_(None) & ~superseded
    condition: dict[NoticeStatus, ColumnElement[bool]] = {
        "pending": waiting & (deadline > now),
        "missed": waiting & (deadline <= now),
        "notified": notified_at <= deadline,
        "notified_late": notified_at > deadline,
        "superseded": notified_at.is_(None) & superseded,
    }
    return condition[status]


async def missed_deadlines(
    session: AsyncSession, *, now: datetime, limit: int
) -> list[EncompassNoticeRecord]:
    """Take the notices past their deadline at `now` that were not notified in time (not
    at all, or late), not yet alerted and not superseded, earliest deadline first."""
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
        .order_by(deadline)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(query)).all())


async def notified_before(
    session: AsyncSession, cutoff: datetime, *, limit: int
) -> list[EncompassNoticeRecord]:
    """Take the notices whose recipient had them before `cutoff` and that still hold
    their content."""
    query = (
        select(EncompassNoticeRecord)
        .where(
            col(EncompassNoticeRecord.notified_at).is_not(None),
            col(EncompassNoticeRecord.notified_at) < cutoff,
            col(EncompassNoticeRecord.content_removed_at).is_(None),
        )
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return list((await session.exec(query)).all())


async def current_notices_of(
    session: AsyncSession, recipient: str, referral_ids: Collection[str]
) -> Sequence[EncompassNoticeRecord]:
    """The notices to `recipient` from these referrals that nothing has superseded."""
    query = select(EncompassNoticeRecord).where(
        col(EncompassNoticeRecord.referral_id).in_(referral_ids),
        EncompassNoticeRecord.recipient_organisation == recipient,
        col(EncompassNoticeRecord.superseded_by).is_(None),
    )
    return (await session.exec(query)).all()


async def corrections_to(session: AsyncSession, recipient: str) -> Sequence[EncompassNoticeRecord]:
    """The notices to `recipient` from corrected reports (that supersede others)."""
    query = select(EncompassNoticeRecord).where(
        EncompassNoticeRecord.recipient_organisation == recipient,
        col(EncompassNoticeRecord.supersedes).is_not(None),
    )
    return (await session.exec(query)).all()


async def notices_received(
    session: AsyncSession, start: datetime, end: datetime
) -> Sequence[EncompassNoticeRecord]:
    """The notices whose police report was received from `start` (inclusive) to `end`
    (exclusive)."""
    received = col(EncompassNoticeRecord.received_at)
    query = select(EncompassNoticeRecord).where(received >= start, received < end)
    return (await session.exec(query)).all()


async def deliveries_created(
    session: AsyncSession, start: datetime, end: datetime
) -> list[tuple[Delivery, str]]:
    """The deliveries queued from `start` (inclusive) to `end` (exclusive), each with
    the organisation whose subscription it is for."""
    created = col(Delivery.created_at)
    query = (
        select(Delivery, WebhookSubscription.organisation)
        .join(WebhookSubscription, col(WebhookSubscription.id) == col(Delivery.subscription_id))
        .where(created >= start, created < end)
    )
    return [
        (delivery, str(organisation))
        for delivery, organisation in (await session.exec(query)).all()
    ]


# --- scrape-time counts (shared.metrics) -----------------------------------------------


async def live_subscription_owners(session: AsyncSession) -> list[tuple[str, str]]:
    """(id, organisation) of every subscription that still queues deliveries."""
    query = select(WebhookSubscription.id, WebhookSubscription.organisation).where(
        col(WebhookSubscription.status).in_(LIVE)
    )
    return [(str(i), str(o)) for i, o in (await session.exec(query)).all()]


async def deliveries_waiting(
    session: AsyncSession, statuses: Collection[str]
) -> list[tuple[str, str, str, int]]:
    """(subscription id, organisation, status, how many) of the deliveries in these
    statuses, per subscription that has any (one pass over the `status` index)."""
    query = (
        select(
            Delivery.subscription_id,
            WebhookSubscription.organisation,
            Delivery.status,
            func.count(),
        )
        .join(WebhookSubscription, col(WebhookSubscription.id) == col(Delivery.subscription_id))
        .where(col(Delivery.status).in_(statuses))
        .group_by(
            col(Delivery.subscription_id),
            col(WebhookSubscription.organisation),
            col(Delivery.status),
        )
    )
    return [(str(s), str(o), str(st), int(n)) for s, o, st, n in (await session.exec(query)).all()]


async def notices_at_risk(
    session: AsyncSession, *, now: datetime, soon: datetime
) -> tuple[int, int]:
    """How many notices still wait for their recipient (not notified, not superseded)
    with their deadline passed at `now`, and with it between `now` and `soon` (one range
    on the `notify_by` index)."""
    deadline = col(EncompassNoticeRecord.notify_by)
    passed = func.coalesce(func.sum(case((deadline <= now, 1), else_=0)), 0)
    query = select(passed, func.count()).where(
        col(EncompassNoticeRecord.notified_at).is_(None),
        col(EncompassNoticeRecord.superseded_by).is_(None),
        deadline <= soon,
    )
    missed, within = (await session.exec(query)).one()
    return int(missed), int(within) - int(missed)
