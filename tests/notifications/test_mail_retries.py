"""Issue 19 §3: mail is never silently given up. An SMTP outage of a day is followed by moving
time (each round the row's timestamps move back by the wait, as if the clock had run on), not
by waiting: the cron sweep and the real worker do the rest."""

from __future__ import annotations

import contextlib
from datetime import timedelta

from sqlalchemy import select, update

from blog.extensions import db
from blog.notifications.jobs import (
    MAIL_MAX_ATTEMPTS,
    MAX_ATTEMPTS,
    deliver_notification_email,
    mail_retry_delay,
    sweep_pending_emails,
)
from blog.notifications.models import Notification
from tests.conftest import new_client
from tests.factories import make_user
from tests.notifications.test_notifications import _suspend
from tests.posts.helpers import new_author


def _row(app, person_id) -> Notification:
    with app.app_context():
        row = db.session.scalar(
            select(Notification).where(
                Notification.user_id == person_id, Notification.type == "email"
            )
        )
        db.session.expunge_all()
        db.session.remove()
    return row


def _move_time(app, row_id, by: timedelta) -> None:
    """`by` passes for this row: its creation and its next attempt move into the past."""
    with app.app_context():
        db.session.execute(
            update(Notification)
            .where(Notification.id == row_id)
            .values(
                created_at=Notification.created_at - by,
                next_attempt_at=Notification.next_attempt_at - by,
            )
        )
        db.session.commit()


def _to(smtp_server, person) -> list:
    """The account mail to `person` (not the sign-up verification mail the outbox sends)."""
    return [m for m in smtp_server.messages if person.email in str(m["To"])]


def _sweep(app) -> None:
    with app.app_context():
        sweep_pending_emails()
        db.session.remove()


def _spend_quick_retries(app, row) -> None:
    with app.app_context():  # RQ's quick retries (2, 10, 30, 120 s), run at once
        for _ in range(MAX_ATTEMPTS - 1):
            with contextlib.suppress(Exception):
                deliver_notification_email(str(row.id))
            db.session.remove()
        # Those were the retries RQ had scheduled for the job: it is spent.
        from rq.job import Job

        from blog.core.redis import get_redis

        Job.fetch(f"notification-email-{row.id}", connection=get_redis()).delete()


def test_the_retry_schedule_covers_at_least_a_day():
    waits = [mail_retry_delay(n) for n in range(MAX_ATTEMPTS, MAIL_MAX_ATTEMPTS)]
    assert sum(waits, timedelta()) >= timedelta(hours=24)
    assert waits[0] == timedelta(minutes=5)
    assert max(waits) == timedelta(hours=2)


def test_an_outage_of_a_day_is_retried_then_listed_for_the_admin_and_sent_once(
    app, run_jobs, smtp_server, sign_in
):
    person = new_author(app)
    app.config["SMTP_URL"] = "smtp://127.0.0.1:9"  # the mail server is down (nothing listens)
    _suspend(app, person.id)
    run_jobs(allow_failures=True)
    row = _row(app, person.id)
    _spend_quick_retries(app, row)
    row = _row(app, person.id)
    assert (row.status, row.attempts) == ("pending", MAX_ATTEMPTS)  # not given up after 162 s

    # The day goes by: every wait passes, the sweep requeues, the worker tries once and fails.
    _move_time(app, row.id, timedelta(minutes=3))
    waited = timedelta(minutes=3)
    while row.status == "pending":
        assert row.next_attempt_at is not None
        _sweep(app)
        run_jobs(allow_failures=True)
        assert _row(app, person.id).attempts == row.attempts  # not due yet: no try
        wait = mail_retry_delay(row.attempts)
        _move_time(app, row.id, wait)
        waited += wait
        _sweep(app)
        run_jobs(allow_failures=True)
        after = _row(app, person.id)
        assert after.attempts == row.attempts + 1
        row = after
    assert row.status == "failed"
    assert row.attempts == MAIL_MAX_ATTEMPTS
    assert waited >= timedelta(hours=24)
    assert _to(smtp_server, person) == []

    # The admin sees it with Retry and Retry all; the mail server is back; Retry sends it once.
    with app.app_context():
        make_user(email="root@example.com", user_name="root", role="admin")
    admin = new_client(app)
    sign_in(admin, "root@example.com")
    page = admin.get("/admin/jobs").get_data(as_text=True)
    assert f'id="failed-mail-{row.id}"' in page
    assert "Retry all failed email" in page
    assert "Connection refused" in page or "Errno" in page  # its last error

    app.config["SMTP_URL"] = smtp_server.url
    response = admin.post_form(f"/admin/jobs/mail/{row.id}/retry", csrf_from="/admin/jobs")
    assert response.status_code == 302
    run_jobs()
    assert _row(app, person.id).status == "sent"
    assert len(_to(smtp_server, person)) == 1
    _sweep(app)
    run_jobs()
    assert len(_to(smtp_server, person)) == 1
    assert f'id="failed-mail-{row.id}"' not in admin.get("/admin/jobs").get_data(as_text=True)


def test_retry_all_requeues_every_failed_email(app, run_jobs, smtp_server, sign_in):
    people = [new_author(app) for _ in range(3)]
    for person in people:
        _suspend(app, person.id)
    with app.app_context():
        db.session.execute(
            update(Notification)
            .where(Notification.type == "email")
            .values(status="failed", attempts=MAIL_MAX_ATTEMPTS, last_error="SMTP down")
        )
        db.session.commit()
        make_user(email="root@example.com", user_name="root", role="admin")
    admin = new_client(app)
    sign_in(admin, "root@example.com")

    response = admin.post_form("/admin/jobs/mail/retry-failed", csrf_from="/admin/jobs")

    assert response.status_code == 302
    run_jobs()
    assert [_row(app, p.id).status for p in people] == ["sent"] * 3
    assert all(len(_to(smtp_server, p)) == 1 for p in people)
