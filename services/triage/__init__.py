"""Triage: scores each referral against the early-help thresholds."""

from services.triage.handlers import subscriptions
from services.triage.models import TriageDecision
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="triage",
    router=None,
    tables=[TriageDecision],
    subscriptions=subscriptions,
)
