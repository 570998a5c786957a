"""Posts, their tags (an explicit junction) and the old slugs that still lead to them.

A post's status moves draft → published → archived → published again, and nowhere else. The
moves are methods that refuse anything else with a message for people; the database backs them
with CHECKs (a published or archived post has published_at, a schedule belongs to a draft, an
archived post says when).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Computed,
    ForeignKey,
    Index,
    String,
    Table,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.dialects.postgresql import TSVECTOR
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.auth.models import User
from blog.core.db import Base, Timestamps, UUIDPrimaryKey, utcnow

Status = Literal["draft", "published", "archived"]
STATUSES: tuple[Status, ...] = ("draft", "published", "archived")
# The only moves there are. Everything else is refused (see IllegalTransition).
TRANSITIONS: frozenset[tuple[str, str]] = frozenset(
    {("draft", "published"), ("published", "archived"), ("archived", "published")}
)

TITLE_MIN, TITLE_MAX = 5, 500
CONTENT_MIN, CONTENT_MAX = 10, 100_000
SLUG_MAX = 200
TAG_NAME_MAX = 30
TAG_SLUG_MAX = 60
TAGS_PER_POST_MAX = 5
EXCERPT_LENGTH = 280

# Title above content. 'english' stems ("publishing" finds "published"); other languages still
# match word for word.
SEARCH_VECTOR_SQL = (
    "setweight(to_tsvector('english'::regconfig, title), 'A') || "
    "setweight(to_tsvector('english'::regconfig, content_text), 'B')"
)


class IllegalTransition(ValueError):
    """A status move the lifecycle does not allow; the message is for the person who tried."""


_REFUSALS = {
    ("draft", "draft"): "This post is already a draft.",
    ("draft", "archived"): "A draft cannot be archived: publish it first, or keep it as a draft.",
    ("published", "draft"): (
        "A published post cannot go back to being a draft: archive it to take it down."
    ),
    ("published", "published"): "This post is already published.",
    ("archived", "draft"): "An archived post cannot become a draft again: publish it again.",
    ("archived", "archived"): "This post is already archived.",
}


post_tags = Table(
    "post_tags",
    Base.metadata,
    Column("post_id", ForeignKey("posts.id", ondelete="CASCADE"), primary_key=True),
    # The primary key (post_id, tag_id) is the unique pair and serves "this post's tags";
    # this index serves "this tag's posts".
    Column("tag_id", ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True, index=True),
)


class Tag(UUIDPrimaryKey, Base):
    __tablename__ = "tags"
    __table_args__ = (
        CheckConstraint(
            f"char_length(name) BETWEEN 1 AND {TAG_NAME_MAX} AND name = lower(name)",
            name="name_normalised",
        ),
        CheckConstraint("slug ~ '^[^/?#%\\s]+$'", name="slug_url_safe"),
        CheckConstraint("post_count >= 0", name="post_count_positive"),
    )

    # Lower-case, spaces as hyphens (blog.posts.slugs.normalise_tag_name): one spelling each.
    name: Mapped[str] = mapped_column(String(TAG_NAME_MAX), unique=True)
    slug: Mapped[str] = mapped_column(String(TAG_SLUG_MAX), unique=True)
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    # Published, visible posts with this tag: kept by the post services (a delta in the same
    # transaction as the change) and recounted by cron, so no page aggregates post_tags.
    post_count: Mapped[int] = mapped_column(default=0, server_default="0")

    def __repr__(self) -> str:
        return f"<Tag {self.name}>"


class Post(UUIDPrimaryKey, Timestamps, Base):
    __tablename__ = "posts"
    __table_args__ = (
        CheckConstraint(
            f"char_length(title) BETWEEN {TITLE_MIN} AND {TITLE_MAX}", name="title_length"
        ),
        CheckConstraint(
            f"char_length(content) BETWEEN {CONTENT_MIN} AND {CONTENT_MAX}", name="content_length"
        ),
        CheckConstraint("status IN ('draft', 'published', 'archived')", name="status"),
        CheckConstraint("status = 'draft' OR published_at IS NOT NULL", name="published_has_date"),
        CheckConstraint("scheduled_at IS NULL OR status = 'draft'", name="schedule_only_drafts"),
        CheckConstraint(
            "(status = 'archived') = (archived_at IS NOT NULL)", name="archived_has_date"
        ),
        CheckConstraint("view_count >= 0", name="view_count_positive"),
        CheckConstraint("version > 0", name="version_positive"),
        CheckConstraint("like_count >= 0", name="like_count_positive"),
        CheckConstraint("slug ~ '^[^/?#%\\s]+$'", name="slug_url_safe"),
        # The home feed and the author page walk these backwards (keyset pagination).
        Index(
            "ix_posts_published_feed",
            "published_at",
            "id",
            postgresql_where=text("status = 'published'"),
        ),
        Index("ix_posts_author_id_published_at", "author_id", "published_at", "id"),
        Index(
            "ix_posts_scheduled_at",
            "scheduled_at",
            postgresql_where=text("scheduled_at IS NOT NULL"),
        ),
        Index("ix_posts_search_vector", "search_vector", postgresql_using="gin"),
    )

    # CASCADE: the application never hard-deletes a user (accounts are soft-deleted, then
    # anonymised, and the row stays); a hard delete is an erasure done by hand, which must take
    # the person's writing with it rather than fail or leave authorless posts.
    author_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    slug: Mapped[str] = mapped_column(String(SLUG_MAX), unique=True)
    # The Markdown as written; the sanitised HTML and plain text are derived from it whenever it
    # changes (blog.core.markdown), never at read time.
    content: Mapped[str] = mapped_column(Text, deferred=True)
    content_html: Mapped[str] = mapped_column(Text, deferred=True)
    content_text: Mapped[str] = mapped_column(Text, deferred=True)
    status: Mapped[str] = mapped_column(String(20), default="draft", server_default="draft")
    # The first publication: publishing again after an archive keeps the post's place in feeds.
    published_at: Mapped[datetime | None]
    scheduled_at: Mapped[datetime | None]
    archived_at: Mapped[datetime | None]
    # Who archived it: when a moderator did, only a moderator may publish it again.
    archived_by_id: Mapped[uuid.UUID | None] = mapped_column(
        ForeignKey("users.id", ondelete="SET NULL")
    )
    # Flushed from Redis by a job (blog.posts.views_counter): no write per page view.
    view_count: Mapped[int] = mapped_column(BigInteger, default=0, server_default="0")
    # Rows of post_reactions, kept by blog.reactions.services in the like's own transaction.
    like_count: Mapped[int] = mapped_column(default=0, server_default="0")
    # Set while readers' flags hide the post until a moderator decides (blog/flags).
    hidden_at: Mapped[datetime | None]
    # Bumped by every change of title, text or tags (autosaves included). A save names the
    # version it started from, so a second tab's save is refused rather than overwriting.
    version: Mapped[int] = mapped_column(default=1, server_default="1")
    # The last change of title or text after publication ("edited" beside the date); the
    # versions it replaced are PostRevision rows.
    edited_at: Mapped[datetime | None]
    search_vector: Mapped[Any] = mapped_column(
        TSVECTOR, Computed(SEARCH_VECTOR_SQL, persisted=True), deferred=True
    )

    author: Mapped[User] = relationship(foreign_keys=[author_id])
    tags: Mapped[list[Tag]] = relationship(secondary=post_tags, order_by=Tag.name)

    @property
    def is_draft(self) -> bool:
        return self.status == "draft"

    @property
    def is_published(self) -> bool:
        return self.status == "published"

    @property
    def is_archived(self) -> bool:
        return self.status == "archived"

    def check_transition(self, target: str) -> None:
        """Raise IllegalTransition unless the lifecycle allows moving to `target`."""
        if target not in STATUSES:
            raise IllegalTransition(f"There is no status called {target!r}.")
        if (self.status, target) not in TRANSITIONS:
            raise IllegalTransition(_REFUSALS[(self.status, target)])

    def publish(self, now: datetime) -> None:
        """Draft or archived → published. The first publication sets published_at."""
        self.check_transition("published")
        _aware(now)
        self.status = "published"
        self.published_at = self.published_at or now
        self.scheduled_at = None
        self.archived_at = None
        self.archived_by_id = None

    def archive(self, now: datetime, by: uuid.UUID | None) -> None:
        """Published → archived: off the feeds and search, still readable at its address."""
        self.check_transition("archived")
        _aware(now)
        self.status = "archived"
        self.archived_at = now
        self.archived_by_id = by

    def move_to(self, target: str, now: datetime, by: uuid.UUID | None = None) -> None:
        """The one entry for a status change named by value (the table-driven test uses it)."""
        self.check_transition(target)
        if target == "published":
            self.publish(now)
        else:
            self.archive(now, by)

    def schedule(self, at: datetime, now: datetime) -> None:
        """Publish this draft at `at` (aware, in the future); the cron job does it."""
        if not self.is_draft:
            raise IllegalTransition("Only a draft can be scheduled.")
        if _aware(at) <= _aware(now):
            raise IllegalTransition("Choose a time in the future.")
        self.scheduled_at = at

    def unschedule(self) -> None:
        self.scheduled_at = None

    def is_due(self, now: datetime) -> bool:
        return self.is_draft and self.scheduled_at is not None and self.scheduled_at <= now

    def __repr__(self) -> str:
        return f"<Post {self.slug} {self.status}>"


class PostSlugRedirect(Base):
    """A slug a published post had before its title changed: the old address answers 301."""

    __tablename__ = "post_slug_redirects"
    __table_args__ = (CheckConstraint("slug ~ '^[^/?#%\\s]+$'", name="slug_url_safe"),)

    slug: Mapped[str] = mapped_column(String(SLUG_MAX), primary_key=True)
    post_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("posts.id", ondelete="CASCADE"), index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class PostRevision(UUIDPrimaryKey, Base):
    """An earlier version of a public post: its title and Markdown as they were at `version`,
    written at `edited_at` (its publication or its own edit) by `editor_id`.

    Drafts keep none (autosaves would make hundreds); a revision is kept when a published or
    archived post's title or text changes."""

    __tablename__ = "post_revisions"
    __table_args__ = (
        CheckConstraint("version > 0", name="version_positive"),
        UniqueConstraint("post_id", "version"),
    )

    post_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("posts.id", ondelete="CASCADE"))
    version: Mapped[int]
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    body: Mapped[str] = mapped_column(Text)
    edited_at: Mapped[datetime]
    # SET NULL like posts.archived_by_id: the history outlives an erased editor.
    editor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))


def _aware(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("post times must be aware datetimes")
    return moment
