"""Intake: validates concern reports, stores them durably, emits referral.received."""

from services.intake.api import router
from services.intake.handlers import subscriptions
from services.intake.models import IdempotencyRecord, JourneyStep, Report, ReportVersion
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="intake",
    router=router,
    tables=[Report, ReportVersion, JourneyStep, IdempotencyRecord],
    subscriptions=subscriptions,
)
