"""Intake: validates concern reports, stores them durably, emits referral.received, and
lets the partner a referral is addressed to read the report (audited)."""

from fastapi import APIRouter

from services.intake.api import router as reports_router
from services.intake.handlers import subscriptions
from services.intake.models import IdempotencyRecord, JourneyStep, Report, ReportVersion
from services.intake.partner_api import load_policy_at_start
from services.intake.partner_api import router as partner_router
from shared.privacy import ReadAudit
from shared.runtime import ServiceDefinition

router = APIRouter()
router.include_router(reports_router)
router.include_router(partner_router)

definition = ServiceDefinition(
    name="intake",
    router=router,
    tables=[Report, ReportVersion, JourneyStep, IdempotencyRecord, ReadAudit],
    subscriptions=subscriptions,
    on_start=load_policy_at_start,
)
