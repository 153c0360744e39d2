"""Tracing (issue 16): a delivery keeps the W3C trace context (`traceparent`,
`tracestate`) of the handling that queued it, so its webhook POSTs, sent later by the
dispatcher, continue the referral's trace.

Both columns are nullable (a delivery queued before has none, and is sent in a trace of
its own); a column already there is left alone (a database adopted from `create_all`
may have them).

Revision ID: 0005_delivery_trace
Revises: 0004_list_indexes
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005_delivery_trace"
down_revision: str | None = "0004_list_indexes"
branch_labels: str | None = None
depends_on: str | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("traceparent", sa.String(length=100), nullable=True),
        sa.Column("tracestate", sa.String(length=512), nullable=True),
    ]


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("delivery")}
    for column in _columns():
        if column.name not in present:
            op.add_column("delivery", column)


def downgrade() -> None:
    with op.batch_alter_table("delivery") as table:
        for column in reversed(_columns()):
            table.drop_column(column.name)
