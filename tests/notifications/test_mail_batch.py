"""Issue 18 §6: notification email in batches over one SMTP connection (the batch sender,
blog.notifications.jobs.drain_pending_emails), on the real PostgreSQL, Redis and an aiosmtpd
server on loopback."""

from __future__ import annotations

import os
import signal
import smtplib
import threading
import uuid
from collections import Counter
from datetime import timedelta

from rq.registry import ScheduledJobRegistry
from sqlalchemy import select, update

from blog.extensions import db
from blog.jobs.queues import get_queue
from blog.notifications.jobs import (
    DRAIN_WANTED,
    MAX_ATTEMPTS,
    RETRY_INTERVALS,
    deliver_notification_email,
    drain_pending_emails,
    sweep_pending_emails,
)
from blog.notifications.models import Notification
from blog.notifications.services import Notice, notify_users
from tests.factories import make_user

PEOPLE = 10


def _burst(app, per_person: int) -> tuple[list[uuid.UUID], list[str]]:
    """`per_person` comment notifications for each of PEOPLE people, each notify in its own
    transaction, as the handlers of a burst of comments commit them."""
    with app.app_context():
        people = [make_user() for _ in range(PEOPLE)]
        db.session.commit()
        ids, emails = [p.id for p in people], [p.email for p in people]
        for n in range(per_person):
            notify_users(
                ids,
                Notice(kind="comment_on_post", title=f"Comment {n}", message="Nice", link="/"),
                event_id=uuid.uuid4(),
            )
            db.session.commit()
        db.session.remove()
    return ids, emails


def _email_rows(app, ids) -> list[Notification]:
    with app.app_context():
        rows = list(
            db.session.scalars(
                select(Notification).where(
                    Notification.user_id.in_(ids), Notification.type == "email"
                )
            )
        )
        db.session.expunge_all()
        db.session.remove()
    return rows


def _sent_subjects(smtp_server, emails) -> Counter:
    return Counter(
        (str(m["To"]), str(m["Subject"]))
        for m in smtp_server.messages
        if str(m["To"]) in emails and str(m["Subject"]).startswith("Comment ")
    )


