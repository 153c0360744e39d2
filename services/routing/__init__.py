"""Routing: picks the single best-placed agency, the hub or the MASH, keeps the agency
directory, and closes the loop: agencies accept, decline and close; the hub reassigns
and overrides; a scheduler escalates unanswered requests to the hub.

Its `definition` is built on first use: importing the package loads nothing else.
"""

from __future__ import annotations

from functools import cache

from shared.runtime import ServiceDefinition


@cache
def _definition() -> ServiceDefinition:
    from services.routing.api import router
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

    return ServiceDefinition(
        name="routing",
        settings=RoutingSettings,
        router=router,
        tables=[RoutingDecision, RoutingStep, RoutingPathway, RoutingDeadline, DirectoryVersion],
        subscriptions=subscriptions,
        loops=LOOPS,
        on_start=on_start,
        gauges=gauges,
    )


def __getattr__(name: str) -> ServiceDefinition:
    if name == "definition":
        return _definition()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
