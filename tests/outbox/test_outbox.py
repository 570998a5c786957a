from __future__ import annotations

import json
from datetime import timedelta

import pytest
from redis import Redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from rq import Queue
from rq.job import Job
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from blog.auth.services import register_user
from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.extensions import db
from blog.outbox.archive import archive_published_events
from blog.outbox.events import TRIGGER_KEY, emit
from blog.outbox.models import ArchivedEvent, HandlerRun, OutboxEvent
from blog.outbox.registry import run_handler
from blog.outbox.relay import MAX_ATTEMPTS, STREAM, backoff, handler_job_id, relay_outbox


def _events() -> list[OutboxEvent]:
    return list(db.session.scalars(select(OutboxEvent).order_by(OutboxEvent.position)))


def _stream(app) -> list[dict[str, str]]:
    with app.app_context():
        entries = get_redis().xrange(STREAM)
    return [{k.decode(): v.decode() for k, v in fields.items()} for _id, fields in entries]


# ---------------------------------------------------------------- atomicity


def test_a_rolled_back_service_leaves_no_rows_and_no_events(app_ctx):
    register_user(email="ada@example.com", user_name="ada", password="Analytical-1843")
    db.session.rollback()
    assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0
    assert get_redis().get(TRIGGER_KEY) is None  # nothing was triggered either


def test_a_committed_service_leaves_exactly_its_events(app_ctx):
    user = register_user(email="ada@example.com", user_name="ada", password="Analytical-1843")
    db.session.commit()
    events = _events()
    assert [(e.event_type, e.aggregate_id) for e in events] == [("user.registered", str(user.id))]
    assert events[0].published_at is None
    # The after-commit trigger queued exactly one relay job.
    assert Queue("outbox", connection=get_redis()).count == 1


def test_many_commits_queue_one_relay(app_ctx):
    for n in range(5):
        emit("test.recorded", aggregate_type="thing", aggregate_id=n, data={"seq": 0})
        db.session.commit()
    assert Queue("outbox", connection=get_redis()).count == 1


def test_a_failed_sign_up_emits_nothing(app, client):
    client.post_form(
        "/register",
        {"email": "bad", "user_name": "ada", "password": "x", "confirm": "x"},
        csrf_from="/register",
    )
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(OutboxEvent)) == 0


# ---------------------------------------------------------------- relay


def test_relay_publishes_to_the_stream_and_enqueues_handlers(app, effects_table, run_jobs):
    with app.app_context():
        event = emit("test.recorded", aggregate_type="thing", aggregate_id="a1", data={"seq": 1})
        db.session.commit()
        event_id = str(event.id)
        assert relay_outbox() == 1
        assert _events()[0].published_at is not None
        job = Job.fetch(
            handler_job_id(event_id, "tests.outbox.handlers.record_effect"), connection=get_redis()
        )
        assert job.get_status() == "queued"
    entry = _stream(app)[-1]
    assert entry["id"] == event_id
    assert entry["type"] == "test.recorded"
    assert json.loads(entry["data"]) == {"seq": 1}

    run_jobs()
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM test_effects")).scalar() == 1


def test_relay_runs_end_to_end_through_the_worker_and_mail(app, client, smtp_server, run_jobs):
    """Sign-up → user.registered → relay (a job) → verification mail at a real SMTP server."""
    client.post_form(
        "/register",
        {
            "email": "ada@example.com",
            "user_name": "ada",
            "password": "Analytical-1843",
            "confirm": "Analytical-1843",
        },
        csrf_from="/register",
    )
    run_jobs()  # the relay job the commit queued, then the mail handler it enqueued
    assert [m["To"] for m in smtp_server.messages] == ["ada@example.com"]
    assert smtp_server.messages[0]["Subject"] == "Confirm your email address for Blog"
    body = smtp_server.messages[0].get_body(("plain",)).get_content()
    assert f"{app.config['SITE_URL']}/verify-email/" in body


def test_a_late_committing_transaction_is_still_published(app):
    with app.app_context():
        late = Session(bind=db.engine)
        late.add(OutboxEvent(event_type="test.late", aggregate_type="t", aggregate_id="late"))
        late.flush()  # holds an earlier position, not yet committed
        emit("test.early", aggregate_type="t", aggregate_id="early")
        db.session.commit()
        assert relay_outbox() == 1  # the early one; the late one is invisible so far
        late.commit()
        late.close()
        assert relay_outbox() == 1
        assert all(e.published_at is not None for e in _events())
    assert [e["type"] for e in _stream(app)] == ["test.early", "test.late"]


