"""Mail is retried for a day: notifications.next_attempt_at (when the cron sweep may try a
pending email again after its quick retries failed).

Revision ID: 0018_hardening
Revises: 0017_scale
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0018_hardening"
down_revision = "0017_scale"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "notifications", sa.Column("next_attempt_at", sa.DateTime(timezone=True), nullable=True)
    )


def downgrade() -> None:
    op.drop_column("notifications", "next_attempt_at")
