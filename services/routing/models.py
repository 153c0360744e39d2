"""Routing's tables: one routing record per referral (where it is now, with the
directory version it used and why, and who there has it), every step of its lifecycle, the statutory
pathways it was told to, the response deadlines the escalation scheduler watches, and
the directory's versions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, Column, Index, Integer, Text, UniqueConstraint, text
from sqlmodel import Field, SQLModel

from services.routing.lifecycle import OPEN_STATUSES

# The open referrals, as the partial index of them and every query that must use it
# spell them (both databases match a partial index's condition only when the query
# repeats it, in literals, not through bound parameters).
OPEN = "status IN (" + ", ".join(f"'{status}'" for status in OPEN_STATUSES) + ")"


def _serial() -> Column[Any]:
    return Column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )


class RoutingDecision(SQLModel, table=True):
    """A referral as routing knows it: its current destination and status.

    `reason_codes`, `considered` and `explanation` say why it went where it went;
    a later step (a decline, an escalation, the hub's reassignment) is kept in
    `routing_step` and moves `destination_*` and `status` here.
    """

    __tablename__ = "routing_decision"
    # The referrals addressed to an organisation, newest first (GET /v1/referrals): one
    # index range per page, whatever the page (migration 0005).
    __table_args__ = (
        Index(
            "ix_routing_decision_org_routed", "destination_organisation", "routed_at", "referral_id"
        ),
        # Each destination's open referrals, counted against its capacity before every
        # batch of routing decisions: a count of the open ones alone, however many
        # referrals were closed before (migration 0007).
        Index(
            "ix_routing_decision_open",
            "destination_id",
            postgresql_where=text(OPEN),
            sqlite_where=text(OPEN),
        ),
    )

    referral_id: str = Field(primary_key=True, max_length=40)
    subject_key: str = Field(index=True, max_length=64)
    level: int
    priority: str = Field(max_length=8)
    destination_kind: str = Field(max_length=16)
    destination_id: str | None = Field(default=None, max_length=64, index=True)
    reason_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    considered: list[dict[str, object]] = Field(sa_column=Column(JSON, nullable=False))
    directory_version: str = Field(max_length=64)
    status: str = Field(default="requested", max_length=20)
    routed_at: datetime
    respond_by: datetime | None = None
    # The referral.triaged revision this decision follows (a practitioner's override
    # re-triages a referral with a higher revision; routing then decides again).
    triage_revision: int = Field(default=0, sa_column_kwargs={"server_default": "0"})
    # Added by the closed-loop issue (nullable or defaulted: existing rows upgrade).
    destination_organisation: str | None = Field(default=None, max_length=64, index=True)
    destination_name: str | None = Field(default=None, max_length=200)
    referrer_organisation: str | None = Field(default=None, max_length=100)
    explanation: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    reason_code: str | None = Field(default=None, max_length=40)
    updated_at: datetime | None = None
    # Who in the addressed organisation has it (issue 14): a person of that
    # organisation, named as the console named them, since when and given by whom
    # (`Principal.actor`); all None while it waits in the organisation's queue.
    assigned_person_id: str | None = Field(default=None, max_length=40, index=True)
    assigned_person_name: str | None = Field(default=None, max_length=200)
    assigned_at: datetime | None = None
    assigned_by: str | None = Field(default=None, max_length=100)
    # For the partnership measures (issue 16, migration 0006): when intake received the
    # report, its kind of source, and the local authority (GSS code) routing placed the
    # child in; null on a referral routed before.
    received_at: datetime | None = Field(default=None, index=True)
    source_kind: str | None = Field(default=None, max_length=16)
    local_authority_code: str | None = Field(default=None, max_length=9)


class RoutingStep(SQLModel, table=True):
    """One step of a referral's routing and lifecycle, in plain words."""

    __tablename__ = "routing_step"

    id: int | None = Field(default=None, sa_column=_serial())
    referral_id: str = Field(index=True, max_length=40)
    at: datetime
    status: str = Field(max_length=20)
    destination_kind: str | None = Field(default=None, max_length=16)
    destination_id: str | None = Field(default=None, max_length=64)
    reason_code: str | None = Field(default=None, max_length=40)
    by: str = Field(
        max_length=100,
        description="An organisation (a key), '<organisation>/<person id>' (a person, "
        "`Principal.actor`), or 'signpost' for the system.",
    )
    summary: str = Field(sa_column=Column(Text, nullable=False))
    rationale: str | None = Field(default=None, sa_column=Column(Text, nullable=True))
    directory_version: str | None = Field(default=None, max_length=64)


class RoutingPathway(SQLModel, table=True):
    """A statutory pathway a referral was told to (a Prevent referral, a private
    fostering or children missing education notification): once per referral and
    pathway, whatever later happens to the referral itself."""

    __tablename__ = "routing_pathway"
    __table_args__ = (UniqueConstraint("referral_id", "pathway", name="uq_routing_pathway"),)

    id: int | None = Field(default=None, sa_column=_serial())
    referral_id: str = Field(index=True, max_length=40)
    pathway: str = Field(max_length=40)
    concern_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    destination_kind: str = Field(max_length=16)
    destination_id: str = Field(max_length=64)
    destination_organisation: str = Field(max_length=64, index=True)
    destination_name: str = Field(max_length=200)
    reason_code: str = Field(max_length=40)
    explanation: str = Field(sa_column=Column(Text, nullable=False))
    directory_version: str = Field(max_length=64)
    notified_at: datetime


class RoutingDeadline(SQLModel, table=True):
    """When an agency must have answered a request, else the hub takes the referral.

    `state`: pending until the agency answers (resolved) or the scheduler escalates
    (fired). Kept in the database so the clock survives restarts.
    """

    __tablename__ = "routing_deadline"
    __table_args__ = (Index("ix_routing_deadline_due", "state", "due_at"),)

    id: int | None = Field(default=None, sa_column=_serial())
    referral_id: str = Field(index=True, max_length=40)
    destination_id: str = Field(max_length=64)
    due_at: datetime
    state: str = Field(default="pending", max_length=10)
    created_at: datetime
    closed_at: datetime | None = None


class DirectoryVersion(SQLModel, table=True):
    """One version of the agency directory, kept whole so a decision can be re-read
    against exactly the directory it used."""

    __tablename__ = "routing_directory_version"

    seq: int | None = Field(default=None, sa_column=_serial())
    version: str = Field(max_length=64, unique=True)
    area: str = Field(max_length=200)
    source: str = Field(max_length=40, description="seed, file, api, agency, oruk-import")
    changed_by: str = Field(max_length=100)
    note: str = Field(default="", sa_column=Column(Text, nullable=False, server_default=""))
    created_at: datetime
    document: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
