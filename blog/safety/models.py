"""Screens between people (Discourse's UserCommScreener) and who may message you.

A screen is one person's choice about another: `mute` stops the target's notifications and
messages reaching the person; `ignore` does that and also collapses what the target writes, for
that person only. Staff (moderators, admins) cannot be screened (the service refuses, and every
query that honours a screen also checks the target is an ordinary user, in case they were
promoted after).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Literal

from sqlalchemy import CheckConstraint, ForeignKey, String, func
from sqlalchemy.orm import Mapped, mapped_column, relationship

from blog.auth.models import User
from blog.core.db import Base, utcnow

Level = Literal["mute", "ignore"]
LEVELS: tuple[Level, ...] = ("mute", "ignore")
DM_CHOICES = ("everyone", "following", "nobody")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class UserScreen(Base):
    """`user` mutes or ignores `target`."""

    __tablename__ = "user_screens"
    __table_args__ = (
        CheckConstraint("user_id <> target_id", name="not_self"),
        CheckConstraint(_in("level", LEVELS), name="level"),
    )

    # The primary key is the unique pair: (recipient, actor) is every lookup's shape.
    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    # Indexed for the cascade when the target's account is purged.
    target_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True, index=True
    )
    level: Mapped[str] = mapped_column(String(10))
    created_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)

    target: Mapped[User] = relationship(foreign_keys=[target_id])


class MessagingPreference(Base):
    """Who may start a conversation with the user: everyone (no row), people they follow, or
    nobody. Staff may always."""

    __tablename__ = "messaging_preferences"
    __table_args__ = (CheckConstraint(_in("dm_from", DM_CHOICES), name="dm_from"),)

    user_id: Mapped[uuid.UUID] = mapped_column(
        ForeignKey("users.id", ondelete="CASCADE"), primary_key=True
    )
    dm_from: Mapped[str] = mapped_column(String(10), default="everyone", server_default="everyone")
    updated_at: Mapped[datetime] = mapped_column(server_default=func.now(), default=utcnow)
