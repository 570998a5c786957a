"""Email and web push delivery of notifications, retried, the outcome kept on the row.

Email goes in batches over one SMTP connection (drain_pending_emails, below: the fast path, one
job per burst); a row whose batch attempt failed, or that the sweep or the admin re-queues, is
sent by its own job (deliver_notification_email), with the rules that follow.

A row moves pending → sent, or → failed after MAX_ATTEMPTS, with `attempts` and `last_error`.
The job locks its row (FOR UPDATE SKIP LOCKED), so two copies never send it twice at once, and
skips a row that is no longer pending, so a re-run after success does nothing. The mail goes
out while the row is locked and is marked sent in the same transaction: if that commit failed
after the SMTP server took the message, the sweep would send it again (at least once, never
lost). The cron sweep re-queues pending rows whose job was lost.

A push row goes to every browser the user subscribed (blog.notifications.push). A push
service's 404 or 410 means that subscription is gone: it is deleted. 429, 5xx and network
errors are retried; any other 4xx is the message's fault and is not. Browsers that took the
message are remembered in the job's meta across RQ's retries, so a retry only sends to the
ones that failed. The row is `sent` once a browser took it and none is left to retry, `failed`
when none did (all gone, refused, or out of attempts), with `last_error` kept either way.
Push jobs share the `mail` queue: both are deliveries to outside services.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterable
from datetime import timedelta
from typing import Any

from flask import current_app, render_template
from rq import Queue, Retry
from sqlalchemy import or_, select, update

from blog.auth.models import User
from blog.core.db import utcnow
from blog.core.mail import send_mail
from blog.extensions import db
from blog.notifications.models import Notification, PushSubscription

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 5  # push: then failed
RETRY_INTERVALS = (2, 10, 30, 120)  # one per retry after the first attempt (field notes)
# Email outlives an SMTP outage: after the quick retries above (attempts 1-5, RQ's), the cron
# sweep tries again after 5, 10, 20, 40, 80 min and then every 2 h, and only the attempt that
# fails past MAIL_RETRY_FOR (counted from the first failure's schedule: MAIL_MAX_ATTEMPTS
# attempts, about 24.6 h) marks the row failed, where the admin jobs page lists it with Retry.
MAIL_SLOW_RETRIES = tuple(timedelta(minutes=m) for m in (5, 10, 20, 40, 80))
MAIL_RETRY_CAP = timedelta(hours=2)
MAIL_RETRY_FOR = timedelta(hours=24)


def mail_retry_delay(attempts: int) -> timedelta:
    """How long after its `attempts`-th failed attempt an email waits for the sweep."""
    slow = attempts - MAX_ATTEMPTS  # 0 for the last of the quick retries
    return MAIL_SLOW_RETRIES[slow] if 0 <= slow < len(MAIL_SLOW_RETRIES) else MAIL_RETRY_CAP


def _mail_max_attempts() -> int:
    total, attempts = timedelta(), MAX_ATTEMPTS
    while total < MAIL_RETRY_FOR:
        total += mail_retry_delay(attempts)
        attempts += 1
    return attempts


MAIL_MAX_ATTEMPTS = _mail_max_attempts()
SWEEP_AFTER = timedelta(minutes=2)
SWEEP_BATCH = 500


def _delivery_job(
    notification_id: uuid.UUID | str, *, push: bool, quick_retries: bool = True
) -> Any:
    return Queue.prepare_data(
        deliver_notification_push if push else deliver_notification_email,
        (str(notification_id),),
        job_id=f"notification-{'push' if push else 'email'}-{notification_id}",
        retry=Retry(max=len(RETRY_INTERVALS), interval=list(RETRY_INTERVALS))
        if quick_retries
        else None,
        timeout=120 if push else 60,
        result_ttl=300,
        failure_ttl=7 * 24 * 3600,
    )


def enqueue_deliveries(
    queue: Queue,
    notification_ids: Iterable[uuid.UUID | str],
    *,
    push: bool = False,
    quick_retries: bool = True,
) -> None:
    """Queue one delivery job per email (or push) notification, in one Redis round trip."""
    jobs = [_delivery_job(nid, push=push, quick_retries=quick_retries) for nid in notification_ids]
    if jobs:
        with queue.connection.pipeline() as pipe:
            queue.enqueue_many(jobs, pipeline=pipe)
            pipe.execute()


def _claim_pending(notification_id: str, type_: str) -> Notification | None:
    """Lock the row if it is still pending; None (and the transaction ended) if it is not or if
    another copy of the job holds it."""
    row = db.session.scalar(
        select(Notification)
        .where(
            Notification.id == uuid.UUID(notification_id),
            Notification.type == type_,
            Notification.status == "pending",
        )
        .with_for_update(skip_locked=True)
    )
    if row is None:
        db.session.rollback()
    return row


def deliver_notification_email(notification_id: str) -> str:
    """Send one email notification (a job). Raises on an SMTP failure so RQ retries."""
    from blog.notifications.mail import build_email

    row = _claim_pending(notification_id, "email")
    if row is None:
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
        row.next_attempt_at = None
        if row.attempts >= MAIL_MAX_ATTEMPTS:
            row.status = "failed"
        elif row.attempts >= MAX_ATTEMPTS:  # RQ's quick retries are spent: the sweep's turn
            row.next_attempt_at = utcnow() + mail_retry_delay(row.attempts)
        db.session.commit()
        if row.status == "failed":
            log.warning(
                "notification mail %s failed for good after %d attempts: %s",
                notification_id,
                row.attempts,
                exc,
            )
            return "failed"
        if row.next_attempt_at is not None:
            log.info(
                "notification mail %s: retry at %s (%s)", notification_id, row.next_attempt_at, exc
            )
            return "retrying"
        raise
    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
    row.next_attempt_at = None
    db.session.commit()
    return "sent"


def deliver_notification_push(notification_id: str) -> str:
    """Send one push notification to each of the user's browsers (a job). Raises while some
    browser failed in a way worth retrying, so RQ retries."""
    from rq import get_current_job

    from blog.notifications.push import payload, send_push

    row = _claim_pending(notification_id, "push")
    if row is None:
        return "skipped"
    job = get_current_job()
    done: set[str] = set(job.meta.get("delivered", ())) if job is not None else set()
    subscriptions = [
        s
        for s in db.session.scalars(
            select(PushSubscription).where(PushSubscription.user_id == row.user_id)
        )
        if str(s.id) not in done
    ]
    row.attempts += 1
    data = payload(row)
    retry: list[str] = []
    errors: list[str] = []
    for sub in subscriptions:
        result = send_push(sub, data)
        now = utcnow()
        if result.error is None:
            sub.last_success_at, sub.last_error = now, None
            done.add(str(sub.id))
        elif result.status in (404, 410):
            # The browser unsubscribed or the subscription expired: it will never work again.
            db.session.delete(sub)
            errors.append(f"subscription gone ({result.status})")
        else:
            sub.last_failure_at, sub.last_error = now, result.error[:1000]
            errors.append(result.error)
            if result.status is None or result.status == 429 or result.status >= 500:
                retry.append(result.error)
    if job is not None:
        job.meta["delivered"] = sorted(done)
        job.save_meta()
    row.last_error = "; ".join(dict.fromkeys(errors))[:1000] or None
    if retry and row.attempts < MAX_ATTEMPTS:
        db.session.commit()
        raise PushDeliveryError(row.last_error or "push failed")
    if done:
        row.status, row.sent_at = "sent", utcnow()
    else:
        row.status = "failed"
        row.last_error = row.last_error or "no browser is subscribed any more"
    db.session.commit()
    if row.status == "failed":
        log.warning("push notification %s failed for good: %s", notification_id, row.last_error)
    return str(row.status)


class PushDeliveryError(RuntimeError):
    """Some browser's push service failed in a way worth retrying."""


