"""The person's colour scheme: system (follow prefers-color-scheme), light or dark; and who
caused a notification (its picture in the inbox), kept when they leave as NULL.

Revision ID: 0016_appearance
Revises: 0015_push
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0016_appearance"
down_revision = "0015_push"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column(
        "users",
        sa.Column("theme", sa.String(length=10), server_default="system", nullable=False),
    )
    op.create_check_constraint("theme", "users", "theme IN ('system', 'light', 'dark')")
    op.add_column("notifications", sa.Column("actor_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_notifications_actor_id_users"),
        "notifications",
        "users",
        ["actor_id"],
        ["id"],
        ondelete="SET NULL",
    )


def downgrade():
    op.drop_constraint(op.f("fk_notifications_actor_id_users"), "notifications", type_="foreignkey")
    op.drop_column("notifications", "actor_id")
    op.drop_constraint(op.f("ck_users_theme"), "users", type_="check")
    op.drop_column("users", "theme")
