"""Web push subscriptions; the daily_digest notification kind (one email row per user and day,
and its opt-in preference) with the index that finds a user's last digest.

Revision ID: 0015_push
Revises: 0014_chat
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0015_push"
down_revision = "0014_chat"
branch_labels = None
depends_on = None

OLD_KINDS = (
    "comment_on_post",
    "mention",
    "followed_author_posted",
    "post_archived",
    "comment_removed",
    "account_suspended",
    "chat_message",
)
NEW_KINDS = (*OLD_KINDS, "daily_digest")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _set_kinds(kinds: tuple[str, ...]) -> None:
    for table in ("notifications", "notification_preferences"):
        op.drop_constraint(op.f(f"ck_{table}_kind"), table, type_="check")
        op.create_check_constraint("kind", table, _in("kind", kinds))


def upgrade():
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("endpoint", sa.String(length=1000), nullable=False),
        sa.Column("p256dh", sa.String(length=100), nullable=False),
        sa.Column("auth", sa.String(length=32), nullable=False),
        sa.Column("user_agent", sa.String(length=300), nullable=True),
        sa.Column(
            "created_at",
            sa.DateTime(timezone=True),
            server_default=sa.text("now()"),
            nullable=False,
        ),
        sa.Column("last_success_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_failure_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.CheckConstraint(
            "endpoint ~ '^https?://'", name=op.f("ck_push_subscriptions_endpoint_url")
        ),
        sa.CheckConstraint(
            "char_length(p256dh) BETWEEN 80 AND 100",
            name=op.f("ck_push_subscriptions_p256dh_length"),
        ),
        sa.CheckConstraint(
            "char_length(auth) BETWEEN 16 AND 32", name=op.f("ck_push_subscriptions_auth_length")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_push_subscriptions_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("endpoint", name=op.f("uq_push_subscriptions_endpoint")),
    )
    op.create_index(
        op.f("ix_push_subscriptions_user_id"), "push_subscriptions", ["user_id"], unique=False
    )
    _set_kinds(NEW_KINDS)
    op.create_index(
        "ix_notifications_digests",
        "notifications",
        ["user_id", sa.text("created_at DESC")],
        postgresql_where=sa.text("kind = 'daily_digest'"),
    )


def downgrade():
    op.drop_index("ix_notifications_digests", table_name="notifications")
    op.execute("DELETE FROM notifications WHERE kind = 'daily_digest'")
    op.execute("DELETE FROM notification_preferences WHERE kind = 'daily_digest'")
    _set_kinds(OLD_KINDS)
    op.drop_index(op.f("ix_push_subscriptions_user_id"), table_name="push_subscriptions")
    op.drop_table("push_subscriptions")
