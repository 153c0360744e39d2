"""Routing: picks the single best-placed agency, the hub or the MASH."""

from services.routing.handlers import on_start, subscriptions
from services.routing.models import RoutingDecision
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="routing",
    router=None,
    tables=[RoutingDecision],
    subscriptions=subscriptions,
    on_start=on_start,
)