def sweep_pending_emails() -> int:
    """Re-queue email and push notifications still pending a while after they were made
    (cron): one drain for the emails never tried, a per-row job for the others."""
    from blog.jobs.queues import get_queue

    now = utcnow()
    rows = list(
        db.session.execute(
            select(
                Notification.id,
                Notification.type,
                Notification.next_attempt_at,
                Notification.attempts,
            )
            .where(
                Notification.status == "pending",
                Notification.type.in_(("email", "push")),
                Notification.created_at < now - SWEEP_AFTER,
                or_(Notification.next_attempt_at.is_(None), Notification.next_attempt_at <= now),
            )
            .order_by(Notification.created_at)
            .limit(SWEEP_BATCH)
        )
    )
    db.session.rollback()
    queue = get_queue("mail")
    untried = False
    for nid, type_, next_attempt_at, attempts in rows:
        if type_ == "email" and attempts == 0 and next_attempt_at is None:
            # Never tried (a drain lost, or killed mid-batch): the batch sender takes them all.
            untried = True
            continue
        job = queue.fetch_job(f"notification-{type_}-{nid}")
        # A job still waiting, running or scheduled for a retry will do it.
        if job is not None and job.get_status(refresh=False) in (
            "queued",
            "started",
            "scheduled",
            "deferred",
        ):
            continue
        # A slow retry is one attempt; its failure schedules the next.
        enqueue_deliveries(
            queue, [nid], push=type_ == "push", quick_retries=next_attempt_at is None
        )
    if untried:
        request_mail_drain(queue)
    return len(rows)


