"""Notify: tells partners by signed webhook, retrying until they answer, and carries
Operation Encompass notices to schools before the next school day."""

from services.notify.api import router
from services.notify.cli import register as register_commands
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
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
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
    commands=register_commands,
    gauges=gauges,
)
