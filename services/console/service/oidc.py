"""Signing in through the council's identity provider (OpenID Connect).

`begin` keeps what the callback must match (state, PKCE verifier, nonce) for a few
minutes; `finish` accepts each of those once, has the provider's ID token checked
(`services.console.oidc`), and signs in the person it names: found by their subject at
the provider, or a local account of the same verified email address in the same
organisation (linked from then on), or a new account without a password. The provider
is the authority on who may do what: the roles come from its groups at every sign-in,
through CONSOLE_OIDC_ROLE_MAP, so a group taken away there takes its role away here;
a person it gives no Signpost role is refused (and signed out everywhere), as is a
disabled account, or groups whose roles do not go together. The session started is the
local sign-in's own, so signing out, the idle timeout and signing out everywhere apply
alike.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from services.console import repository
from services.console.models import OidcLogin, Person
from services.console.oidc import (
    Authorization,
    IdentityProvider,
    ProviderUnavailable,
    SignInFailed,
)
from services.console.service.people import create_person, normal_email
from services.console.service.sessions import (
    Lifetimes,
    SignedIn,
    sign_out_everywhere,
    start_session,
)
from services.console.settings import ConsoleSettings
from shared.people import MAX_NAME, ROLES, kind_of
from shared.people import Person as SharedPerson
from shared.problems import Problem
from shared.uow import UnitOfWork

log = logging.getLogger(__name__)

# Long enough to sign in at the provider (a password, a second factor), short enough
# that a callback URL left in a history is of no use.
LOGIN_LIFETIME = timedelta(minutes=10)
# An OAuth error code (RFC 6749, section 4.1.2.1) is safe to show; anything else is not.
ERROR_CODE = re.compile(r"^[a-z_]{1,64}$")
ASK = "Ask your administrator to check your groups at your organisation's identity provider."


@dataclass(frozen=True)
class Refusal:
    """Why nobody was signed in: the page's status, title and words, and a short reason
    for the log (never who it was)."""

    status: int
    title: str
    detail: str
    reason: str


def roles_from(
    claims: Mapping[str, Any], *, claim: str, role_map: Mapping[str, Sequence[str]]
) -> list[str]:
    """The Signpost roles the groups in `claims[claim]` map to, once each in `ROLES`'
    order; none when the claim is absent or no group of it is mapped. A single group
    given as a string counts as a list of one."""
    groups = claims.get(claim)
    if isinstance(groups, str):
        groups = [groups]
    if not isinstance(groups, list):
        return []
    found = {role for group in groups if isinstance(group, str) for role in role_map.get(group, ())}
    return [role for role in ROLES if role in found]


def organisation_from(claims: Mapping[str, Any], *, claim: str, default: str) -> str | None:
    """The person's organisation: the claim's when the token has one, else the one
    everybody from this provider belongs to; None when there is neither."""
    given = claims.get(claim)
    if isinstance(given, str) and given.strip():
        return given.strip()
    return default.strip() or None


def _name_from(claims: Mapping[str, Any], email: str | None) -> str:
    name = claims.get("name")
    if isinstance(name, str) and name.strip():
        return name.strip()[:MAX_NAME]
    return email or "Signpost user"


async def begin(*, uow: UnitOfWork, provider: IdentityProvider) -> Authorization:
    """A new sign-in at the provider: what its callback must match is kept until
    LOGIN_LIFETIME has passed (sign-ins that expired earlier are forgotten now)."""
    authorization = await provider.authorization()
    now = uow.now()
    await repository.forget_oidc_logins(uow.session, before=now)
    await repository.add_oidc_login(
        uow.session,
        OidcLogin(
            state=authorization.state,
            code_verifier=authorization.code_verifier,
            nonce=authorization.nonce,
            created_at=now,
            expires_at=now + LOGIN_LIFETIME,
        ),
    )
    return authorization


async def finish(
    *,
    uow: UnitOfWork,
    provider: IdentityProvider,
    settings: ConsoleSettings,
    lifetimes: Lifetimes,
    state: str,
    code: str,
    error: str,
) -> SignedIn | Refusal:
    """The session of the person the provider signed in for the sign-in begun with
    `state`, or why there is none. The state is used up either way."""
    login = await repository.use_oidc_login(uow.session, state, at=uow.now())
    if login is None:
        return _refused(
            400,
            "This sign-in cannot be used",
            "It was used already, has expired, or was not started here. Sign in again.",
            "state-unknown-used-or-expired",
        )
    if error:
        if error == "access_denied":
            return _refused(
                403,
                "You were not signed in",
                "Your organisation's identity provider did not sign you in to Signpost.",
                "provider-access-denied",
            )
        code_text = f" ({error})" if ERROR_CODE.match(error) else ""
        return _refused(
            400,
            "You were not signed in",
            f"Your organisation's identity provider could not sign you in{code_text}. "
            "Try again, or ask your administrator.",
            "provider-error",
        )
    if not code:
        return _refused(
            400, "You were not signed in", "The identity provider sent no code.", "no-code"
        )
    try:
        claims = await provider.claims(
            code=code, code_verifier=login.code_verifier, nonce=login.nonce, now=uow.now()
        )
    except SignInFailed as exc:
        return _refused(401, "You were not signed in", f"{exc} Sign in again.", "token-refused")
    except ProviderUnavailable:
        return _refused(
            503,
            "Your organisation's identity provider could not be reached",
            "Try again in a few minutes.",
            "provider-unavailable",
        )
    return await _sign_in(uow=uow, settings=settings, lifetimes=lifetimes, claims=claims)


async def _sign_in(
    *,
    uow: UnitOfWork,
    settings: ConsoleSettings,
    lifetimes: Lifetimes,
    claims: Mapping[str, Any],
) -> SignedIn | Refusal:
    subject = str(claims["sub"])
    given_email = claims.get("email")
    email = normal_email(given_email) if isinstance(given_email, str) else None
    organisation = organisation_from(
        claims,
        claim=settings.console_oidc_organisation_claim,
        default=settings.console_oidc_organisation,
    )
    person = await repository.person_by_oidc_subject(uow.session, subject)
    if person is None and email is not None:
        person = await repository.person_by_email(uow.session, email)
        if person is not None:
            refusal = _unlinkable(person, claims, organisation)
            if refusal is not None:
                return refusal
    if person is not None and person.disabled_at is not None:
        return _refused(
            403, "This account is disabled", "Ask your administrator.", "person-disabled"
        )
    roles = roles_from(
        claims,
        claim=settings.console_oidc_roles_claim,
        role_map=settings.console_oidc_role_map,
    )
    if not roles:
        if person is not None and person.oidc_subject == subject:
            # The provider no longer gives them a role: nothing they had open goes on.
            await sign_out_everywhere(uow=uow, person_id=person.id)
        return _refused(403, "Your account has no Signpost role", ASK, "no-role")
    try:
        kind_of(roles)
    except ValueError as exc:
        return _refused(
            403, "Your groups give roles that do not go together", f"{exc}. {ASK}", "mixed-roles"
        )
    if organisation is None:
        return _refused(
            403,
            "Your account has no organisation",
            "Your organisation's identity provider did not say which organisation you "
            f"work for. {ASK}",
            "no-organisation",
        )
    name = _name_from(claims, email)
    if person is None:
        if email is None:
            return _refused(
                403,
                "Your account has no email address",
                "Your organisation's identity provider did not give your email address. " + ASK,
                "no-email",
            )
        try:
            person = await create_person(
                uow=uow,
                email=email,
                name=name,
                organisation=organisation,
                roles=roles,
                oidc_subject=subject,
            )
        except Problem as exc:
            return _refused(403, "Your account cannot be set up", f"{exc.detail} {ASK}", "invalid")
    else:
        try:
            SharedPerson(id=person.id, name=name, organisation=organisation, roles=tuple(roles))
        except ValueError as exc:
            return _refused(403, "Your account cannot be used", f"{exc}. {ASK}", "invalid")
        person.oidc_subject = subject
        person.name = name
        person.organisation = organisation
        person.roles = roles
        uow.session.add(person)
    return await start_session(uow=uow, person=person, lifetimes=lifetimes)


def _unlinkable(
    person: Person, claims: Mapping[str, Any], organisation: str | None
) -> Refusal | None:
    """Why the local account of the token's email address cannot become this provider
    account's, if it cannot: linked to another already, an address the provider has
    not verified (anybody could have typed it there), or another organisation's."""
    if person.oidc_subject is not None:
        return _refused(
            409,
            "Your email address belongs to another account",
            "Another sign-in of your organisation has this email address already. "
            "Ask your administrator.",
            "email-linked-elsewhere",
        )
    if claims.get("email_verified") is not True:
        return _refused(
            403,
            "Your email address is not verified",
            "A Signpost account has this email address, but your organisation's identity "
            "provider has not verified it. Ask your administrator.",
            "email-unverified",
        )
    if organisation is not None and organisation != person.organisation:
        return _refused(
            409,
            "Your email address belongs to another account",
            "A Signpost account of another organisation has this email address. "
            "Ask your administrator.",
            "email-other-organisation",
        )
    return None


def _refused(status: int, title: str, detail: str, reason: str) -> Refusal:
    log.info("identity provider sign-in refused", extra={"reason": reason})
    return Refusal(status=status, title=title, detail=detail, reason=reason)
