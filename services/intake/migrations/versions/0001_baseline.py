"""Baseline: intake's schema as the last release before migrations made it.

Reports, their versions, journeys, idempotency keys, reads of reports, the outbox and
the inbox.
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
        "idempotency_key",
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("request_sha256", sa.String(length=64), nullable=False),
        sa.Column("status_code", sa.Integer(), nullable=False),
        sa.Column("response", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("client_id", "key"),
    )
    ops.create_table(
        "journey_step",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("summary", sa.String(length=500), nullable=False),
        sa.Column("ce_id", sa.String(length=100), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index("ix_journey_step_referral_id", "journey_step", ["referral_id"], unique=False)
    ops.create_table(
        "report",
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("source_reference", sa.String(length=64), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("payload", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("level", sa.Integer(), nullable=True),
        sa.Column("priority", sa.String(length=8), nullable=True),
        sa.Column("destination_kind", sa.String(length=16), nullable=True),
        sa.Column("destination_name", sa.String(length=200), nullable=True),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("destination_organisation", sa.String(length=64), nullable=True),
        sa.Column("destination_routed_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    ops.create_index("ix_report_client_id", "report", ["client_id"], unique=False)
    ops.create_index("ix_report_source_reference", "report", ["source_reference"], unique=False)
    ops.create_index("ix_report_subject_key", "report", ["subject_key"], unique=False)
    ops.create_table(
        "report_version",
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("source_reference", sa.String(length=64), nullable=False),
        sa.Column("body_sha256", sa.String(length=64), nullable=False),
        sa.Column("supersedes", sa.String(length=40), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
        sa.UniqueConstraint("organisation", "source_reference", "supersedes"),
    )
    ops.create_index("ix_report_version_supersedes", "report_version", ["supersedes"], unique=False)


upgrade, downgrade = baseline(create_schema)
