"""Triage: scores each referral against the local area's threshold policy."""

from services.triage.api import router
from services.triage.handlers import on_start, subscriptions
from services.triage.models import Subject, SubjectIdentity, TriageDecision, TriageOverride
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="triage",
    router=router,
    tables=[Subject, SubjectIdentity, TriageDecision, TriageOverride],
    subscriptions=subscriptions,
    on_start=on_start,
)
