"""Intake's tables: reports as received, their versions, the journey the referrer sees,
the statutory pathways each was told to, idempotency keys."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, UniqueConstraint
from sqlmodel import Field, SQLModel


class Report(SQLModel, table=True):
    """A concern report as accepted; its personal data stays in intake."""

    __tablename__ = "report"
    # An organisation's own reports, newest first (GET /v1/reports): one index range
    # per page, whatever the page (migration 0004).
    __table_args__ = (
        Index("ix_report_organisation_received_at", "organisation", "received_at", "referral_id"),
    )

    referral_id: str = Field(primary_key=True, max_length=40)
    client_id: str = Field(index=True, max_length=40)
    organisation: str = Field(max_length=64)
    source_kind: str = Field(max_length=16)
    source_reference: str = Field(max_length=64, index=True)
    subject_key: str = Field(max_length=64, index=True)
    payload: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    status: str = Field(default="received", max_length=20)
    level: int | None = None
    priority: str | None = Field(default=None, max_length=8)
    destination_kind: str | None = Field(default=None, max_length=16)
    destination_name: str | None = Field(default=None, max_length=200)
    received_at: datetime
    updated_at: datetime
    # The organisation the referral is addressed to now (None: universal services or
    # not routed yet), as of the latest `referral.routed`: it may read the report.
    destination_organisation: str | None = Field(default=None, max_length=64)
    destination_routed_at: datetime | None = None


class ReportPathway(SQLModel, table=True):
    """A statutory pathway the referral was told to (`referral.pathway`): its
    destination's organisation may read the report, as the referral's own may."""

    __tablename__ = "report_pathway"

    referral_id: str = Field(primary_key=True, max_length=40)
    pathway: str = Field(primary_key=True, max_length=40)
    organisation: str = Field(max_length=64, index=True)
    destination_kind: str = Field(max_length=16)
    destination_name: str = Field(max_length=200)
    notified_at: datetime


class JourneyStep(SQLModel, table=True):
    """One step of a referral's journey, phrased for the referrer."""

    __tablename__ = "journey_step"

    id: int | None = Field(default=None, primary_key=True)
    referral_id: str = Field(index=True, max_length=40)
    status: str = Field(max_length=20)
    at: datetime
    summary: str = Field(max_length=500)
    ce_id: str | None = Field(default=None, max_length=100)


class IdempotencyRecord(SQLModel, table=True):
    """The first answer given to a client's Idempotency-Key, replayed on a retry."""

    __tablename__ = "idempotency_key"

    client_id: str = Field(primary_key=True, max_length=40)
    key: str = Field(primary_key=True, max_length=200)
    request_sha256: str = Field(max_length=64)
    status_code: int
    response: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    created_at: datetime = Field(index=True)


class ReportVersion(SQLModel, table=True):
    """Each report under an organisation's own reference, linking a resubmission to the
    version it replaces; `supersedes` is "" for the first, so the unique constraint lets
    only one resubmission follow each version, even under concurrent requests."""

    __tablename__ = "report_version"
    __table_args__ = (UniqueConstraint("organisation", "source_reference", "supersedes"),)

    referral_id: str = Field(primary_key=True, max_length=40)
    organisation: str = Field(max_length=64)
    source_reference: str = Field(max_length=64)
    body_sha256: str = Field(max_length=64)
    supersedes: str = Field(default="", max_length=40, index=True)
    received_at: datetime
