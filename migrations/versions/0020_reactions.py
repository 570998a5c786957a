"""Likes on posts and comments (with counts kept on the items), bookmarks, and grouped
notifications ("bob and 3 others liked your post" is one row that updates).

Revision ID: 0020_reactions
Revises: 0019_kinds
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0020_reactions"
down_revision = "0019_kinds"
branch_labels = None
depends_on = None


def _reactions(table: str, item: str, parent: str) -> None:
    op.create_table(
        table,
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column(f"{item}_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.CheckConstraint("kind IN ('like')", name=op.f(f"ck_{table}_kind")),
        sa.ForeignKeyConstraint(
            [f"{item}_id"],
            [f"{parent}.id"],
            name=op.f(f"fk_{table}_{item}_id_{parent}"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f(f"fk_{table}_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", f"{item}_id", "kind", name=op.f(f"pk_{table}")),
    )
    op.create_index(
        f"ix_{table}_{item}_id_created_at",
        table,
        [f"{item}_id", sa.text("created_at DESC")],
        unique=False,
    )


def upgrade() -> None:
    for table in ("posts", "comments"):
        op.add_column(
            table, sa.Column("like_count", sa.Integer(), server_default="0", nullable=False)
        )
        op.create_check_constraint("like_count_positive", table, "like_count >= 0")
    _reactions("post_reactions", "post", "posts")
    _reactions("comment_reactions", "comment", "comments")
    op.create_table(
        "bookmarks",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_bookmarks_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["user_id"], ["users.id"], name=op.f("fk_bookmarks_user_id_users"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("user_id", "post_id", name=op.f("pk_bookmarks")),
    )
    op.create_index(
        "ix_bookmarks_user_id_created_at",
        "bookmarks",
        ["user_id", sa.text("created_at DESC"), sa.text("post_id DESC")],
        unique=False,
    )
    op.create_index("ix_bookmarks_post_id", "bookmarks", ["post_id"], unique=False)
    op.add_column("notifications", sa.Column("group_key", sa.String(length=100), nullable=True))
    op.create_index(
        "uq_notifications_group",
        "notifications",
        ["user_id", "group_key"],
        unique=True,
        postgresql_where=sa.text("group_key IS NOT NULL"),
    )


def downgrade() -> None:
    op.drop_index("uq_notifications_group", table_name="notifications")
    op.drop_column("notifications", "group_key")
    op.drop_table("bookmarks")
    op.drop_table("comment_reactions")
    op.drop_table("post_reactions")
    for table in ("posts", "comments"):
        op.drop_constraint(op.f(f"ck_{table}_like_count_positive"), table, type_="check")
        op.drop_column(table, "like_count")
