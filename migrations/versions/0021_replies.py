"""Threaded replies: a comment may answer another (parent_id), with a materialised path (root_id
and the ancestors in `path`) so a page of top-level comments brings its subtrees in one indexed
statement.

Revision ID: 0021_replies
Revises: 0020_reactions
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0021_replies"
down_revision = "0020_reactions"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("comments", sa.Column("parent_id", sa.UUID(), nullable=True))
    op.add_column("comments", sa.Column("root_id", sa.UUID(), nullable=True))
    op.add_column(
        "comments",
        sa.Column(
            "path",
            postgresql.ARRAY(sa.UUID()),
            server_default=sa.text("'{}'"),
            nullable=False,
        ),
    )
    op.create_foreign_key(
        op.f("fk_comments_parent_id_comments"),
        "comments",
        "comments",
        ["parent_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_foreign_key(
        op.f("fk_comments_root_id_comments"),
        "comments",
        "comments",
        ["root_id"],
        ["id"],
        ondelete="CASCADE",
    )
    op.create_check_constraint(
        op.f("ck_comments_reply_has_root_and_path"),
        "comments",
        "(parent_id IS NULL) = (root_id IS NULL) AND (parent_id IS NULL) = (cardinality(path) = 0)",
    )
    op.create_index(
        "ix_comments_root_id_created_at_id", "comments", ["root_id", "created_at", "id"]
    )
    op.create_index("ix_comments_parent_id", "comments", ["parent_id"])


def downgrade():
    # Replies become top-level comments again (their words stay).
    op.drop_index("ix_comments_parent_id", table_name="comments")
    op.drop_index("ix_comments_root_id_created_at_id", table_name="comments")
    op.drop_constraint(op.f("ck_comments_reply_has_root_and_path"), "comments", type_="check")
    op.drop_constraint(op.f("fk_comments_root_id_comments"), "comments", type_="foreignkey")
    op.drop_constraint(op.f("fk_comments_parent_id_comments"), "comments", type_="foreignkey")
    op.drop_column("comments", "path")
    op.drop_column("comments", "root_id")
    op.drop_column("comments", "parent_id")
