"""Chat: conversations, participants and messages; the chat_message notification kind.

Revision ID: 0014_chat
Revises: 0013_files
Create Date: 2026-11-29
"""

import sqlalchemy as sa
from alembic import op

revision = "0014_chat"
down_revision = "0013_files"
branch_labels = None
depends_on = None

OLD_KINDS = (
    "comment_on_post",
    "mention",
    "followed_author_posted",
    "post_archived",
    "comment_removed",
    "account_suspended",
)
NEW_KINDS = (*OLD_KINDS, "chat_message")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


def _now() -> sa.TextClause:
    return sa.text("now()")


def _set_kinds(kinds: tuple[str, ...]) -> None:
    for table in ("notifications", "notification_preferences"):
        op.drop_constraint(op.f(f"ck_{table}_kind"), table, type_="check")
        op.create_check_constraint("kind", table, _in("kind", kinds))


def upgrade():
    op.create_table(
        "conversations",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=True),
        sa.Column("direct_low", sa.UUID(), nullable=True),
        sa.Column("direct_high", sa.UUID(), nullable=True),
        sa.Column("created_by_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column(
            "last_message_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False
        ),
        sa.CheckConstraint("kind IN ('direct', 'group')", name=op.f("ck_conversations_kind")),
        sa.CheckConstraint(
            "(kind = 'direct') = (direct_low IS NOT NULL AND direct_high IS NOT NULL)",
            name=op.f("ck_conversations_direct_has_pair"),
        ),
        sa.CheckConstraint(
            "direct_low < direct_high", name=op.f("ck_conversations_direct_pair_ordered")
        ),
        sa.CheckConstraint(
            "(kind = 'group') = (title IS NOT NULL) AND "
            "(title IS NULL OR char_length(title) BETWEEN 1 AND 100)",
            name=op.f("ck_conversations_group_has_title"),
        ),
        sa.ForeignKeyConstraint(
            ["created_by_id"],
            ["users.id"],
            name=op.f("fk_conversations_created_by_id_users"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["direct_high"],
            ["users.id"],
            name=op.f("fk_conversations_direct_high_users"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["direct_low"],
            ["users.id"],
            name=op.f("fk_conversations_direct_low_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversations")),
        sa.UniqueConstraint("direct_low", "direct_high", name="uq_conversations_direct_pair"),
    )
    op.create_index(
        op.f("ix_conversations_direct_high"), "conversations", ["direct_high"], unique=False
    )
    op.create_table(
        "conversation_participants",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("user_id", sa.UUID(), nullable=False),
        sa.Column("role", sa.String(length=10), server_default="member", nullable=False),
        sa.Column("joined_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.Column("last_read_at", sa.DateTime(timezone=True), nullable=True),
        sa.CheckConstraint(
            "role IN ('owner', 'admin', 'member')", name=op.f("ck_conversation_participants_role")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_conversation_participants_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["user_id"],
            ["users.id"],
            name=op.f("fk_conversation_participants_user_id_users"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_conversation_participants")),
        sa.UniqueConstraint(
            "conversation_id",
            "user_id",
            name=op.f("uq_conversation_participants_conversation_id_user_id"),
        ),
    )
    op.create_index(
        "ix_conversation_participants_user_id",
        "conversation_participants",
        ["user_id"],
        unique=False,
    )
    op.create_table(
        "messages",
        sa.Column("id", sa.UUID(), server_default=sa.text("gen_random_uuid()"), nullable=False),
        sa.Column("conversation_id", sa.UUID(), nullable=False),
        sa.Column("sender_id", sa.UUID(), nullable=True),
        sa.Column("kind", sa.String(length=10), server_default="text", nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("file_id", sa.UUID(), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), server_default=_now(), nullable=False),
        sa.CheckConstraint("kind IN ('text', 'image', 'file')", name=op.f("ck_messages_kind")),
        sa.CheckConstraint("char_length(body) <= 4000", name=op.f("ck_messages_body_length")),
        sa.CheckConstraint(
            "kind <> 'text' OR char_length(body) >= 1", name=op.f("ck_messages_text_has_body")
        ),
        sa.ForeignKeyConstraint(
            ["conversation_id"],
            ["conversations.id"],
            name=op.f("fk_messages_conversation_id_conversations"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["file_id"],
            ["file_metadata.id"],
            name=op.f("fk_messages_file_id_file_metadata"),
            ondelete="SET NULL",
        ),
        sa.ForeignKeyConstraint(
            ["sender_id"],
            ["users.id"],
            name=op.f("fk_messages_sender_id_users"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_messages")),
    )
    op.create_index(
        "ix_messages_conversation_created_at_id",
        "messages",
        ["conversation_id", sa.text("created_at DESC"), sa.text("id DESC")],
        unique=False,
    )
    op.create_index(
        "ix_messages_file_id",
        "messages",
        ["file_id"],
        unique=False,
        postgresql_where=sa.text("file_id IS NOT NULL"),
    )
    op.create_index("ix_messages_sender_id", "messages", ["sender_id"], unique=False)
    _set_kinds(NEW_KINDS)


def downgrade():
    op.execute("DELETE FROM notifications WHERE kind = 'chat_message'")
    op.execute("DELETE FROM notification_preferences WHERE kind = 'chat_message'")
    _set_kinds(OLD_KINDS)
    op.drop_index("ix_messages_sender_id", table_name="messages")
    op.drop_index(
        "ix_messages_file_id",
        table_name="messages",
        postgresql_where=sa.text("file_id IS NOT NULL"),
    )
    op.drop_index("ix_messages_conversation_created_at_id", table_name="messages")
    op.drop_table("messages")
    op.drop_index("ix_conversation_participants_user_id", table_name="conversation_participants")
    op.drop_table("conversation_participants")
    op.drop_index(op.f("ix_conversations_direct_high"), table_name="conversations")
    op.drop_table("conversations")
