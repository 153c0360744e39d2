"""Who has a referral (issue 14, the queue): the person of the addressed organisation
who claimed it or was given it, their name, since when and who gave it.

Nullable columns (a referral routed before has nobody) and an index for the queue's
"mine" and "unassigned" filters; a column or index already there is left alone (a
database adopted from `create_all` may have them).

Revision ID: 0004_routing_assignment
Revises: 0003_routing_pathway
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004_routing_assignment"
down_revision: str | None = "0003_routing_pathway"
branch_labels: str | None = None
depends_on: str | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("assigned_person_id", sa.String(length=40), nullable=True),
        sa.Column("assigned_person_name", sa.String(length=200), nullable=True),
        sa.Column("assigned_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("assigned_by", sa.String(length=100), nullable=True),
    ]


INDEX = "ix_routing_decision_assigned_person_id"


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("routing_decision")}
    for column in _columns():
        if column.name not in present:
            op.add_column("routing_decision", column)
    op.create_index(
        INDEX, "routing_decision", ["assigned_person_id"], unique=False, if_not_exists=True
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="routing_decision")
    with op.batch_alter_table("routing_decision") as table:
        for column in reversed(_columns()):
            table.drop_column(column.name)
