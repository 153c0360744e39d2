"""Decisions keep the concerns a report's narrative names that its codes do not
(narrative review: the decision needs a practitioner's review, its level unchanged).

Nullable: a decision made before has none recorded. A column already there is left
alone (a database adopted from `create_all` may have it).

Revision ID: 0003_decision_suspected_concerns
Revises: 0002_decision_possible_matches
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003_decision_suspected_concerns"
down_revision: str | None = "0002_decision_possible_matches"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    present = {c["name"] for c in sa.inspect(op.get_bind()).get_columns("triage_decision")}
    if "suspected_concerns" not in present:
        op.add_column("triage_decision", sa.Column("suspected_concerns", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("triage_decision") as table:
        table.drop_column("suspected_concerns")
