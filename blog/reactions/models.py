"""Likes on posts and comments, and bookmarks ("saved" posts).

One table per item type rather than one `reactions` table with two nullable item columns: each
row then has a real foreign key with ON DELETE CASCADE to its item, the primary key
(user, item, kind) is the unique rule and serves "did I like these?" for a page, and no
CHECK has to say "exactly one of post_id, comment_id". `kind` is there for the emoji set the
issue allows later; only 'like' exists today.

The counts that pages show are denormalised on posts.like_count and comments.like_count and
kept by blog.reactions.services in the same transaction as the row, so a list of posts reads
its counts with the posts (no COUNT per page, nothing extra for an anonymous home page).

This module imports no feature's models (the foreign keys are named by table), so the read
side of posts (blog.posts.queries) can use it without an import circle.
"""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, String, func, text
from sqlalchemy.orm import Mapped, mapped_column

from blog.core.db import Base, utcnow

KINDS = ("like",)
_KIND_CHECK = "kind IN ('like')"


class PostReaction(Base):
    __tablename__ = "post_reactions"
    __table_args__ = (
        CheckConstraint(_KIND_CHECK, name="kind"),
        # The post's likers, newest first: the grouped notification names the latest one.
        Index("ix_post_reactions_post_id_created_at", "post_id", text("created_at DESC")),
    )

    # A person's likes go with their account, as their follows and flags do.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True, default="like")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class CommentReaction(Base):
    __tablename__ = "comment_reactions"
    __table_args__ = (
        CheckConstraint(_KIND_CHECK, name="kind"),
        Index("ix_comment_reactions_comment_id_created_at", "comment_id", text("created_at DESC")),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    comment_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("comments.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(20), primary_key=True, default="like")
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class Bookmark(Base):
    """`user` saved `post` for later (private: only they see it)."""

    __tablename__ = "bookmarks"
    __table_args__ = (
        # /saved: newest saved first, keyset on (created_at, post_id).
        Index(
            "ix_bookmarks_user_id_created_at",
            "user_id",
            text("created_at DESC"),
            text("post_id DESC"),
        ),
        # The post's deletion cascades through this.
        Index("ix_bookmarks_post_id", "post_id"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
