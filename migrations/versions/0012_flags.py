"""Flags on posts and comments, and the hidden state they can put them in.

Revision ID: 0012_flags
Revises: 0011_db_samples
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0012_flags"
down_revision = "0011_db_samples"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("posts", sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("comments", sa.Column("hidden_at", sa.DateTime(timezone=True), nullable=True))
    op.create_table(
        "flags",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=True),
        sa.Column("comment_id", sa.UUID(), nullable=True),
        sa.Column("reporter_id", sa.UUID(), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=False),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("resolved_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("resolution", sa.String(length=20), nullable=True),
        sa.Column("resolved_by_id", sa.UUID(), nullable=True),
        sa.CheckConstraint(
            "num_nonnulls(post_id, comment_id) = 1", name=op.f("ck_flags_one_target")
        ),
        sa.CheckConstraint(
            "resolution IS NULL OR resolution IN ('agreed', 'disagreed', 'ignored')",
            name=op.f("ck_flags_resolution"),
        ),
        sa.CheckConstraint(
            "(resolved_at IS NULL) = (resolution IS NULL)", name=op.f("ck_flags_resolved_together")
        ),
        sa.CheckConstraint(
            "char_length(reason) BETWEEN 1 AND 500", name=op.f("ck_flags_reason_length")
        ),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_flags_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["comment_id"],
            ["comments.id"],
            name=op.f("fk_flags_comment_id_comments"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["reporter_id"],
            ["users.id"],
            name=op.f("fk_flags_reporter_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["resolved_by_id"],
            ["users.id"],
            name=op.f("fk_flags_resolved_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_flags")),
    )
    op.create_index(
        "uq_flags_open_post",
        "flags",
        ["reporter_id", "post_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL AND post_id IS NOT NULL"),
    )
    op.create_index(
        "uq_flags_open_comment",
        "flags",
        ["reporter_id", "comment_id"],
        unique=True,
        postgresql_where=sa.text("resolved_at IS NULL AND comment_id IS NOT NULL"),
    )
    op.create_index(
        "ix_flags_open", "flags", ["created_at"], postgresql_where=sa.text("resolved_at IS NULL")
    )
    op.create_index("ix_flags_post_id", "flags", ["post_id"])
    op.create_index("ix_flags_comment_id", "flags", ["comment_id"])


def downgrade():
    op.drop_table("flags")
    op.drop_column("comments", "hidden_at")
    op.drop_column("posts", "hidden_at")
