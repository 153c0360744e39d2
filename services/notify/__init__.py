"""Notify: tells partners by signed webhook, retrying until they answer, and carries
Operation Encompass notices to schools before the next school day.

Its `definition` is built on first use: importing the package loads nothing else.
"""

from __future__ import annotations

from functools import cache

from shared.runtime import ServiceDefinition


@cache
def _definition() -> ServiceDefinition:
    from services.notify.api import router
    from services.notify.handlers import subscriptions
    from services.notify.loops import LOOPS, on_start
    from services.notify.models import (
        Delivery,
        DeliveryAttempt,
        EncompassNoticeRecord,
        SubscriptionChange,
        WebhookSubscription,
    )
    from services.notify.service.gauges import gauges
    from services.notify.settings import NotifySettings
    from shared.privacy import ReadAudit

    return ServiceDefinition(
        name="notify",
        settings=NotifySettings,
        router=router,
        tables=[
            WebhookSubscription,
            Delivery,
            DeliveryAttempt,
            EncompassNoticeRecord,
            ReadAudit,
            SubscriptionChange,
        ],
        subscriptions=subscriptions,
        loops=LOOPS,
        on_start=on_start,
        gauges=gauges,
    )


def __getattr__(name: str) -> ServiceDefinition:
    if name == "definition":
        return _definition()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
