"""Index the pending deliveries (issue 18): the dispatcher's claim takes the oldest
pending delivery of each (subscription, referral) pair, and used to read every delivery
a subscription had ever had to prove that no earlier one of the pair still waits. A
partial index of the pending deliveries alone, by subscription, referral and sequence,
makes the claim read only what waits, however many deliveries went before. A database
whose tables the models' `create_all` made already has it.

Revision ID: 0006_pending_deliveries
Revises: 0005_delivery_trace
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_pending_deliveries"
down_revision: str | None = "0005_delivery_trace"
branch_labels: str | None = None
depends_on: str | None = None


NAME = "ix_delivery_pending"
PENDING = "status = 'pending'"


def upgrade() -> None:
    op.create_index(
        NAME,
        "delivery",
        ["subscription_id", sa.text("coalesce(referral_id, '')"), "seq"],
        unique=False,
        if_not_exists=True,
        postgresql_where=sa.text(PENDING),
        sqlite_where=sa.text(PENDING),
    )


def downgrade() -> None:
    op.drop_index(NAME, table_name="delivery")
