"""Email delivery of notifications: one job per row, retried, its outcome kept on the row.

A row moves pending → sent, or → failed after MAX_ATTEMPTS, with `attempts` and `last_error`.
The job locks its row (FOR UPDATE SKIP LOCKED), so two copies never send it twice at once, and
skips a row that is no longer pending, so a re-run after success does nothing. The mail goes
out while the row is locked and is marked sent in the same transaction: if that commit failed
after the SMTP server took the message, the sweep would send it again (at least once, never
lost). The cron sweep re-queues pending rows whose job was lost.
"""

from __future__ import annotations

import logging
import uuid
from datetime import timedelta

from flask import current_app, render_template
from rq import Queue, Retry
from sqlalchemy import select

from blog.auth.models import User
from blog.core.db import utcnow
from blog.core.mail import send_mail
from blog.extensions import db
from blog.notifications.models import Notification

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5
RETRY_INTERVALS = (2, 10, 30, 120)  # one per retry after the first attempt (field notes)
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 500


def enqueue_delivery(queue: Queue, notification_id: uuid.UUID) -> None:
    queue.enqueue(
        deliver_notification_email,
        str(notification_id),
        job_id=f"notification-email-{notification_id}",
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS)),
        job_timeout=60,
        result_ttl=300,
        failure_ttl=7 * 24 * 3600,
    )


def deliver_notification_email(notification_id: str) -> str:
    """Send one email notification (a job). Raises on an SMTP failure so RQ retries."""
    from blog.notifications.mail import build_email

    row = db.session.scalar(
        select(Notification)
        .where(
            Notification.id == uuid.UUID(notification_id),
            Notification.type == "email",
            Notification.status == "pending",
        )
        .with_for_update(skip_locked=True)
    )
    if row is None:
        db.session.rollback()
        return "skipped"
    user = db.session.get(User, row.user_id)
    if user is None or user.deleted_at is not None:
        row.status, row.last_error = "failed", "the account is gone"
        db.session.commit()
        return "failed"
    row.attempts += 1
    try:
        subject, text, html, headers = build_email(row, user)
        send_mail(to=user.email, subject=subject, text=text, html=html, headers=headers)
    except Exception as exc:
        row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
        if row.attempts >= MAX_ATTEMPTS:
            row.status = "failed"
        db.session.commit()
        if row.status == "failed":
            log.warning("notification mail %s failed for good: %s", notification_id, exc)
            return "failed"
        raise
    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
    db.session.commit()
    return "sent"


def sweep_pending_emails() -> int:
    """Re-queue email notifications still pending a while after they were made (cron)."""
    from blog.jobs.queues import get_queue

    ids = list(
        db.session.scalars(
            select(Notification.id)
            .where(
                Notification.status == "pending",
                Notification.type == "email",
                Notification.created_at < utcnow() - SWEEP_AFTER,
            )
            .order_by(Notification.created_at)
            .limit(SWEEP_BATCH)
        )
    )
    db.session.rollback()
    queue = get_queue("mail")
    for nid in ids:
        job = queue.fetch_job(f"notification-email-{nid}")
        # A job still waiting, running or scheduled for a retry will do it.
        if job is not None and job.get_status(refresh=False) in (
            "queued",
            "started",
            "scheduled",
            "deferred",
        ):
            continue
        enqueue_delivery(queue, nid)
    return len(ids)


def render_mail(template: str, **context: object) -> tuple[str, str]:
    context = {"site_url": current_app.config["SITE_URL"], **context}
    return (
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
    )
