"""Mute, ignore and who may message you. Services add and flush; the view commits.

The rules are enforced where the thing happens, as SQL conditions in the statements that do it
(no loop, no second query on a hot path):
- notifications: blog.notifications.services' fan-out skips every recipient who screens the
  notice's actor (`screened_by`), one statement per channel as before;
- chat: blog.chat.services asks `refusing_messages` once before it starts a conversation or
  adds members;
- lists and threads: `ignores` is a condition (or a column) in the list's own statement.
Staff (moderators, admins) are never screened: they cannot be muted, and every condition checks
that the screened person is an ordinary user, in case they were promoted after.
"""

from __future__ import annotations

import uuid
from functools import cache
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, literal, or_, select
from sqlalchemy.dialects.postgresql import insert
from sqlalchemy.orm import joinedload

from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from blog.safety.models import DM_CHOICES, LEVELS, MessagingPreference, UserScreen

STAFF_ROLES = ("admin", "moderator")
REFUSED_MESSAGE = "You can't message this person."
DM_LABELS = {
    "everyone": "Everyone",
    "following": "Only people I follow",
    "nobody": "Nobody (moderators and admins still can)",
}


class ScreenRefused(ValueError):
    """The mute or ignore cannot be made; the message says why."""


def is_staff(user: Any) -> bool:
    return getattr(user, "role", None) in STAFF_ROLES


# --------------------------------------------------------------------------- SQL conditions


@cache
def _screened_person() -> Any:
    return User.__table__.alias("screened_person")


def screened_by(recipient: Any, actor: Any, levels: tuple[str, ...] = LEVELS) -> Any:
    """EXISTS: `recipient` mutes or ignores (`levels`) `actor`, who is an ordinary user.

    Both are SQL expressions (columns of the enclosing statement, or literals); served by the
    primary key (user_id, target_id)."""
    # Core tables and one alias made once, not ORM entities: this is built per statement of a
    # fan-out (three per notified event), and making and adapting an ORM alias of `users` was
    # a third of a comment handler's time.
    screen = UserScreen.__table__.c
    person = _screened_person()
    condition = [screen.user_id == recipient, screen.target_id == actor]
    if tuple(levels) != LEVELS:
        condition.append(screen.level.in_(levels))
    return (
        select(literal(1))
        .select_from(UserScreen.__table__)
        .join(person, and_(person.c.id == screen.target_id, person.c.role == "user"))
        .where(*condition)
        .exists()
    )


def ignores(viewer_id: uuid.UUID | ColumnElement[Any], author: Any) -> Any:
    """EXISTS: the viewer ignores the author (a column of the enclosing statement). The
    viewer is an id, or a SQL expression such as a bound parameter of a statement built once."""
    viewer = viewer_id if isinstance(viewer_id, ColumnElement) else literal(viewer_id)
    return screened_by(viewer, author, ("ignore",))


# --------------------------------------------------------------------------- screens


def screen_level(user_id: uuid.UUID, target_id: uuid.UUID) -> str | None:
    """'mute', 'ignore' or None: what `user_id` chose about `target_id`."""
    return db.session.scalar(
        select(UserScreen.level).where(
            UserScreen.user_id == user_id, UserScreen.target_id == target_id
        )
    )


def screen(user: User, target: User, level: str) -> None:
    """Mute or ignore `target` (a second call changes the level). Raises ScreenRefused for
    yourself, staff and gone accounts."""
    if level not in LEVELS:
        raise ScreenRefused("Choose mute or ignore.")
    if target.id == user.id:
        raise ScreenRefused("You cannot mute or ignore yourself.")
    if target.deleted_at is not None:
        raise ScreenRefused("This account no longer exists.")
    if is_staff(target):
        raise ScreenRefused(
            "Moderators and admins cannot be muted or ignored: they must be able to reach "
            "everyone. If one of them troubles you, tell an admin."
        )
    stmt = insert(UserScreen).values(
        user_id=user.id, target_id=target.id, level=level, created_at=utcnow()
    )
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "target_id"], set_={"level": stmt.excluded.level}
        )
    )


def unscreen(user: User, target_id: uuid.UUID) -> bool:
    """Stop muting or ignoring (idempotent); True if there was something to undo."""
    result = db.session.execute(
        delete(UserScreen).where(UserScreen.user_id == user.id, UserScreen.target_id == target_id)
    )
    return bool(result.rowcount)  # type: ignore[attr-defined]


def screens(user_id: uuid.UUID) -> list[UserScreen]:
    """Everyone the user mutes or ignores, newest first, with their accounts (one statement)."""
    return list(
        db.session.scalars(
            select(UserScreen)
            .where(UserScreen.user_id == user_id)
            .options(joinedload(UserScreen.target))
            .order_by(UserScreen.created_at.desc(), UserScreen.target_id)
        )
    )


def ignored_ids(viewer_id: uuid.UUID, author_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Which of these authors the viewer ignores (one statement; for fragments outside a list)."""
    if not author_ids:
        return set()
    return set(
        db.session.scalars(
            select(User.id).where(User.id.in_(author_ids), ignores(viewer_id, User.id))
        )
    )


# --------------------------------------------------------------------------- messaging


def dm_from(user_id: uuid.UUID) -> str:
    """Who may start a conversation with the user: everyone, following or nobody."""
    chosen = db.session.scalar(
        select(MessagingPreference.dm_from).where(MessagingPreference.user_id == user_id)
    )
    return chosen or "everyone"


def set_dm_from(user_id: uuid.UUID, choice: str) -> None:
    if choice not in DM_CHOICES:
        raise ValueError(f"no such choice: {choice}")
    stmt = insert(MessagingPreference).values(user_id=user_id, dm_from=choice, updated_at=utcnow())
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id"],
            set_={"dm_from": stmt.excluded.dm_from, "updated_at": stmt.excluded.updated_at},
        )
    )


def refusing_messages(sender: User, target_ids: list[uuid.UUID]) -> set[uuid.UUID]:
    """Those of `target_ids` who do not take conversations from `sender`: they mute or ignore
    them, or their "Direct messages from" choice leaves them out. One statement; staff senders
    are refused by nobody, and staff targets refuse nobody."""
    from blog.notifications.models import Follow

    ids = [t for t in target_ids if t != sender.id]
    if not ids or is_staff(sender):
        return set()
    pref = MessagingPreference
    follows_sender = (
        select(literal(1))
        .select_from(Follow)
        .where(Follow.follower_id == User.id, Follow.followed_id == sender.id)
        .exists()
    )
    by_choice = (
        select(literal(1))
        .select_from(pref)
        .where(
            pref.user_id == User.id,
            or_(pref.dm_from == "nobody", and_(pref.dm_from == "following", ~follows_sender)),
        )
        .exists()
    )
    screened = (
        select(literal(1))
        .select_from(UserScreen)
        .where(UserScreen.user_id == User.id, UserScreen.target_id == sender.id)
        .exists()
    )
    return set(
        db.session.scalars(
            select(User.id).where(User.id.in_(ids), User.role == "user", or_(screened, by_choice))
        )
    )
