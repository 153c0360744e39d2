"""Practitioners' verdicts on matches (confirm or split a referral's link to a child,
fed back to matching), and the record of each read of a child's chronology.

Both tables are new; a table already there is left alone (a database adopted from
`create_all` may have it, and `read_audit` is the one intake and notify keep, which a
deployment pointing every service at one database shares).

Revision ID: 0005_match_verdicts
Revises: 0004_override_approval
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from alembic.operations import Operations

from shared.migrations import create_read_audit

revision = "0005_match_verdicts"
down_revision: str | None = "0004_override_approval"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("triage_match_verdict"):
        op.create_table(
            "triage_match_verdict",
            sa.Column("id", sa.String(length=40), nullable=False),
            sa.Column("subject_key", sa.String(length=64), nullable=False),
            sa.Column("referral_id", sa.String(length=40), nullable=False),
            sa.Column("identity_id", sa.String(length=40), nullable=False),
            sa.Column("other_identity_ids", sa.JSON(), nullable=False),
            sa.Column("verdict", sa.String(length=8), nullable=False),
            sa.Column("rationale", sa.String(), nullable=False),
            sa.Column("by_person_id", sa.String(length=40), nullable=False),
            sa.Column("by_name", sa.String(length=200), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        for column in ("subject_key", "referral_id", "identity_id"):
            op.create_index(
                f"ix_triage_match_verdict_{column}", "triage_match_verdict", [column], unique=False
            )
    if not inspector.has_table("read_audit"):
        create_read_audit(Operations(op.get_context()))


def downgrade() -> None:
    # The record of reads is kept: it may be shared, and an audit trail is not undone.
    op.drop_table("triage_match_verdict")
