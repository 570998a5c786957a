"""Flags: a reader reports a post, a comment, a person or a chat message to the moderators,
with a reason.

Each flag names exactly one post, comment, person (user_id) or message. Reports of people and
messages hide nothing by themselves; a message report is the only way staff see a private
conversation (blog/flags/reports.py). A reader flags an item once while flags on it
are open. Flags from enough distinct readers hide the item until a moderator decides (the
`moderation.flags_to_hide` setting); the decision resolves every open flag on the item.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.auth.models import User
from blog.core.db import Base, UUIDPrimaryKey, utcnow

RESOLUTIONS = ("agreed", "disagreed", "ignored")


class Flag(UUIDPrimaryKey, Base):
    __tablename__ = "flags"
    __table_args__ = (
        CheckConstraint(
            "num_nonnulls(post_id, comment_id, user_id, message_id) = 1", name="one_target"
        ),
        CheckConstraint(
            "resolution IS NULL OR resolution IN ('agreed', 'disagreed', 'ignored')",
            name="resolution",
        ),
        CheckConstraint("(resolved_at IS NULL) = (resolution IS NULL)", name="resolved_together"),
        CheckConstraint("char_length(reason) BETWEEN 1 AND 500", name="reason_length"),
        # One open flag per reader and item; the queue reads open flags by item.
        Index(
            "uq_flags_open_post",
            "reporter_id",
            "post_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL AND post_id IS NOT NULL"),
        ),
        Index(
            "uq_flags_open_comment",
            "reporter_id",
            "comment_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL AND comment_id IS NOT NULL"),
        ),
        Index(
            "uq_flags_open_user",
            "reporter_id",
            "user_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL AND user_id IS NOT NULL"),
        ),
        Index(
            "uq_flags_open_message",
            "reporter_id",
            "message_id",
            unique=True,
            postgresql_where=text("resolved_at IS NULL AND message_id IS NOT NULL"),
        ),
        Index("ix_flags_open", "created_at", postgresql_where=text("resolved_at IS NULL")),
        Index("ix_flags_post_id", "post_id"),
        Index("ix_flags_comment_id", "comment_id"),
        Index("ix_flags_user_id", "user_id", postgresql_where=text("user_id IS NOT NULL")),
        Index("ix_flags_message_id", "message_id", postgresql_where=text("message_id IS NOT NULL")),
    )

    post_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    comment_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    # The person reported (from their profile), or a chat message (by a member of its
    # conversation). CASCADE as reporter_id: a hand erasure of a user takes their reports along.
    user_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    message_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("messages.id", ondelete="CASCADE")
    )
    reporter_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    reason: Mapped[str] = mapped_column(String(500))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    resolved_at: Mapped[datetime | None]
    resolution: Mapped[str | None] = mapped_column(String(20))
    resolved_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )

    reporter: Mapped[User] = relationship(foreign_keys=[reporter_id])
