"""Index the referrals addressed to an organisation by when they were routed.

`GET /v1/referrals` lists the referrals addressed to the caller's organisation newest
first (by `routed_at`, then `referral_id`) a page at a time from a cursor: with this
index each page is one range of it, however many referrals the organisation holds or
however deep the page. A database whose tables the model's `create_all` made already
has it.

Revision ID: 0005_referral_list_index
Revises: 0004_routing_assignment
"""

from __future__ import annotations

from alembic import op

revision = "0005_referral_list_index"
down_revision: str | None = "0004_routing_assignment"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_routing_decision_org_routed"


def upgrade() -> None:
    op.create_index(
        INDEX,
        "routing_decision",
        ["destination_organisation", "routed_at", "referral_id"],
        unique=False,
        if_not_exists=True,
    )


def downgrade() -> None:
    op.drop_index(INDEX, table_name="routing_decision")
