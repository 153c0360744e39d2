"""What notify's routes ask for: the unit of work of the request, the caller (typed by
the scopes it needs), notify's settings and the area's sharing policy."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Path, Query, Request

from services.notify.models import WebhookSubscription
from services.notify.sealed_headers import HeaderSeal
from services.notify.service import subscriptions
from services.notify.settings import (
    NotifySettings,
    header_seal_of,
    settings_of,
    sharing_policy_of,
)
from services.notify.sharing import SharingPolicy
from shared.auth import Principal, requires
from shared.problems import Problem
from shared.runtime import context_of, unit_of_work
from shared.uow import UnitOfWork

# One unit of work per request, committed (with the events it recorded) when the route
# returns, before the answer is sent; rolled back whole when the route raises.
UoW = Annotated[UnitOfWork, Depends(unit_of_work("notify"), scope="function")]


# An id in a path or a query (sub_…, msg_…, enc_…, ref_…): anything else is a 422 that
# names the parameter, before it reaches a query (a NUL byte is an error to PostgreSQL).
ID_PATTERN = r"^[A-Za-z0-9_-]{1,64}$"
PathId = Annotated[str, Path(pattern=ID_PATTERN)]
QueryId = Annotated[str | None, Query(pattern=ID_PATTERN)]


async def _settings(request: Request) -> NotifySettings:
    return settings_of(context_of(request, "notify"))


async def _policy(request: Request) -> SharingPolicy:
    return sharing_policy_of(context_of(request, "notify"))


async def _seal(request: Request) -> HeaderSeal | None:
    return header_seal_of(context_of(request, "notify"))


NotifyConfig = Annotated[NotifySettings, Depends(_settings)]
Policy = Annotated[SharingPolicy, Depends(_policy)]
# Seals the headers a subscription carries (None: this deployment has no key for it).
Seal = Annotated[HeaderSeal | None, Depends(_seal)]


async def _subscriptions_reader(principal: Annotated[Principal, requires()]) -> Principal:
    # Reading is part of managing: a write key reads too.
    if not (principal.has("subscriptions:read") or principal.has("subscriptions:write")):
        raise Problem(
            403,
            "Forbidden",
            "This key lacks the scope(s): subscriptions:read.",
            type="missing-scope",
            missing_scopes=["subscriptions:read"],
        )
    return principal


SubscriptionsRead = Annotated[Principal, Depends(_subscriptions_reader)]
SubscriptionsWrite = Annotated[Principal, requires("subscriptions:write")]
NoticesRead = Annotated[Principal, requires("encompass:read")]
NoticesAcknowledge = Annotated[Principal, requires("encompass:acknowledge")]


async def _subscription_to_read(
    subscription_id: PathId, principal: SubscriptionsRead, uow: UoW
) -> WebhookSubscription:
    return await subscriptions.get(
        uow=uow, organisation=principal.organisation, subscription_id=subscription_id
    )


async def _subscription_to_change(
    subscription_id: PathId, principal: SubscriptionsWrite, uow: UoW
) -> WebhookSubscription:
    return await subscriptions.get(
        uow=uow, organisation=principal.organisation, subscription_id=subscription_id
    )


# The caller's own subscription named in the path (another organisation's is a 404),
# for a key that may read, or change, its subscriptions.
SubscriptionToRead = Annotated[WebhookSubscription, Depends(_subscription_to_read)]
SubscriptionToChange = Annotated[WebhookSubscription, Depends(_subscription_to_change)]
