"""Triage's tables: one decision per referral, indexed by subject for history."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import JSON, Column
from sqlmodel import Field, SQLModel


class TriageDecision(SQLModel, table=True):
    __tablename__ = "triage_decision"

    referral_id: str = Field(primary_key=True, max_length=40)
    subject_key: str = Field(index=True, max_length=64)
    level: int
    priority: str = Field(max_length=8)
    reasons: list[str] = Field(sa_column=Column(JSON, nullable=False))
    policy_version: str = Field(max_length=40)
    concern_codes: list[str] = Field(sa_column=Column(JSON, nullable=False))
    reported_at: datetime = Field(index=True)
    decided_at: datetime
