"""Webhook subscriptions: create, list, pause and resume, delete, rotate the secret,
ping. An organisation manages only its own; who made each change (a key, or a person
through the console) is recorded."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Literal

from fastapi import APIRouter, Request, Response

from services.notify.api.dependencies import (
    NotifyConfig,
    Seal,
    SubscriptionsRead,
    SubscriptionsWrite,
    SubscriptionToChange,
    SubscriptionToRead,
    UoW,
)
from services.notify.api.pages import PAGES, ListPage
from services.notify.schemas import (
    DeliveryPublic,
    SecretRotated,
    SubscriptionCreate,
    SubscriptionCreated,
    SubscriptionPublic,
)
from services.notify.service import subscriptions
from shared.pagination import list_responses, next_link, set_link

router = APIRouter(prefix="/v1", tags=["notify"])


@router.post(
    "/subscriptions",
    status_code=201,
    summary="Subscribe your organisation to referral events by webhook",
)
async def create_subscription(
    body: SubscriptionCreate,
    principal: SubscriptionsWrite,
    uow: UoW,
    config: NotifyConfig,
    seal: Seal,
) -> SubscriptionCreated:
    # Who subscribes is the key's organisation and kind, never anything in the body.
    sub = await subscriptions.create(
        uow=uow,
        organisation=principal.organisation,
        client_kind=principal.kind.value,
        client_id=principal.client_id,
        url=str(body.url),
        event_types=body.event_types,
        event_filter=body.filter,
        allow_private=config.webhook_allow_private,
        allow_http=config.http_allowed,
        headers=body.headers,
        seal=seal,
    )
    return SubscriptionCreated.created(sub, now=uow.now())


@router.get(
    "/subscriptions",
    summary="Your organisation's subscriptions, oldest first (secrets are never shown again)",
    description=(
        "Your organisation's webhook subscriptions, oldest first by `created_at` then "
        "`id`; their secrets are never shown again, and of their headers only the "
        "names.\n\n" + PAGES
    ),
    response_description="Your organisation's subscriptions, one page",
    responses=list_responses(
        "A query parameter that is not one it could be (a `cursor` no list gave, a "
        "`limit` outside 1 to 500)"
    ),
)
async def list_subscriptions(
    request: Request, response: Response, principal: SubscriptionsRead, uow: UoW, page: ListPage
) -> list[SubscriptionPublic]:
    found = await subscriptions.find_page(uow=uow, organisation=principal.organisation, page=page)
    query = request.query_params.multi_items()
    set_link(response, next_link(request.url.path, query, found, page.limit))
    return [SubscriptionPublic.of(sub, now=uow.now()) for sub in found.items]


@router.get("/subscriptions/{subscription_id}", summary="One of your organisation's subscriptions")
async def get_subscription(sub: SubscriptionToRead, uow: UoW) -> SubscriptionPublic:
    return SubscriptionPublic.of(sub, now=uow.now())


def _setting(status: Literal["active", "paused"]) -> Callable[..., Awaitable[SubscriptionPublic]]:
    """The route that pauses or resumes a subscription: they differ in the status alone."""

    async def set_status(
        sub: SubscriptionToChange, principal: SubscriptionsWrite, uow: UoW
    ) -> SubscriptionPublic:
        await subscriptions.set_status(
            uow=uow, subscription=sub, status=status, principal=principal
        )
        return SubscriptionPublic.of(sub, now=uow.now())

    return set_status


# POST .../pause and .../resume: (action, the status it sets, summary).
_STATUS_CHANGES: tuple[tuple[str, Literal["active", "paused"], str], ...] = (
    ("pause", "paused", "Hold deliveries: new notifications queue until you resume"),
    (
        "resume",
        "active",
        "Resume a paused or disabled subscription; queued notifications flow in order",
    ),
)
for _action, _status, _summary in _STATUS_CHANGES:
    router.post(
        f"/subscriptions/{{subscription_id}}/{_action}",
        name=f"{_action}_subscription",
        summary=_summary,
    )(_setting(_status))


@router.delete(
    "/subscriptions/{subscription_id}",
    status_code=204,
    response_class=Response,
    summary="Delete a subscription; its undelivered notifications are cancelled",
)
async def delete_subscription(
    sub: SubscriptionToChange, principal: SubscriptionsWrite, uow: UoW
) -> Response:
    await subscriptions.delete(uow=uow, subscription=sub, principal=principal)
    return Response(status_code=204)


@router.post(
    "/subscriptions/{subscription_id}/rotate-secret",
    summary="Issue a new signing secret; the old one keeps signing during the overlap",
)
async def rotate_secret(
    sub: SubscriptionToChange, principal: SubscriptionsWrite, uow: UoW, config: NotifyConfig
) -> SecretRotated:
    overlap = timedelta(hours=config.webhook_secret_overlap_hours)
    await subscriptions.rotate_secret(
        uow=uow, subscription=sub, overlap=overlap, principal=principal
    )
    return SecretRotated.of(sub, now=uow.now())


@router.post(
    "/subscriptions/{subscription_id}/ping",
    status_code=202,
    summary="Send a signed test notification; follow it at GET /v1/deliveries/{id}",
)
async def ping_subscription(
    sub: SubscriptionToChange, principal: SubscriptionsWrite, uow: UoW
) -> DeliveryPublic:
    return DeliveryPublic.of(
        await subscriptions.ping(uow=uow, subscription=sub, principal=principal)
    )
