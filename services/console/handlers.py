"""The console consumes no events yet (queue emails will): it owns people and sessions
and reads everything else through the services' APIs."""

from __future__ import annotations

from collections.abc import Sequence

from shared.consuming import Subscription
from shared.runtime import ServiceContext


def subscriptions(ctx: ServiceContext) -> Sequence[Subscription]:
    return []