def test_publish_failure_backs_off_then_parks(app):
    with app.app_context():
        emit("test.recorded", aggregate_type="thing", aggregate_id="a", data={"seq": 1})
        db.session.commit()
        healthy = app.extensions["blog_redis"]
        app.extensions["blog_redis"] = Redis(
            unix_socket_path="/nonexistent/redis.sock", retry=Retry(NoBackoff(), 0)
        )
        try:
            before = utcnow()
            assert relay_outbox() == 0
            after = utcnow()
            event = _events()[0]
            assert event.retry_count == 1
            assert event.published_at is None
            assert "ConnectionError" in event.last_error
            one = timedelta(seconds=1)
            assert before + one <= event.next_attempt_at <= after + one

            assert relay_outbox() == 0  # not due yet: nothing is attempted
            assert _events()[0].retry_count == 1

            event.retry_count = MAX_ATTEMPTS - 1
            event.next_attempt_at = utcnow()
            db.session.commit()
            relay_outbox()
            event = _events()[0]
            assert event.parked_at is not None
        finally:
            app.extensions["blog_redis"] = healthy
        assert relay_outbox() == 0  # parked: left alone until someone retries it


def test_backoff_doubles_to_a_cap():
    assert [backoff(n).seconds for n in range(1, 8)] == [1, 2, 4, 8, 16, 16, 16]


def test_an_aggregate_waits_behind_its_backing_off_event(app):
    with app.app_context():
        first = emit("test.a", aggregate_type="post", aggregate_id="p1")
        emit("test.b", aggregate_type="post", aggregate_id="p1")
        emit("test.c", aggregate_type="post", aggregate_id="p2")
        db.session.flush()
        first.next_attempt_at = utcnow() + timedelta(seconds=30)  # backing off
        db.session.commit()
        assert relay_outbox() == 1
    assert [e["type"] for e in _stream(app)] == ["test.c"]


def test_only_one_relay_runs_at_a_time(app):
    with app.app_context():
        emit("test.recorded", aggregate_type="thing", aggregate_id="a", data={"seq": 1})
        db.session.commit()
        holder = db.engine.connect()
        from blog.outbox.relay import RELAY_LOCK_KEY

        holder.execute(text("SELECT pg_advisory_lock(:k)"), {"k": RELAY_LOCK_KEY})
        try:
            assert relay_outbox() == 0
        finally:
            holder.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": RELAY_LOCK_KEY})
            holder.close()
        assert relay_outbox() == 1


# ---------------------------------------------------------------- handlers


def test_a_handler_runs_once_per_event_however_often_it_is_delivered(app, effects_table):
    with app.app_context():
        event = emit("test.recorded", aggregate_type="thing", aggregate_id="a", data={"seq": 7})
        db.session.commit()
        message = event.as_message()
        name = "tests.outbox.handlers.record_effect"
        assert run_handler(name, message) == "done"
        assert run_handler(name, message) == "skipped"
        assert db.session.execute(text("SELECT count(*) FROM test_effects")).scalar() == 1
        assert db.session.scalar(select(func.count()).select_from(HandlerRun)) == 1


def test_a_failing_handler_leaves_no_ledger_row_so_it_can_retry(app, effects_table):
    with app.app_context():
        event = emit("test.poisoned", aggregate_type="thing", aggregate_id="a")
        db.session.commit()
        with pytest.raises(RuntimeError, match="poison"):
            run_handler("tests.outbox.handlers.always_fail", event.as_message())
        assert db.session.scalar(select(func.count()).select_from(HandlerRun)) == 0


def test_a_poison_handler_retries_at_1_2_4_8_16_then_fails_visibly(app, effects_table, run_jobs):
    with app.app_context():
        poison = emit("test.poisoned", aggregate_type="thing", aggregate_id="bad")
        emit("test.recorded", aggregate_type="thing", aggregate_id="good", data={"seq": 1})
        db.session.commit()
        poison_id = str(poison.id)
        relay_outbox()
        redis = get_redis()
    queue = Queue("default", connection=redis)
    job_id = handler_job_id(poison_id, "tests.outbox.handlers.always_fail")

    for attempt, interval in enumerate([1, 2, 4, 8, 16], start=1):
        started = utcnow()
        run_jobs(allow_failures=True)
        ended = utcnow()
        job = Job.fetch(job_id, connection=redis)
        assert job.retries_left == 5 - attempt
        scheduled = queue.scheduled_job_registry
        assert job_id in scheduled.get_job_ids()
        # RQ keeps scheduled times to the whole second.
        when = scheduled.get_scheduled_time(job_id)
        assert (
            (when - ended).total_seconds() - 1 <= interval <= (when - started).total_seconds() + 1
        )
        # Play the scheduler: move the due job back to its queue now.
        scheduled.remove(job_id)
        queue.enqueue_job(job)
    run_jobs(allow_failures=True)

    failed = queue.failed_job_registry
    assert job_id in failed.get_job_ids()
    assert "poison" in Job.fetch(job_id, connection=redis).latest_result().exc_string
    with app.app_context():  # the other event's handler was not held up
        assert db.session.execute(text("SELECT count(*) FROM test_effects")).scalar() == 1


