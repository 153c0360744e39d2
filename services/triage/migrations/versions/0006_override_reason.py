"""Overrides, and requests to lower the statutory level, keep why as a reason code
(`shared/override_reasons.py`) beside the free-text rationale: the
`overrides` partnership measure counts them by it.

Nullable: an override made before has none ("not given"), and a caller may still give
none. A column already there is left alone (a database adopted from `create_all` may
have it).

Revision ID: 0006_override_reason
Revises: 0005_match_verdicts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006_override_reason"
down_revision: str | None = "0005_match_verdicts"
branch_labels: str | None = None
depends_on: str | None = None

TABLES = ("triage_override", "triage_override_request")


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    for table in TABLES:
        present = {c["name"] for c in inspector.get_columns(table)}
        if "reason_code" not in present:
            op.add_column(table, sa.Column("reason_code", sa.String(length=40), nullable=True))


def downgrade() -> None:
    for table in TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("reason_code")
