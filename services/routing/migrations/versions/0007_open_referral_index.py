"""Index the open referrals by destination (issue 18).

Before every batch of routing decisions routing counts each destination's open
referrals (requested, accepted or in progress) against its capacity. Without an index
of them that count read every referral ever routed, closed ones included, and grew
with each. A partial index of the open referrals alone makes it read only those. A
database whose tables the model's `create_all` made already has it.

Revision ID: 0007_open_referral_index
Revises: 0006_referral_receipt
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_open_referral_index"
down_revision: str | None = "0006_referral_receipt"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_routing_decision_open"
OPEN = "status IN ('requested', 'accepted', 'in-progress')"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "routing_decision",
        ["destination_id"],
        unique=False,
        if_not_exists=True,
        postgresql_where=sa.text(OPEN),
        sqlite_where=sa.text(OPEN),
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="routing_decision")
