"""Conversations, their participants and their messages (the original design's three tables).

A direct conversation is between exactly two people and there is one per pair: its two user
ids are kept ordered (`direct_low` < `direct_high`) under a unique constraint, so two people
starting it at the same moment still end up in the same conversation. A group has a title and
participants with roles (owner, admin, member). Leaving or being removed deletes the
participant row; the messages stay. `last_read_at` gives unread counts (messages from others
after it). A message's sender is SET NULL when an account is purged: it stays in the history
as "deleted user".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.auth.models import User
from blog.core.db import Base, UUIDPrimaryKey, utcnow
from blog.uploads.models import FileMetadata

KINDS = ("direct", "group")
ROLES = ("owner", "admin", "member")
MESSAGE_KINDS = ("text", "image", "file")
TITLE_MAX = 100
BODY_MAX = 4000


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Conversation(UUIDPrimaryKey, Base):
    __tablename__ = "conversations"
    __table_args__ = (
        CheckConstraint(_in("kind", KINDS), name="kind"),
        # A direct conversation names its pair (ordered) and has no title; a group the reverse.
        CheckConstraint(
            "(kind = 'direct') = (direct_low IS NOT NULL AND direct_high IS NOT NULL)",
            name="direct_has_pair",
        ),
        CheckConstraint("direct_low < direct_high", name="direct_pair_ordered"),
        CheckConstraint(
            f"(kind = 'group') = (title IS NOT NULL) AND "
            f"(title IS NULL OR char_length(title) BETWEEN 1 AND {TITLE_MAX})",
            name="group_has_title",
        ),
        UniqueConstraint("direct_low", "direct_high", name="uq_conversations_direct_pair"),
    )

    kind: Mapped[str] = mapped_column(String(10))
    title: Mapped[str | None] = mapped_column(String(TITLE_MAX))
    direct_low: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    direct_high: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    created_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    # The time of the newest message (or of creation): the chat list's order.
    last_message_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)

    @property
    def is_group(self) -> bool:
        return self.kind == "group"

    def __repr__(self) -> str:
        return f"<Conversation {self.id} {self.kind}>"


class ConversationParticipant(UUIDPrimaryKey, Base):
    __tablename__ = "conversation_participants"
    __table_args__ = (
        CheckConstraint(_in("role", ROLES), name="role"),
        UniqueConstraint("conversation_id", "user_id"),
        # "My conversations" and the cascade of a user's deletion.
        Index("ix_conversation_participants_user_id", "user_id"),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    role: Mapped[str] = mapped_column(String(10), default="member", server_default="member")
    joined_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    last_read_at: Mapped[datetime | None]

    user: Mapped[User] = relationship(foreign_keys=[user_id])

    @property
    def can_manage(self) -> bool:
        return self.role in ("owner", "admin")


class Message(UUIDPrimaryKey, Base):
    __tablename__ = "messages"
    __table_args__ = (
        CheckConstraint(_in("kind", MESSAGE_KINDS), name="kind"),
        CheckConstraint(f"char_length(body) <= {BODY_MAX}", name="body_length"),
        # Text has words. An image or a file message has its upload (and maybe a caption) when
        # sent; the upload may be deleted later (file_id SET NULL: "attachment deleted").
        CheckConstraint("kind <> 'text' OR char_length(body) >= 1", name="text_has_body"),
        # History, newest first, paged by (created_at, id); also unread counts.
        Index(
            "ix_messages_conversation_created_at_id",
            "conversation_id",
            text("created_at DESC"),
            text("id DESC"),
        ),
        Index("ix_messages_sender_id", "sender_id"),
        Index("ix_messages_file_id", "file_id", postgresql_where=text("file_id IS NOT NULL")),
    )

    conversation_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("conversations.id", ondelete="CASCADE")
    )
    # The original design's ON DELETE SET NULL: a purged sender stays as "deleted user".
    sender_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    kind: Mapped[str] = mapped_column(String(10), default="text", server_default="text")
    body: Mapped[str] = mapped_column(Text, default="", server_default="")
    file_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("file_metadata.id", ondelete="SET NULL")
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    # reports (blog/flags/reports.py): a moderator who agrees with a report removes the
    # message; its place in the conversation says so, and the text stays for the audit.
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    sender: Mapped[User | None] = relationship(foreign_keys=[sender_id])
    # An image or file message's upload (blog/chat/attachments.py): loaded with the messages in
    # one more statement, only when some of them carry a file.
    file: Mapped[FileMetadata | None] = relationship(lazy="selectin")

    def __repr__(self) -> str:
        return f"<Message {self.id} in {self.conversation_id}>"
