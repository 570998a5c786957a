"""Reports of people and chat messages (flags.user_id, flags.message_id), and the removed
state a moderator's decision puts a message in.

Revision ID: 0024_reports
Revises: 0023_safety
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0024_reports"
down_revision = "0023_safety"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("messages", sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("messages", sa.Column("removed_by_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_messages_removed_by_id_users"),
        "messages",
        "users",
        ["removed_by_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.add_column("flags", sa.Column("user_id", sa.UUID(), nullable=True))
    op.add_column("flags", sa.Column("message_id", sa.UUID(), nullable=True))
    op.create_foreign_key(
        op.f("fk_flags_user_id_users"), "flags", "users", ["user_id"], ["id"], ondelete="CASCADE"
    )
    op.create_foreign_key(
        op.f("fk_flags_message_id_messages"),
        "flags",
        "messages",
        ["message_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.drop_constraint(op.f("ck_flags_one_target"), "flags", type_="check")
    op.create_check_constraint(
        op.f("ck_flags_one_target"),
        "flags",
        "num_nonnulls(post_id, comment_id, user_id, message_id) = 1",
    )
    op.create_index(
        "uq_flags_open_user",
        "flags",
        ["reporter_id", "user_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL AND user_id IS NOT NULL"),
    )
    op.create_index(
        "uq_flags_open_message",
        "flags",
        ["reporter_id", "message_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL AND message_id IS NOT NULL"),
    )
    op.create_index(
        "ix_flags_user_id", "flags", ["user_id"], postgresql_where=sa.text("user_id IS NOT NULL")
    )
    op.create_index(
        "ix_flags_message_id",
        "flags",
        ["message_id"],
        postgresql_where=sa.text("message_id IS NOT NULL"),
    )


def downgrade():
    # Reports of people and messages have no place in the older table.
    op.execute("DELETE FROM flags WHERE user_id IS NOT NULL OR message_id IS NOT NULL")
    op.drop_index("ix_flags_message_id", table_name="flags")
    op.drop_index("ix_flags_user_id", table_name="flags")
    op.drop_index("uq_flags_open_message", table_name="flags")
    op.drop_index("uq_flags_open_user", table_name="flags")
    op.drop_constraint(op.f("ck_flags_one_target"), "flags", type_="check")
    op.create_check_constraint(
        op.f("ck_flags_one_target"), "flags", "num_nonnulls(post_id, comment_id) = 1"
    )
    op.drop_constraint(op.f("fk_flags_message_id_messages"), "flags", type_="foreignkey")
    op.drop_constraint(op.f("fk_flags_user_id_users"), "flags", type_="foreignkey")
    op.drop_column("flags", "message_id")
    op.drop_column("flags", "user_id")
    op.drop_constraint(op.f("fk_messages_removed_by_id_users"), "messages", type_="foreignkey")
    op.drop_column("messages", "removed_by_id")
    op.drop_column("messages", "removed_at")
