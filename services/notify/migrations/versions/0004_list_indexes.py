"""Index the lists that page from a cursor (issue 15): an organisation's deliveries,
oldest first by `created_at` then `id`, and a recipient's Operation Encompass notices,
newest first by `received_at` then `id`. With them each page is one range of an index,
however many rows there are or however deep the page. A database whose tables the
models' `create_all` made already has them.

Revision ID: 0004_list_indexes
Revises: 0003_who_acted
"""

from __future__ import annotations

from alembic import op

revision = "0004_list_indexes"
down_revision: str | None = "0003_who_acted"
branch_labels: str | None = None
depends_on: str | None = None

INDEXES = {
    "ix_delivery_listed": ("delivery", ["subscription_id", "created_at", "id"]),
    "ix_encompass_notice_listed": (
        "encompass_notice",
        ["recipient_organisation", "received_at", "id"],
    ),
}


def upgrade() -> None:
    for name, (table, columns) in INDEXES.items():
        op.create_index(name, table, columns, unique=False, if_not_exists=True)


def downgrade() -> None:
    for name, (table, _) in INDEXES.items():
        op.drop_index(name, table_name=table)
