"""The jobs and outbox page: what operators see, and requeue / delete / retry, audited."""

from __future__ import annotations

import pytest
from rq import Worker
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.extensions import db
from blog.jobs.queues import get_queue
from blog.outbox.events import emit
from blog.outbox.models import OutboxEvent
from tests.conftest import new_client
from tests.factories import make_user


def explode() -> None:
    raise ValueError("the disk is full of kittens")


@pytest.fixture
def admin(app, sign_in):
    with app.app_context():
        make_user(email="admin@example.com", role="admin")
    browser = new_client(app)
    sign_in(browser, "admin@example.com")
    return browser


def _failed_job(app, run_jobs) -> str:
    with app.app_context():
        job = get_queue("default").enqueue(explode)
    run_jobs(allow_failures=True)
    return job.id


def _parked_event(app) -> str:
    with app.app_context():
        event = emit("test.parked", aggregate_type="test", aggregate_id="a-1")
        event.parked_at = utcnow()
        event.retry_count = 8
        event.last_error = "ConnectionError: Redis went away"
        db.session.commit()
        return str(event.id)


def _actions(app) -> list[str]:
    with app.app_context():
        return list(db.session.scalars(select(AuditLog.action).order_by(AuditLog.created_at)))


def test_only_admins_see_the_page(app, client, sign_in):
    with app.app_context():
        make_user(email="mod@example.com", role="moderator")
    assert client.get("/admin/jobs").status_code == 302
    sign_in(client, "mod@example.com")
    assert client.get("/admin/jobs").status_code == 403
    assert client.post_form("/admin/outbox/retry-parked", csrf_from="/").status_code == 403


def test_the_page_shows_queues_workers_failures_and_the_outbox(app, admin, run_jobs):
    job_id = _failed_job(app, run_jobs)
    event_id = _parked_event(app)
    with app.app_context():
        get_queue("mail").enqueue(explode)  # waiting, not run
        worker = Worker([get_queue("default")], connection=get_redis(), name="test-worker-1")
        worker.register_birth()
        worker.heartbeat()

    body = admin.get("/admin/jobs").get_data(as_text=True)

    assert '<tr id="queue-mail"><td>mail</td><td>1</td>' in body
    assert '<tr id="queue-default"><td>default</td><td>0</td><td>0</td><td>0</td><td>1</td>' in body
    assert "test-worker-1" in body
    assert f'id="failed-{job_id}"' in body
    assert "ValueError: the disk is full of kittens" in body
    assert f'id="parked-{event_id}"' in body
    assert "ConnectionError: Redis went away" in body
    assert '<dd id="outbox-parked">1</dd>' in body
    with app.app_context():
        worker.register_death()


def test_the_figures_refresh_as_a_fragment(app, admin):
    body = admin.get("/admin/jobs", headers={"HX-Request": "true"}).get_data(as_text=True)

    assert body.lstrip().startswith('<div id="ops-live"')
    assert 'id="ops-failed"' not in body  # the buttons are not swapped under the keyboard


def test_a_failed_job_is_requeued_and_runs_again(app, admin, run_jobs):
    job_id = _failed_job(app, run_jobs)

    response = admin.post_form(f"/admin/jobs/default/{job_id}/requeue", csrf_from="/admin/jobs")

    assert response.status_code == 302
    with app.app_context():
        queue = get_queue("default")
        assert job_id in queue.job_ids
        assert job_id not in queue.failed_job_registry.get_job_ids()
    assert "job.requeue" in _actions(app)


def test_a_failed_job_is_deleted(app, admin, run_jobs):
    job_id = _failed_job(app, run_jobs)

    response = admin.post_form(f"/admin/jobs/default/{job_id}/delete", csrf_from="/admin/jobs")

    assert response.status_code == 302
    with app.app_context():
        assert get_queue("default").failed_job_registry.count == 0
    assert "job.delete" in _actions(app)


@pytest.mark.parametrize("path", ["/admin/jobs/default/nope/requeue", "/admin/jobs/bogus/x/delete"])
def test_unknown_jobs_are_404(admin, path):
    assert admin.post_form(path, csrf_from="/admin/jobs").status_code == 404


def test_a_parked_event_is_retried(app, admin):
    event_id = _parked_event(app)

    response = admin.post_form(f"/admin/outbox/{event_id}/retry", csrf_from="/admin/jobs")

    assert response.status_code == 302
    with app.app_context():
        event = db.session.scalar(select(OutboxEvent))
        assert (event.parked_at, event.retry_count) == (None, 0)
    assert "outbox.retry" in _actions(app)
    assert (
        admin.post_form(f"/admin/outbox/{event_id}/retry", csrf_from="/admin/jobs").status_code
        == 404
    )


def test_every_parked_event_is_retried_at_once(app, admin):
    _parked_event(app)
    _parked_event(app)

    admin.post_form("/admin/outbox/retry-parked", csrf_from="/admin/jobs")

    with app.app_context():
        assert (
            db.session.scalar(select(OutboxEvent).where(OutboxEvent.parked_at.is_not(None))) is None
        )
