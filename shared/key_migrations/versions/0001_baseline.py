"""Baseline: the key registry's schema as the last release before migrations made it.

The one table every service reads.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic.operations import Operations

from shared.migrations import baseline

revision, down_revision, branch_labels, depends_on = "0001_baseline", None, None, None


def create_schema(ops: Operations) -> None:
    ops.create_table(
        "api_key",
        sa.Column("id", sa.String(length=40), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column(
            "kind",
            sa.Enum("POLICE", "SCHOOL", "AGENCY", "HUB", "ADMIN", name="clientkind"),
            nullable=False,
        ),
        sa.Column("organisation", sa.String(length=100), nullable=False),
        sa.Column("scopes", sa.JSON(), nullable=False),
        sa.Column("secret_sha256", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    ops.create_index("ix_api_key_organisation", "api_key", ["organisation"], unique=False)


upgrade, downgrade = baseline(create_schema)
