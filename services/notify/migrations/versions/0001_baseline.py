"""Baseline: notify's schema as the last release before migrations made it.

Subscriptions, deliveries and their attempts, Operation Encompass notices, reads of
them, the outbox and the inbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from shared.migrations import baseline, create_outbox_and_inbox, create_read_audit

revision, down_revision, branch_labels, depends_on = "0001_baseline", None, None, None


def create_schema(ops: Operations) -> None:
    create_outbox_and_inbox(ops)
    create_read_audit(ops)
    ops.create_table(
        "delivery",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("referral_id", sa.String(length=40), nullable=True),
        sa.Column("event_type", sa.String(length=100), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivered_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_response_status", sa.Integer(), nullable=True),
        sa.Column("replays", sa.Integer(), nullable=True),
        sa.Column("notice_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    ops.create_index(
        "ix_delivery_pair", "delivery", ["subscription_id", "referral_id", "seq"], unique=False
    )
    ops.create_index("ix_delivery_status", "delivery", ["status"], unique=False)
    ops.create_index("ix_delivery_subscription_id", "delivery", ["subscription_id"], unique=False)
    ops.create_table(
        "delivery_attempt",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=False),
        sa.Column("attempted_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("response_status", sa.Integer(), nullable=True),
        sa.Column("error", sa.String(length=200), nullable=True),
        sa.Column("duration_ms", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index(
        "ix_delivery_attempt_delivery_id", "delivery_attempt", ["delivery_id"], unique=False
    )
    ops.create_table(
        "encompass_notice",
        sa.Column("seq", sa.Integer(), nullable=False),
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("referrer_organisation", sa.String(length=64), nullable=False),
        sa.Column("recipient_organisation", sa.String(length=64), nullable=False),
        sa.Column("recipient_kind", sa.String(length=20), nullable=False),
        sa.Column("school_urn", sa.String(length=6), nullable=True),
        sa.Column("body", sa.JSON(), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("notify_by", sa.DateTime(timezone=True), nullable=False),
        sa.Column("calendar_covered", sa.Boolean(), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("notified_via", sa.String(length=20), nullable=True),
        sa.Column("missed_alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("unreachable_alerted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("content_removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("superseded_by", sa.String(length=40), nullable=True),
        sa.Column("supersedes", sa.JSON(), nullable=True),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("id"),
    )
    ops.create_index(
        "ix_encompass_notice_notify_by", "encompass_notice", ["notify_by"], unique=False
    )
    ops.create_index(
        "ix_encompass_notice_recipient_organisation",
        "encompass_notice",
        ["recipient_organisation"],
        unique=False,
    )
    ops.create_index(
        "ix_encompass_notice_referral_id", "encompass_notice", ["referral_id"], unique=False
    )
    ops.create_table(
        "subscription",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("client_kind", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("event_types", sa.JSON(), nullable=False),
        sa.Column("secret", sa.String(length=100), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("event_filter", sa.JSON(), nullable=True),
        sa.Column("previous_secret", sa.String(length=100), nullable=True),
        sa.Column("previous_secret_expires_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("flagged_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("throttled_until", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index("ix_subscription_organisation", "subscription", ["organisation"], unique=False)


upgrade, downgrade = baseline(create_schema)
