"""The daily email digest of unread notifications (opt-in, per person).

Once a day `flask cron` runs `send_daily_digests`. One INSERT ... SELECT makes a digest row
(an `email` notification of kind `daily_digest`, `pending`) for every person who opted in and
has unread in-app notifications newer than their last digest sent (the last day's, for a
first digest). Its event id is derived from the date, and (user, type, event) is unique, so a
second run the same day adds nothing. The same job then sends every pending digest of the day,
each under its row lock and committed on its own, like any email notification: a re-run skips
what is sent, and a digest that failed stays pending for the sweep (blog.notifications.jobs),
which retries it like any other email. One job for everyone: the items of all the digests are
read in one statement, so the cost per person is the lock, the mail and the commit.
"""

from __future__ import annotations

import logging
import smtplib
import uuid
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from flask import current_app
from sqlalchemy import and_, case, func, literal, select
from sqlalchemy.dialects.postgresql import insert

from blog.auth.models import User
from blog.core.db import utcnow
from blog.core.mail import MailNotConfigured
from blog.extensions import db
from blog.notifications.models import (
    DIGEST_KIND,
    IN_APP,
    Notification,
    NotificationPreference,
)

log = logging.getLogger(__name__)

FIRST_DIGEST_WINDOW = timedelta(days=1)  # what a first digest looks back over
ITEMS_PER_DIGEST = 20  # the newest ones; the mail says how many more wait in the inbox
_NAMESPACE = uuid.UUID("6c1f3f0e-55b5-4c0c-9a55-6a4f1f0d3e21")


def digest_event_id(day: date) -> uuid.UUID:
    """The event id of every digest of `day`: the same for a re-run, so it adds nothing."""
    return uuid.uuid5(_NAMESPACE, f"daily-digest:{day.isoformat()}")


@dataclass(frozen=True)
class DigestItem:
    title: str
    message: str
    link: str | None
    created_at: datetime


@dataclass
class DigestContent:
    items: list[DigestItem] = field(default_factory=list)
    total: int = 0  # unread in the digest's window; items holds the newest ITEMS_PER_DIGEST


def _last_digest_sent(user_id: Any, before: Any = None) -> Any:
    """When this user's last digest (sent, and made before `before`) was made."""
    digest = Notification.__table__.alias("prev_digest")
    conditions = [
        digest.c.user_id == user_id,
        digest.c.kind == DIGEST_KIND,
        digest.c.status == "sent",
    ]
    if before is not None:
        conditions.append(digest.c.created_at < before)
    # Correlated to the outer row only (it sits two levels down in create_digests).
    return (
        select(func.max(digest.c.created_at))
        .where(*conditions)
        .correlate_except(digest)
        .scalar_subquery()
    )


def create_digests(day: date, now: datetime) -> int:
    """Make today's digest rows for everyone due one, in one statement; returns how many."""
    pref = NotificationPreference
    since = func.coalesce(_last_digest_sent(User.id), literal(now - FIRST_DIGEST_WINDOW))
    unread = (
        select(func.count())
        .select_from(Notification)
        .where(
            Notification.user_id == User.id,
            Notification.type == IN_APP,
            Notification.read_at.is_(None),
            Notification.created_at > since,
        )
        .scalar_subquery()
    )
    due = (
        select(
            User.id.label("user_id"),
            unread.label("unread"),
        )
        .join(
            pref,
            and_(
                pref.user_id == User.id,
                pref.kind == DIGEST_KIND,
                pref.channel == "email",
                pref.enabled.is_(True),
            ),
        )
        .where(User.deleted_at.is_(None))
        .subquery()
    )
    rows = select(
        due.c.user_id,
        literal("email"),
        literal(DIGEST_KIND),
        func.concat(
            literal("Your daily digest: "),
            due.c.unread,
            case(
                (due.c.unread == 1, literal(" unread notification")),
                else_=literal(" unread notifications"),
            ),
        ),
        func.concat(due.c.unread, literal(" unread since your last digest")),
        literal("/notifications"),
        literal("pending"),
        literal(digest_event_id(day)),
    ).where(due.c.unread > 0)
    stmt = (
        insert(Notification)
        .from_select(
            ["user_id", "type", "kind", "title", "message", "link", "status", "event_id"],
            rows,
            include_defaults=False,
        )
        .on_conflict_do_nothing(index_elements=["user_id", "type", "event_id"])
        .returning(Notification.id)
    )
    return len(db.session.execute(stmt).all())