def failed_emails(limit: int = 100) -> list[Notification]:
    """Email notifications given up on, newest first (the admin jobs page)."""
    return list(
        db.session.scalars(
            select(Notification)
            .where(Notification.type == "email", Notification.status == "failed")
            .order_by(Notification.created_at.desc())
            .limit(limit)
        )
    )


def retry_failed_emails(notification_id: uuid.UUID | None = None) -> list[uuid.UUID]:
    """Failed email(s) → pending with a fresh day of retries; returns their ids. The caller
    commits, then enqueues them (enqueue_deliveries)."""
    stmt = (
        update(Notification)
        .where(Notification.type == "email", Notification.status == "failed")
        .values(status="pending", attempts=0, next_attempt_at=None)
        .returning(Notification.id)
    )
    if notification_id is not None:
        stmt = stmt.where(Notification.id == notification_id)
    return list(db.session.scalars(stmt))


def render_mail(template: str, **context: object) -> tuple[str, str]:
    context = {"site_url": current_app.config["SITE_URL"], **context}
    return (
        render_template(f"mail/{template}.txt", **context),
        render_template(f"mail/{template}.html", **context),
    )


# The batch sender: the fast path for notification email (issue 18 §6).
#
# A burst of notifications queues one `drain_pending_emails` job, not one job per message: the
# after-commit hook sets DRAIN_WANTED in Redis (SET NX, a short expiry) and only the hook that
# set it queues the job; the job deletes the key before its first claim, so a commit after that
# queues the next drain and none is missed (a lost drain: the sweep's per-row jobs). The job
# claims up to MAIL_BATCH rows that were never tried (attempts 0, no slow retry set) with FOR
# UPDATE SKIP LOCKED, sends them over one reused SMTP connection (blog.core.mail.SmtpSession:
# one TCP + greeting for the whole burst instead of one per message), marks each sent as soon
# as the server took it, and commits the batch; then claims the next until none is left.
#
# Failures keep the per-row rules exactly: a row whose send failed has its attempt counted and
# its error kept, in the same transaction, and after the commit is handed to its per-row job
# (`notification-email-<id>`), scheduled for the quick retry that attempt would have had (2, 10,
# 30, 120 s) with the rest of RQ's retries, then the sweep's slow ones. A refusal of one message
# (recipient, data) fails that row only and the batch goes on; a lost connection is retried
# once on a new one; a server that cannot be reached fails the rest of the claimed batch (as
# each per-row job would have failed) and ends the drain, queueing another in 2 s for the rows
# not yet claimed.
#
# A crash (SIGKILL, OOM) mid-batch rolls the uncommitted transaction back: every row of the
# batch is pending again with its attempts unchanged, the sweep re-queues them 2 min after they
# were made, and nothing is lost. The messages the server had already taken in that batch are
# sent again: at most MAIL_BATCH - 1 (the same "at least once" as the per-row job, whose window
# is its one message). MAIL_BATCH is kept small for that reason (benchmarks/mail_volume.py).
MAIL_BATCH = 20
DRAIN_WANTED = "notifications:mail-drain:wanted"
DRAIN_WANTED_TTL = 60  # seconds: a drain job lost before it started is replaced this soon


def _drain_job_kwargs() -> dict[str, Any]:
    return {"job_timeout": 600, "result_ttl": 300, "failure_ttl": 7 * 24 * 3600}


def request_mail_drain(queue: Queue) -> bool:
    """Queue a drain job unless one is already waiting to start; True if one was queued."""
    if not queue.connection.set(DRAIN_WANTED, "1", nx=True, ex=DRAIN_WANTED_TTL):
        return False
    queue.enqueue(drain_pending_emails, **_drain_job_kwargs())
    return True


