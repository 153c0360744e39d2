"""Operation Encompass notices through the API: for a school (or local authority) without
a webhook, and for the hub watching that every notice arrives in time.

A recipient sees the notices addressed to its organisation, a police force the status
of the notices its reports raised, and the hub and administrators every notice's
status. Reading a notice's content is recorded (who, when, which fields) before it is
returned, and shows only what the sharing policy grants the reader's kind of partner,
as a webhook would.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal, cast

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from sqlmodel import col, select
from sqlmodel.ext.asyncio.session import AsyncSession

from services.notify.encompass import mark_notified, notice_record
from services.notify.models import EncompassNoticeRecord
from services.notify.sharing import policy_of
from shared.auth import Principal, requires
from shared.clock import as_utc
from shared.events import EventType
from shared.privacy import OVERSEERS, ReadPublic, audit_read, only_overseers, reads_of
from shared.problems import NotFound
from shared.runtime import ServiceContext, context_of

router = APIRouter(prefix="/v1/encompass", tags=["operation encompass"])

NoticeStatus = Literal["pending", "notified", "notified_late", "missed", "superseded"]
NotifiedVia = Literal["webhook", "acknowledged"]
AUDITED = "encompass_notice"


async def _ctx(request: Request) -> ServiceContext:
    return context_of(request, "notify")


Ctx = Annotated[ServiceContext, Depends(_ctx)]
Reader = Annotated[Principal, requires("encompass:read")]
Acknowledger = Annotated[Principal, requires("encompass:acknowledge")]


def status_of(record: EncompassNoticeRecord, now: datetime) -> NoticeStatus:
    deadline = as_utc(record.notify_by)
    if record.notified_at is not None:
        return "notified" if as_utc(record.notified_at) <= deadline else "notified_late"
    if record.superseded_by is not None:
        return "superseded"
    return "missed" if now >= deadline else "pending"


class NoticeSummary(BaseModel):
    """A notice's progress, without anything about the child."""

    notice_id: str
    cursor: int = Field(description="Resume polling after this notice with ?after=cursor.")
    referral_id: str
    referrer_organisation: str
    recipient_organisation: str
    recipient_kind: Literal["school", "local_authority"]
    school_urn: str | None
    received_at: datetime
    notify_by: datetime = Field(description="The start of the recipient's next school day.")
    status: NoticeStatus
    notified_at: datetime | None
    notified_via: NotifiedVia | None

    @classmethod
    def of(cls, record: EncompassNoticeRecord, now: datetime) -> NoticeSummary:
        assert record.seq is not None
        return cls(
            notice_id=record.id,
            cursor=record.seq,
            referral_id=record.referral_id,
            referrer_organisation=record.referrer_organisation,
            recipient_organisation=record.recipient_organisation,
            recipient_kind="school" if record.recipient_kind == "school" else "local_authority",
            school_urn=record.school_urn,
            received_at=as_utc(record.received_at),
            notify_by=as_utc(record.notify_by),
            status=status_of(record, now),
            notified_at=as_utc(record.notified_at) if record.notified_at else None,
            notified_via=cast(NotifiedVia | None, record.notified_via),
        )


class NoticeContent(NoticeSummary):
    notice: dict[str, Any] = Field(
        description=(
            "The notice as the area's sharing policy lets your kind of partner see it "
            "(the same as its webhook)."
        )
    )
    content_removed_at: datetime | None = Field(
        default=None,
        description=(
            "When the child's details were removed, NOTIFY_ENCOMPASS_RETENTION_DAYS after "
            "the recipient had the notice: `notice` then holds ids only."
        ),
    )


async def _visible(
    ctx: ServiceContext,
    session: AsyncSession,
    principal: Principal,
    notice_id: str,
    *,
    overseer_ok: bool = True,
) -> EncompassNoticeRecord:
    record = await notice_record(ctx, session, notice_id)
    if record is None:
        raise NotFound("Notice")
    mine = record.recipient_organisation == principal.organisation
    if not (mine or (overseer_ok and principal.kind.value in OVERSEERS)):
        raise NotFound("Notice")
    return record


