"""Who acted (issue 14): who acknowledged an Operation Encompass notice, and a record of
who created, paused, resumed, deleted, rotated the secret of or pinged a subscription,
or replayed one of its deliveries (a system's key or a person through the console).

The column is nullable (a notice acknowledged before it has none) and the table new; a
column or table already there is left alone (a database adopted from `create_all` may
have them).

Revision ID: 0003_who_acted
Revises: 0002_subscription_targets
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_who_acted"
down_revision: str | None = "0002_subscription_targets"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    present = {c["name"] for c in inspector.get_columns("encompass_notice")}
    if "acknowledged_by" not in present:
        op.add_column(
            "encompass_notice", sa.Column("acknowledged_by", sa.String(length=100), nullable=True)
        )
    if inspector.has_table("subscription_change"):
        return
    op.create_table(
        "subscription_change",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("subscription_id", sa.String(length=40), nullable=False),
        sa.Column("action", sa.String(length=20), nullable=False),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("client_kind", sa.String(length=16), nullable=False),
        sa.Column("client_id", sa.String(length=40), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("delivery_id", sa.String(length=40), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(
        "ix_subscription_change_subscription_id",
        "subscription_change",
        ["subscription_id"],
        unique=False,
    )


def downgrade() -> None:
    op.drop_table("subscription_change")
    with op.batch_alter_table("encompass_notice") as table:
        table.drop_column("acknowledged_by")
