"""People: accounts in one organisation with one or more roles (`shared.people.ROLES`).

A local account has an argon2 password; one that signs in through the council's
identity provider has none. Email addresses are kept as given, compared in lower case.
An administrator creates people, changes their roles, and disables and enables them;
never their own account's standing, so the partnership is not left without one.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence

from services.console import repository
from services.console.models import Person
from services.console.passwords import hash_password
from shared.people import ROLES, kind_of
from shared.people import Person as SharedPerson
from shared.problems import NotFound, Problem
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
    checked = _checked_roles(roles)
    if not organisation.strip() or len(organisation) > 64:
        raise _invalid("An organisation (as its API keys name it) is needed.", "organisation")
    person_id = "per_" + uuid.uuid4().hex[:20]
    try:
        # As the services will know them: a name and organisation they can record.
        SharedPerson(
            id=person_id,
            name=name.strip() or address,
            organisation=organisation,
            roles=tuple(checked),
        )
    except ValueError as exc:
        said = str(exc)
        field = "name" if "name" in said else "organisation"
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
        roles=checked,
        password_hash=hashed,
        oidc_subject=oidc_subject,
        created_at=uow.now(),
    )
    await repository.add_person(uow.session, row)
    return row


async def people(*, uow: UnitOfWork) -> list[Person]:
    return await repository.people(uow.session)


async def person(*, uow: UnitOfWork, person_id: str) -> Person | None:
    return await repository.person(uow.session, person_id)


def _checked_roles(roles: Sequence[str]) -> list[str]:
    """The roles in `ROLES`' order, once each; a 422 naming `roles` for none, an unknown
    one, or a mixture `kind_of` refuses (one person acts for one organisation)."""
    unknown = sorted(set(roles) - set(ROLES))
    if not roles or unknown:
        raise _invalid(
            f"Roles are one or more of {', '.join(ROLES)}"
            + (f"; unknown: {', '.join(unknown)}" if unknown else "."),
            "roles",
        )
    try:
        kind_of(roles)
    except ValueError as exc:
        raise _invalid(f"These roles do not go together: {exc}.", "roles") from exc
    return sorted(set(roles), key=list(ROLES).index)


async def _other_person(uow: UnitOfWork, person_id: str, by: str, what: str) -> Person:
    """The person an administrator (`by`) acts on: a 404 when there is none, a 409 when
    it is the administrator's own account (another administrator must do `what`)."""
    row = await repository.person(uow.session, person_id)
    if row is None:
        raise NotFound("Person")
    if row.id == by:
        raise Problem(
            409,
            "Conflict",
            f"You cannot {what} on your own account: ask another administrator.",
            type="own-account",
        )
    return row


async def set_disabled(*, uow: UnitOfWork, person_id: str, disabled: bool, by: str) -> Person:
    """Disable an account (every session it has ends now, and stays ended when the
    account is enabled again) or enable it again, on behalf of administrator `by`."""
    row = await _other_person(uow, person_id, by, "disable or enable")
    if disabled and row.disabled_at is None:
        now = uow.now()
        row.disabled_at = now
        row.sessions_valid_from = now
        await repository.end_sessions_of(uow.session, row.id, at=now)
    elif not disabled:
        row.disabled_at = None
    uow.session.add(row)
    return row


async def change_roles(*, uow: UnitOfWork, person_id: str, roles: Sequence[str], by: str) -> Person:
    """Give a person these roles instead of theirs (a 422 when they do not combine), on
    behalf of administrator `by`. A session reads its person's roles at every request,
    so the change holds from the person's next page."""
    checked = _checked_roles(roles)
    row = await _other_person(uow, person_id, by, "change the roles")
    row.roles = checked
    uow.session.add(row)
    return row
