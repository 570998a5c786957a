"""Notifying people, their inbox, their choices, and whom they follow. Services never commit.

A notification is made for a set of users in ONE statement (INSERT ... SELECT), which joins the
users' preferences and skips what the unique (user, type, event) key already holds: an author
with a thousand followers costs one statement, and a re-delivered event adds nothing. Live
updates (badge, toast) and email jobs go out after the commit (blog.core.oncommit).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from flask import current_app
from sqlalchemy import (
    Text,
    and_,
    bindparam,
    cast,
    delete,
    func,
    literal,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.dialects.postgresql import ARRAY, UUID, insert
from sqlalchemy.orm import joinedload

from blog.auth.models import User
from blog.core.db import utcnow
from blog.core.oncommit import after_commit_once
from blog.extensions import db
from blog.notifications.models import (
    DIGEST_KIND,
    IN_APP,
    KINDS,
    Follow,
    Notification,
    NotificationPreference,
    PushSubscription,
)

INBOX_PAGE = 20
BADGE_CAP = 99  # the badge says "99+" beyond this; the count stops there (cheap)
MAX_TOASTS = 10  # toasts in one live message at most (the badge counts the rest)

# What each kind says, and which channels it uses unless the person chose otherwise.
KIND_LABELS: dict[str, str] = {
    "comment_on_post": "Comments on your posts",
    "mention": "Mentions of you",
    "followed_author_posted": "New posts by people you follow",
    "post_archived": "Your post archived by a moderator",
    "comment_removed": "Your comment removed by a moderator",
    "account_suspended": "Your account suspended",
    "chat_message": "Chat messages while you are away",
    "reaction": "Likes and reactions to your posts and comments",
    "comment_reply": "Replies to your comments",
    "data_export_ready": "Your data download is ready",
}
DIGEST_LABEL = "Daily digest of unread notifications"
# Every kind a person can turn off by email, the digest included (unsubscribe links).
MAIL_LABELS: dict[str, str] = {**KIND_LABELS, DIGEST_KIND: DIGEST_LABEL}
DEFAULTS: dict[tuple[str, str], bool] = {
    **{(kind, "in_app"): True for kind in KINDS},
    **{(kind, "email"): True for kind in KINDS},
    # Push reaches only browsers the person subscribed on purpose: on unless they say no.
    **{(kind, "push"): True for kind in KINDS},
    # A prolific author must not fill inboxes' mail (or buzz phones): opt in.
    ("followed_author_posted", "email"): False,
    ("followed_author_posted", "push"): False,
    # Likes come in numbers: in the page only, unless the person asks for more.
    ("reaction", "email"): False,
    ("reaction", "push"): False,
    # The daily digest of unread notifications (blog.notifications.digest): opt in.
    (DIGEST_KIND, "email"): False,
}
# Preference channels shown on the page, per kind.
PAGE_CHANNELS = ("in_app", "email", "push")
# Kinds that are always sent by email: a person must learn their account was suspended.
# A data download was asked for by the person and its link comes by mail.
REQUIRED_EMAIL = frozenset({"account_suspended", "data_export_ready"})


@dataclass(frozen=True)
class Notice:
    """What to tell: the same words for every recipient of one event."""

    kind: str
    title: str
    message: str
    link: str | None = None
    actor_id: uuid.UUID | None = None  # whose picture the inbox shows beside it


# --------------------------------------------------------------------------- notifying


def notify_users(
    user_ids: Iterable[uuid.UUID | str], notice: Notice, *, event_id: uuid.UUID | None
) -> list[str]:
    """Notify these users in-app and by email, as each one's preferences say.

    Returns the ids (as text) of the users who got a new in-app notification. Badges, toasts and
    mail go out after commit. Users gone (deleted) are skipped.
    """
    ids = [str(u) for u in user_ids]
    if not ids:
        return []
    recipients = select(func.unnest(_uuid_array("ids", ids)).label("user_id")).subquery()
    return _notify_from(recipients, notice, event_id=event_id)


def notify_followers(author_id: uuid.UUID, notice: Notice, *, event_id: uuid.UUID) -> int:
    """Notify everyone who follows `author_id`, in one statement per channel (item 6)."""
    recipients = (
        select(Follow.follower_id.label("user_id")).where(Follow.followed_id == author_id)
    ).subquery()
    return len(_notify_from(recipients, notice, event_id=event_id))


def notify_grouped(
    user_id: uuid.UUID | str, notice: Notice, *, group_key: str, event_id: uuid.UUID
) -> bool:
    """Notify one person of the newest event of a group ("bob and 3 others liked your post"):
    ONE in-app row per person and `group_key`, inserted the first time and afterwards updated
    in place (words, link, picture), marked unread again and moved to the top of the inbox,
    so four likes are one notification, not four. Email and push, per preference, go out per
    event as notify_users does (off by default for likes). Returns whether the in-app row was
    written; the badge and a toast follow after commit.
    """
    recipients = select(func.unnest(_uuid_array("ids", [user_id])).label("user_id")).subquery()
    now = utcnow()
    in_app = _insert_for_channel(
        recipients, notice, event_id, "in_app", status="sent", sent_at=now, group_key=group_key
    )
    emails = _insert_for_channel(recipients, notice, event_id, "email", status="pending")
    pushes = (
        _insert_for_channel(recipients, notice, event_id, "push", status="pending")
        if current_app.config.get("VAPID_PRIVATE_KEY")
        else []
    )
    if in_app or emails or pushes:
        after = after_commit_once("notifications", _AfterCommit)
        for _id, uid in in_app:
            after.toasts.setdefault(uid, []).append(notice)
        after.emails.extend(nid for nid, _user in emails)
        after.pushes.extend(nid for nid, _user in pushes)
    return bool(in_app)


def _uuid_array(name: str, ids: Iterable[uuid.UUID | str]) -> Any:
    """A uuid[] parameter sent as text[] and cast by the server: no UUID objects in Python."""
    values = [str(u) for u in ids]
    return cast(bindparam(name, values, type_=ARRAY(Text)), ARRAY(UUID(as_uuid=True)))


class _AfterCommit:
    """What a transaction's notifications send once it commits, gathered across its events.

    A handler job may notify for many events in one transaction (blog.outbox.registry runs a
    relay batch at once): each person's badge is counted and published once, with a toast for
    each of their new notices, and the delivery jobs are queued in one Redis round trip.
    """

    def __init__(self) -> None:
        self.toasts: dict[str, list[Notice]] = {}  # user id (text) -> their new notices
        self.emails: list[str] = []
        self.pushes: list[str] = []

    def __call__(self) -> None:
        if self.toasts:  # first: the badge is what a person is waiting to see
            push_toasts(self.toasts)
        if self.emails:
            request_email_drain()
        if self.pushes:
            enqueue_email_deliveries(self.pushes, push=True)


def _notify_from(recipients: Any, notice: Notice, *, event_id: uuid.UUID | None) -> list[str]:
    now = utcnow()
    in_app = _insert_for_channel(recipients, notice, event_id, "in_app", status="sent", sent_at=now)
    emails = _insert_for_channel(recipients, notice, event_id, "email", status="pending")
    pushes = (
        _insert_for_channel(recipients, notice, event_id, "push", status="pending")
        if current_app.config.get("VAPID_PRIVATE_KEY")
        else []
    )
    in_app_users = [user_id for _id, user_id in in_app]
    if in_app_users or emails or pushes:
        after = after_commit_once("notifications", _AfterCommit)
        for user_id in in_app_users:
            after.toasts.setdefault(user_id, []).append(notice)
        after.emails.extend(nid for nid, _user in emails)
        after.pushes.extend(nid for nid, _user in pushes)
    return in_app_users


def _insert_for_channel(
    recipients: Any,
    notice: Notice,
    event_id: uuid.UUID | None,
    channel: str,
    *,
    status: str,
    sent_at: datetime | None = None,
    group_key: str | None = None,
) -> list[tuple[str, str]]:
    """Insert the channel's rows; returns (notification id, user id) of each, as text (parsing
    3,000 UUIDs took a third of a 1,000-follower fan-out's time)."""
    pref = NotificationPreference
    wanted: Any = func.coalesce(pref.enabled, DEFAULTS[(notice.kind, channel)])
    if channel == "email" and notice.kind in REQUIRED_EMAIL:
        wanted = true()
    rows = (
        select(
            recipients.c.user_id,
            _literal(IN_APP if channel == "in_app" else channel),
            _literal(notice.kind),
            _literal(notice.title[:200]),
            _literal(notice.message[:2000]),
            _literal(notice.link),
            _literal(status),
            _literal(sent_at),
            _literal(event_id),
            _literal(notice.actor_id),
            *([_literal(group_key)] if group_key is not None else []),
        )
        .join(User, and_(User.id == recipients.c.user_id, User.deleted_at.is_(None)))
        .outerjoin(
            pref,
            and_(
                pref.user_id == recipients.c.user_id,
                pref.kind == notice.kind,
                pref.channel == channel,
            ),
        )
        .where(wanted)
    )
    # --- safety (mute/ignore): nobody hears from a person they screen, whatever the kind;
    # a condition of this one statement, not a loop (blog.safety.services.screened_by).
    if notice.actor_id is not None:
        from blog.safety.services import screened_by

        rows = rows.where(~screened_by(recipients.c.user_id, _literal(notice.actor_id)))
    # --- end safety
    if channel == "push":
        # Only people with a subscribed browser get a push row (there is nothing to send to
        # anyone else).
        rows = rows.where(
            select(PushSubscription.id)
            .where(PushSubscription.user_id == recipients.c.user_id)
            .exists()
        )
    names = [
        "user_id",
        "type",
        "kind",
        "title",
        "message",
        "link",
        "status",
        "sent_at",
        "event_id",
        "actor_id",
    ]
    inserted = insert(Notification).from_select(
        [*names, "group_key"] if group_key is not None else names,
        rows,
        # The ids and times come from the server, one per row (a Python default would be
        # evaluated once for the whole statement).
        include_defaults=False,
    )
    stmt: Any
    if group_key is None:
        stmt = inserted.on_conflict_do_nothing(index_elements=["user_id", "type", "event_id"])
    else:
        # The group's row exists: it becomes this event's, unread again and newest.
        new = inserted.excluded
        stmt = inserted.on_conflict_do_update(
            index_elements=["user_id", "group_key"],
            index_where=text("group_key IS NOT NULL"),
            set_={
                "title": new.title,
                "message": new.message,
                "link": new.link,
                "actor_id": new.actor_id,
                "event_id": new.event_id,
                "sent_at": new.sent_at,
                "read_at": None,
                "created_at": func.now(),
            },
        )
    stmt = stmt.returning(cast(Notification.id, Text), cast(Notification.user_id, Text))
    # On the connection, not the session: the ORM made a row object of each returned row.
    return [(r[0], r[1]) for r in db.session.connection().execute(stmt)]


