"""A second person's approval for stepping a statutory referral down: a practitioner's
request to lower a decision from the policy's statutory level waits, as a row of its
own, until another person approves or refuses it (or the requester withdraws it).

The table is new; a table already there is left alone (a database adopted from
`create_all` may have it).

Revision ID: 0004_override_approval
Revises: 0003_decision_suspected_concerns
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_override_approval"
down_revision: str | None = "0003_decision_suspected_concerns"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("triage_override_request"):
        return
    op.create_table(
        "triage_override_request",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("revision", sa.Integer(), nullable=False),
        sa.Column("from_level", sa.Integer(), nullable=False),
        sa.Column("to_level", sa.Integer(), nullable=False),
        sa.Column("rationale", sa.String(), nullable=False),
        sa.Column("requested_by", sa.String(length=100), nullable=False),
        sa.Column("requested_by_name", sa.String(length=200), nullable=False),
        sa.Column("requested_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("decided_by", sa.String(length=100), nullable=True),
        sa.Column("decided_by_name", sa.String(length=200), nullable=True),
        sa.Column("decided_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("decision_note", sa.String(), nullable=True),
        sa.Column("override_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_triage_override_request_referral_id",
        "triage_override_request",
        ["referral_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("triage_override_request")
