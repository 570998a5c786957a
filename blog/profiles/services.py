"""Public profiles: who someone is and what they have published. Services never commit."""

from __future__ import annotations

import hashlib
import uuid
from xml.sax.saxutils import escape

from sqlalchemy import func, literal, select, union_all

from blog.auth.models import User
from blog.core.ui import initials as core_initials
from blog.extensions import db


def get_public_user(user_name: str) -> User | None:
    """The user behind /u/<user_name>, or None (also for a deleted account)."""
    return db.session.scalar(
        select(User).where(
            func.lower(User.user_name) == user_name.lower(), User.deleted_at.is_(None)
        )
    )


def update_profile(user: User, *, display_name: str | None, bio: str | None) -> None:
    user.display_name = display_name or None
    user.bio = bio or None
    db.session.flush()


def set_theme(user: User, theme: str) -> None:
    """Keep the person's colour scheme (one of system, light, dark; the view checks it)."""
    user.theme = theme
    db.session.flush()


def initials(user: User) -> str:
    return core_initials(user.display_name or user.user_name)


def avatar_svg(user_id: uuid.UUID, letters: str) -> str:
    """A generated default avatar: the initials on a colour derived from the id (stable)."""
    digest = hashlib.sha256(user_id.bytes).digest()
    hue = int.from_bytes(digest[:2], "big") % 360
    # Lightness 35 % keeps white text above WCAG AA contrast for every hue.
    return (
        '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 64 64" role="img">'
        f'<rect width="64" height="64" rx="8" fill="hsl({hue} 55% 35%)"/>'
        '<text x="32" y="32" dy=".35em" text-anchor="middle" fill="#fff" '
        'font-family="system-ui, sans-serif" font-size="26" font-weight="600">'
        f"{escape(letters[:2])}</text></svg>"
    )


SUGGESTIONS = 8


def _like_prefix(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def suggest_people(prefix: str, *, limit: int = SUGGESTIONS) -> list[User]:
    """Up to `limit` active accounts whose user name or display name starts with `prefix`
    (case-insensitive), user-name matches first: for the @mention suggestions.

    Each half is a range scan on its text_pattern_ops index (ix_users_user_name_prefix,
    ix_users_display_name_prefix), never a scan of every account; suspended and deleted
    accounts are left out."""
    prefix = prefix.strip().lstrip("@").lower()[:100]
    if not prefix:
        return []
    needle = _like_prefix(prefix)
    live = (User.deleted_at.is_(None), User.status == "active")
    by_name = (
        select(User.id, func.lower(User.user_name).label("key"), literal(0).label("rank"))
        .where(func.lower(User.user_name).like(needle, escape="\\"), *live)
        .limit(limit)
    )
    by_display = (
        select(User.id, func.lower(User.display_name).label("key"), literal(1).label("rank"))
        .where(func.lower(User.display_name).like(needle, escape="\\"), *live)
        .limit(limit)
    )
    found = union_all(by_name, by_display).subquery()
    best = (
        select(found.c.id, func.min(found.c.rank).label("rank"), func.min(found.c.key).label("key"))
        .group_by(found.c.id)
        .subquery()
    )
    return list(
        db.session.scalars(
            select(User)
            .join(best, best.c.id == User.id)
            .order_by(best.c.rank, best.c.key, User.id)
            .limit(limit)
        )
    )
