"""Signing in and out: a session per browser, its cookie stored only as a SHA-256.

A session ends when its person signs out (here, or everywhere), after
CONSOLE_IDLE_MINUTES without a request, CONSOLE_SESSION_HOURS after it began, or when
the account is disabled. Every request resumes it afresh from the database, so ending
a person's sessions takes effect at once; the services only ever see a token the
console mints per call, valid for a minute.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from services.console import repository
from services.console.models import ConsoleSession, Person
from services.console.passwords import verify_password
from services.console.service.people import normal_email
from shared.clock import as_utc
from shared.uow import UnitOfWork


@dataclass(frozen=True)
class Lifetimes:
    idle: timedelta
    longest: timedelta


@dataclass(frozen=True)
class SignedIn:
    person: Person
    session: ConsoleSession
    cookie: str | None = None  # set only when the session is new


def session_id(cookie: str) -> str:
    return hashlib.sha256(cookie.encode()).hexdigest()


async def sign_in(
    *, uow: UnitOfWork, email: str, password: str, lifetimes: Lifetimes
) -> SignedIn | None:
    """A new session for the local account with this email and password; None when
    either is wrong or the account is disabled (the same answer, and about the same
    time, whichever it was)."""
    person = await repository.person_by_email(uow.session, normal_email(email))
    ok = verify_password(person.password_hash if person else None, password)
    if person is None or not ok or person.disabled_at is not None:
        return None
    return await start_session(uow=uow, person=person, lifetimes=lifetimes)


async def start_session(*, uow: UnitOfWork, person: Person, lifetimes: Lifetimes) -> SignedIn:
    """A new session for `person` (signed in by password or by the identity provider)."""
    now = uow.now()
    cookie = secrets.token_urlsafe(32)
    row = ConsoleSession(
        id=session_id(cookie),
        person_id=person.id,
        csrf_token=secrets.token_urlsafe(32),
        created_at=now,
        last_seen_at=now,
        expires_at=now + lifetimes.longest,
    )
    await repository.add_session(uow.session, row)
    return SignedIn(person, row, cookie)


def _over(row: ConsoleSession, person: Person | None, now: datetime, idle: timedelta) -> bool:
    if person is None or person.disabled_at is not None or row.ended_at is not None:
        return True
    if now >= as_utc(row.expires_at) or now - as_utc(row.last_seen_at) >= idle:
        return True
    valid_from = person.sessions_valid_from
    return valid_from is not None and as_utc(row.created_at) < as_utc(valid_from)


async def resume(*, uow: UnitOfWork, cookie: str | None, lifetimes: Lifetimes) -> SignedIn | None:
    """The session this cookie belongs to, if it is still open (and now seen again)."""
    if not cookie:
        return None
    row = await repository.session_by_id(uow.session, session_id(cookie))
    if row is None:
        return None
    now = uow.now()
    person = await repository.person(uow.session, row.person_id)
    if _over(row, person, now, lifetimes.idle):
        if row.ended_at is None:
            row.ended_at = now
            uow.session.add(row)
        return None
    assert person is not None
    row.last_seen_at = now
    uow.session.add(row)
    return SignedIn(person, row)


async def sign_out(*, uow: UnitOfWork, cookie: str | None) -> None:
    """End this browser's session."""
    if not cookie:
        return
    row = await repository.session_by_id(uow.session, session_id(cookie))
    if row is not None and row.ended_at is None:
        row.ended_at = uow.now()
        uow.session.add(row)


async def sign_out_everywhere(*, uow: UnitOfWork, person_id: str) -> None:
    """End every session of a person, in every browser."""
    now = uow.now()
    person = await repository.person(uow.session, person_id)
    if person is None:
        return
    person.sessions_valid_from = now
    uow.session.add(person)
    await repository.end_sessions_of(uow.session, person_id, at=now)


async def forget_old_sessions(*, uow: UnitOfWork, older_than: timedelta) -> int:
    return await repository.forget_sessions(uow.session, before=uow.now() - older_than)
