"""Triage: scores each referral against the local area's threshold policy."""

from services.triage.api import router
from services.triage.cli import register as register_commands
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
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
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
    commands=register_commands,
)
