"""Suspension details: users.suspended_reason and users.suspended_until (NULL while active).

Revision ID: 0005_suspension_details
Revises: 0004_outbox_pending_index
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0005_suspension_details"
down_revision = "0004_outbox_pending_index"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("users", sa.Column("suspended_reason", sa.Text(), nullable=True))
    op.add_column("users", sa.Column("suspended_until", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(
        op.f("ck_users_suspension_only_when_suspended"),
        "users",
        "status <> 'active' OR (suspended_reason IS NULL AND suspended_until IS NULL)",
    )


def downgrade():
    op.drop_constraint(op.f("ck_users_suspension_only_when_suspended"), "users", type_="check")
    op.drop_column("users", "suspended_until")
    op.drop_column("users", "suspended_reason")
