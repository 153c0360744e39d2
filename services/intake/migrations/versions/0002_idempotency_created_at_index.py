"""Index the idempotency records' creation time.

Intake's retention loop deletes the records older than
INTAKE_IDEMPOTENCY_RETENTION_HOURS every few minutes: without this index each run
reads the whole table.

Revision ID: 0002_idempotency_created_at
Revises: 0001_baseline
"""

from __future__ import annotations

from alembic import op

revision = "0002_idempotency_created_at"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_idempotency_key_created_at",
        "idempotency_key",
        ["created_at"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_idempotency_key_created_at", table_name="idempotency_key")