def test_a_relay_batch_is_one_job_per_handler_in_one_transaction(
    app, effects_table, run_jobs, count_queries
):
    with app.app_context():
        events = [
            emit("test.recorded", aggregate_type="thing", aggregate_id="b", data={"seq": n})
            for n in range(5)
        ]
        db.session.commit()
        first = str(events[0].id)
        assert relay_outbox() == 5
        queue = Queue("default", connection=get_redis())
        job_id = handler_job_id(first, "tests.outbox.handlers.record_effect")
        assert queue.get_job_ids() == [job_id]  # one job for the five events
        assert [m["id"] for m in Job.fetch(job_id, connection=get_redis()).args[1]] == [
            str(e.id) for e in events
        ]
        Queue("outbox", connection=get_redis()).empty()  # the commit's relay trigger: done above
        engine = db.engine
    commits: list[object] = []

    def committed(conn: object) -> None:
        commits.append(conn)

    sa_event.listen(engine, "commit", committed)
    try:
        with count_queries() as q:
            assert run_jobs() == 1
    finally:
        sa_event.remove(engine, "commit", committed)
    # One ledger statement for the batch, one effect each, one commit: not five transactions.
    assert sum("outbox_handler_runs" in s for s in q.statements) == 1
    assert sum("test_effects" in s for s in q.statements) == 5
    assert len(commits) == 1
    with app.app_context():
        seqs = db.session.execute(text("SELECT seq FROM test_effects ORDER BY id")).scalars()
        assert list(seqs) == [0, 1, 2, 3, 4]  # in the events' order
        assert db.session.scalar(select(func.count()).select_from(HandlerRun)) == 5


def test_a_bad_event_in_a_batch_holds_up_only_itself(app, effects_table, run_jobs):
    with app.app_context():
        first = emit("test.mixed", aggregate_type="thing", aggregate_id="m1", data={"seq": 1})
        emit("test.mixed", aggregate_type="thing", aggregate_id="m2", data={"fail": True})
        emit("test.mixed", aggregate_type="thing", aggregate_id="m3", data={"seq": 3})
        db.session.commit()
        relay_outbox()
        job_id = handler_job_id(str(first.id), "tests.outbox.handlers.record_unless_told_to_fail")
    run_jobs(allow_failures=True)
    with app.app_context():
        # The good ones committed, each on its own, after the batch's transaction failed.
        seqs = db.session.execute(text("SELECT seq FROM test_effects ORDER BY seq")).scalars()
        assert list(seqs) == [1, 3]
        assert db.session.scalar(select(func.count()).select_from(HandlerRun)) == 2
        job = Job.fetch(job_id, connection=get_redis())
        assert job.retries_left == 4  # RQ retries the batch for the bad one
        queue = Queue("default", connection=get_redis())
        assert job_id in queue.scheduled_job_registry.get_job_ids()
        # The retry runs the batch again: the two done are skipped, nothing is doubled.
        queue.scheduled_job_registry.remove(job_id)
        queue.enqueue_job(job)
    run_jobs(allow_failures=True)
    with app.app_context():
        assert db.session.execute(text("SELECT count(*) FROM test_effects")).scalar() == 2


# ---------------------------------------------------------------- archive and CLI


def test_published_events_older_than_30_days_are_archived(app_ctx):
    old = emit("test.old", aggregate_type="t", aggregate_id="1")
    recent = emit("test.recent", aggregate_type="t", aggregate_id="2")
    pending = emit("test.pending", aggregate_type="t", aggregate_id="3")
    db.session.flush()
    old.published_at = utcnow() - timedelta(days=31)
    recent.published_at = utcnow() - timedelta(days=29)
    db.session.commit()
    old_id = old.id
    assert archive_published_events() == 1
    assert {e.event_type for e in _events()} == {"test.recent", "test.pending"}
    archived = db.session.scalars(select(ArchivedEvent)).all()
    assert [(a.id, a.event_type) for a in archived] == [(old_id, "test.old")]
    assert pending.published_at is None


def test_cli_status_and_retry(app):
    runner = app.test_cli_runner()
    with app.app_context():
        parked = emit("test.recorded", aggregate_type="t", aggregate_id="1", data={"seq": 1})
        emit("test.recorded", aggregate_type="t", aggregate_id="2", data={"seq": 1})
        db.session.flush()
        parked.parked_at = utcnow()
        parked.retry_count = MAX_ATTEMPTS
        db.session.commit()
        parked_id = str(parked.id)

    result = runner.invoke(args=["outbox", "status"])
    assert result.exit_code == 0, result.output
    assert "pending:                1" in result.output
    assert "parked:                 1" in result.output

    assert runner.invoke(args=["outbox", "retry"]).exit_code != 0  # needs an id or --parked
    assert runner.invoke(args=["outbox", "retry", "not-a-uuid"]).exit_code != 0
    result = runner.invoke(args=["outbox", "retry", parked_id])
    assert result.exit_code == 0, result.output
    assert "1 event(s)" in result.output
    with app.app_context():
        event = db.session.get(OutboxEvent, parked.id)
        assert event.parked_at is None
        assert event.retry_count == 0
        assert relay_outbox() == 2
