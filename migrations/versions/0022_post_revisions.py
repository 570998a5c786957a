"""Autosave and edit history: a version number on posts (a save names the version it started
from, so a stale tab is refused instead of overwriting), the time of the last public edit, and
the earlier versions of public posts.

Revision ID: 0022_post_revisions
Revises: 0021_replies
Create Date: 2026-12-06
"""

import sqlalchemy as sa
from alembic import op

revision = "0022_post_revisions"
down_revision = "0021_replies"
branch_labels = None
depends_on = None


def upgrade():
    op.add_column("posts", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column("posts", sa.Column("edited_at", sa.DateTime(timezone=True), nullable=True))
    op.create_check_constraint(op.f("ck_posts_version_positive"), "posts", "version > 0")
    op.create_table(
        "post_revisions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("body", sa.Text(), nullable=False),
        sa.Column("edited_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("editor_id", sa.UUID(), nullable=True),
        sa.CheckConstraint("version > 0", name=op.f("ck_post_revisions_version_positive")),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_revisions_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["editor_id"],
            ["users.id"],
            name=op.f("fk_post_revisions_editor_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_post_revisions")),
        sa.UniqueConstraint("post_id", "version", name=op.f("uq_post_revisions_post_id_version")),
    )


def downgrade():
    op.drop_table("post_revisions")
    op.drop_constraint(op.f("ck_posts_version_positive"), "posts", type_="check")
    op.drop_column("posts", "edited_at")
    op.drop_column("posts", "version")
