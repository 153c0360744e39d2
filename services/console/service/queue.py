"""The queue's own use cases: the area's working week its deadlines are counted in
(triage's), and the colleagues a referral can be given to (the console knows its
people; routing records whoever the console names)."""

from __future__ import annotations

from services.console import repository
from services.console.gateway import Services
from services.console.models import Person
from services.console.queue_view import week_from
from shared.people import scopes_of
from shared.problems import Problem
from shared.uow import UnitOfWork
from shared.working_time import WorkingWeek


async def colleagues(*, uow: UnitOfWork, organisation: str) -> list[Person]:
    """The people of `organisation` who work referrals (their roles may act on one),
    by name; disabled accounts are left out."""
    return [
        person
        for person in await repository.people_of(uow.session, organisation)
        if "referrals:write" in scopes_of(person.roles)
    ]


async def working_week(services: Services) -> WorkingWeek:
    """The area's working week, read from triage as the person (the active threshold
    policy's); a 503 problem when triage cannot say."""
    answer = await services.get("triage", "/v1/working-week")
    if answer.status_code != 200:
        raise Problem(
            503,
            "A service could not answer",
            f"Triage answered {answer.status_code} for the working week; try again shortly.",
            type="dependency-unavailable",
            headers={"Retry-After": "5"},
        )
    return week_from(answer.json())
