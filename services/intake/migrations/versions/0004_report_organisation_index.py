"""Index an organisation's reports by when they were received.

`GET /v1/reports` lists the calling organisation's own reports newest first (by
`received_at`, then `referral_id`) a page at a time from a cursor: with this index each
page is one range of it, however many reports the organisation has or however deep the
page. A database whose tables the model's `create_all` made already has it.

Revision ID: 0004_report_organisation_index
Revises: 0003_report_pathway
"""

from __future__ import annotations

from alembic import op

revision = "0004_report_organisation_index"
down_revision: str | None = "0003_report_pathway"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_index(
        "ix_report_organisation_received_at",
        "report",
        ["organisation", "received_at", "referral_id"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index("ix_report_organisation_received_at", table_name="report")
