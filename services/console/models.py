"""The console's tables: people (an account in one organisation, with roles) and their
sign-in sessions. No referral data: the console reads and acts through the services."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class Person(SQLModel, table=True):
    """A practitioner who signs in to the console, as a named person.

    `password_hash` (argon2) for a local account; None for one that signs in through
    the council's identity provider (`oidc_subject`). `sessions_valid_from`: sessions
    started before it are over (sign out everywhere, a disabled account)."""

    __tablename__ = "console_person"

    id: str = Field(primary_key=True, max_length=40)
    email: str = Field(max_length=254, unique=True)
    name: str = Field(max_length=200)
    organisation: str = Field(max_length=64, index=True)
    roles: list[str] = Field(sa_column=Column(JSON, nullable=False))
    password_hash: str | None = Field(default=None, max_length=200)
    oidc_subject: str | None = Field(default=None, max_length=255, unique=True)
    created_at: datetime
    disabled_at: datetime | None = None
    sessions_valid_from: datetime | None = None
    # The person asked to be emailed when something lands in their queue or nears its
    # deadline (the email holds no child's data).
    email_alerts: bool = Field(default=False, sa_column_kwargs={"server_default": sa.false()})


class ConsoleSession(SQLModel, table=True):
    """A signed-in browser. Only a SHA-256 of its cookie is stored; it ends when signed
    out, after `CONSOLE_IDLE_MINUTES` without a request, or at `expires_at`."""

    __tablename__ = "console_session"

    id: str = Field(primary_key=True, max_length=64, description="SHA-256 of the cookie")
    person_id: str = Field(index=True, max_length=40)
    csrf_token: str = Field(max_length=64)
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime = Field(index=True)
    ended_at: datetime | None = None


class OidcLogin(SQLModel, table=True):
    """One sign-in begun at the council's identity provider: the `state` it must come
    back with, the PKCE verifier and the nonce its ID token must carry. Used once, and
    only until `expires_at` (a few minutes)."""

    __tablename__ = "console_oidc_login"

    state: str = Field(primary_key=True, max_length=64)
    code_verifier: str = Field(max_length=128)
    nonce: str = Field(max_length=64)
    created_at: datetime
    expires_at: datetime = Field(index=True)
    used_at: datetime | None = None


class QueueAlert(SQLModel, table=True):
    """An email sent to a person about one referral in their queue: `kind` is `arrived`
    (it landed in the queue) or `deadline` (its deadline is near or missed). One of each
    kind per person and referral, so nobody is told twice."""

    __tablename__ = "console_queue_alert"

    person_id: str = Field(primary_key=True, max_length=40)
    referral_id: str = Field(primary_key=True, max_length=64)
    kind: str = Field(primary_key=True, max_length=16)
    sent_at: datetime
