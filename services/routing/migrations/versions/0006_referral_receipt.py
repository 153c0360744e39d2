"""What routing keeps for the partnership measures (issue 16): when intake received the
report (from `referral.triaged`), the kind of source that made it, and the local
authority routing placed the child in, so the time from receipt to an agency's accept
and the measures by area and source come from routing's own table.

Nullable columns (a referral routed before has none: the measures fall back to when it
was first routed) and an index on the receipt time the measures select a period by; a
column or index already there is left alone (a database adopted from `create_all` may
have them).

Revision ID: 0006_referral_receipt
Revises: 0005_referral_list_index
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_referral_receipt"
down_revision: str | None = "0005_referral_list_index"
branch_labels: str | None = None
depends_on: str | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("received_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("source_kind", sa.String(length=16), nullable=True),
        sa.Column("local_authority_code", sa.String(length=9), nullable=True),
    ]


INDEX = "ix_routing_decision_received_at"


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("routing_decision")}
    for column in _columns():
        if column.name not in present:
            op.add_column("routing_decision", column)
    op.create_index(INDEX, "routing_decision", ["received_at"], unique=False, if_not_exists=True)


def downgrade() -> None:
    op.drop_index(INDEX, table_name="routing_decision")
    with op.batch_alter_table("routing_decision") as table:
        for column in reversed(_columns()):
            table.drop_column(column.name)
