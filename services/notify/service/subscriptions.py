"""A partner organisation's webhook subscriptions: each organisation manages only its own
(another's is not found)."""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import timedelta
from typing import Literal

from services.notify import repository
from services.notify.filters import SubscriptionFilter
from services.notify.models import Delivery, WebhookSubscription
from services.notify.sealed_headers import HeaderSeal
from services.notify.service import changes
from services.notify.service.deliveries import new_delivery
from services.notify.ssrf import ForbiddenTarget, check_target, url_problem
from services.notify.webhooks import new_secret, webhook_body
from shared.auth import Principal
from shared.clock import as_utc
from shared.pagination import Page, PageRequest, Position, page_of
from shared.problems import NotFound, Problem
from shared.uow import UnitOfWork

# A webhook-only type: the test ping a partner asks for. Never on a topic.
PING_TYPE = "org.signpost.webhook.ping.v1"


async def create(
    *,
    uow: UnitOfWork,
    organisation: str,
    client_kind: str,
    client_id: str,
    url: str,
    event_types: Iterable[str],
    event_filter: SubscriptionFilter | None = None,
    allow_private: bool,
    allow_http: bool,
    headers: Mapping[str, str] | None = None,
    seal: HeaderSeal | None = None,
    local_target: bool = False,
    subscription_id: str | None = None,
    secret: str | None = None,
) -> WebhookSubscription:
    """Subscribe an organisation's endpoint to these event types (with a fresh `whsec_`
    secret and id unless given), with the headers its endpoint wants sealed by `seal`.

    The URL must be https unless `allow_http` (WEBHOOK_ALLOW_HTTP, development), must
    carry no user name or password, and its host must be a public internet address
    unless `allow_private` (WEBHOOK_ALLOW_PRIVATE: tests, a local stack). A
    `local_target` (the embedded demo's own sink, never a partner's request) may be
    plain http on this machine, and keeps that allowance at every delivery."""
    problem = url_problem(url, allow_http=allow_http or local_target)
    if problem is not None:
        raise _refused("url", problem, "insecure_url")
    try:
        await check_target(url, allow_private=allow_private or local_target)
    except ForbiddenTarget as exc:
        raise _refused(
            "url", f"Webhook targets must be public internet addresses: {exc}", "forbidden_target"
        ) from None
    sealed: str | None = None
    if headers:
        if seal is None:
            raise _refused(
                "headers",
                "This deployment cannot keep header credentials (NOTIFY_SECRETS_KEY is "
                "not set): ask its operators.",
                "headers_unavailable",
            )
        sealed = seal.seal(headers)
    sub = WebhookSubscription(
        id=subscription_id or "sub_" + uuid.uuid4().hex,
        organisation=organisation,
        client_kind=client_kind,
        client_id=client_id,
        url=url,
        event_types=sorted(set(event_types)),
        event_filter=event_filter.model_dump(exclude_none=True) if event_filter else None,
        secret=secret or new_secret(),
        created_at=uow.now(),
        local_target=local_target or None,
        header_names=sorted(headers, key=str.lower) if headers else None,
        sealed_headers=sealed,
    )
    uow.session.add(sub)
    changes.record(
        uow,
        subscription_id=sub.id,
        action="created",
        by=changes.Who(organisation, client_kind, client_id),
    )
    return sub


async def keep_local_target(*, uow: UnitOfWork, subscription_id: str, url: str) -> bool:
    """Keep the embedded demo's subscription to its own sink pointed at `url`, the sink's
    address on this run: a later `make run` on another port moves it there (its
    deliveries would otherwise fail against the old port). A subscription to exactly
    `url` from before the local-target mark existed is marked. Only a subscription
    already marked as a local target is moved; False when there is none to keep."""
    sub = await repository.subscription(uow.session, subscription_id)
    if sub is None or (sub.url != url and not sub.local_target):
        return False
    if sub.url != url or not sub.local_target:
        sub.url, sub.local_target = url, True
        uow.session.add(sub)
    return True


