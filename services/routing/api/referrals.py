"""Referrals over HTTP: the referrals an agency holds (the hub: every referral), their
routing records, the agency's lifecycle steps, who of its people has each, and the
hub's reassignments and overrides. Each change answers the routing record as the
change left it."""

from __future__ import annotations

from collections.abc import Awaitable
from typing import Annotated, Any, Protocol, TypeVar

from fastapi import APIRouter, Depends, Query, Response
from fastapi import Request as HttpRequest
from pydantic import BaseModel

from services.routing.api.dependencies import ReferralsRead, ReferralsWrite, UoW
from services.routing.lifecycle import Status
from services.routing.schemas import (
    AssignRequest,
    CancelRequest,
    CloseRequest,
    DeclineRequest,
    OverrideRequest,
    ReassignRequest,
    ReferralView,
    RoutingRecord,
)
from services.routing.service import referrals as service
from shared.auth import Principal
from shared.events import ReasonCode
from shared.pagination import (
    PageRequest,
    link_next,
    list_responses,
    page_query,
    pages_text,
)
from shared.uow import UnitOfWork

router = APIRouter()

# The referrals list kept the `limit` it had before it had cursors (up to 500, 100 when
# not given), so no caller's request stops working.
REFERRALS_DEFAULT_LIMIT, REFERRALS_MAX_LIMIT = 100, 500
ReferralsPage = Annotated[
    PageRequest,
    Depends(page_query(default=REFERRALS_DEFAULT_LIMIT, maximum=REFERRALS_MAX_LIMIT)),
]


@router.get(
    "/referrals",
    summary="Referrals addressed to your organisation (the hub: every referral)",
    description=(
        "The referrals addressed to your organisation (the hub: every referral), newest "
        "first by `routed_at` then `referral_id`, each with where it stands, who of your "
        "people has it and what you may do next. Filter by `status` (repeat it for "
        "several), `assigned_to` and `reason_code`.\n\n"
        + pages_text(REFERRALS_DEFAULT_LIMIT, REFERRALS_MAX_LIMIT)
        + f" A `cursor` no list gave, or a `limit` outside 1 to {REFERRALS_MAX_LIMIT}, is "
        "a 422 naming the parameter."
    ),
    response_description="The referrals addressed to your organisation, one page",
    responses=list_responses(
        "A query parameter that is not one it could be (an unknown `status` or "
        "`reason_code`, a `cursor` no list gave, a `limit` outside 1 to "
        f"{REFERRALS_MAX_LIMIT})"
    ),
)
async def list_referrals(
    request: HttpRequest,
    response: Response,
    principal: ReferralsRead,
    uow: UoW,
    page: ReferralsPage,
    status: Annotated[
        list[Status] | None,
        Query(
            description=(
                "Only referrals in these statuses (repeat the parameter for several: "
                "`status=requested&status=accepted&status=in-progress` is everything open)."
            )
        ),
    ] = None,
    assigned_to: Annotated[
        str | None,
        Query(
            min_length=1,
            max_length=40,
            description=(
                f"Only referrals this person (a person id) has; `{service.NOBODY}`: only "
                "those nobody has, waiting in the queue."
            ),
        ),
    ] = None,
    reason_code: Annotated[
        ReasonCode | None,
        Query(
            description=(
                "Only referrals that are where they are for this reason: `needs_review` "
                "is the hub's review queue (the narrative names concerns the codes do "
                "not), `declined_by_agency` and `no_response_within_sla` what came back."
            )
        ),
    ] = None,
) -> list[ReferralView]:
    found = await service.referrals_of(
        uow=uow,
        principal=principal,
        statuses=status,
        page=page,
        reason_code=reason_code,
        assigned_to=assigned_to,
    )
    link_next(request, response, found, page.limit)
    return found.items


@router.get(
    "/referrals/{referral_id}/routing",
    summary="A referral's routing record: where it went and why, in plain words",
)
async def get_routing(referral_id: str, principal: ReferralsRead, uow: UoW) -> RoutingRecord:
    return await service.routing_record(uow=uow, principal=principal, referral_id=referral_id)


@router.post("/referrals/{referral_id}/accept", summary="Accept a referral")
async def accept(referral_id: str, principal: ReferralsWrite, uow: UoW) -> RoutingRecord:
    return await service.accept(uow=uow, principal=principal, referral_id=referral_id)


@router.post("/referrals/{referral_id}/start", summary="Start working with the family")
async def start(referral_id: str, principal: ReferralsWrite, uow: UoW) -> RoutingRecord:
    return await service.start(uow=uow, principal=principal, referral_id=referral_id)


@router.post(
    "/referrals/{referral_id}/claim",
    summary="Take an open referral addressed to your organisation (a named person only)",
)
async def claim(referral_id: str, principal: ReferralsWrite, uow: UoW) -> RoutingRecord:
    return await service.claim(uow=uow, principal=principal, referral_id=referral_id)


@router.post(
    "/referrals/{referral_id}/release",
    summary="Give an open referral back to your organisation's queue (a named person only)",
)
async def release(referral_id: str, principal: ReferralsWrite, uow: UoW) -> RoutingRecord:
    return await service.release(uow=uow, principal=principal, referral_id=referral_id)


Request = TypeVar("Request", bound=BaseModel, contravariant=True)


class Change(Protocol[Request]):
    """A use case that changes one referral as the caller's request asks."""

    def __call__(
        self, *, uow: UnitOfWork, principal: Principal, referral_id: str, request: Request
    ) -> Awaitable[RoutingRecord]: ...


def _change(
    action: str, request: type[Request], use_case: Change[Request], *, summary: str
) -> None:
    """Route `POST /v1/referrals/{referral_id}/<action>`: the caller's `request`, parsed
    and validated, changes the referral through `use_case` in the request's unit of
    work; the answer is the routing record as the change left it."""

    async def endpoint(
        referral_id: str, body: Any, principal: ReferralsWrite, uow: UoW
    ) -> RoutingRecord:
        return await use_case(uow=uow, principal=principal, referral_id=referral_id, request=body)

    # FastAPI parses, validates and documents the body by its annotation: this request.
    endpoint.__annotations__["body"] = request
    router.add_api_route(
        f"/referrals/{{referral_id}}/{action}",
        endpoint,
        methods=["POST"],
        summary=summary,
        name=action,
    )


# The changes that carry a request: agencies decline and close; the hub reassigns and
# overrides, each with a rationale.
_change(
    "decline",
    DeclineRequest,
    service.decline,
    summary="Decline a referral with a reason; it goes to the hub at once",
)
_change(
    "close",
    CloseRequest,
    service.close,
    summary="Close a referral as completed or failed, with an outcome code",
)
_change(
    "assign",
    AssignRequest,
    service.assign,
    summary="Give an open referral addressed to your organisation to a colleague (a named "
    "person only)",
)
_change(
    "reassign",
    ReassignRequest,
    service.reassign,
    summary="The hub sends a referral to an agency of its choosing, with a rationale",
)
_change(
    "cancel",
    CancelRequest,
    service.cancel,
    summary="The hub cancels an open referral: no referral, universal services advised "
    "(as an override to universal), with a rationale",
)
_change(
    "override",
    OverrideRequest,
    service.override,
    summary="The hub overrides a referral's destination (MASH, hub or universal), with a rationale",
)
