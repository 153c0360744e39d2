"""Who is calling: a system's API key (one registry every service reads, keys stored
hashed) or a person the console signed a short-lived token for; scopes per route.

Why one registry for keys rather than self-verifying tokens: a key must stop working
everywhere the moment it is revoked (a lost school laptop, a partner that leaves the
partnership). A shared table gives that with a short, bounded cache; signed tokens
would need a revocation list shared anyway. This table is the one deliberate
exception to "each service owns its tables".

A key reads `sp_<key id>_<secret>`; only a SHA-256 of the secret is stored (the secret
is 256 random bits, so a slow hash adds nothing).

People are the exception to "keys, not tokens", and a safe one: a person never holds a
credential a service accepts. They sign in to the console, which checks their session
on every request and mints a token for each call it makes (`shared.person_tokens`:
Ed25519-signed, naming the person, their organisation and roles, valid 60 seconds).
Ending a person's sessions in the console therefore stops them at once: the console
mints nothing more, and a token already minted dies within a minute. A token is
verified with the console's public key alone (no registry round trip), and yields a
`Principal` of its own (`shared.people.principal_of`), so every scope and organisation
check applies to people exactly as to keys, and every change and read records the
person's id where a key's would be. A token is never logged or echoed.

Every route that asks for a key is rate-limited per key (`shared.ratelimit`), and per
person for a person token: once the caller is verified, `authenticate` spends one of
its tokens under the general limit (`RATE_LIMIT_PER_MINUTE`, `RATE_LIMIT_BURST`), or a
route builds its caller with `identify` and `within_limit` to name its own (intake's
report routes). In distributed mode the buckets are the registry database's
`rate_limit_bucket` table, shared by every replica of every service like the keys
themselves.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Annotated, Any, Protocol

from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer, SecurityScopes
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel, col, select

from shared.clock import Clock
from shared.db import Database
from shared.migrations import KEYS, upgrade
from shared.problems import Problem
from shared.ratelimit import Limit, RateLimits, general_limit, rate_limited


class ClientKind(StrEnum):
    POLICE = "police"
    SCHOOL = "school"
    AGENCY = "agency"
    HUB = "hub"
    ADMIN = "admin"


# The one place that says who oversees the partnership's front door: the hub (and
# administrators) see every referral, override and reassign, read every audit trail,
# and hear about every referral event. The MASH is the directory's `mash` entry
# (routing), an organisation like any agency to everyone else.
OVERSEERS: frozenset[ClientKind] = frozenset({ClientKind.HUB, ClientKind.ADMIN})


def oversees(kind: str) -> bool:
    """True for a kind of client (a key's, a subscription's) that oversees."""
    return kind in {k.value for k in OVERSEERS}


SCOPES: dict[str, str] = {
    "reports:write": "Submit concern reports",
    "reports:read": "Read the status of your own reports",
    "subscriptions:write": "Create and manage your organisation's webhook subscriptions",
    "subscriptions:read": "List your organisation's webhook subscriptions",
    "referrals:read": "Read referrals addressed to your organisation",
    "referrals:write": "Accept, decline and close referrals addressed to you",
    "triage:override": "Raise or lower a triage level with a rationale (hub practitioners)",
    "directory:write": "Manage the agency directory",
    "encompass:read": (
        "Read Operation Encompass notices addressed to your organisation (the hub: every "
        "notice's status); each read of a notice's content is recorded"
    ),
    "encompass:acknowledge": "Acknowledge that your Designated Safeguarding Lead has a notice",
    "measures:read": (
        "Read the partnership measures (counts, rates and timeliness over referrals; "
        "nothing about any one child)"
    ),
    "policy:simulate": (
        "Draft a threshold policy and simulate what it would have changed (counts, and "
        "each changed referral's levels, destinations and reasons; never a child's details)"
    ),
    "policy:approve": (
        "Approve a simulated threshold policy and set the date it takes effect (a person "
        "other than the one who drafted it)"
    ),
    "admin": "Everything",
}

# An operation anyone may call, with no key (the vocabulary, health, the AsyncAPI
# document): its OpenAPI says so with an explicit empty `security`, so a reader (and a
# linter) can tell "public by design" from "forgot to declare its key".
NO_KEY: dict[str, Any] = {"security": []}

# The scopes each kind of key is given (the demo's keys, and `signpost keys scopes`): a
# police force's records system and a school's MIS raise reports and follow them, a
# school also acknowledges Operation Encompass notices; an agency (the MASH among them)
# works the referrals addressed to it; the hub oversees; an administrator runs the
# whole service (`admin`: every scope).
KIND_SCOPES: dict[ClientKind, tuple[str, ...]] = {
    ClientKind.POLICE: ("reports:write", "reports:read", "encompass:read"),
    ClientKind.SCHOOL: (
        "reports:write",
        "reports:read",
        "encompass:read",
        "encompass:acknowledge",
    ),
    ClientKind.AGENCY: (
        "referrals:read",
        "referrals:write",
        "subscriptions:read",
        "subscriptions:write",
    ),
    ClientKind.HUB: (
        "referrals:read",
        "referrals:write",
        "triage:override",
        "encompass:read",
        "subscriptions:read",
        "subscriptions:write",
        "measures:read",
    ),
    ClientKind.ADMIN: ("admin",),
}


class ApiKey(SQLModel, table=True):
    """A client's key: who it belongs to and what it may do. The secret is never stored."""

    __tablename__ = "api_key"

    id: str = Field(primary_key=True, max_length=40)
    name: str = Field(max_length=200)
    kind: ClientKind
    organisation: str = Field(max_length=100, index=True)
    scopes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    secret_sha256: str = Field(max_length=64)
    created_at: datetime
    revoked_at: datetime | None = None


