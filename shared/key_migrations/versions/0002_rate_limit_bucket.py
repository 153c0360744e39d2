"""The per-key rate-limit buckets every replica of every service shares.

In distributed mode the token buckets of `shared.ratelimit` live beside the keys, in
the one database every service already reads, so N replicas allow the configured rate
rather than N times it. On PostgreSQL the table is UNLOGGED: a bucket is not worth a
disk flush on every request, and a crash only refills the buckets.

Revision ID: 0002_rate_limit_bucket
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_rate_limit_bucket"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    unlogged = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "rate_limit_bucket",
        sa.Column("bucket", sa.String(length=200), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("bucket"),
        prefixes=["UNLOGGED"] if unlogged else [],
    )


def downgrade() -> None:
    op.drop_table("rate_limit_bucket")
