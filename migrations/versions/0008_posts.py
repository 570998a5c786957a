"""Posts with a weighted full-text vector, tags, their junction, and old slugs that redirect.

Revision ID: 0008_posts
Revises: 0007_accounts_profile
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0008_posts"
down_revision = "0007_accounts_profile"
branch_labels = None
depends_on = None

SLUG_URL_SAFE = "slug ~ '^[^/?#%\\s]+$'"
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, content_text), 'B')"
)


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade():
    op.create_table(
        "tags",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("name", sa.String(length=30), nullable=False),
        sa.Column("slug", sa.String(length=60), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            "char_length(name) BETWEEN 1 AND 30 AND name = lower(name)",
            name=op.f("ck_tags_name_normalised"),
        ),
        sa.CheckConstraint(SLUG_URL_SAFE, name=op.f("ck_tags_slug_url_safe")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tags")),
        sa.UniqueConstraint("name", name=op.f("uq_tags_name")),
        sa.UniqueConstraint("slug", name=op.f("uq_tags_slug")),
    )

    op.create_table(
        "posts",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        # CASCADE: users are soft-deleted and anonymised by the application; a hard delete is
        # an erasure by hand, which takes the person's writing with it.
        sa.Column("author_id", sa.UUID(), nullable=False),
        sa.Column("title", sa.String(length=500), nullable=False),
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("content_html", sa.Text(), nullable=False),
        sa.Column("content_text", sa.Text(), nullable=False),
        sa.Column("status", sa.String(length=20), server_default="draft", nullable=False),
        sa.Column("published_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("scheduled_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("archived_by_id", sa.UUID(), nullable=True),
        sa.Column("view_count", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column(
            "search_vector",
            postgresql.TSVECTOR(),
            sa.Computed(SEARCH_VECTOR_SQL, persisted=True),
            nullable=False,
        ),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            "char_length(title) BETWEEN 5 AND 500", name=op.f("ck_posts_title_length")
        ),
        sa.CheckConstraint(
            "char_length(content) BETWEEN 10 AND 100000", name=op.f("ck_posts_content_length")
        ),
        sa.CheckConstraint(
            "status IN ('draft', 'published', 'archived')", name=op.f("ck_posts_status")
        ),
        sa.CheckConstraint(
            "status = 'draft' OR published_at IS NOT NULL", name=op.f("ck_posts_published_has_date")
        ),
        sa.CheckConstraint(
            "scheduled_at IS NULL OR status = 'draft'", name=op.f("ck_posts_schedule_only_drafts")
        ),
        sa.CheckConstraint(
            "(status = 'archived') = (archived_at IS NOT NULL)",
            name=op.f("ck_posts_archived_has_date"),
        ),
        sa.CheckConstraint("view_count >= 0", name=op.f("ck_posts_view_count_positive")),
        sa.CheckConstraint(SLUG_URL_SAFE, name=op.f("ck_posts_slug_url_safe")),
        sa.ForeignKeyConstraint(
            ["author_id"], ["users.id"], name=op.f("fk_posts_author_id_users"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["archived_by_id"],
            ["users.id"],
            name=op.f("fk_posts_archived_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_posts")),
        sa.UniqueConstraint("slug", name=op.f("uq_posts_slug")),
    )
    # The home feed and tag pages walk this backwards (keyset pagination, newest first).
    op.create_index(
        "ix_posts_published_feed",
        "posts",
        ["published_at", "id"],
        postgresql_where=sa.text("status = 'published'"),
    )
    # The author page, "my posts", and the FK's cascade.
    op.create_index("ix_posts_author_id_published_at", "posts", ["author_id", "published_at", "id"])
    op.create_index(
        "ix_posts_scheduled_at",
        "posts",
        ["scheduled_at"],
        postgresql_where=sa.text("scheduled_at IS NOT NULL"),
    )
    op.create_index("ix_posts_search_vector", "posts", ["search_vector"], postgresql_using="gin")

    op.create_table(
        "post_tags",
        sa.Column("post_id", sa.UUID(), nullable=False),
        sa.Column("tag_id", sa.UUID(), nullable=False),
        sa.ForeignKeyConstraint(
            ["post_id"], ["posts.id"], name=op.f("fk_post_tags_post_id_posts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["tag_id"], ["tags.id"], name=op.f("fk_post_tags_tag_id_tags"), ondelete="CASCADE"
        ),
        # The unique pair; it also serves "this post's tags".
        sa.PrimaryKeyConstraint("post_id", "tag_id", name=op.f("pk_post_tags")),
    )
    op.create_index(op.f("ix_post_tags_tag_id"), "post_tags", ["tag_id"])

    op.create_table(
        "post_slug_redirects",
        sa.Column("slug", sa.String(length=200), nullable=False),
        sa.Column("post_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(SLUG_URL_SAFE, name=op.f("ck_post_slug_redirects_slug_url_safe")),
        sa.ForeignKeyConstraint(
            ["post_id"],
            ["posts.id"],
            name=op.f("fk_post_slug_redirects_post_id_posts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("slug", name=op.f("pk_post_slug_redirects")),
    )
    op.create_index(op.f("ix_post_slug_redirects_post_id"), "post_slug_redirects", ["post_id"])


def downgrade():
    op.drop_table("post_slug_redirects")
    op.drop_table("post_tags")
    op.drop_table("posts")
    op.drop_table("tags")
