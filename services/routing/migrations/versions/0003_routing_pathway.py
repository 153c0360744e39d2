"""Statutory pathways: the Prevent referrals, private fostering and children missing
education notifications each referral was told to (issue 13).

A new table; one already there is left alone (a database adopted from `create_all`
may have it).

Revision ID: 0003_routing_pathway
Revises: 0002_destination_org_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from shared.migrations import big_serial

revision = "0003_routing_pathway"
down_revision: str | None = "0002_destination_org_index"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    if sa.inspect(op.get_bind()).has_table("routing_pathway"):
        return
    op.create_table(
        "routing_pathway",
        big_serial("id"),
        sa.Column("referral_id", sa.String(length=40), nullable=False),
        sa.Column("pathway", sa.String(length=40), nullable=False),
        sa.Column("concern_codes", sa.JSON(), nullable=False),
        sa.Column("destination_kind", sa.String(length=16), nullable=False),
        sa.Column("destination_id", sa.String(length=64), nullable=False),
        sa.Column("destination_organisation", sa.String(length=64), nullable=False),
        sa.Column("destination_name", sa.String(length=200), nullable=False),
        sa.Column("reason_code", sa.String(length=40), nullable=False),
        sa.Column("explanation", sa.Text(), nullable=False),
        sa.Column("directory_version", sa.String(length=64), nullable=False),
        sa.Column("notified_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("referral_id", "pathway", name="uq_routing_pathway"),
    )
    op.create_index("ix_routing_pathway_referral_id", "routing_pathway", ["referral_id"])
    op.create_index(
        "ix_routing_pathway_destination_organisation",
        "routing_pathway",
        ["destination_organisation"],
    )


def downgrade() -> None:
    op.drop_table("routing_pathway")
