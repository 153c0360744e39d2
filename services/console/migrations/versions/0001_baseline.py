"""Baseline: the console's schema as it first shipped (issue 14): people, their
sessions, the outbox and the inbox.

Revision ID: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from shared.migrations import baseline, create_outbox_and_inbox

revision, down_revision, branch_labels, depends_on = "0001_baseline", None, None, None


def create_schema(ops: Operations) -> None:
    create_outbox_and_inbox(ops)
    ops.create_table(
        "console_person",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("email", sa.String(length=254), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("roles", sa.JSON(), nullable=False),
        sa.Column("password_hash", sa.String(length=200), nullable=True),
        sa.Column("oidc_subject", sa.String(length=255), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("disabled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("sessions_valid_from", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("email"),
        sa.UniqueConstraint("oidc_subject"),
    )
    ops.create_index(
        "ix_console_person_organisation", "console_person", ["organisation"], unique=False
    )
    ops.create_table(
        "console_session",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("csrf_token", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("last_seen_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ended_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index("ix_console_session_person_id", "console_session", ["person_id"], unique=False)
    ops.create_index(
        "ix_console_session_expires_at", "console_session", ["expires_at"], unique=False
    )


upgrade, downgrade = baseline(create_schema)
