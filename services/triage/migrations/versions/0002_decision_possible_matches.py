"""Decisions keep the earlier records perhaps about the same child (matching's
POSSIBLE: found, shown to a practitioner, never counted).

Nullable: a decision made before has none recorded. A column already there is left
alone (a database adopted from `create_all` may have it).

Revision ID: 0002_decision_possible_matches
Revises: 0001_baseline
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002_decision_possible_matches"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("triage_decision")}
    if "possible_matches" not in present:
        op.add_column("triage_decision", sa.Column("possible_matches", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("triage_decision") as table:
        table.drop_column("possible_matches")