def _literal(value: Any) -> Any:
    return null() if value is None else literal(value)


# --------------------------------------------------------------------------- after commit


def push_badges(user_ids: Iterable[uuid.UUID | str], *, toast: Notice | None = None) -> int:
    """Publish each user's badge (and a toast) to every open tab. After commit only."""
    return push_toasts({str(u): [toast] if toast else [] for u in user_ids})


def push_toasts(toasts: Mapping[str, Sequence[Notice]]) -> int:
    """Publish each user's badge, with a toast per new notice (the newest MAX_TOASTS), to
    every open tab. After commit only.

    One presence check, one COUNT for those present, one Redis round trip. Reads on its own
    connection: it runs after the session's commit.
    """
    from blog.core.live import online, publish_many

    # Only people with an open tab: a fan-out to 1,000 followers, most of them away, counted
    # and published 1,000 badges nobody would see. A tab that opens meanwhile gets its badge
    # from the socket's first message, read after its presence was recorded (badge_html).
    present = online(toasts)
    if not present:
        return 0
    toasts = {user_id: toasts[user_id] for user_id in present}
    with db.engine.connect() as conn:
        counts = dict(conn.execute(_unread_counts_query(list(toasts))).all())
    template = current_app.jinja_env.get_template("notifications/_live_update.html")
    inbox = site_path("notifications.index")
    # Everyone gets the same toasts; only the count differs, and counts repeat: render each
    # distinct (count, toasts) once (a fan-out to 1,000 followers spent most of its time in
    # Jinja).
    rendered: dict[tuple[int, tuple[Notice, ...]], str] = {}

    def html_for(count: int, notices: Sequence[Notice]) -> str:
        key = (count, tuple(notices[-MAX_TOASTS:]))
        if key not in rendered:
            rendered[key] = template.render(
                count=count, cap=BADGE_CAP, inbox_url=inbox, toasts=key[1], oob=True
            )
        return rendered[key]

    return publish_many(
        (user_id, html_for(counts.get(user_id, 0), notices)) for user_id, notices in toasts.items()
    )


