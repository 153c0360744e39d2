"""The console: the people-facing half of Signpost. A backend-for-frontend that owns
people, roles and sessions and no referral data; it reads and acts only through the
four services' APIs, as the signed-in person."""

from services.console.api import router
from services.console.cli import register as register_commands
from services.console.handlers import subscriptions
from services.console.loops import LOOPS
from services.console.models import ConsoleSession, OidcLogin, Person, QueueAlert
from services.console.settings import ConsoleSettings
from shared.runtime import ServiceDefinition

definition = ServiceDefinition(
    name="console",
    settings=ConsoleSettings,
    router=router,
    tables=[Person, ConsoleSession, OidcLogin, QueueAlert],
    subscriptions=subscriptions,
    loops=LOOPS,
    commands=register_commands,
)
