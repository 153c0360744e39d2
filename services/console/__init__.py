"""The console: the people-facing half of Signpost. A backend-for-frontend that owns
people, roles and sessions and no referral data; it reads and acts only through the
four services' APIs, as the signed-in person.

Its `definition` is built on first use: importing the package loads nothing else.
"""

from __future__ import annotations

from functools import cache

from shared.runtime import ServiceDefinition


@cache
def _definition() -> ServiceDefinition:
    from services.console.api import router
    from services.console.handlers import subscriptions
    from services.console.loops import LOOPS
    from services.console.models import ConsoleSession, OidcLogin, Person, QueueAlert
    from services.console.settings import ConsoleSettings

    return ServiceDefinition(
        name="console",
        settings=ConsoleSettings,
        router=router,
        tables=[Person, ConsoleSession, OidcLogin, QueueAlert],
        subscriptions=subscriptions,
        loops=LOOPS,
    )


def __getattr__(name: str) -> ServiceDefinition:
    if name == "definition":
        return _definition()
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