def badge_html(user_id: uuid.UUID) -> str:
    """The navigation badge as it is now, to swap out of band (a socket's first message)."""
    return current_app.jinja_env.get_template("notifications/_badge.html").render(
        count=unread_count(user_id), cap=BADGE_CAP, oob=True
    )


def request_email_drain() -> None:
    """Queue the batch sender for new email notifications (one job for a burst). After commit
    only; the sweep catches a lost enqueue (blog.notifications.jobs.sweep_pending_emails)."""
    from redis.exceptions import RedisError

    from blog.jobs.queues import get_queue
    from blog.notifications.jobs import request_mail_drain

    try:
        request_mail_drain(get_queue("mail"))
    except RedisError as exc:
        import logging

        logging.getLogger(__name__).warning(
            "could not queue notification mail (sweep will): %s", exc
        )


def enqueue_email_deliveries(notification_ids: list[str], *, push: bool = False) -> None:
    """Queue one delivery job per email (or push) notification, in one Redis round trip. After
    commit only; the sweep catches a lost enqueue (blog.notifications.jobs.sweep_pending_emails)."""
    from redis.exceptions import RedisError

    from blog.jobs.queues import get_queue
    from blog.notifications.jobs import enqueue_deliveries

    try:
        enqueue_deliveries(get_queue("mail"), notification_ids, push=push)
    except RedisError as exc:
        import logging

        logging.getLogger(__name__).warning(
            "could not queue notification mail (sweep will): %s", exc
        )


