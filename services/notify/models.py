"""Notify's tables: subscriptions and who changed them, deliveries (one per event per
subscription) and every attempt made to deliver them, Operation Encompass notices.

Columns added after v1 are nullable so an existing database grows additively.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Column, Index, Text, text
from sqlmodel import Field, SQLModel

# The index of pending deliveries, and the SQL its queries must repeat word for word to
# use it (both databases match a partial index's condition and an indexed expression
# only when the query spells them the same way, not through a bound parameter).
PENDING_INDEX = "ix_delivery_pending"
PENDING_LITERAL = "'pending'"
NO_REFERRAL_LITERAL = "''"
PENDING = f"status = {PENDING_LITERAL}"
PAIR_REFERRAL = f"coalesce(referral_id, {NO_REFERRAL_LITERAL})"


class WebhookSubscription(SQLModel, table=True):
    """A partner organisation's endpoint and what it wants to hear.

    `status` is `active`, `paused` (deliveries are queued and held until resumed) or
    `disabled` (the endpoint answered 410 Gone; nothing new is queued).
    """

    __tablename__ = "subscription"

    id: str = Field(primary_key=True, max_length=40)
    organisation: str = Field(index=True, max_length=64)
    client_kind: str = Field(max_length=16)
    client_id: str = Field(max_length=40)
    url: str = Field(max_length=2000)
    event_types: list[str] = Field(sa_column=Column(JSON, nullable=False))
    secret: str = Field(max_length=100)
    status: str = Field(default="active", max_length=16)
    created_at: datetime
    # Optional narrowing of what the subscription hears (see `SubscriptionFilter`).
    event_filter: dict[str, Any] | None = Field(default=None, sa_column=Column(JSON))
    # After a rotation the old secret still signs, beside the new one, until then.
    previous_secret: str | None = Field(default=None, max_length=100)
    previous_secret_expires_at: datetime | None = None
    # Set when a delivery is parked (the schedule is spent): someone should look.
    flagged_at: datetime | None = None
    # The partner asked us to slow down (429, 502, 504): nothing is sent before then.
    throttled_until: datetime | None = None
    # Set only for the embedded demo's own sink: this subscription alone may deliver to
    # a loopback or private address over plain http (never through the API).
    local_target: bool | None = None
    # Headers the partner asked to receive with each delivery (credentials: an
    # Authorization or API key header): their names in the clear, the headers sealed
    # (encrypted and authenticated with NOTIFY_SECRETS_KEY). Never shown back.
    header_names: list[str] | None = Field(default=None, sa_column=Column(JSON))
    sealed_headers: str | None = Field(default=None, sa_column=Column(Text))


class Delivery(SQLModel, table=True):
    """One notification for one subscription; its id is the stable `webhook-id`.

    `status` is `pending`, `delivered`, `parked` (the schedule is spent, or the
    endpoint is gone; replayable) or `cancelled` (its subscription was deleted).
    """

    __tablename__ = "delivery"
    __table_args__ = (
        Index("ix_delivery_pair", "subscription_id", "referral_id", "seq"),
        # `GET /v1/deliveries`: a subscription's deliveries, oldest first, a page at a time.
        Index("ix_delivery_listed", "subscription_id", "created_at", "id"),
        # The dispatcher's claim (`repository.due_heads`): the pending deliveries alone,
        # each pair's in order, so a claim reads what waits and never what was sent,
        # however many deliveries a subscription has had (migration 0006).
        Index(
            PENDING_INDEX,
            "subscription_id",
            text(PAIR_REFERRAL),
            "seq",
            postgresql_where=text(PENDING),
            sqlite_where=text(PENDING),
        ),
    )

    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=40)
    subscription_id: str = Field(index=True, max_length=40)
    referral_id: str | None = Field(default=None, max_length=40)
    event_type: str = Field(max_length=100)
    body: str = Field(sa_column=Column(Text, nullable=False))
    status: str = Field(default="pending", max_length=16, index=True)
    attempts: int = 0
    next_attempt_at: datetime
    created_at: datetime
    delivered_at: datetime | None = None
    last_response_status: int | None = None
    replays: int | None = Field(default=0)
    # The Operation Encompass notice this delivery carries, if it carries one.
    notice_id: str | None = Field(default=None, max_length=40)
    # The trace of the handling (or request) that queued it, W3C `traceparent` and
    # `tracestate`: its POSTs, sent later by the dispatcher, continue that trace.
    traceparent: str | None = Field(default=None, max_length=100)
    tracestate: str | None = Field(default=None, max_length=512)


class DeliveryAttempt(SQLModel, table=True):
    __tablename__ = "delivery_attempt"

    id: int | None = Field(default=None, primary_key=True)
    delivery_id: str = Field(index=True, max_length=40)
    attempted_at: datetime
    response_status: int | None = None
    error: str | None = Field(default=None, max_length=200)
    duration_ms: int = 0


class EncompassNoticeRecord(SQLModel, table=True):
    """An Operation Encompass notice: who must hear of it, by when, and whether they have.

    `body` is the notice as intake sent it (personal data: it is what the recipient
    fetches through the API, cut down by the sharing policy). `notified_via` is
    `webhook` (a delivery was answered 2xx) or `acknowledged` (the recipient said so
    through the API). Each alert is raised once: its time is kept here.
    """

    __tablename__ = "encompass_notice"
    # `GET /v1/encompass/notices`: a recipient's notices, newest first, a page at a time.
    __table_args__ = (
        Index("ix_encompass_notice_listed", "recipient_organisation", "received_at", "id"),
    )

    # Assigned as notify records the notice: the cursor a polling school resumes from
    # (ids and intake's clock do not order notices that arrive out of order).
    seq: int | None = Field(default=None, primary_key=True)
    id: str = Field(unique=True, max_length=40)
    referral_id: str = Field(index=True, max_length=40)
    referrer_organisation: str = Field(max_length=64)
    recipient_organisation: str = Field(index=True, max_length=64)
    recipient_kind: str = Field(max_length=20)
    school_urn: str | None = Field(default=None, max_length=6)
    body: dict[str, Any] = Field(sa_column=Column(JSON, nullable=False))
    received_at: datetime
    notify_by: datetime = Field(index=True)
    calendar_covered: bool = True
    notified_at: datetime | None = None
    notified_via: str | None = Field(default=None, max_length=20)
    missed_alerted_at: datetime | None = None
    unreachable_alerted_at: datetime | None = None
    # When the child's details were removed (NOTIFY_ENCOMPASS_RETENTION_DAYS after the
    # recipient had the notice); `body` then keeps ids only.
    content_removed_at: datetime | None = None
    # The notice from a corrected report that replaced this one (same child, same
    # recipient): this one is no longer waited for.
    superseded_by: str | None = Field(default=None, max_length=40)
    # The earlier versions of the police report this notice's report replaces.
    supersedes: list[str] | None = Field(default=None, sa_column=Column(JSON))
    # Who said the recipient's DSL has it, when `notified_via` is `acknowledged`
    # (`Principal.actor`: the school's organisation for its key, `<organisation>/<person
    # id>` for a person through the console).
    acknowledged_by: str | None = Field(default=None, max_length=100)


class SubscriptionChange(SQLModel, table=True):
    """Who changed one of an organisation's subscriptions, how and when (created,
    paused, resumed, secret_rotated, pinged, replayed, deleted): kept after the
    subscription itself is deleted. Who is recorded as the audit of reads records it: the
    organisation, the kind, and the key's id or the person's."""

    __tablename__ = "subscription_change"

    id: int | None = Field(default=None, primary_key=True)
    subscription_id: str = Field(index=True, max_length=40)
    action: str = Field(max_length=20)
    organisation: str = Field(max_length=100)
    client_kind: str = Field(max_length=16)
    client_id: str = Field(max_length=40)
    at: datetime
    # The delivery a ping queued or a replay sent again.
    delivery_id: str | None = Field(default=None, max_length=40)
