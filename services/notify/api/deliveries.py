"""Deliveries: an organisation's notifications, every attempt made, and a replay of a
parked one."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from services.notify.api.dependencies import (
    PathId,
    QueryId,
    SubscriptionsRead,
    SubscriptionsWrite,
    UoW,
)
from services.notify.schemas import DeliveryDetail, DeliveryPublic, DeliveryStatus
from services.notify.service import deliveries

router = APIRouter(prefix="/v1", tags=["notify"])


@router.get(
    "/deliveries",
    summary="Your organisation's deliveries, oldest first (e.g. ?status=parked, "
    "?referral_id=ref_…)",
)
async def list_deliveries(
    principal: SubscriptionsRead,
    uow: UoW,
    status: DeliveryStatus | None = None,
    subscription_id: QueryId = None,
    referral_id: QueryId = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 100,
) -> list[DeliveryPublic]:
    rows = await deliveries.find(
        uow=uow,
        organisation=principal.organisation,
        status=status,
        subscription_id=subscription_id,
        referral_id=referral_id,
        limit=limit,
    )
    return [DeliveryPublic.of(row) for row in rows]


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
