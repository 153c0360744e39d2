"""Intake: validates concern reports, stores them durably, emits referral.received, and
lets the partner a referral is addressed to read the report (audited)."""

from services.intake.api import router
from services.intake.cli import register as register_commands
from services.intake.handlers import subscriptions
from services.intake.loops import LOOPS
from services.intake.models import (
    IdempotencyRecord,
    JourneyStep,
    Report,
    ReportPathway,
    ReportVersion,
)
from services.intake.service import load_policy_at_start
from services.intake.settings import IntakeSettings
from shared.privacy import ReadAudit
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="intake",
    settings=IntakeSettings,
    router=router,
    tables=[Report, ReportVersion, JourneyStep, ReportPathway, IdempotencyRecord, ReadAudit],
    subscriptions=subscriptions,
    loops=LOOPS,
    on_start=load_policy_at_start,
    commands=register_commands,
)
