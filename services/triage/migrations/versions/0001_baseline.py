"""Baseline: triage's schema as the last release before migrations made it.

The subject index, decisions, overrides, the outbox and the inbox.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from shared.migrations import baseline, create_outbox_and_inbox

revision, down_revision, branch_labels, depends_on = "0001_baseline", None, None, None


def create_schema(ops: Operations) -> None:
    create_outbox_and_inbox(ops)
    ops.create_table(
        "triage_decision",
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("partition_key", sa.String(length=64), nullable=False),
        sa.Column("household_key", sa.String(length=64), nullable=True),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("decided_level", sa.Integer(), nullable=False),
        sa.Column("decided_priority", sa.String(length=8), nullable=False),
        sa.Column("level_name", sa.String(length=80), nullable=False),
        sa.Column("score", sa.Integer(), nullable=False),
        sa.Column("reasons", sa.JSON(), nullable=False),
        sa.Column("factors", sa.JSON(), nullable=False),
        sa.Column("rules", sa.JSON(), nullable=False),
        sa.Column("rationale", sa.String(), nullable=False),
        sa.Column("policy_id", sa.String(length=40), nullable=False),
        sa.Column("policy_version", sa.String(length=40), nullable=False),
        sa.Column("concern_codes", sa.JSON(), nullable=False),
        sa.Column("member_flags", sa.JSON(), nullable=False),
        sa.Column("immediate_risk", sa.Boolean(), nullable=False),
        sa.Column("reported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decide_by", sa.DateTime(timezone=True), nullable=True),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("source_kind", sa.String(length=16), nullable=False),
        sa.Column("referrer_organisation", sa.String(length=64), nullable=False),
        sa.Column("child_age_years", sa.Integer(), nullable=True),
        sa.Column("postcode_district", sa.String(length=4), nullable=True),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    ops.create_index(
        "ix_triage_decision_household_key",
        "triage_decision",
        ["household_key"],
        unique=False,
    )
    ops.create_index(
        "ix_triage_decision_reported_at", "triage_decision", ["reported_at"], unique=False
    )
    ops.create_index(
        "ix_triage_decision_subject_key", "triage_decision", ["subject_key"], unique=False
    )
    ops.create_table(
        "triage_override",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("from_level", sa.Integer(), nullable=False),
        sa.Column("to_level", sa.Integer(), nullable=False),
        sa.Column("priority", sa.String(length=8), nullable=False),
        sa.Column("rationale", sa.String(), nullable=False),
        sa.Column("by_client_id", sa.String(length=40), nullable=False),
        sa.Column("by_name", sa.String(length=200), nullable=False),
        sa.Column("by_organisation", sa.String(length=100), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("decide_by", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index(
        "ix_triage_override_referral_id", "triage_override", ["referral_id"], unique=False
    )
    ops.create_table(
        "triage_subject",
        sa.Column("key", sa.String(length=64), nullable=False),
        sa.Column("household_key", sa.String(length=64), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("key"),
    )
    ops.create_index(
        "ix_triage_subject_household_key", "triage_subject", ["household_key"], unique=False
    )
    ops.create_table(
        "triage_subject_identity",
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("subject_key", sa.String(length=64), nullable=False),
        sa.Column("given_name", sa.String(length=100), nullable=False),
        sa.Column("family_name", sa.String(length=100), nullable=False),
        sa.Column("date_of_birth", sa.Date(), nullable=False),
        sa.Column("postcode", sa.String(length=8), nullable=True),
        sa.Column("upn", sa.String(length=13), nullable=True),
        sa.Column("members", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("referral_id"),
    )
    ops.create_index(
        "ix_triage_subject_identity_date_of_birth",
        "triage_subject_identity",
        ["date_of_birth"],
        unique=False,
    )
    ops.create_index(
        "ix_triage_subject_identity_postcode",
        "triage_subject_identity",
        ["postcode"],
        unique=False,
    )
    ops.create_index(
        "ix_triage_subject_identity_subject_key",
        "triage_subject_identity",
        ["subject_key"],
        unique=False,
    )
    ops.create_index(
        "ix_triage_subject_identity_upn", "triage_subject_identity", ["upn"], unique=False
    )


upgrade, downgrade = baseline(create_schema)
