"""Index the routing decision's destination organisation.

The model has declared the index since the closed-loop issue, but `create_all` never
adds an index to a table that already exists, so a database made before then lacks
it (one made after has it): create it only where it is missing.

Revision ID: 0002_destination_org_index
Revises: 0001_baseline
"""

from __future__ import annotations

from alembic import op

revision = "0002_destination_org_index"
down_revision: str | None = "0001_baseline"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_routing_decision_destination_organisation",
        "routing_decision",
        ["destination_organisation"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    # The baseline already has the index (it is today's schema): nothing to undo.
    pass