async def find(*, uow: UnitOfWork, organisation: str) -> Sequence[WebhookSubscription]:
    """Every one of an organisation's subscriptions, oldest first, unpaged: for
    Signpost's own use (the demo's setup). The API lists them with `find_page`."""
    return await repository.subscriptions_of(uow.session, organisation)


async def find_page(
    *, uow: UnitOfWork, organisation: str, page: PageRequest
) -> Page[WebhookSubscription]:
    """An organisation's subscriptions, oldest first (by `created_at`, then `id`), a page
    at a time."""
    rows = await repository.subscriptions_page(uow.session, organisation, page)
    return page_of(rows, page.limit, lambda sub: Position(as_utc(sub.created_at), sub.id))


async def get(*, uow: UnitOfWork, organisation: str, subscription_id: str) -> WebhookSubscription:
    """One of the organisation's subscriptions (another's is not found)."""
    sub = await repository.subscription(uow.session, subscription_id)
    if sub is None or sub.organisation != organisation:
        raise NotFound("Subscription")
    return sub


async def set_status(
    *,
    uow: UnitOfWork,
    subscription: WebhookSubscription,
    status: Literal["active", "paused"],
    principal: Principal | None = None,
) -> WebhookSubscription:
    """Pause a subscription (deliveries queue and are held) or resume it, recording who
    did (`principal`; None: Signpost itself)."""
    subscription.status = status
    if status == "active":
        # Resuming is the partner saying "fixed": send again now.
        subscription.flagged_at = None
        subscription.throttled_until = None
    uow.session.add(subscription)
    action: changes.Action = "resumed" if status == "active" else "paused"
    changes.record(uow, subscription_id=subscription.id, action=action, by=changes.who(principal))
    return subscription


async def delete(
    *, uow: UnitOfWork, subscription: WebhookSubscription, principal: Principal | None = None
) -> None:
    """Delete a subscription; what it had not yet been sent is cancelled. Who deleted it
    (`principal`; None: Signpost itself) is kept."""
    await repository.cancel_deliveries(uow.session, subscription_id=subscription.id)
    await uow.session.delete(subscription)
    changes.record(
        uow, subscription_id=subscription.id, action="deleted", by=changes.who(principal)
    )


async def rotate_secret(
    *,
    uow: UnitOfWork,
    subscription: WebhookSubscription,
    overlap: timedelta,
    principal: Principal | None = None,
) -> WebhookSubscription:
    """Issue a new secret; the old one keeps signing beside it for `overlap`. Who asked
    (`principal`; None: Signpost itself) is recorded."""
    overlapping = overlap > timedelta(0)
    subscription.previous_secret = subscription.secret if overlapping else None
    subscription.previous_secret_expires_at = uow.now() + overlap if overlapping else None
    subscription.secret = new_secret()
    uow.session.add(subscription)
    changes.record(
        uow, subscription_id=subscription.id, action="secret_rotated", by=changes.who(principal)
    )
    return subscription


async def ping(
    *, uow: UnitOfWork, subscription: WebhookSubscription, principal: Principal | None = None
) -> Delivery:
    """Queue a test notification to a subscription, delivered and recorded like any
    other; who asked (`principal`; None: Signpost itself) is recorded."""
    now = uow.now()
    delivery = new_delivery(
        subscription,
        referral_id=None,
        event_type=PING_TYPE,
        body=webhook_body(PING_TYPE, now, {"subscription_id": subscription.id}),
        now=now,
    )
    uow.session.add(delivery)
    changes.record(
        uow,
        subscription_id=subscription.id,
        action="pinged",
        by=changes.who(principal),
        delivery_id=delivery.id,
    )
    return delivery


def _refused(field: str, message: str, kind: str) -> Problem:
    # As a validation failure of the field (the shape every 422 has).
    return Problem(
        422,
        "The request is not valid",
        f"1 field error(s): {field}",
        type="validation",
        errors=[
            {
                "loc": ["body", field],
                "pointer": f"/{field}",
                "field": field,
                "message": message,
                "type": kind,
            }
        ],
    )
