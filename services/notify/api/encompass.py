"""Operation Encompass notices through the API: for a school (or local authority) without
a webhook, and for the hub watching that every notice arrives in time.

A recipient sees the notices addressed to its organisation, a police force the status
of the notices its reports raised, and the hub and administrators every notice's
status. Reading a notice's content is recorded (who, when, which fields) before it is
returned, and shows only what the sharing policy grants the reader's kind of partner,
as a webhook would.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.notify.api.dependencies import (
    NoticesAcknowledge,
    NoticesRead,
    PathId,
    Policy,
    QueryId,
    UoW,
)
from services.notify.schemas import NoticeContent, NoticeStatus, NoticeSummary
from services.notify.service import encompass
from shared.privacy import ReadPublic

router = APIRouter(prefix="/v1/encompass", tags=["operation encompass"])


@router.get(
    "/notices",
    summary=(
        "Operation Encompass notices addressed to you (newest first, or from a cursor); "
        "a police force sees those of its reports, the hub every notice (status only)"
    ),
)
async def list_notices(
    principal: NoticesRead,
    uow: UoW,
    status: NoticeStatus | None = None,
    referral_id: QueryId = None,
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
    records = await encompass.find(
        uow=uow,
        principal=principal,
        status=status,
        referral_id=referral_id,
        after=after,
        limit=limit,
    )
    return [NoticeSummary.of(record, uow.now()) for record in records]


@router.get(
    "/notices/{notice_id}",
    summary="One notice, as your sharing policy allows (each read is recorded)",
)
async def get_notice(
    notice_id: PathId, principal: NoticesRead, uow: UoW, policy: Policy
) -> NoticeContent:
    record, shown = await encompass.read(
        uow=uow, principal=principal, notice_id=notice_id, policy=policy
    )
    return NoticeContent.shown(record, shown, uow.now())


@router.post(
    "/notices/{notice_id}/acknowledge",
    summary="Say your Designated Safeguarding Lead has the notice (if no webhook did)",
)
async def acknowledge_notice(
    notice_id: PathId, principal: NoticesAcknowledge, uow: UoW
) -> NoticeSummary:
    record = await encompass.acknowledge(uow=uow, principal=principal, notice_id=notice_id)
    return NoticeSummary.of(record, uow.now())


@router.get(
    "/notices/{notice_id}/reads",
    summary="Who has read a notice's content, and which fields (hub and administrators)",
)
async def notice_reads(notice_id: PathId, principal: NoticesRead, uow: UoW) -> list[ReadPublic]:
    return await encompass.reads(uow=uow, principal=principal, notice_id=notice_id)
