"""Notifications (in-app, email, push deliveries), notification preferences, and follows.

Revision ID: 0009_notifications
Revises: 0008_posts
Create Date: 2026-11-22
"""

import sqlalchemy as sa
from alembic import op

revision = "0009_notifications"
down_revision = "0008_posts"
branch_labels = None
depends_on = None

KINDS = (
    "comment_on_post",
    "mention",
    "followed_author_posted",
    "post_archived",
    "comment_removed",
    "account_suspended",
)


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now() -> sa.TextClause:
    return sa.text("now()")


def upgrade():
    op.create_table(
        "notifications",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("type", sa.String(length=20), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("message", sa.Text(), nullable=False),
        sa.Column("link", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=20), server_default="pending", nullable=False),
        sa.Column("sent_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("event_id", sa.UUID(), nullable=True),
        sa.Column("attempts", sa.SmallInteger(), server_default="0", nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(
            _in("type", ("email", "push", "websocket")), name=op.f("ck_notifications_type")
        ),
        sa.CheckConstraint(
            _in("status", ("pending", "sent", "failed")), name=op.f("ck_notifications_status")
        ),
        sa.CheckConstraint(_in("kind", KINDS), name=op.f("ck_notifications_kind")),
        sa.CheckConstraint(
            "status <> 'sent' OR sent_at IS NOT NULL", name=op.f("ck_notifications_sent_has_date")
        ),
        sa.CheckConstraint("attempts >= 0", name=op.f("ck_notifications_attempts_positive")),
        sa.CheckConstraint(
            "read_at IS NULL OR type = 'websocket'", name=op.f("ck_notifications_read_only_in_app")
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notifications_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        # One notification per (user, channel, event): a re-delivered event never notifies twice.
        sa.UniqueConstraint(
            "user_id", "type", "event_id", name=op.f("uq_notifications_user_id_type_event_id")
        ),
    )
    op.create_index(
        "ix_notifications_inbox",
        "notifications",
        ["user_id", sa.text("created_at DESC"), sa.text("id DESC")],
        postgresql_where=sa.text("type = 'websocket'"),
    )
    op.create_index(
        "ix_notifications_unread",
        "notifications",
        ["user_id"],
        postgresql_where=sa.text("type = 'websocket' AND read_at IS NULL"),
    )
    op.create_index(
        "ix_notifications_pending",
        "notifications",
        ["created_at"],
        postgresql_where=sa.text("status = 'pending'"),
    )

    op.create_table(
        "notification_preferences",
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("kind", sa.String(length=40), nullable=False),
        sa.Column("channel", sa.String(length=20), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("updated_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint(_in("kind", KINDS), name=op.f("ck_notification_preferences_kind")),
        sa.CheckConstraint(
            _in("channel", ("in_app", "email", "push")),
            name=op.f("ck_notification_preferences_channel"),
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_notification_preferences_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint(
            "user_id", "kind", "channel", name=op.f("pk_notification_preferences")
        ),
    )

    op.create_table(
        "follows",
        sa.Column("follower_id", sa.UUID(), nullable=False),
        sa.Column("followed_id", sa.UUID(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("follower_id <> followed_id", name=op.f("ck_follows_not_self")),
        sa.ForeignKeyConstraint(
            ["follower_id"],
            ["users.id"],
            name=op.f("fk_follows_follower_id_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["followed_id"],
            ["users.id"],
            name=op.f("fk_follows_followed_id_users"),
            ondelete="CASCADE",
        ),
        # The unique pair; it also serves "whom do I follow".
        sa.PrimaryKeyConstraint("follower_id", "followed_id", name=op.f("pk_follows")),
    )
    # "Who follows this author": the fan-out's lookup.
    op.create_index(op.f("ix_follows_followed_id"), "follows", ["followed_id"])


def downgrade():
    op.drop_table("follows")
    op.drop_table("notification_preferences")
    op.drop_table("notifications")
