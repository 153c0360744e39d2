"""People: accounts in one organisation with one or more roles (`shared.people.ROLES`).

A local account has an argon2 password; one that signs in through the council's
identity provider has none. Email addresses are kept as given, compared in lower case.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.console import repository
from services.console.models import Person
from services.console.passwords import hash_password
from shared.people import ROLES
from shared.people import Person as SharedPerson
from shared.problems import Problem
from shared.uow import UnitOfWork


def normal_email(email: str) -> str:
    """An email address as the console compares it."""
    return email.strip().lower()


def _invalid(detail: str, field: str) -> Problem:
    return Problem(
        422,
        "The person is not valid",
        detail,
        type="person-invalid",
        errors=[{"field": field, "detail": detail}],
    )


async def create_person(
    *,
    uow: UnitOfWork,
    email: str,
    name: str,
    organisation: str,
    roles: Sequence[str],
    password: str | None = None,
    oidc_subject: str | None = None,
) -> Person:
    """A new account; a 409 when the email address has one already."""
    address = normal_email(email)
    if "@" not in address or len(address) > 254 or any(c.isspace() for c in address):
        raise _invalid("An email address is needed.", "email")
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise _invalid(
            f"Roles are one or more of {', '.join(ROLES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "."),
            "roles",
        )
    if not organisation.strip() or len(organisation) > 64:
        raise _invalid("An organisation (as its API keys name it) is needed.", "organisation")
    person_id = "per_" + uuid.uuid4().hex[:20]
    try:
        # As the services will know them: a name and organisation they can record.
        SharedPerson(
            id=person_id,
            name=name.strip() or address,
            organisation=organisation,
            roles=tuple(roles),
        )
    except ValueError as exc:
        said = str(exc)
        field = next((f for f in ("name", "organisation") if f in said), "roles")
        raise _invalid(said, field) from exc
    if await repository.person_by_email(uow.session, address) is not None:
        raise Problem(409, "Conflict", f"{address} has an account already.", type="person-exists")
    try:
        hashed = hash_password(password) if password is not None else None
    except ValueError as exc:
        raise _invalid(str(exc), "password") from exc
    row = Person(
        id=person_id,
        email=address,
        name=name.strip() or address,
        organisation=organisation.strip(),
        roles=sorted(set(roles), key=list(ROLES).index),
        password_hash=hashed,
        oidc_subject=oidc_subject,
        created_at=uow.now(),
    )
    await repository.add_person(uow.session, row)
    return row


async def people(*, uow: UnitOfWork) -> list[Person]:
    return await repository.people(uow.session)