def _unread_counts_query(user_ids: list[str]) -> Any:
    # One statement for every user of a fan-out, on the partial index of unread rows; the ids
    # as text both ways (no UUID objects for a thousand rows).
    return (
        select(cast(Notification.user_id, Text), func.count())
        .where(
            Notification.user_id == func.any(_uuid_array("uids", user_ids)),
            Notification.type == IN_APP,
            Notification.read_at.is_(None),
        )
        .group_by(Notification.user_id)
    )


def site_path(endpoint: str, **values: Any) -> str:
    """A path on this site (with SITE_URL's prefix), built without a request."""
    site = urlsplit(current_app.config["SITE_URL"])
    adapter = current_app.url_map.bind(site.netloc, script_name=site.path or "/")
    return adapter.build(endpoint, values)


# --------------------------------------------------------------------------- inbox


def unread_count_query(user_id: Any, correlate: Any = None) -> Any:
    """The COUNT of unread in-app notifications, up to BADGE_CAP + 1 (on the partial index).
    `user_id` a value, a bind parameter, or a column of an enclosing statement (`correlate`:
    its table)."""
    inner = select(Notification.id).where(
        Notification.user_id == user_id,
        Notification.type == IN_APP,
        Notification.read_at.is_(None),
    )
    if correlate is not None:
        inner = inner.correlate(correlate)
    capped = inner.limit(BADGE_CAP + 1).subquery()
    return select(func.count()).select_from(capped)


def unread_count(user_id: uuid.UUID) -> int:
    """Unread in-app notifications, up to BADGE_CAP + 1 (one statement)."""
    return int(db.session.scalar(unread_count_query(user_id)) or 0)


@dataclass(frozen=True)
class InboxPage:
    items: list[Notification]
    next_cursor: str | None


def inbox_page(user_id: uuid.UUID, cursor: str | None, size: int = INBOX_PAGE) -> InboxPage:
    """A page of the inbox, newest first, after `cursor` (keyset on created_at, id)."""
    stmt = (
        select(Notification)
        .where(Notification.user_id == user_id, Notification.type == IN_APP)
        .options(joinedload(Notification.actor))
    )
    after = parse_cursor(cursor)
    if after is not None:
        created, nid = after
        stmt = stmt.where(
            or_(
                Notification.created_at < created,
                and_(Notification.created_at == created, Notification.id < nid),
            )
        )
    rows = list(
        db.session.scalars(
            stmt.order_by(Notification.created_at.desc(), Notification.id.desc()).limit(size + 1)
        )
    )
    more = len(rows) > size
    rows = rows[:size]
    next_cursor = f"{rows[-1].created_at.isoformat()}_{rows[-1].id}" if more and rows else None
    return InboxPage(rows, next_cursor)


