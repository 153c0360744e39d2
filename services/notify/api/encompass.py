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

from fastapi import APIRouter, Query, Request, Response

from services.notify.api.dependencies import (
    NoticesAcknowledge,
    NoticesRead,
    PathId,
    Policy,
    QueryId,
    UoW,
)
from services.notify.api.pages import MAX_LIMIT, PAGES, ListPage
from services.notify.schemas import NoticeContent, NoticeStatus, NoticeSummary
from services.notify.service import encompass
from shared.pagination import (
    CURSOR,
    LIMIT,
    invalid_query,
    link_to,
    list_responses,
    next_link,
    set_link,
)
from shared.privacy import ReadPublic

router = APIRouter(prefix="/v1/encompass", tags=["operation encompass"])


# A notice's `cursor` is its `seq`, a 64-bit integer in the database: a larger `after`
# could name no notice.
MAX_SEQ = 2**63 - 1


@router.get(
    "/notices",
    summary=(
        "Operation Encompass notices addressed to you, newest first a page at a time, or "
        "polled oldest first after a notice's cursor; a police force sees those of its "
        "reports, the hub every notice (status only)"
    ),
    description=(
        "The notices you may follow: a school or local authority those addressed to it, "
        "a police force those its reports raised, the hub and administrators every one "
        "(never the child's details: read one notice for those). Filter by `status` and "
        "`referral_id`.\n\n"
        "**Newest first** (without `after`): by `received_at` then `notice_id`. " + PAGES + "\n\n"
        "**Polling** (with `after`, the `cursor` field of a notice you have): only the "
        "notices recorded after that one, oldest first in the order notify recorded "
        'them, at most `limit`. When more follow, the `Link` header (`rel="next"`) is '
        "the next poll: `after` the last notice listed, with the same `limit` and "
        "filters; the last page has no `Link`, and its last notice's `cursor` is where "
        "to poll from next time.\n\n"
        "Give `after` or `cursor`, not both: both is a 422 naming `cursor`."
    ),
    response_description="The notices, one page",
    responses=list_responses(
        "A query parameter that is not one it could be (an unknown `status`, an `after` "
        "that is not a notice's cursor, a `cursor` no list gave or given with `after`, a "
        f"`limit` outside 1 to {MAX_LIMIT})"
    ),
)
async def list_notices(
    request: Request,
    response: Response,
    principal: NoticesRead,
    uow: UoW,
    page: ListPage,
    status: NoticeStatus | None = None,
    referral_id: QueryId = None,
    after: Annotated[
        int | None,
        Query(
            ge=0,
            le=MAX_SEQ,
            description=(
                "Poll from a notice's `cursor`: only the notices recorded after it, "
                "oldest first (without it: newest first). Not with `cursor`."
            ),
        ),
    ] = None,
) -> list[NoticeSummary]:
    if after is not None and page.after is not None:
        raise invalid_query(
            CURSOR,
            "give `after` (poll from a notice's cursor) or `cursor` (the next page of "
            "the newest-first list), not both: use one or the other",
            "cursor_with_after",
        )
    found = await encompass.find(
        uow=uow,
        principal=principal,
        status=status,
        referral_id=referral_id,
        after=after,
        page=page,
    )
    query = request.query_params.multi_items()
    if after is None:
        set_link(response, next_link(request.url.path, query, found, page.limit))
    elif found.next is not None:
        # The next poll: after the last notice listed (a stored notice has its `seq`).
        last = found.items[-1].seq
        assert last is not None
        given = {"after": str(last), LIMIT: str(page.limit)}
        set_link(response, link_to(request.url.path, query, given))
    return [NoticeSummary.of(record, uow.now()) for record in found.items]


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
