"""Baseline: routing's schema as the last release before migrations made it.

Decisions, their steps and deadlines, the directory's versions, the outbox and the
inbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from shared.migrations import baseline, big_serial, create_outbox_and_inbox

revision, down_revision, branch_labels, depends_on = "0001_baseline", None, None, None


def create_schema(ops: Operations) -> None:
    create_outbox_and_inbox(ops)
    ops.create_table(
        "routing_deadline",
        big_serial("id"),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("destination_id", sa.String(length=64), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("state", sa.String(length=10), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("closed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index(
        "ix_routing_deadline_due", "routing_deadline", ["state", "due_at"], unique=False
    )
    ops.create_index(
        "ix_routing_deadline_referral_id", "routing_deadline", ["referral_id"], unique=False
    )
    ops.create_table(
        "routing_decision",
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("destination_kind", sa.String(length=16), nullable=False),
        sa.Column("destination_id", sa.String(length=64), nullable=True),
        sa.Column("reason_codes", sa.JSON(), nullable=False),
        sa.Column("considered", sa.JSON(), nullable=False),
        sa.Column("directory_version", sa.String(length=64), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("routed_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("respond_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("triage_revision", sa.Integer(), server_default="0", nullable=False),
        sa.Column("destination_organisation", sa.String(length=64), nullable=True),
        sa.Column("destination_name", sa.String(length=200), nullable=True),
        sa.Column("referrer_organisation", sa.String(length=100), nullable=True),
        sa.Column("explanation", sa.Text(), server_default="", nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    ops.create_index(
        "ix_routing_decision_destination_id",
        "routing_decision",
        ["destination_id"],
        unique=False,
    )
    ops.create_index(
        "ix_routing_decision_destination_organisation",
        "routing_decision",
        ["destination_organisation"],
        unique=False,
    )
    ops.create_index(
        "ix_routing_decision_subject_key", "routing_decision", ["subject_key"], unique=False
    )
    ops.create_table(
        "routing_directory_version",
        big_serial("seq"),
        sa.Column("version", sa.String(length=64), nullable=False),
        sa.Column("area", sa.String(length=200), nullable=False),
        sa.Column("source", sa.String(length=40), nullable=False),
        sa.Column("changed_by", sa.String(length=100), nullable=False),
        sa.Column("note", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("document", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("seq"),
        sa.UniqueConstraint("version"),
    )
    ops.create_table(
        "routing_step",
        big_serial("id"),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("destination_kind", sa.String(length=16), nullable=True),
        sa.Column("destination_id", sa.String(length=64), nullable=True),
        sa.Column("reason_code", sa.String(length=40), nullable=True),
        sa.Column("by", sa.String(length=100), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("rationale", sa.Text(), nullable=True),
        sa.Column("directory_version", sa.String(length=64), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index("ix_routing_step_referral_id", "routing_step", ["referral_id"], unique=False)


upgrade, downgrade = baseline(create_schema)