@router.get(
    "/notices",
    response_model=list[NoticeSummary],
    summary=(
        "Operation Encompass notices addressed to you (newest first, or from a cursor); "
        "a police force sees those of its reports, the hub every notice (status only)"
    ),
)
async def list_notices(
    principal: Reader,
    ctx: Ctx,
    status: NoticeStatus | None = None,
    referral_id: str | None = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            description=(
                "Poll from a cursor: only notices recorded after the one with this "
                "`cursor`, oldest first (without it: newest first)."
            ),
        ),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[NoticeSummary]:
    now = ctx.clock.now()
    query = select(EncompassNoticeRecord)
    if principal.kind.value == "police":
        # The force that reported sees whether each school was told in time.
        query = query.where(EncompassNoticeRecord.referrer_organisation == principal.organisation)
    elif principal.kind.value not in OVERSEERS:
        query = query.where(EncompassNoticeRecord.recipient_organisation == principal.organisation)
    if referral_id is not None:
        query = query.where(EncompassNoticeRecord.referral_id == referral_id)
    notified_at = col(EncompassNoticeRecord.notified_at)
    deadline = col(EncompassNoticeRecord.notify_by)
    waiting = notified_at.is_(None) & col(EncompassNoticeRecord.superseded_by).is_(None)
    condition = {
        "pending": waiting & (deadline > now),
        "missed": waiting & (deadline <= now),
        "notified": notified_at <= deadline,
        "notified_late": notified_at > deadline,
        "superseded": notified_at.is_(None) & col(EncompassNoticeRecord.superseded_by).is_not(None),
    }
    if status is not None:
        query = query.where(condition[status])
    seq = col(EncompassNoticeRecord.seq)
    query = query.order_by(seq.desc()) if after is None else query.where(seq > after).order_by(seq)
    async with ctx.db.session() as session:
        rows = (await session.exec(query.limit(limit))).all()
    return [NoticeSummary.of(r, now) for r in rows]


@router.get(
    "/notices/{notice_id}",
    response_model=NoticeContent,
    summary="One notice, as your sharing policy allows (each read is recorded)",
)
async def get_notice(notice_id: str, principal: Reader, ctx: Ctx) -> NoticeContent:
    now = ctx.clock.now()
    async with ctx.db.session() as session:
        record = await _visible(ctx, session, principal, notice_id)
        # The body is the notice as notify addressed it (or, after the retention, its ids).
        shown = policy_of(ctx).minimise(
            principal.kind.value, EventType.ENCOMPASS_NOTICE.value, record.body
        )
        audit_read(session, principal, resource=AUDITED, resource_id=record.id, shown=shown, at=now)
        await session.commit()
    return NoticeContent(
        **NoticeSummary.of(record, now).model_dump(),
        notice=shown,
        content_removed_at=as_utc(record.content_removed_at) if record.content_removed_at else None,
    )


@router.post(
    "/notices/{notice_id}/acknowledge",
    response_model=NoticeSummary,
    summary="Say your Designated Safeguarding Lead has the notice (if no webhook did)",
)
async def acknowledge_notice(notice_id: str, principal: Acknowledger, ctx: Ctx) -> NoticeSummary:
    now = ctx.clock.now()
    async with ctx.db.session() as session:
        record = await _visible(ctx, session, principal, notice_id, overseer_ok=False)
        await mark_notified(ctx, session, record.id, via="acknowledged", at=now)
        await session.commit()
    ctx.published()  # a late acknowledgement staged an alert
    return NoticeSummary.of(record, now)


@router.get(
    "/notices/{notice_id}/reads",
    response_model=list[ReadPublic],
    summary="Who has read a notice's content, and which fields (hub and administrators)",
)
async def notice_reads(notice_id: str, principal: Reader, ctx: Ctx) -> list[ReadPublic]:
    async with ctx.db.session() as session:
        record = await _visible(ctx, session, principal, notice_id)
        if principal.kind.value not in OVERSEERS:
            raise only_overseers()
        return await reads_of(session, AUDITED, record.id)