def digest_items(rows: list[Notification]) -> dict[uuid.UUID, DigestContent]:
    """The unread in-app notifications each digest lists, for all of them in one statement:
    made after the user's previous digest (or within the first window) and up to the digest."""
    if not rows:
        return {}
    digests = (
        select(
            Notification.id.label("digest_id"),
            Notification.user_id,
            Notification.created_at.label("until"),
            func.coalesce(
                _last_digest_sent(Notification.user_id, Notification.created_at),
                Notification.created_at - FIRST_DIGEST_WINDOW,
            ).label("since"),
        )
        .where(Notification.id.in_([r.id for r in rows]))
        .subquery()
    )
    item = Notification.__table__.alias("item")
    ranked = (
        select(
            digests.c.digest_id,
            item.c.title,
            item.c.message,
            item.c.link,
            item.c.created_at,
            func.row_number()
            .over(
                partition_by=digests.c.digest_id,
                order_by=(item.c.created_at.desc(), item.c.id.desc()),
            )
            .label("n"),
            func.count().over(partition_by=digests.c.digest_id).label("total"),
        )
        .join(
            item,
            and_(
                item.c.user_id == digests.c.user_id,
                item.c.type == IN_APP,
                item.c.read_at.is_(None),
                item.c.created_at > digests.c.since,
                item.c.created_at <= digests.c.until,
            ),
        )
        .subquery()
    )
    found: dict[uuid.UUID, DigestContent] = defaultdict(DigestContent)
    for r in db.session.execute(
        select(ranked).where(ranked.c.n <= ITEMS_PER_DIGEST).order_by(ranked.c.n)
    ):
        content = found[r.digest_id]
        content.items.append(DigestItem(r.title, r.message, r.link, r.created_at))
        content.total = r.total
    return dict(found)


def send_daily_digests(now: datetime | None = None) -> dict[str, int]:
    """Make and send today's digests (the cron job; `now` for tests). Idempotent per user per
    day (UTC)."""
    from blog.notifications.jobs import MAX_ATTEMPTS
    from blog.notifications.mail import send_digest

    now = now or utcnow()
    day = now.date()
    made = create_digests(day, now)
    db.session.commit()
    pending = list(
        db.session.scalars(
            select(Notification).where(
                Notification.type == "email",
                Notification.kind == DIGEST_KIND,
                Notification.event_id == digest_event_id(day),
                Notification.status == "pending",
            )
        )
    )
    items = digest_items(pending)
    users = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({r.user_id for r in pending})))
    }
    pending_ids = [(r.id, r.user_id) for r in pending]
    # Each digest below is locked and committed on its own; the users stay readable detached.
    db.session.expunge_all()
    db.session.rollback()
    sent = failed = 0
    for digest_id, user_id in pending_ids:
        row = db.session.scalar(
            select(Notification)
            .where(Notification.id == digest_id, Notification.status == "pending")
            .with_for_update(skip_locked=True)
        )
        user = users.get(user_id)
        if row is None or user is None:  # another run has it, or it is done
            db.session.rollback()
            continue
        row.attempts += 1
        try:
            send_digest(row, user, items.get(row.id, DigestContent()))
        except (smtplib.SMTPException, OSError, MailNotConfigured) as exc:
            row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
            if row.attempts >= MAX_ATTEMPTS:
                row.status = "failed"
            db.session.commit()
            failed += 1
            log.warning("digest %s not sent (the sweep retries): %s", digest_id, exc)
            continue
        row.status, row.sent_at, row.last_error = "sent", utcnow(), None
        db.session.commit()
        sent += 1
    if made or sent or failed:
        log.info("daily digests: %d made, %d sent, %d failed", made, sent, failed)
    return {"made": made, "sent": sent, "failed": failed}


def site_link(path: str | None) -> str | None:
    site = current_app.config["SITE_URL"]
    return f"{site}{path}" if path and path.startswith("/") else None
