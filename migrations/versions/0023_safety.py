"""Mute and ignore (user_screens) and who may message you (messaging_preferences).

Revision ID: 0023_safety
Revises: 0022_post_revisions
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0023_safety"
down_revision = "0022_post_revisions"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "user_screens",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("target_id", sa.UUID(), nullable=False),
        sa.Column("level", sa.String(length=10), nullable=False),
        sa.Column(
            "created_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint("user_id <> target_id", name=op.f("ck_user_screens_not_self")),
        sa.CheckConstraint("level IN ('mute', 'ignore')", name=op.f("ck_user_screens_level")),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_user_screens_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["target_id"],
            ["users.id"],
            name=op.f("fk_user_screens_target_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", "target_id", name=op.f("pk_user_screens")),
    )
    op.create_index(op.f("ix_user_screens_target_id"), "user_screens", ["target_id"])
    op.create_table(
        "messaging_preferences",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("dm_from", sa.String(length=10), server_default="everyone", nullable=False),
        sa.Column(
            "updated_at", sa.DateTime(timezone=True), server_default=sa.func.now(), nullable=False
        ),
        sa.CheckConstraint(
            "dm_from IN ('everyone', 'following', 'nobody')",
            name=op.f("ck_messaging_preferences_dm_from"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_messaging_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("user_id", name=op.f("pk_messaging_preferences")),
    )


def downgrade() -> None:
    op.drop_table("messaging_preferences")
    op.drop_index(op.f("ix_user_screens_target_id"), table_name="user_screens")
    op.drop_table("user_screens")
