"""Comments on posts.

Revision ID: 0010_comments
Revises: 0009_notifications
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0010_comments"
down_revision = "0009_notifications"
branch_labels = None
depends_on = None


def upgrade():
    op.create_table(
        "comments",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=False),
        sa.Column("author_id", sa.UUID(), nullable=True),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("deleted_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("removed_by_id", sa.UUID(), nullable=True),
        sa.Column("removed_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint(
            "char_length(content) BETWEEN 1 AND 2000", name=op.f("ck_comments_content_length")
        ),
        sa.CheckConstraint(
            "(removed_at IS NULL) = (removed_reason IS NULL)",
            name=op.f("ck_comments_removal_has_reason"),
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_comments_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["author_id"],
            ["users.id"],
            name=op.f("fk_comments_author_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["removed_by_id"],
            ["users.id"],
            name=op.f("fk_comments_removed_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_comments")),
    )
    op.create_index(
        "ix_comments_post_id_created_at_id", "comments", ["post_id", "created_at", "id"]
    )
    op.create_index("ix_comments_author_id", "comments", ["author_id"])


def downgrade():
    op.drop_index("ix_comments_author_id", table_name="comments")
    op.drop_index("ix_comments_post_id_created_at_id", table_name="comments")
    op.drop_table("comments")