@dataclass(frozen=True)
class Principal:
    """The authenticated caller behind a request: a system's key, or a person the
    console signed a token for (`person_id` set; see `shared.people.principal_of`)."""

    key_id: str
    client_id: str
    name: str
    kind: ClientKind
    organisation: str
    scopes: frozenset[str]
    person_id: str | None = None
    person_name: str | None = None
    roles: frozenset[str] = frozenset()

    def has(self, scope: str) -> bool:
        return scope in self.scopes or "admin" in self.scopes

    @property
    def oversees(self) -> bool:
        """The hub or an administrator (see OVERSEERS)."""
        return self.kind in OVERSEERS

    @property
    def is_person(self) -> bool:
        """A person signed in to the console, not a system's key."""
        return self.person_id is not None

    @property
    def actor(self) -> str:
        """Who acted, as a change records it: the organisation for a system's key (as
        ever), `<organisation>/<person id>` for a person (at most 100 characters)."""
        if self.person_id is None:
            return self.organisation
        return f"{self.organisation}/{self.person_id}"


def _digest(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class KeyRegistry:
    """Creates, revokes and verifies keys; verification is cached for a few seconds."""

    def __init__(
        self, db: Database, *, cache_seconds: float = 5.0, clock: Clock | None = None
    ) -> None:
        self.db = db
        self.clock = clock or Clock()
        self.cache_seconds = cache_seconds
        self._cache: dict[str, tuple[float, ApiKey | None]] = {}

    async def create_schema(self) -> None:
        """Bring the registry's schema to this release's (its own migration history)."""
        await upgrade(self.db, KEYS)

    async def create(
        self, *, name: str, kind: ClientKind, organisation: str, scopes: Sequence[str]
    ) -> tuple[ApiKey, str]:
        """A new key; returns the stored row and the plaintext key (shown once)."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown:
            raise ValueError(f"unknown scope(s): {', '.join(unknown)}")
        key_id = uuid.uuid4().hex[:16]
        secret = secrets.token_urlsafe(32)
        row = ApiKey(
            id=key_id,
            name=name,
            kind=kind,
            organisation=organisation,
            scopes=sorted(set(scopes)),
            secret_sha256=_digest(secret),
            created_at=self.clock.now(),
        )
        async with self.db.session() as session:
            session.add(row)
            await session.commit()
        return row, f"sp_{key_id}_{secret}"

    async def revoke(self, key_id: str) -> bool:
        async with self.db.session() as session:
            row = await session.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                return False
            row.revoked_at = self.clock.now()
            session.add(row)
            await session.commit()
        self._cache.pop(key_id, None)
        return True

    async def list(self) -> list[ApiKey]:
        async with self.db.session() as session:
            return list((await session.exec(select(ApiKey).order_by(col(ApiKey.created_at)))).all())

    async def verify(self, token: str) -> Principal | None:
        """The principal for a presented key, or None if it is unknown or revoked."""
        parts = token.split("_", 2)
        if len(parts) != 3 or parts[0] != "sp" or not parts[1] or not parts[2]:
            return None
        key_id, secret = parts[1], parts[2]
        now = time.monotonic()
        cached = self._cache.get(key_id)
        if cached is not None and now - cached[0] < self.cache_seconds:
            row = cached[1]
        else:
            async with self.db.session() as session:
                row = await session.get(ApiKey, key_id)
            self._cache[key_id] = (now, row)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, _digest(secret)):
            return None
        return Principal(
            key_id=row.id,
            client_id=row.id,
            name=row.name,
            kind=row.kind,
            organisation=row.organisation,
            scopes=frozenset(row.scopes),
        )


class PersonTokenRefused(Exception):
    """A person token that is not accepted; `reason` says why in words that never
    include the token."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class PersonTokens(Protocol):
    """What verifies person tokens (`shared.person_tokens.PersonTokenVerifier`), as the
    app holds it on `app.state.person_tokens`."""

    def principal(self, token: str) -> Principal:
        """The person's principal; raises PersonTokenRefused."""
        ...


_bearer = HTTPBearer(
    auto_error=False,
    description=(
        "Authorization: Bearer <api key> for a system (police RMS, school MIS, a partner "
        "integration), or Bearer <person token> for a person signed in to the console "
        "(a short-lived token the console signs for each call)."
    ),
)


def _unauthorised(detail: str) -> Problem:
    return Problem(
        401,
        "Unauthorised",
        detail,
        type="unauthorised",
        headers={"WWW-Authenticate": 'Bearer realm="signpost"'},
    )


async def _verified(
    request: Request, credentials: HTTPAuthorizationCredentials | None
) -> Principal:
    if credentials is None or credentials.scheme.lower() != "bearer":
        raise _unauthorised("Send 'Authorization: Bearer <api key>'.")
    presented = credentials.credentials
    if _is_person_token(presented):
        principal = _person(request, presented)
    else:
        registry: KeyRegistry = request.app.state.key_registry
        found = await registry.verify(presented)
        if found is None:
            raise _unauthorised("The API key is not valid or has been revoked.")
        principal = found
    request.state.principal = principal
    return principal


def _is_person_token(presented: str) -> bool:
    """A JWT's shape (three dot-separated parts); a key (`sp_…`) has no dot."""
    parts = presented.split(".")
    return len(parts) == 3 and all(parts)


def _person(request: Request, token: str) -> Principal:
    verifier: PersonTokens | None = getattr(request.app.state, "person_tokens", None)
    if verifier is None:
        raise _unauthorised(
            "This service accepts no person tokens: PERSON_TOKEN_PUBLIC_KEYS (the "
            "console's public key) is not set."
        )
    try:
        return verifier.principal(token)
    except PersonTokenRefused as refused:
        raise _unauthorised(f"The person token is refused: {refused.reason}") from None


def _check_scopes(principal: Principal, security_scopes: SecurityScopes) -> None:
    missing = [s for s in security_scopes.scopes if not principal.has(s)]
    if missing:
        holder = "This person's roles lack" if principal.is_person else "This key lacks"
        raise Problem(
            403,
            "Forbidden",
            f"{holder} the scope(s): {', '.join(missing)}.",
            type="missing-scope",
            missing_scopes=missing,
        )


async def authenticate(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, within the general rate limit, who must hold every scope the route
    asks for."""
    principal = await _verified(request, credentials)
    await within_limit(request, request_limit(request), principal)
    _check_scopes(principal, security_scopes)
    return principal


async def identify(
    request: Request,
    security_scopes: SecurityScopes,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    """The caller, who must hold every scope the route asks for, with no rate limit
    taken: for a route that names its own limit (it then calls `within_limit`)."""
    principal = await _verified(request, credentials)
    _check_scopes(principal, security_scopes)
    return principal


def request_limit(request: Request) -> Limit:
    """The general limit of this app's authenticated routes (RATE_LIMIT_PER_MINUTE,
    RATE_LIMIT_BURST)."""
    settings = request.app.state.settings
    return general_limit(settings.rate_limit_per_minute, settings.rate_limit_burst)


def rate_limits_of(request: Request) -> RateLimits:
    """The app's limiters: made on first use, on the key registry's database in
    distributed mode (shared by every replica), else in this process's memory."""
    state = request.app.state
    limits: RateLimits | None = getattr(state, "rate_limits", None)
    if limits is None:
        registry: KeyRegistry = state.key_registry
        limits = RateLimits.for_mode(state.settings.mode, registry.db)
        state.rate_limits = limits
    return limits


async def within_limit(request: Request, limit: Limit, principal: Principal) -> None:
    """Spend one of the caller's tokens under `limit`, once per request however many
    of the route's dependencies authenticate it; 429 with Retry-After when none is left."""
    if getattr(request.state, "rate_limit_taken", False):
        return
    request.state.rate_limit_taken = True
    wait = await rate_limits_of(request).limiter(limit).take(principal.key_id)
    if wait > 0:
        raise rate_limited(wait)


def requires(*scopes: str) -> Callable[..., object]:
    """A `Security` dependency for routes: `Annotated[Principal, requires("x:y")]`."""
    from fastapi import Security

    return Security(authenticate, scopes=list(scopes))  # type: ignore[no-any-return]
