"""Sign-in through the council's identity provider (the state, PKCE verifier and nonce
of each sign-in begun there) and queue emails (who asked for them, and what each person
was told). A column or table already there is left alone (a database adopted from
`create_all` may have it).

Revision ID: 0002_oidc_and_alerts
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision, down_revision, branch_labels, depends_on = (
    "0002_oidc_and_alerts",
    "0001_baseline",
    None,
    None,
)


def upgrade() -> None:
    # A database adopted from `create_all` may have any of these already.
    inspector = sa.inspect(op.get_bind())
    if "email_alerts" not in {c["name"] for c in inspector.get_columns("console_person")}:
        op.add_column(
            "console_person",
            sa.Column("email_alerts", sa.Boolean(), nullable=False, server_default=sa.false()),
        )
    if not inspector.has_table("console_oidc_login"):
        _create_oidc_login()
    if not inspector.has_table("console_queue_alert"):
        _create_queue_alert()


def _create_oidc_login() -> None:
    op.create_table(
        "console_oidc_login",
        sa.Column("state", sa.String(length=64), nullable=False),
        sa.Column("code_verifier", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=64), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("used_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("state"),
    )
    op.create_index(
        "ix_console_oidc_login_expires_at", "console_oidc_login", ["expires_at"], unique=False
    )


def _create_queue_alert() -> None:
    op.create_table(
        "console_queue_alert",
        sa.Column("person_id", sa.String(length=40), nullable=False),
        sa.Column("referral_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("person_id", "referral_id", "kind"),
    )


def downgrade() -> None:
    op.drop_table("console_queue_alert")
    op.drop_index("ix_console_oidc_login_expires_at", table_name="console_oidc_login")
    op.drop_table("console_oidc_login")
    op.drop_column("console_person", "email_alerts")
