"""Scheduled publication by the cron job's function, and view counts gathered in Redis and
flushed to posts.view_count: correct under concurrent views, none lost during a flush."""

from __future__ import annotations

import threading
from datetime import timedelta

from sqlalchemy import select

from blog.core.db import utcnow
from blog.core.redis import get_redis
from blog.extensions import db
from blog.outbox.models import OutboxEvent
from blog.posts.counters import PENDING_KEY, flush_view_counts
from blog.posts.jobs import flush_post_views, publish_scheduled_posts
from tests.conftest import new_client
from tests.posts.helpers import load_post, new_author, new_post, signed_in


def _schedule(client, title, at):
    return client.post_form(
        "/write",
        {
            "title": title,
            "content": "Written now, out later.",
            "tags": "later",
            "scheduled_at": at.strftime("%Y-%m-%dT%H:%M"),
            "action": "schedule",
        },
        csrf_from="/write",
    )


def test_scheduling_from_the_editor_and_publishing_by_the_job(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    at = (utcnow() + timedelta(minutes=10)).replace(second=0, microsecond=0)
    response = _schedule(client, "Tomorrow's news", at)
    assert response.status_code == 302
    edit_page = client.get(response.location).get_data(as_text=True)
    assert "Scheduled: it will be published at" in edit_page
    post_id = response.location.split("/")[-2]
    import uuid

    post = load_post(app, uuid.UUID(post_id))
    assert post.status == "draft"
    assert post.scheduled_at == at
    assert new_client(app).get(f"/posts/{post.slug}").status_code == 404

    with app.app_context():
        assert publish_scheduled_posts() == 0  # not yet due
        assert publish_scheduled_posts(now=at - timedelta(seconds=1)) == 0
        assert publish_scheduled_posts(now=at + timedelta(seconds=30)) == 1
        assert publish_scheduled_posts(now=at + timedelta(minutes=1)) == 0  # idempotent
        events = db.session.scalars(
            select(OutboxEvent).where(
                OutboxEvent.aggregate_id == post_id, OutboxEvent.event_type == "post.published"
            )
        ).all()
        assert len(events) == 1
        db.session.remove()
    published = load_post(app, post.id)
    assert published.status == "published"
    assert published.scheduled_at is None
    assert published.published_at == at + timedelta(seconds=30)
    assert new_client(app).get(f"/posts/{post.slug}").status_code == 200


def test_schedule_validation(app):
    author = new_author(app)
    client = signed_in(app, author.email, htmx=True)
    past = _schedule(client, "In the past", utcnow() - timedelta(hours=1))
    assert past.status_code == 422
    assert "Choose a time in the future." in past.get_data(as_text=True)
    far = _schedule(client, "Far ahead", utcnow() + timedelta(days=800))
    assert far.status_code == 422
    assert "Schedule at most a year ahead." in far.get_data(as_text=True)
    missing = client.post_form(
        "/write",
        {"title": "No time given", "content": "Some text here.", "action": "schedule"},
        csrf_from="/write",
    )
    assert missing.status_code == 422
    assert "Choose when to publish." in missing.get_data(as_text=True)
    garbage = client.post_form(
        "/write",
        {
            "title": "Garbage time",
            "content": "Some text here.",
            "scheduled_at": "tomorrow",
            "action": "schedule",
        },
        csrf_from="/write",
    )
    assert garbage.status_code == 422


def test_cancelling_a_schedule(app):
    author = new_author(app)
    client = signed_in(app, author.email)
    response = _schedule(client, "Maybe later", utcnow() + timedelta(hours=2))
    import uuid

    post_id = uuid.UUID(response.location.split("/")[-2])
    response = client.post_form(f"/posts/{post_id}/unschedule")
    assert response.status_code == 302
    assert load_post(app, post_id).scheduled_at is None
    with app.app_context():
        assert publish_scheduled_posts(now=utcnow() + timedelta(days=1)) == 0


# --------------------------------------------------------------------------- view counts


def test_views_are_counted_in_redis_and_flushed(app, count_queries):
    author = new_author(app)
    post = new_post(app, author)
    reader = new_client(app)
    with count_queries() as q:
        page = reader.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert not [s for s in q.statements if s.lstrip().upper().startswith("UPDATE")]
    assert "1 view" in page
    reader.get(f"/posts/{post.slug}")
    assert "3 views" in reader.get(f"/posts/{post.slug}").get_data(as_text=True)
    assert load_post(app, post.id).view_count == 0  # nothing written yet
    # The author's own visits and htmx fragments are not counted.
    signed_in(app, author.email).get(f"/posts/{post.slug}")
    new_client(app, htmx=True).get(f"/posts/{post.slug}")
    with app.app_context():
        assert flush_post_views() == 3
        assert flush_post_views() == 0
        db.session.remove()
    assert load_post(app, post.id).view_count == 3
    assert "4 views" in reader.get(f"/posts/{post.slug}").get_data(as_text=True)


def test_concurrent_views_are_all_counted(app):
    author = new_author(app)
    posts = [new_post(app, author) for _ in range(3)]
    per_thread, threads = 15, 8
    errors: list[BaseException] = []

    def browse(n: int) -> None:
        try:
            client = new_client(app)
            for i in range(per_thread):
                target = posts[(n + i) % len(posts)]
                assert client.get(f"/posts/{target.slug}").status_code == 200
        except BaseException as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    # A flush runs in the middle of the traffic: views arriving meanwhile are kept for the next.
    workers = [threading.Thread(target=browse, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    with app.app_context():
        flushed = flush_view_counts()
        db.session.remove()
    for worker in workers:
        worker.join(60)
    assert not errors
    with app.app_context():
        flushed += flush_view_counts()
        assert not get_redis().exists(PENDING_KEY)
        db.session.remove()
    total = sum(load_post(app, p.id).view_count for p in posts)
    assert flushed == total == per_thread * threads


def test_a_flush_interrupted_after_the_move_is_finished_by_the_next(app):
    from blog.posts.counters import FLUSHING_KEY

    author = new_author(app)
    post = new_post(app, author)
    with app.app_context():
        redis = get_redis()
        redis.hincrby(PENDING_KEY, str(post.id), 5)
        redis.rename(PENDING_KEY, FLUSHING_KEY)  # as a run that died right after the move
        redis.hincrby(PENDING_KEY, str(post.id), 2)
        redis.hincrby(PENDING_KEY, "not-a-uuid", 2)
        assert flush_view_counts() == 5
        assert flush_view_counts() == 2
        db.session.remove()
    assert load_post(app, post.id).view_count == 7


def test_a_page_still_answers_when_redis_is_down(app, make_app):
    author = new_author(app)
    post = new_post(app, author, title="Still readable")
    broken = make_app(REDIS_URL="redis://127.0.0.1:1/0")
    response = new_client(broken).get(f"/posts/{post.slug}")
    assert response.status_code == 200
    assert "Still readable" in response.get_data(as_text=True)


def test_the_cron_schedule_runs_the_post_jobs():
    from blog.jobs.cron import register_schedule

    registered = []

    class Recorder:
        def register(self, func, **kwargs):
            registered.append((func.__name__, kwargs))

    register_schedule(Recorder())  # type: ignore[arg-type]
    names = dict(registered)
    assert names["publish_scheduled_posts"]["interval"] <= 60
    assert "flush_post_views" in names


def test_head_requests_are_not_views(app):
    author = new_author(app)
    post = new_post(app, author)
    reader = new_client(app)
    assert reader.head(f"/posts/{post.slug}").status_code == 200
    with app.app_context():
        assert flush_post_views() == 0
