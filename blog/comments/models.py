"""Comments on posts: a thread per post, oldest first, where a comment may answer another.

A comment's author may edit it or delete it (it stays in the thread as "deleted", so the
conversation around it still reads); a moderator may remove it with a reason (shown in its
place, and recorded in the audit log). A deleted account's comments stay, as "deleted user".
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import (
    UUID,
    CheckConstraint,
    ColumnElement,
    ForeignKey,
    Index,
    String,
    Text,
    and_,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.hybrid import hybrid_property
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.auth.models import User
from blog.core.db import Base, UUIDPrimaryKey, utcnow

MAX_LENGTH = 2000
# Replies nest on the page to this many levels (a top-level comment is level 1); a reply to a
# comment at the last level is shown at that level, after it, "in reply to" its parent (as
# Lobsters and Reddit do). The stored tree keeps every reply's real parent.
SHOWN_LEVELS = 3


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
        # A page of top-level comments brings their whole subtrees in one statement by root.
        Index("ix_comments_root_id_created_at_id", "root_id", "created_at", "id"),
        # The self-FK's cascade looks children up by parent.
        Index("ix_comments_parent_id", "parent_id"),
        CheckConstraint(
            "(parent_id IS NULL) = (root_id IS NULL) "
            "AND (parent_id IS NULL) = (cardinality(path) = 0)",
            name="reply_has_root_and_path",
        ),
        CheckConstraint("like_count >= 0", name="like_count_positive"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    # The original design's ON DELETE SET NULL: a purged account's words stay in the thread.
    author_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # A reply's parent. Comments are soft-deleted and removed in place, so a parent row only
    # goes when its post does (CASCADE, as comments follow their post); a purge of the parent
    # alone would take its replies with it, which nothing does.
    parent_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE")
    )
    # The materialised path: the top-level comment of the subtree, and every ancestor from it
    # down to the parent (empty for a top-level comment). Written once, at insert.
    root_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("comments.id", ondelete="CASCADE"))
    path: Mapped[list[uuid.UUID]] = mapped_column(
        ARRAY(UUID(as_uuid=True)), server_default=text("'{}'"), default=list
    )
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

    @property
    def depth(self) -> int:
        """0 for a top-level comment, 1 for a reply to it, and so on."""
        return len(self.path or ())

    @property
    def container_id(self) -> uuid.UUID | None:
        """The comment whose reply list shows this one (None: the top-level list). Replies
        deeper than SHOWN_LEVELS sit in the last level's list."""
        if not self.path:
            return None
        return self.path[min(len(self.path), SHOWN_LEVELS - 1) - 1]

    @property
    def shows_replies(self) -> bool:
        """It has its own reply list on the page (it is above the last shown level)."""
        return self.depth < SHOWN_LEVELS - 1

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
