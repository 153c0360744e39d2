"""Routing's tables: one decision per referral, with the directory version it used."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class RoutingDecision(SQLModel, table=True):
    __tablename__ = "routing_decision"

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