def parse_cursor(cursor: str | None) -> tuple[datetime, uuid.UUID] | None:
    if not cursor or "_" not in cursor:
        return None
    stamp, _, nid = cursor.rpartition("_")
    try:
        moment = datetime.fromisoformat(stamp)
        return (moment, uuid.UUID(nid)) if moment.tzinfo else None
    except ValueError:
        return None


def get_notification(user_id: uuid.UUID, notification_id: uuid.UUID) -> Notification | None:
    """The user's own in-app notification, or None (also for someone else's)."""
    return db.session.scalar(
        select(Notification).where(
            Notification.id == notification_id,
            Notification.user_id == user_id,
            Notification.type == IN_APP,
        )
    )


def mark_read(notification: Notification) -> None:
    notification.mark_read(utcnow())
    db.session.flush()


def mark_all_read(user_id: uuid.UUID) -> int:
    """Mark every unread in-app notification read; returns how many."""
    result = db.session.execute(
        update(Notification)
        .where(
            Notification.user_id == user_id,
            Notification.type == IN_APP,
            Notification.read_at.is_(None),
        )
        .values(read_at=utcnow())
    )
    return int(result.rowcount)  # type: ignore[attr-defined]


# --------------------------------------------------------------------------- preferences


def preferences(user_id: uuid.UUID) -> dict[tuple[str, str], bool]:
    """Every (kind, channel) choice of the user, defaults filled in."""
    chosen = {
        (p.kind, p.channel): p.enabled
        for p in db.session.scalars(
            select(NotificationPreference).where(NotificationPreference.user_id == user_id)
        )
    }
    return {key: chosen.get(key, default) for key, default in DEFAULTS.items()}


def set_preference(user_id: uuid.UUID, kind: str, channel: str, enabled: bool) -> None:
    """Record one choice (upsert). Raises ValueError for an unknown kind or channel."""
    if (kind, channel) not in DEFAULTS:
        raise ValueError(f"no such preference: {kind}/{channel}")
    stmt = insert(NotificationPreference).values(
        user_id=user_id, kind=kind, channel=channel, enabled=enabled, updated_at=utcnow()
    )
    db.session.execute(
        stmt.on_conflict_do_update(
            index_elements=["user_id", "kind", "channel"],
            set_={"enabled": stmt.excluded.enabled, "updated_at": stmt.excluded.updated_at},
        )
    )


def set_preferences(user_id: uuid.UUID, choices: dict[tuple[str, str], bool]) -> None:
    for (kind, channel), enabled in choices.items():
        set_preference(user_id, kind, channel, enabled)


# --------------------------------------------------------------------------- follows


class FollowRefused(ValueError):
    """The follow cannot be made; the message says why."""


def is_following(follower_id: uuid.UUID, followed_id: uuid.UUID) -> bool:
    return (
        db.session.scalar(
            select(func.count())
            .select_from(Follow)
            .where(Follow.follower_id == follower_id, Follow.followed_id == followed_id)
        )
        or 0
    ) > 0


def follower_count(user_id: uuid.UUID) -> int:
    return int(
        db.session.scalar(
            select(func.count()).select_from(Follow).where(Follow.followed_id == user_id)
        )
        or 0
    )


def follow(follower: User, followed: User) -> None:
    """Follow `followed` (idempotent). Raises FollowRefused for yourself or a gone account."""
    if follower.id == followed.id:
        raise FollowRefused("You cannot follow yourself.")
    if followed.deleted_at is not None:
        raise FollowRefused("This account no longer exists.")
    db.session.execute(
        insert(Follow)
        .values(follower_id=follower.id, followed_id=followed.id)
        .on_conflict_do_nothing(index_elements=["follower_id", "followed_id"])
    )


def unfollow(follower: User, followed: User) -> None:
    """Stop following (idempotent)."""
    db.session.execute(
        delete(Follow).where(Follow.follower_id == follower.id, Follow.followed_id == followed.id)
    )
