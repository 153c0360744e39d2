"""Notify: tells partners by signed webhook, retrying until they answer."""

from services.notify.api import router
from services.notify.delivery import dispatch, subscriptions
from services.notify.models import Delivery, DeliveryAttempt, WebhookSubscription
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="notify",
    router=router,
    tables=[WebhookSubscription, Delivery, DeliveryAttempt],
    subscriptions=subscriptions,
    loops=[("webhook-dispatcher", dispatch)],
)
