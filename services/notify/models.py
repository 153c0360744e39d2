"""Notify's tables: subscriptions, deliveries (one per event per subscription) and
every attempt made to deliver them."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import JSON, Column, Text
from sqlmodel import Field, SQLModel


def utcnow() -> datetime:
    return datetime.now(UTC)


class WebhookSubscription(SQLModel, table=True):
    __tablename__ = "subscription"

    id: str = Field(primary_key=True, max_length=40)
    organisation: str = Field(index=True, max_length=64)
    client_kind: str = Field(max_length=16)
    client_id: str = Field(max_length=40)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=100)
    status: str = Field(default="active", max_length=16)
    created_at: datetime = Field(default_factory=utcnow)


class Delivery(SQLModel, table=True):
    """One notification for one subscription; its id is the stable `webhook-id`."""

    __tablename__ = "delivery"

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=40)
    subscription_id: str = Field(index=True, max_length=40)
    referral_id: str | None = Field(default=None, max_length=40)
    event_type: str = Field(max_length=100)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime = Field(default_factory=utcnow)
    created_at: datetime = Field(default_factory=utcnow)
    delivered_at: datetime | None = None


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(index=True, max_length=40)
    attempted_at: datetime = Field(default_factory=utcnow)
    response_status: int | None = None
    error: str | None = Field(default=None, max_length=200)
    duration_ms: int = 0
