"""Routing: picks the single best-placed agency, the hub or the MASH, keeps the agency
directory, and closes the loop: agencies accept, decline and close; the hub reassigns
and overrides; a scheduler escalates unanswered requests to the hub."""

from services.routing.api import router
from services.routing.handlers import on_start, subscriptions
from services.routing.models import DirectoryVersion, RoutingDeadline, RoutingDecision, RoutingStep
from services.routing.scheduler import escalation_loop
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="routing",
    router=router,
    tables=[RoutingDecision, RoutingStep, RoutingDeadline, DirectoryVersion],
    subscriptions=subscriptions,
    loops=[("escalations", escalation_loop)],
    on_start=on_start,
)
