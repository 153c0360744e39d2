"""Intake: validates concern reports, stores them durably, emits referral.received, and
lets the partner a referral is addressed to read the report (audited).

Its `definition` is built on first use: importing the package loads nothing else.
"""

from __future__ import annotations

from functools import cache

from shared.runtime import ServiceDefinition


@cache
def _definition() -> ServiceDefinition:
    from services.intake.api import router
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

    return ServiceDefinition(
        name="intake",
        settings=IntakeSettings,
        router=router,
        tables=[Report, ReportVersion, JourneyStep, ReportPathway, IdempotencyRecord, ReadAudit],
        subscriptions=subscriptions,
        loops=LOOPS,
        on_start=load_policy_at_start,
    )


def __getattr__(name: str) -> ServiceDefinition:
    if name == "definition":
        return _definition()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
