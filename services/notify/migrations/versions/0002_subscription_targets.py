"""Subscriptions gain the demo's `local_target` allowance and the partner's own headers
(their names, and the headers sealed with NOTIFY_SECRETS_KEY).

All three columns are nullable: an existing subscription has none of them. A column
already there is left alone (a database adopted from `create_all` may have them).

Revision ID: 0002_subscription_targets
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_subscription_targets"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def _columns() -> list[sa.Column[object]]:
    return [
        sa.Column("local_target", sa.Boolean(), nullable=True),
        sa.Column("header_names", sa.JSON(), nullable=True),
        sa.Column("sealed_headers", sa.Text(), nullable=True),
    ]


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("subscription")}
    for column in _columns():
        if column.name not in present:
            op.add_column("subscription", column)


def downgrade() -> None:
    with op.batch_alter_table("subscription") as table:
        for column in reversed(_columns()):
            table.drop_column(column.name)
