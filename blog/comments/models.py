"""Comments on posts: a flat thread per post, oldest first.

A comment's author may edit it or delete it (it stays in the thread as "deleted", so the
conversation around it still reads); a moderator may remove it with a reason (shown in its
place, and recorded in the audit log). A deleted account's comments stay, as "deleted user".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ColumnElement, ForeignKey, Index, String, Text, and_, func
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.auth.models import User
from blog.core.db import Base, UUIDPrimaryKey, utcnow

MAX_LENGTH = 2000


class Comment(UUIDPrimaryKey, Base):
    __tablename__ = "comments"
    __table_args__ = (
        CheckConstraint(f"char_length(content) BETWEEN 1 AND {MAX_LENGTH}", name="content_length"),
        CheckConstraint(
            "(removed_at IS NULL) = (removed_reason IS NULL)", name="removal_has_reason"
        ),
        # The thread of a post, oldest first, paged by (created_at, id).
        Index("ix_comments_post_id_created_at_id", "post_id", "created_at", "id"),
        Index("ix_comments_author_id", "author_id"),
        CheckConstraint("like_count >= 0", name="like_count_positive"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    # The original design's ON DELETE SET NULL: a purged account's words stay in the thread.
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    content: Mapped[str] = mapped_column(Text)
    content_html: Mapped[str] = mapped_column(Text)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    edited_at: Mapped[datetime | None]
    deleted_at: Mapped[datetime | None]
    removed_at: Mapped[datetime | None]
    removed_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    removed_reason: Mapped[str | None] = mapped_column(String(500))
    # Set while readers' flags hide the comment until a moderator decides (blog/flags).
    hidden_at: Mapped[datetime | None]
    # Rows of comment_reactions, kept by blog.reactions.services in the like's own transaction.
    like_count: Mapped[int] = mapped_column(default=0, server_default="0")

    author: Mapped[User | None] = relationship(foreign_keys=[author_id])

    # THE definition of a comment that counts, in Python and in SQL (`Comment.is_visible` in a
    # WHERE): the post's heading, the thread's count and every list's "N comments" use it, so
    # they cannot disagree. Hidden-while-flagged comments still count: that is a pause.
    @hybrid_property
    def is_visible(self) -> bool:
        """Its words are shown (neither deleted by its author nor removed by a moderator)."""
        return self.deleted_at is None and self.removed_at is None

    @is_visible.inplace.expression
    @classmethod
    def _is_visible_sql(cls) -> ColumnElement[bool]:
        return and_(cls.deleted_at.is_(None), cls.removed_at.is_(None))

    def edit(self, content: str, content_html: str, now: datetime) -> None:
        if not self.is_visible:
            raise ValueError("a deleted or removed comment cannot be edited")
        self.content = content
        self.content_html = content_html
        self.edited_at = now

    def delete(self, now: datetime) -> None:
        if self.deleted_at is None:
            self.deleted_at = now

    def remove(self, *, by: uuid.UUID, reason: str, now: datetime) -> None:
        if not reason.strip():
            raise ValueError("a removal needs a reason")
        self.removed_at = now
        self.removed_by_id = by
        self.removed_reason = reason.strip()[:500]

    def restore(self) -> None:
        self.removed_at = None
        self.removed_by_id = None
        self.removed_reason = None
