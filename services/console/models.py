"""The console's tables: people (an account in one organisation, with roles) and their
sign-in sessions. No referral data: the console reads and acts through the services."""

from __future__ import annotations

from datetime import datetime

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