def test_a_burst_is_one_job_over_one_connection_and_every_mail_goes_once(
    app, run_jobs, smtp_server
):
    connections = []
    real_init = smtplib.SMTP.connect

    def counting_connect(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        connections.append(args)
        return real_init(self, *args, **kwargs)

    ids, emails = _burst(app, 30)  # 300 emails
    with app.app_context():
        queue_jobs = get_queue("mail").get_jobs()
    drains = [j for j in queue_jobs if j.func_name.endswith("drain_pending_emails")]
    assert len(drains) == 1  # 30 commits queued one drain, not 300 jobs
    assert not [j for j in queue_jobs if j.id.startswith("notification-email-")]

    smtplib.SMTP.connect = counting_connect  # type: ignore[method-assign]
    try:
        run_jobs()
    finally:
        smtplib.SMTP.connect = real_init  # type: ignore[method-assign]

    rows = _email_rows(app, ids)
    assert len(rows) == 300
    assert {r.status for r in rows} == {"sent"}
    assert {r.attempts for r in rows} == {1}
    sent = _sent_subjects(smtp_server, emails)
    assert len(sent) == 300
    assert set(sent.values()) == {1}
    # One SMTP connection for the 300, beside one each for the people's sign-up verification
    # mail (account mail stays immediate, one message per job).
    assert len(connections) == 1 + PEOPLE

    # Again: nothing is pending, nothing goes twice.
    with app.app_context():
        assert drain_pending_emails()["sent"] == 0
        db.session.remove()
    assert len(_sent_subjects(smtp_server, emails)) == 300
    assert sum(_sent_subjects(smtp_server, emails).values()) == 300


def test_a_refused_message_fails_alone_and_keeps_its_retry_schedule(app, run_jobs, smtp_server):
    """A message the server refuses mid-batch: that row counts its attempt and is handed to its
    per-row job at the first quick retry; the rest of the batch goes out on the same
    connection."""
    from aiosmtpd.controller import Controller

    ids, emails = _burst(app, 3)  # 30 emails
    refused = emails[4]
    accepted: list[str] = []

    class Handler:
        async def handle_RCPT(self, server, session, envelope, address, options):  # type: ignore[no-untyped-def]  # noqa: N802
            if address == refused:
                return "550 No such user here"
            envelope.rcpt_tos.append(address)
            return "250 OK"

        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            accepted.extend(envelope.rcpt_tos)
            return "250 Message accepted for delivery"

    controller = Controller(Handler(), hostname="127.0.0.1", port=smtp_server.port + 1)
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{smtp_server.port + 1}"
    try:
        with app.app_context():
            counts = drain_pending_emails(batch=7)
            db.session.remove()
    finally:
        controller.stop()
        app.config["SMTP_URL"] = smtp_server.url
    assert counts["sent"] == 27
    assert counts["failed"] == 3
    assert counts["connections"] == 1
    rows = _email_rows(app, ids)
    bad = [r for r in rows if r.user_id == ids[4]]
    assert {(r.status, r.attempts) for r in bad} == {("pending", 1)}
    assert all("550" in (r.last_error or "") for r in bad)
    assert {r.status for r in rows if r.user_id != ids[4]} == {"sent"}
    assert sorted(accepted) == sorted(e for e in emails if e != refused for _ in range(3))

    # Each refused row waits for its per-row job, at the quick retry its attempt calls for.
    with app.app_context():
        registry = ScheduledJobRegistry(queue=get_queue("mail"))
        scheduled = set(registry.get_job_ids())
        for row in bad:
            job_id = f"notification-email-{row.id}"
            assert job_id in scheduled
            job = get_queue("mail").fetch_job(job_id)
            assert job.retries_left == MAX_ATTEMPTS - 2
            assert job.retry_intervals == list(RETRY_INTERVALS[1:])
            # The retry runs the per-row job: now the server takes it, once.
            assert deliver_notification_email(str(row.id)) == "sent"
            db.session.remove()
    assert {(r.status, r.attempts) for r in _email_rows(app, ids) if r.user_id == ids[4]} == {
        ("sent", 2)
    }
    assert sum(_sent_subjects(smtp_server, [refused]).values()) == 3


def test_a_server_that_goes_away_mid_batch_leaves_the_rest_pending_with_their_schedule(
    app, run_jobs, smtp_server
):
    """The server accepts 12 messages, then is gone: the 12 are sent, the rest of the claimed
    batch count a failed attempt (each per-row job would have) and wait for their quick retry;
    the rows not claimed are untouched and a new drain is scheduled."""
    from aiosmtpd.controller import Controller

    ids, emails = _burst(app, 5)  # 50 emails
    port = smtp_server.port + 2
    taken: list[str] = []
    gone = threading.Event()

    class Handler:
        async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
            taken.extend(envelope.rcpt_tos)
            if len(taken) == 12:
                gone.set()
            return "250 OK"

    controller = Controller(Handler(), hostname="127.0.0.1", port=port)
    controller.start()
    app.config["SMTP_URL"] = f"smtp://127.0.0.1:{port}"
    real_send = smtplib.SMTP.send_message

    def send_then_stop(self, *args, **kwargs):  # type: ignore[no-untyped-def]
        if gone.is_set() and controller.loop.is_running():
            controller.stop()  # the server goes away between two messages
        return real_send(self, *args, **kwargs)

    smtplib.SMTP.send_message = send_then_stop  # type: ignore[method-assign]
    try:
        with app.app_context():
            counts = drain_pending_emails(batch=20)
            db.session.remove()
    finally:
        smtplib.SMTP.send_message = real_send  # type: ignore[method-assign]
        app.config["SMTP_URL"] = smtp_server.url
    assert counts["sent"] == 12
    assert counts["failed"] == 8
    rows = _email_rows(app, ids)
    by_state = Counter((r.status, r.attempts) for r in rows)
    assert by_state == {("sent", 1): 12, ("pending", 1): 8, ("pending", 0): 30}
    assert all(r.next_attempt_at is None for r in rows)  # quick retries: RQ's, per row
    with app.app_context():
        scheduled = ScheduledJobRegistry(queue=get_queue("mail")).get_job_ids()
        retrying = {
            f"notification-email-{r.id}" for r in rows if (r.status, r.attempts) == ("pending", 1)
        }
        assert retrying <= set(scheduled)
        drains = [
            j
            for j in (get_queue("mail").fetch_job(i) for i in scheduled)
            if j.func_name.endswith("drain_pending_emails")
        ]
        assert len(drains) == 1

        # The server is back: the next drain sends the 30 never tried; the per-row jobs the 8.
        assert drain_pending_emails()["sent"] == 30
        for r in rows:
            if (r.status, r.attempts) == ("pending", 1):
                assert deliver_notification_email(str(r.id)) == "sent"
        db.session.remove()
    assert {r.status for r in _email_rows(app, ids)} == {"sent"}
    sent = _sent_subjects(smtp_server, emails)
    assert len(sent) + 12 == 50
    assert set(sent.values()) == {1}


def test_a_drain_killed_mid_batch_loses_nothing(app, run_jobs, smtp_server):
    """SIGKILL of the forked drain after its first batch committed and while the second was
    being sent: the killed batch's transaction is rolled back, every unsent row is pending
    again, untried; the next drain sends each row once. What may go twice is what the server
    took in the killed batch before the kill (at most MAIL_BATCH - 1 messages)."""
    ids, emails = _burst(app, 4)  # 40 emails
    pid = os.fork()
    if pid == 0:  # the horse: as the forking mail worker runs the job
        try:
            with app.app_context():
                db.engine.dispose(close=False)
                real_send = smtplib.SMTP.send_message
                count = [0]

                def send_then_die(self, *args, **kwargs):  # type: ignore[no-untyped-def]
                    count[0] += 1
                    if count[0] == 15:  # the 5th message of the second batch of 10
                        os.kill(os.getpid(), signal.SIGKILL)
                    return real_send(self, *args, **kwargs)

                smtplib.SMTP.send_message = send_then_die  # type: ignore[method-assign]
                drain_pending_emails(batch=10)
        finally:
            os._exit(3)
    _, status = os.waitpid(pid, 0)
    assert os.WIFSIGNALED(status)
    assert os.WTERMSIG(status) == signal.SIGKILL

    rows = _email_rows(app, ids)
    assert Counter((r.status, r.attempts) for r in rows) == {("sent", 1): 10, ("pending", 0): 30}
    first = len(smtp_server.messages)
    assert first == 14  # 10 committed + 4 the server took before the kill

    # Two minutes on, the cron sweep finds the 30 untried rows: one drain, not 30 jobs.
    with app.app_context():
        get_queue("mail").empty()
        get_queue("mail").connection.delete(DRAIN_WANTED)
        db.session.execute(
            update(Notification)
            .where(Notification.user_id.in_(ids))
            .values(created_at=Notification.created_at - timedelta(minutes=3))
        )
        db.session.commit()
        assert sweep_pending_emails() == 30
        jobs = get_queue("mail").get_jobs()
        assert [j.func_name.rsplit(".", 1)[-1] for j in jobs] == ["drain_pending_emails"]
        db.session.remove()
    run_jobs()
    assert {r.status for r in _email_rows(app, ids)} == {"sent"}
    sent = _sent_subjects(smtp_server, emails)
    assert len(sent) == 40  # nothing lost
    assert sum(sent.values()) == 44  # the 4 of the killed batch went twice: the window
    assert max(sent.values()) == 2


def test_drain_requests_dedupe_and_a_commit_after_the_drain_started_queues_another(
    app, run_jobs, smtp_server
):
    from blog.notifications.jobs import request_mail_drain

    with app.app_context():
        queue = get_queue("mail")
        queue.connection.delete(DRAIN_WANTED)
        assert request_mail_drain(queue) is True
        assert request_mail_drain(queue) is False  # a drain is waiting: it will see this too
        drain_pending_emails()  # it started: the next commit needs a drain of its own
        assert request_mail_drain(queue) is True
        assert int(queue.connection.ttl(DRAIN_WANTED)) > 0  # a lost drain does not block
        db.session.remove()
