"""Notify: tells partners by signed webhook, retrying until they answer, and carries
Operation Encompass notices to schools before the next school day."""

from fastapi import APIRouter

from services.notify.api import router as subscriptions_router
from services.notify.delivery import dispatch, subscriptions
from services.notify.encompass import deadline_loop
from services.notify.encompass_api import router as encompass_router
from services.notify.models import (
    Delivery,
    DeliveryAttempt,
    EncompassNoticeRecord,
    WebhookSubscription,
)
from shared.privacy import ReadAudit
from shared.runtime import ServiceDefinition

router = APIRouter()
router.include_router(subscriptions_router)
router.include_router(encompass_router)

definition = ServiceDefinition(
    name="notify",
    router=router,
    tables=[WebhookSubscription, Delivery, DeliveryAttempt, EncompassNoticeRecord, ReadAudit],
    subscriptions=subscriptions,
    loops=[("webhook-dispatcher", dispatch), ("encompass-deadlines", deadline_loop)],
)
