"""Statutory pathways each report was told to (issue 13): the pathway's destination
may read the report, and the referrer's journey names it.

A new table; one already there is left alone (a database adopted from `create_all`
may have it).

Revision ID: 0003_report_pathway
Revises: 0002_idempotency_created_at
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_report_pathway"
down_revision: str | None = "0002_idempotency_created_at"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("report_pathway"):
        return
    op.create_table(
        "report_pathway",
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("pathway", sa.String(length=40), nullable=False),
        sa.Column("organisation", sa.String(length=64), nullable=False),
        sa.Column("destination_kind", sa.String(length=16), nullable=False),
        sa.Column("destination_name", sa.String(length=200), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("referral_id", "pathway"),
    )
    op.create_index("ix_report_pathway_organisation", "report_pathway", ["organisation"])


def downgrade() -> None:
    op.drop_table("report_pathway")
