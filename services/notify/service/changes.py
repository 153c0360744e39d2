"""Who changed a subscription: one `SubscriptionChange` row per change, in the unit of
work that makes it, so a change that is committed is a change that is recorded."""

from __future__ import annotations

from typing import Literal, NamedTuple

from services.notify.models import SubscriptionChange
from shared.auth import Principal
from shared.uow import UnitOfWork

Action = Literal["created", "paused", "resumed", "deleted", "secret_rotated", "pinged", "replayed"]

# Who acts when no key or person does (the embedded demo's set-up, a command).
SYSTEM = "signpost"


class Who(NamedTuple):
    """Who acted, as the audit of reads records a reader."""

    organisation: str
    client_kind: str
    client_id: str


def who(principal: Principal | None) -> Who:
    """A key's organisation, kind and id, or a person's (their id); None: Signpost."""
    if principal is None:
        return Who(SYSTEM, "system", SYSTEM)
    return Who(principal.organisation, principal.kind.value, principal.client_id)


def record(
    uow: UnitOfWork,
    *,
    subscription_id: str,
    action: Action,
    by: Who,
    delivery_id: str | None = None,
) -> None:
    """Record that `by` made this change to the subscription now."""
    uow.session.add(
        SubscriptionChange(
            subscription_id=subscription_id,
            action=action,
            organisation=by.organisation,
            client_kind=by.client_kind,
            client_id=by.client_id,
            at=uow.now(),
            delivery_id=delivery_id,
        )
    )
