"""The lifecycle: draft → published → archived → published again, and nothing else.

Every (from, to) pair is tried on a real row, through the model's one entry for a status
change and, where a button exists, through HTTP; each refusal carries a message for people.
Publishing and archiving emit their event in the same transaction.
"""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import select

from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.models import OutboxEvent
from blog.posts.models import STATUSES, IllegalTransition, Post
from tests.posts.helpers import (
    htmx_client,
    load_post,
    make_author,
    make_post,
    new_author,
    new_post,
    signed_in,
)

ALLOWED = {("draft", "published"), ("published", "archived"), ("archived", "published")}
REFUSALS = {
    ("draft", "draft"): "already a draft",
    ("draft", "archived"): "A draft cannot be archived",
    ("published", "draft"): "cannot go back to being a draft",
    ("published", "published"): "already published",
    ("archived", "draft"): "cannot become a draft again",
    ("archived", "archived"): "already archived",
}
PAIRS = [(a, b) for a in STATUSES for b in STATUSES]


def test_the_table_covers_every_pair():
    assert len(PAIRS) == 9
    assert ALLOWED | set(REFUSALS) == set(PAIRS)
    assert not ALLOWED & set(REFUSALS)


@pytest.mark.parametrize(("start", "target"), PAIRS)
def test_every_pair_of_statuses(app_ctx, start, target):
    author = make_author()
    post = make_post(author, status=start)
    before = post.published_at
    now = utcnow() + timedelta(minutes=5)
    if (start, target) in ALLOWED:
        post.move_to(target, now, by=author.id)
        db.session.commit()  # the CHECK constraints agree with the model
        assert post.status == target
        if target == "published":
            # The first publication's time stays: publishing again keeps the post's place.
            assert post.published_at == (before or now)
            assert post.archived_at is None
        else:
            assert post.archived_at == now
    else:
        with pytest.raises(IllegalTransition, match=REFUSALS[(start, target)]):
            post.move_to(target, now, by=author.id)
        db.session.rollback()
        assert db.session.get(Post, post.id).status == start


def test_an_unknown_status_is_refused(app_ctx):
    post = make_post(make_author(), status="draft")
    with pytest.raises(IllegalTransition, match="no status called"):
        post.move_to("deleted", utcnow())


def test_naive_datetimes_are_refused(app_ctx):
    post = make_post(make_author(), status="draft")
    with pytest.raises(ValueError, match="aware"):
        post.publish(utcnow().replace(tzinfo=None))


def test_the_database_refuses_what_the_model_refuses(app_ctx):
    from sqlalchemy.exc import IntegrityError

    post = make_post(make_author(), status="draft")
    post.status = "archived"  # behind the model's back: no archived_at, no published_at
    with pytest.raises(IntegrityError):
        db.session.commit()
    db.session.rollback()


def _events(app, post_id, event_type):
    with app.app_context():
        return db.session.scalars(
            select(OutboxEvent)
            .where(OutboxEvent.aggregate_id == str(post_id), OutboxEvent.event_type == event_type)
            .order_by(OutboxEvent.position)
        ).all()


def test_publish_and_archive_by_http_emit_their_events(app):
    author = new_author(app)
    post = new_post(app, author, status="draft", tags=["python"])
    client = signed_in(app, author.email)

    response = client.post_form(f"/posts/{post.id}/publish", csrf_from=f"/posts/{post.slug}")
    assert response.status_code == 302
    assert load_post(app, post.id).status == "published"
    [published] = _events(app, post.id, "post.published")
    assert published.event_data["slug"] == post.slug
    assert published.event_data["tags"] == ["python"]
    assert published.event_data["republished"] is False

    response = client.post_form(f"/posts/{post.id}/archive", csrf_from=f"/posts/{post.slug}")
    assert response.status_code == 302
    archived = load_post(app, post.id)
    assert archived.status == "archived"
    assert archived.archived_by_id == author.id
    [event] = _events(app, post.id, "post.archived")
    assert event.event_data["by"] == str(author.id)

    response = client.post_form(f"/posts/{post.id}/publish", csrf_from=f"/posts/{post.slug}")
    assert load_post(app, post.id).status == "published"
    assert [e.event_data["republished"] for e in _events(app, post.id, "post.published")] == [
        False,
        True,
    ]


@pytest.mark.parametrize(
    ("start", "button", "message"),
    [
        ("draft", "archive", "A draft cannot be archived"),
        ("published", "publish", "already published"),
        ("archived", "archive", "already archived"),
    ],
)
def test_refused_moves_by_http_say_why_and_change_nothing(app, start, button, message):
    author = new_author(app)
    post = new_post(app, author, status=start)
    event_type = "post.published" if button == "publish" else "post.archived"
    events_before = len(_events(app, post.id, event_type))
    client = htmx_client(app, author.email)
    response = client.post_form(f"/posts/{post.id}/{button}", csrf_from=f"/posts/{post.slug}")
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert 'id="post-status"' in html
    assert message in html  # the flash, delivered out of band
    assert load_post(app, post.id).status == start
    assert len(_events(app, post.id, event_type)) == events_before


def test_a_refused_move_without_javascript_redirects_with_the_message(app):
    author = new_author(app)
    post = new_post(app, author, status="draft")
    client = signed_in(app, author.email)
    response = client.post_form(f"/posts/{post.id}/archive", csrf_from=f"/posts/{post.slug}")
    assert response.status_code == 302
    page = client.get(response.location).get_data(as_text=True)
    assert "A draft cannot be archived" in page


def test_a_rolled_back_publish_leaves_no_event(app_ctx):
    post = make_post(make_author(), status="draft")
    from blog.posts.services import publish_post

    publish_post(post, actor=None)
    db.session.rollback()
    assert db.session.get(Post, post.id).status == "draft"
    assert not db.session.scalars(
        select(OutboxEvent).where(OutboxEvent.aggregate_id == str(post.id))
    ).all()