def _claim_batch(limit: int) -> list[tuple[Notification, User | None]]:
    rows = list(
        db.session.scalars(
            select(Notification)
            .where(
                Notification.type == "email",
                Notification.status == "pending",
                Notification.attempts == 0,
                Notification.next_attempt_at.is_(None),
            )
            .order_by(Notification.created_at)
            .limit(limit)
            .with_for_update(skip_locked=True)
        )
    )
    if not rows:
        return []
    users = {
        u.id: u
        for u in db.session.scalars(select(User).where(User.id.in_({row.user_id for row in rows})))
    }
    return [(row, users.get(row.user_id)) for row in rows]


def _record_failure(row: Notification, exc: BaseException) -> bool:
    """Count a failed attempt with the per-row job's rules; True if a quick retry is due."""
    row.attempts += 1
    row.last_error = f"{type(exc).__name__}: {exc}"[:1000]
    row.next_attempt_at = None
    if row.attempts >= MAIL_MAX_ATTEMPTS:
        row.status = "failed"
        return False
    if row.attempts >= MAX_ATTEMPTS:
        row.next_attempt_at = utcnow() + mail_retry_delay(row.attempts)
        return False
    return True


def _hand_to_row_jobs(queue: Queue, retries: list[tuple[str, int]]) -> None:
    """Per-row jobs for rows whose batch attempt failed: each waits the quick retry its
    attempt count calls for, with RQ's remaining retries after it. After commit."""
    from redis.exceptions import RedisError

    try:
        for nid, attempts in retries:
            left = RETRY_INTERVALS[attempts:]
            queue.enqueue_in(
                timedelta(seconds=RETRY_INTERVALS[attempts - 1]),
                deliver_notification_email,
                nid,
                job_id=f"notification-email-{nid}",
                retry=Retry(max=len(left), interval=list(left)) if left else None,
                job_timeout=60,
                result_ttl=300,
                failure_ttl=7 * 24 * 3600,
            )
    except RedisError as exc:  # the sweep re-queues them
        log.warning("could not queue notification mail retries (sweep will): %s", exc)


def _send_one(smtp: Any, row: Notification, user: User) -> tuple[Exception | None, bool]:
    """Build and send one notification email: (the error or None, whether the server is out
    of reach)."""
    from blog.core.mail import MESSAGE_ERRORS, build_message
    from blog.notifications.mail import build_email

    try:
        subject, text, html, headers = build_email(row, user)
        message = build_message(
            to=user.email, subject=subject, text=text, html=html, headers=headers
        )
    except Exception as exc:  # noqa: BLE001 - kept on the row, as the per-row job does
        return exc, False
    try:
        smtp.send(message)
    except MESSAGE_ERRORS as exc:
        return exc, False
    except Exception as exc:  # noqa: BLE001 - could not connect, or lost the connection twice
        return exc, True
    return None, False


def drain_pending_emails(batch: int | None = None) -> dict[str, int]:
    """Send every email notification not tried yet, in batches over one SMTP connection (a
    job). Returns counts: sent, failed (attempts counted), batches, connections."""
    from blog.core.mail import SmtpSession
    from blog.jobs.queues import get_queue

    queue = get_queue("mail")
    queue.connection.delete(DRAIN_WANTED)
    batch = batch or current_app.config.get("MAIL_BATCH", MAIL_BATCH)
    counts = {"sent": 0, "failed": 0, "batches": 0, "connections": 0}
    unreachable: BaseException | None = None
    with SmtpSession() as smtp:
        while unreachable is None:
            claimed = _claim_batch(batch)
            if not claimed:
                db.session.rollback()
                break
            counts["batches"] += 1
            retries: list[tuple[str, int]] = []
            for row, user in claimed:
                if user is None or user.deleted_at is not None:
                    row.status, row.last_error = "failed", "the account is gone"
                    counts["failed"] += 1
                    continue
                # Once the server cannot be reached, the rest of the batch fails as it would.
                error = unreachable
                if error is None:
                    error, lost = _send_one(smtp, row, user)
                    unreachable = error if lost else None
                if error is None:
                    row.status, row.sent_at, row.last_error = "sent", utcnow(), None
                    row.attempts += 1
                    counts["sent"] += 1
                    continue
                counts["failed"] += 1
                if _record_failure(row, error):
                    retries.append((str(row.id), row.attempts))
            db.session.commit()
            _hand_to_row_jobs(queue, retries)
        counts["connections"] = smtp.connections
    if unreachable is not None:
        log.warning("mail server unreachable, drain again in %ss", RETRY_INTERVALS[0])
        queue.enqueue_in(
            timedelta(seconds=RETRY_INTERVALS[0]), drain_pending_emails, **_drain_job_kwargs()
        )
    return counts
