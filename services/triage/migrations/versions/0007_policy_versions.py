"""Publishing a threshold policy becomes a reviewed act (issue 17): a version drafted
through the API, simulated, approved by a second person from a future time, or
withdrawn; the simulations recorded with it (the summary the approver saw); and the
audit trail of every act on it.

The three tables are new; a table already there is left alone (a database adopted from
`create_all` may have it).

Revision ID: 0007_policy_versions
Revises: 0006_override_reason
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007_policy_versions"
down_revision: str | None = "0006_override_reason"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    inspector = sa.inspect(op.get_bind())
    if not inspector.has_table("triage_policy_version"):
        op.create_table(
            "triage_policy_version",
            sa.Column("id", sa.String(length=40), nullable=False),
            sa.Column("policy_id", sa.String(length=64), nullable=False),
            sa.Column("version", sa.String(length=40), nullable=False),
            sa.Column("document", sa.JSON(), nullable=False),
            sa.Column("state", sa.String(length=10), nullable=False),
            sa.Column("drafted_by", sa.String(length=100), nullable=False),
            sa.Column("drafted_by_name", sa.String(length=200), nullable=False),
            sa.Column("drafted_at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("approved_by", sa.String(length=100), nullable=True),
            sa.Column("approved_by_name", sa.String(length=200), nullable=True),
            sa.Column("approved_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("activates_at", sa.DateTime(timezone=True), nullable=True),
            sa.Column("approved_simulation_id", sa.String(length=40), nullable=True),
            sa.Column("withdrawn_by", sa.String(length=100), nullable=True),
            sa.Column("withdrawn_by_name", sa.String(length=200), nullable=True),
            sa.Column("withdrawn_at", sa.DateTime(timezone=True), nullable=True),
            sa.PrimaryKeyConstraint("id"),
            sa.UniqueConstraint(
                "policy_id", "version", name="uq_triage_policy_version_policy_version"
            ),
        )
    if not inspector.has_table("triage_policy_simulation"):
        op.create_table(
            "triage_policy_simulation",
            sa.Column("id", sa.String(length=40), nullable=False),
            sa.Column("version_id", sa.String(length=40), nullable=False),
            sa.Column("period_start", sa.Date(), nullable=False),
            sa.Column("period_end", sa.Date(), nullable=False),
            sa.Column("directory_version", sa.String(length=64), nullable=True),
            sa.Column("summary", sa.Text(), nullable=False),
            sa.Column("simulated_by", sa.String(length=100), nullable=False),
            sa.Column("simulated_by_name", sa.String(length=200), nullable=False),
            sa.Column("simulated_at", sa.DateTime(timezone=True), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_triage_policy_simulation_version_id",
            "triage_policy_simulation",
            ["version_id"],
            unique=False,
        )
    if not inspector.has_table("triage_policy_act"):
        op.create_table(
            "triage_policy_act",
            sa.Column("id", sa.String(length=40), nullable=False),
            sa.Column("version_id", sa.String(length=40), nullable=False),
            sa.Column("act", sa.String(length=10), nullable=False),
            sa.Column("by", sa.String(length=100), nullable=False),
            sa.Column("by_name", sa.String(length=200), nullable=False),
            sa.Column("at", sa.DateTime(timezone=True), nullable=False),
            sa.Column("detail", sa.JSON(), nullable=False),
            sa.PrimaryKeyConstraint("id"),
        )
        op.create_index(
            "ix_triage_policy_act_version_id", "triage_policy_act", ["version_id"], unique=False
        )


def downgrade() -> None:
    # The audit trail goes with the versions it records: a downgrade is a release
    # rolled back before any version was published, or one that forgoes them.
    op.drop_table("triage_policy_act")
    op.drop_table("triage_policy_simulation")
    op.drop_table("triage_policy_version")
