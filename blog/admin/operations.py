"""Admin page for jobs and the outbox: queue depths, workers and their heartbeats, failed jobs
(requeue or delete), outbox backlog and parked events (retry). Actions are audited."""

from __future__ import annotations

import uuid

from flask import abort, flash, request, url_for
from flask_login import current_user
from redis.exceptions import RedisError

from blog.admin.views import bp
from blog.audit.services import record_audit
from blog.auth.access import require_admin
from blog.auth.forms import EmptyForm
from blog.core.htmx import redirect_to, render
from blog.extensions import db
from blog.jobs import inspect
from blog.jobs.queues import get_queue
from blog.notifications.jobs import enqueue_deliveries, failed_emails, retry_failed_emails
from blog.outbox.events import trigger_relay_on_commit
from blog.outbox.services import outbox_stats, parked_events, unpark_events


@bp.get("/jobs")
@require_admin
def jobs():
    try:
        queues, workers, failed = inspect.queue_depths(), inspect.workers(), inspect.failed_jobs()
        redis_error = None
    except RedisError as exc:
        queues, workers, failed, redis_error = [], [], [], str(exc)
    return render(
        "admin/jobs.html",
        "live",
        queues=queues,
        workers=workers,
        failed=failed,
        redis_error=redis_error,
        outbox=outbox_stats(),
        parked=parked_events(),
        failed_mail=failed_emails(),
    )


def _audit(action: str, entity_type: str, entity_id: str | None, **new: object) -> None:
    record_audit(
        actor_id=current_user.id,
        action=action,
        entity_type=entity_type,
        entity_id=entity_id,
        new=dict(new) or None,
        ip=request.remote_addr,
    )


@bp.post("/jobs/<queue>/<job_id>/requeue")
@require_admin
def requeue_job(queue: str, job_id: str):
    EmptyForm()
    try:
        inspect.requeue_failed(queue, job_id)
    except inspect.UnknownJob:
        abort(404)
    _audit("job.requeue", "job", job_id, queue=queue)
    db.session.commit()
    flash(f"Job {job_id} is queued again on {queue}.", "success")
    return redirect_to(url_for("admin.jobs"))


@bp.post("/jobs/<queue>/<job_id>/delete")
@require_admin
def delete_job(queue: str, job_id: str):
    EmptyForm()
    try:
        inspect.delete_failed(queue, job_id)
    except inspect.UnknownJob:
        abort(404)
    _audit("job.delete", "job", job_id, queue=queue)
    db.session.commit()
    flash(f"Failed job {job_id} is deleted.", "success")
    return redirect_to(url_for("admin.jobs"))


@bp.post("/outbox/<uuid:event_id>/retry")
@require_admin
def retry_event(event_id: uuid.UUID):
    EmptyForm()
    if unpark_events(event_id) == 0:
        abort(404)
    _audit("outbox.retry", "outbox_event", str(event_id))
    db.session.commit()
    trigger_relay_on_commit()
    flash("The event is back in the relay's queue.", "success")
    return redirect_to(url_for("admin.jobs"))


@bp.post("/outbox/retry-parked")
@require_admin
def retry_parked():
    EmptyForm()
    count = unpark_events()
    if count:
        _audit("outbox.retry_all", "outbox_event", None, count=count)
    db.session.commit()
    if count:
        trigger_relay_on_commit()
    flash(f"{count} parked event(s) are back in the relay's queue.", "success")
    return redirect_to(url_for("admin.jobs"))


def _retry_mail(notification_id: uuid.UUID | None) -> int:
    ids = retry_failed_emails(notification_id)
    if ids:
        _audit(
            "mail.retry" if notification_id else "mail.retry_all",
            "notification",
            str(notification_id) if notification_id else None,
            count=len(ids),
        )
    db.session.commit()
    # After the commit: a worker must find the rows pending. A lost enqueue is caught by the
    # cron sweep (the rows are pending again).
    try:
        enqueue_deliveries(get_queue("mail"), ids)
    except RedisError as exc:
        flash(f"The mail queue is unreachable ({exc}); the sweep will send them.", "warning")
    return len(ids)


@bp.post("/jobs/mail/<uuid:notification_id>/retry")
@require_admin
def retry_mail(notification_id: uuid.UUID):
    EmptyForm()
    if _retry_mail(notification_id) == 0:
        abort(404)
    flash("The email is queued again, with a fresh day of retries.", "success")
    return redirect_to(url_for("admin.jobs") + "#ops-failed-mail")


@bp.post("/jobs/mail/retry-failed")
@require_admin
def retry_all_mail():
    EmptyForm()
    count = _retry_mail(None)
    flash(f"{count} failed email(s) are queued again.", "success")
    return redirect_to(url_for("admin.jobs") + "#ops-failed-mail")
