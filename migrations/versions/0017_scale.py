"""Tag counts kept in `tags` (search and the tag index read them instead of aggregating
post_tags x posts on every page); prefix indexes (text_pattern_ops) on the user name, email and
display name for the admin's user search (the embedded PostgreSQL has no pg_trgm, so a
substring search would read every account), and the admin list's order.

Revision ID: 0017_scale
Revises: 0016_appearance
Create Date: 2026-12-03
"""

import sqlalchemy as sa
from alembic import op

revision = "0017_scale"
down_revision = "0016_appearance"
branch_labels = None
depends_on = None

# The same count as blog.posts.services.refresh_tag_counts (published, not hidden, by a live
# account); kept here as text so the migration does not move when the code does.
BACKFILL = """
UPDATE tags SET post_count = coalesce(c.n, 0)
FROM tags t LEFT JOIN (
    SELECT pt.tag_id, count(*) AS n
    FROM post_tags pt
    JOIN posts p ON p.id = pt.post_id AND p.status = 'published' AND p.hidden_at IS NULL
    JOIN users u ON u.id = p.author_id AND u.deleted_at IS NULL
    GROUP BY pt.tag_id
) c ON c.tag_id = t.id
WHERE tags.id = t.id
"""


def upgrade():
    op.add_column("tags", sa.Column("post_count", sa.Integer(), server_default="0", nullable=False))
    op.create_check_constraint(op.f("ck_tags_post_count_positive"), "tags", "post_count >= 0")
    op.execute(BACKFILL)
    op.create_index(
        "ix_users_user_name_prefix",
        "users",
        [sa.text("lower(user_name) text_pattern_ops")],
    )
    op.create_index(
        "ix_users_email_prefix",
        "users",
        [sa.text("email text_pattern_ops")],
    )
    op.create_index(
        "ix_users_display_name_prefix",
        "users",
        [sa.text("lower(display_name) text_pattern_ops")],
    )
    # The admin's list, newest first.
    op.create_index("ix_users_created_at_id", "users", [sa.text("created_at DESC"), "id"])


def downgrade():
    op.drop_index("ix_users_created_at_id", table_name="users")
    op.drop_index("ix_users_display_name_prefix", table_name="users")
    op.drop_index("ix_users_email_prefix", table_name="users")
    op.drop_index("ix_users_user_name_prefix", table_name="users")
    op.drop_constraint(op.f("ck_tags_post_count_positive"), "tags", type_="check")
    op.drop_column("tags", "post_count")
