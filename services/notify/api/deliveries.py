"""Deliveries: an organisation's notifications, every attempt made, and a replay of a
parked one."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from services.notify.api.dependencies import (
    PathId,
    QueryId,
    SubscriptionsRead,
    SubscriptionsWrite,
    UoW,
)
from services.notify.api.pages import PAGES, ListPage
from services.notify.schemas import DeliveryDetail, DeliveryPublic, DeliveryStatus
from services.notify.service import deliveries
from shared.pagination import list_responses, next_link, set_link

router = APIRouter(prefix="/v1", tags=["notify"])


@router.get(
    "/deliveries",
    summary="Your organisation's deliveries, oldest first (e.g. ?status=parked, "
    "?referral_id=ref_…)",
    description=(
        "The webhook deliveries to your organisation's subscriptions, oldest first by "
        "`created_at` then `id`. Filter by `status`, `subscription_id` (one of yours) "
        "and `referral_id`.\n\n" + PAGES + " Deliveries queued meanwhile come at the end."
    ),
    response_description="Your organisation's deliveries, one page",
    responses=list_responses(
        "A query parameter that is not one it could be (an unknown `status`, an id "
        "that is not one, a `cursor` no list gave, a `limit` outside 1 to 500)"
    ),
)
async def list_deliveries(
    request: Request,
    response: Response,
    principal: SubscriptionsRead,
    uow: UoW,
    page: ListPage,
    status: DeliveryStatus | None = None,
    subscription_id: QueryId = None,
    referral_id: QueryId = None,
) -> list[DeliveryPublic]:
    found = await deliveries.find(
        uow=uow,
        organisation=principal.organisation,
        status=status,
        subscription_id=subscription_id,
        referral_id=referral_id,
        page=page,
    )
    query = request.query_params.multi_items()
    set_link(response, next_link(request.url.path, query, found, page.limit))
    return [DeliveryPublic.of(row) for row in found.items]


@router.get(
    "/deliveries/{delivery_id}",
    summary="One delivery with every attempt made",
)
async def get_delivery(
    delivery_id: PathId, principal: SubscriptionsRead, uow: UoW
) -> DeliveryDetail:
    row, attempts = await deliveries.get(
        uow=uow, organisation=principal.organisation, delivery_id=delivery_id
    )
    return DeliveryDetail.with_attempts(row, attempts)


@router.post(
    "/deliveries/{delivery_id}/replay",
    status_code=202,
    summary="Send a parked delivery again (same webhook-id), on a fresh retry schedule",
)
async def replay_delivery(
    delivery_id: PathId, principal: SubscriptionsWrite, uow: UoW
) -> DeliveryPublic:
    row = await deliveries.replay(
        uow=uow, organisation=principal.organisation, delivery_id=delivery_id, principal=principal
    )
    return DeliveryPublic.of(row)
