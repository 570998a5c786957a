"""Notifications (one row per user, channel and event), preferences, and follows.

`type` keeps the original design's channel names: `websocket` is the in-app notification (a
row in the inbox, a live badge and a toast), `email` a message to send, `push` a web push. A
notification made from an event carries its id, and (user, type, event) is unique, so an event
delivered twice never notifies twice.
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import (
    CheckConstraint,
    ForeignKey,
    Index,
    SmallInteger,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.core.db import Base, UUIDPrimaryKey, utcnow

Kind = Literal[
    "comment_on_post",
    "mention",
    "followed_author_posted",
    "post_archived",
    "comment_removed",
    "account_suspended",
    "chat_message",
    "reaction",
    "comment_reply",
    "data_export_ready",
]
KINDS: tuple[Kind, ...] = (
    "comment_on_post",
    "mention",
    "followed_author_posted",
    "post_archived",
    "comment_removed",
    "account_suspended",
    "chat_message",
    "reaction",
    "comment_reply",
    "data_export_ready",
)
# The daily digest is an email row of its own kind (one per user and day, see digest.py), and
# its opt-in is a preference of that kind on the email channel.
DIGEST_KIND = "daily_digest"
ROW_KINDS: tuple[str, ...] = (*KINDS, DIGEST_KIND)
TYPES = ("email", "push", "websocket")
IN_APP = "websocket"  # the original design's name for the in-app channel
STATUSES = ("pending", "sent", "failed")
CHANNELS = ("in_app", "email", "push")

TITLE_MAX = 200
MESSAGE_MAX = 2000
LINK_MAX = 500
ENDPOINT_MAX = 1000


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Notification(UUIDPrimaryKey, Base):
    __tablename__ = "notifications"
    __table_args__ = (
        CheckConstraint(_in("type", TYPES), name="type"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("kind", ROW_KINDS), name="kind"),
        CheckConstraint("status <> 'sent' OR sent_at IS NOT NULL", name="sent_has_date"),
        CheckConstraint("attempts >= 0", name="attempts_positive"),
        # Only the inbox's rows are read; an email is sent, not read.
        CheckConstraint("read_at IS NULL OR type = 'websocket'", name="read_only_in_app"),
        # A re-delivered event never notifies twice (NULL event ids, for notices made by hand,
        # are distinct in PostgreSQL and so never collide). user_id first: it also serves the
        # foreign key's cascade.
        UniqueConstraint("user_id", "type", "event_id"),
        # A grouped notification ("bob and 3 others liked your post"): one in-app row per
        # person and group, updated by each new event of the group (notify_grouped).
        Index(
            "uq_notifications_group",
            "user_id",
            "group_key",
            unique=True,
            postgresql_where=text("group_key IS NOT NULL"),
        ),
        # The inbox, newest first, keyset-paginated on (created_at, id).
        Index(
            "ix_notifications_inbox",
            "user_id",
            text("created_at DESC"),
            text("id DESC"),
            postgresql_where=text("type = 'websocket'"),
        ),
        # The badge: COUNT of unread in-app rows reads this small index only.
        Index(
            "ix_notifications_unread",
            "user_id",
            postgresql_where=text("type = 'websocket' AND read_at IS NULL"),
        ),
        # The sweep that finds email deliveries a lost job left behind.
        Index(
            "ix_notifications_pending",
            "created_at",
            postgresql_where=text("status = 'pending'"),
        ),
        # "When was this user's last digest?": the digest's set query asks it for every user.
        Index(
            "ix_notifications_digests",
            "user_id",
            text("created_at DESC"),
            postgresql_where=text("kind = 'daily_digest'"),
        ),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"))
    type: Mapped[str] = mapped_column(String(20))
    kind: Mapped[str] = mapped_column(String(40))
    title: Mapped[str] = mapped_column(String(TITLE_MAX))
    message: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(String(LINK_MAX))
    status: Mapped[str] = mapped_column(String(20), default="pending", server_default="pending")
    sent_at: Mapped[datetime | None]
    read_at: Mapped[datetime | None]
    event_id: Mapped[uuid.UUID | None]
    # Who caused it (the commenter, the sender…), for their picture; NULL for the system and
    # moderators' actions, and once that account is purged.
    actor_id: Mapped[uuid.UUID | None] = mapped_column(ForeignKey("users.id", ondelete="SET NULL"))
    # Set on grouped in-app rows only, e.g. "reaction:post:<uuid>".
    group_key: Mapped[str | None] = mapped_column(String(100))
    attempts: Mapped[int] = mapped_column(SmallInteger, default=0, server_default="0")
    last_error: Mapped[str | None] = mapped_column(Text)
    # A pending email whose quick retries failed: when the cron sweep may try it again.
    next_attempt_at: Mapped[datetime | None]
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    # The inbox loads it with the page (joinedload): one statement for the list.
    actor: Mapped[Any] = relationship("User", foreign_keys=[actor_id], viewonly=True)

    @property
    def is_unread(self) -> bool:
        return self.read_at is None

    def mark_read(self, now: datetime) -> None:
        if self.type != IN_APP:
            raise ValueError("only in-app notifications are read")
        if self.read_at is None:
            self.read_at = now


class NotificationPreference(Base):
    """A choice that differs from the default, per kind and channel (no row: the default).

    A table rather than a JSONB column on users: the follower fan-out joins it in the same
    INSERT ... SELECT, and the database checks each kind and channel.
    """

    __tablename__ = "notification_preferences"
    __table_args__ = (
        CheckConstraint(_in("kind", ROW_KINDS), name="kind"),
        CheckConstraint(_in("channel", CHANNELS), name="channel"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    kind: Mapped[str] = mapped_column(String(40), primary_key=True)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    enabled: Mapped[bool]
    updated_at: Mapped[datetime] = mapped_column(
        server_default=func.now(), default=utcnow, onupdate=utcnow
    )


class Follow(Base):
    """`follower` follows `followed`: new posts by `followed` notify `follower`."""

    __tablename__ = "follows"
    __table_args__ = (CheckConstraint("follower_id <> followed_id", name="not_self"),)

    # The primary key is the unique pair and serves "whom do I follow".
    follower_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # "Who follows this author": the fan-out's lookup.
    followed_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)


class PushSubscription(UUIDPrimaryKey, Base):
    """A browser's web push subscription (the PushSubscription JSON a page posts to us).

    The endpoint is the push service's URL for that browser: unique, since one browser has one
    per site; a subscription posted again by another signed-in user moves to that user. The
    keys encrypt each payload for that browser alone (RFC 8291): p256dh is its P-256 public key
    (65 bytes uncompressed), auth its 16-byte secret, both base64url as the browser gives them.
    """

    __tablename__ = "push_subscriptions"
    __table_args__ = (
        CheckConstraint("endpoint ~ '^https?://'", name="endpoint_url"),
        CheckConstraint("char_length(p256dh) BETWEEN 80 AND 100", name="p256dh_length"),
        CheckConstraint("char_length(auth) BETWEEN 16 AND 32", name="auth_length"),
    )

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), index=True
    )
    endpoint: Mapped[str] = mapped_column(String(ENDPOINT_MAX), unique=True)
    p256dh: Mapped[str] = mapped_column(String(100))
    auth: Mapped[str] = mapped_column(String(32))
    user_agent: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
    last_success_at: Mapped[datetime | None]
    last_failure_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
