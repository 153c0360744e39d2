"""The queue's own use case: the colleagues a referral can be given to. The console
knows its people; routing records whoever the console names."""

from __future__ import annotations

from services.console import repository
from services.console.models import Person
from shared.people import scopes_of
from shared.uow import UnitOfWork


async def colleagues(*, uow: UnitOfWork, organisation: str) -> list[Person]:
    """The people of `organisation` who work referrals (their roles may act on one),
    by name; disabled accounts are left out."""
    return [
        person
        for person in await repository.people_of(uow.session, organisation)
        if "referrals:write" in scopes_of(person.roles)
    ]
