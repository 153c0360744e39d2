"""Triage: scores each referral against the local area's threshold policy.

Its `definition` is built on first use: importing the package loads nothing else.
"""

from __future__ import annotations

from functools import cache

from shared.runtime import ServiceDefinition


@cache
def _definition() -> ServiceDefinition:
    from services.triage.api import router
    from services.triage.handlers import subscriptions
    from services.triage.loops import LOOPS
    from services.triage.models import (
        MatchVerdict,
        PolicyAct,
        PolicySimulation,
        PolicyVersion,
        Subject,
        SubjectIdentity,
        TriageDecision,
        TriageOverride,
        TriageOverrideRequest,
    )
    from services.triage.service import on_start
    from services.triage.settings import TriageSettings
    from shared.privacy import ReadAudit

    return ServiceDefinition(
        name="triage",
        settings=TriageSettings,
        router=router,
        tables=[
            Subject,
            SubjectIdentity,
            TriageDecision,
            TriageOverride,
            TriageOverrideRequest,
            MatchVerdict,
            PolicyVersion,
            PolicySimulation,
            PolicyAct,
            ReadAudit,
        ],
        subscriptions=subscriptions,
        loops=LOOPS,
        on_start=on_start,
    )


def __getattr__(name: str) -> ServiceDefinition:
    if name == "definition":
        return _definition()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
