"""Routing: picks the single best-placed agency, the hub or the MASH, keeps the agency
directory, and closes the loop: agencies accept, decline and close; the hub reassigns
and overrides; a scheduler escalates unanswered requests to the hub."""

from services.routing.api import router
from services.routing.cli import register as register_commands
from services.routing.handlers import on_start, subscriptions
from services.routing.loops import LOOPS
from services.routing.models import (
    DirectoryVersion,
    RoutingDeadline,
    RoutingDecision,
    RoutingPathway,
    RoutingStep,
)
from services.routing.service.gauges import gauges
from services.routing.settings import RoutingSettings
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="routing",
    settings=RoutingSettings,
    router=router,
    tables=[RoutingDecision, RoutingStep, RoutingPathway, RoutingDeadline, DirectoryVersion],
    subscriptions=subscriptions,
    loops=LOOPS,
    on_start=on_start,
    commands=register_commands,
    gauges=gauges,
)
