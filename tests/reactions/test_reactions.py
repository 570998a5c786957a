"""Likes on posts and comments: the service's rules (each refusal, one like per person and
item, the counts kept on the items), the views (htmx swaps the button, plain forms redirect,
CSRF, 404 for another person's draft, the rate limit), the grouped notification and the live
count published for open post tabs."""

from __future__ import annotations

import json
import time
import uuid

import pytest
from sqlalchemy import func, select

from blog.auth.models import User
from blog.comments.models import Comment
from blog.comments.services import add_comment, delete_comment, remove_comment
from blog.core.db import utcnow
from blog.core.live import MANY_CHANNEL
from blog.extensions import db
from blog.notifications.models import Notification
from blog.outbox.models import OutboxEvent
from blog.posts.models import Post
from blog.reactions import services
from blog.reactions.models import CommentReaction, PostReaction
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_post


@pytest.fixture
def world(app, sign_in):
    with app.app_context():
        alice = make_user(email="alice@example.com", user_name="alice", email_verified_at=utcnow())
        bob = make_user(email="bob@example.com", user_name="bob", email_verified_at=utcnow())
        mod = make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        post = make_post(alice, title="Engines")
        draft = make_post(alice, title="Unfinished", status="draft")
        archived = make_post(alice, title="Old news", status="archived")
        comment = add_comment(post, alice, "Alice's own comment")
        bobs = add_comment(post, bob, "Bob's comment")
        db.session.commit()
        ids = {
            "alice": alice.id,
            "bob": bob.id,
            "mod": mod.id,
            "post": post.id,
            "slug": post.slug,
            "draft": draft.id,
            "archived": archived.id,
            "comment": comment.id,
            "bobs_comment": bobs.id,
        }

    def browser(who: str, htmx: bool = False):
        client = new_client(app, htmx=htmx)
        sign_in(client, f"{who}@example.com")
        return client

    ids["as"] = browser
    return ids


def _get(model, ident):
    obj = db.session.get(model, ident)
    assert obj is not None
    return obj


def _like_count(app, model, ident) -> int:
    with app.app_context():
        return int(db.session.scalar(select(model.like_count).where(model.id == ident)))


# --------------------------------------------------------------------------- the service


def test_a_like_counts_once_and_an_unlike_takes_it_back(app, world):
    with app.app_context():
        post, bob = _get(Post, world["post"]), _get(User, world["bob"])
        first = services.like_post(post, bob, True)
        again = services.like_post(post, bob, True)  # a double click, a second tab
        db.session.commit()
        assert (first.changed, first.count) == (True, 1)
        assert (again.changed, again.count) == (False, 1)
        rows = db.session.scalar(select(func.count()).select_from(PostReaction))
        assert rows == 1
        off = services.like_post(post, bob, False)
        twice = services.like_post(post, bob, False)
        db.session.commit()
        assert (off.changed, off.count, twice.changed, twice.count) == (True, 0, False, 0)
        events = db.session.scalars(
            select(OutboxEvent.event_type)
            .where(OutboxEvent.event_type.like("reaction.%"))
            .order_by(OutboxEvent.occurred_at)
        ).all()
        # Only real changes are events: the repeated like and unlike emit nothing.
        assert events == ["reaction.added", "reaction.removed"]


def test_refusals(app, world):
    with app.app_context():
        alice, bob, mod = (_get(User, world[n]) for n in ("alice", "bob", "mod"))
        post = _get(Post, world["post"])
        cases = [
            (lambda: services.like_post(post, alice, True), "your own post"),
            (lambda: services.like_post(_get(Post, world["draft"]), bob, True), "published"),
            (lambda: services.like_post(_get(Post, world["archived"]), bob, True), "archived"),
            (
                lambda: services.like_comment(
                    _get(Comment, world["bobs_comment"]), post, bob, True
                ),
                "your own comment",
            ),
            (lambda: services.save_post(_get(Post, world["draft"]), bob, True), "published"),
            (lambda: services.save_post(_get(Post, world["archived"]), bob, True), "archived"),
        ]
        for attempt, words in cases:
            with pytest.raises(services.ReactionRefused, match=words):
                attempt()
        comment = _get(Comment, world["comment"])
        remove_comment(comment, actor=mod, reason="Off topic")
        with pytest.raises(services.ReactionRefused, match="removed"):
            services.like_comment(comment, post, bob, True)
        delete_comment(_get(Comment, world["bobs_comment"]), post)
        with pytest.raises(services.ReactionRefused, match="deleted"):
            services.like_comment(_get(Comment, world["bobs_comment"]), post, mod, True)
        db.session.rollback()
        assert db.session.scalar(select(func.count()).select_from(PostReaction)) == 0
        assert db.session.scalar(select(func.count()).select_from(CommentReaction)) == 0


def test_counts_of_many_likers_and_cascades(app, world):
    with app.app_context():
        post = _get(Post, world["post"])
        comment = _get(Comment, world["comment"])
        people = [make_user(email_verified_at=utcnow()) for _ in range(5)]
        for person in people:
            services.like_post(post, person, True)
            services.like_comment(comment, post, person, True)
        db.session.commit()
        assert (post.like_count, comment.like_count) == (5, 5)
        # A deleted account's likes go with it (ON DELETE CASCADE), rows first.
        db.session.delete(_get(User, people[0].id))
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(PostReaction)) == 4


# --------------------------------------------------------------------------- over HTTP


def _path(world) -> str:
    return f"/posts/{world['slug']}"


def test_htmx_like_swaps_the_button_with_its_new_state(app, world):
    bob = world["as"]("bob", htmx=True)
    response = bob.post_form(f"/posts/{world['post']}/like", {"on": "1"}, csrf_from=_path(world))
    assert response.status_code == 200
    html = response.get_data(as_text=True)
    assert html.lstrip().startswith(f'<form id="like-post-{world["post"]}"')
    assert 'aria-pressed="true"' in html
    assert f'<span id="like-count-post-{world["post"]}" class="like-count">1</span>' in html
    assert 'name="on" value="0"' in html  # the next press takes it back
    page = bob.get(_path(world), headers={"HX-Request": "false"}).get_data(as_text=True)
    assert 'aria-pressed="true"' in page.split('id="post-reactions"')[1].split("</form>")[0]
    response = bob.post_form(
        f"/comments/{world['comment']}/like", {"on": "1"}, csrf_from=_path(world)
    )
    assert response.status_code == 200
    assert _like_count(app, Comment, world["comment"]) == 1


def test_a_like_without_javascript_redirects_back(app, world):
    bob = world["as"]("bob")
    response = bob.post_form(f"/posts/{world['post']}/like", {"on": "1"}, csrf_from=_path(world))
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"{_path(world)}#post-reactions")
    assert _like_count(app, Post, world["post"]) == 1
    # From a card: back to the list it was pressed on (a path on this site only).
    response = bob.post_form(
        f"/posts/{world['post']}/like", {"on": "0", "next": "/?before=x"}, csrf_from="/"
    )
    assert response.headers["Location"].endswith("/?before=x")
    response = bob.post_form(
        f"/posts/{world['post']}/like", {"on": "1", "next": "//evil.example/"}, csrf_from="/"
    )
    assert "evil.example" not in response.headers["Location"]


def test_refusals_over_http(app, world):
    alice = world["as"]("alice", htmx=True)
    bob = world["as"]("bob", htmx=True)
    # Your own post and comment: a clear 409 shown beside the button.
    response = alice.post_form(f"/posts/{world['post']}/like", {"on": "1"}, csrf_from=_path(world))
    assert response.status_code == 409
    assert "your own post" in response.get_data(as_text=True)
    response = alice.post_form(
        f"/comments/{world['comment']}/like", {"on": "1"}, csrf_from=_path(world)
    )
    assert response.status_code == 409
    # Another person's draft does not exist for them: 404, for the post and for saving it.
    for path in (f"/posts/{world['draft']}/like", f"/posts/{world['draft']}/save"):
        assert bob.post_form(path, {"on": "1"}, csrf_from=_path(world)).status_code == 404
    # An archived post: refused with the reason.
    response = bob.post_form(f"/posts/{world['archived']}/like", {"on": "1"}, csrf_from="/")
    assert response.status_code == 409
    assert "archived" in response.get_data(as_text=True)
    # Without JavaScript: the message as a flash on the post.
    plain = world["as"]("alice")
    response = plain.post_form(f"/posts/{world['post']}/like", {"on": "1"}, csrf_from="/")
    assert response.status_code == 303
    page = plain.get(response.headers["Location"]).get_data(as_text=True)
    assert "You cannot like your own post." in page
    assert _like_count(app, Post, world["post"]) == 0


def test_a_post_without_csrf_token_is_refused(app, world):
    bob = world["as"]("bob")
    for path in (
        f"/posts/{world['post']}/like",
        f"/comments/{world['comment']}/like",
        f"/posts/{world['post']}/save",
    ):
        response = bob.post(path, data={"on": "1"})
        assert response.status_code == 400, path
    assert _like_count(app, Post, world["post"]) == 0


def test_visitors_are_sent_to_sign_in(app, world):
    visitor = new_client(app)
    response = visitor.post_form(f"/posts/{world['post']}/like", {"on": "1"}, csrf_from="/")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    assert "/login" in visitor.get("/saved").headers["Location"]
    page = visitor.get(_path(world)).get_data(as_text=True)
    assert 'class="reaction-static"' in page  # the count, no button
    assert "reaction-button" not in page


def test_likes_are_rate_limited(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_REACT_LIMIT", "3/minute")
    bob = world["as"]("bob")
    codes = [
        bob.post_form(
            f"/posts/{world['post']}/like", {"on": "1" if n % 2 == 0 else "0"}, csrf_from="/"
        ).status_code
        for n in range(4)
    ]
    assert codes == [302, 302, 302, 429]


# --------------------------------------------------------------------------- side effects


def test_likes_notify_the_author_once_per_item_grouped(app, world, run_jobs):
    people = []
    with app.app_context():
        for name in ("carol", "dave", "erin"):
            people.append(make_user(user_name=name, email_verified_at=utcnow()).id)
        post = _get(Post, world["post"])
        services.like_post(post, _get(User, world["bob"]), True)
        db.session.commit()
    run_jobs()
    with app.app_context():
        (row,) = db.session.scalars(
            select(Notification).where(
                Notification.user_id == world["alice"], Notification.kind == "reaction"
            )
        ).all()
        assert row.kind == "reaction"
        assert row.type == "websocket"
        assert row.title == "bob liked your post “Engines”"
        first_id = row.id
        row.read_at = utcnow()  # alice reads it
        db.session.commit()
        for person in people:
            services.like_post(_get(Post, world["post"]), _get(User, person), True)
            db.session.commit()
    run_jobs()
    with app.app_context():
        rows = db.session.scalars(
            select(Notification).where(
                Notification.user_id == world["alice"], Notification.kind == "reaction"
            )
        ).all()
        # One in-app row, updated and unread again; no email (off by default for likes).
        assert [(r.id, r.type) for r in rows] == [(first_id, "websocket")]
        assert rows[0].title == "erin and 3 others liked your post “Engines”"
        assert rows[0].read_at is None
        # An unlike says nothing; a like of a comment is a group of its own.
        services.like_post(_get(Post, world["post"]), _get(User, people[0]), False)
        services.like_comment(
            _get(Comment, world["comment"]),
            _get(Post, world["post"]),
            _get(User, world["bob"]),
            True,
        )
        db.session.commit()
    run_jobs()
    with app.app_context():
        rows = db.session.scalars(
            select(Notification)
            .where(Notification.user_id == world["alice"], Notification.kind == "reaction")
            .order_by(Notification.created_at)
        ).all()
        assert len(rows) == 2
        assert rows[0].title == "erin and 3 others liked your post “Engines”"
        assert rows[1].title == "bob liked your comment on “Engines”"


def test_new_counts_are_published_for_open_tabs_of_the_post(app, world, run_jobs):
    from blog.core.redis import get_redis

    with app.app_context():
        pubsub = get_redis().pubsub(ignore_subscribe_messages=True)
        pubsub.subscribe(MANY_CHANNEL)
    bob = world["as"]("bob", htmx=True)
    bob.post_form(f"/posts/{world['post']}/like", {"on": "1"}, csrf_from=_path(world))
    run_jobs()
    deadline = time.monotonic() + 5
    messages = []
    while time.monotonic() < deadline and not messages:
        message = pubsub.get_message(timeout=0.5)
        if message:
            messages.append(json.loads(message["data"]))
    pubsub.close()
    assert messages, "nothing published"
    assert messages[0]["topic"] == f"post:{world['post']}"
    assert (
        f'<span id="like-count-post-{world["post"]}" class="like-count" hx-swap-oob="true">1</span>'
        in messages[0]["html"]
    )


def test_a_tab_follows_only_a_public_post(app, world):
    from blog.core.live import LiveSocket, dispatch

    class Recorder:
        def send(self, html: str) -> None:  # a websocket's one method used here
            pass

    with app.test_request_context():
        live = LiveSocket(Recorder(), uuid.uuid4(), uuid.uuid4())
        dispatch(live, json.dumps({"type": "post.subscribe", "post": str(world["post"])}))
        assert live.topics == {f"post:{world['post']}"}
        dispatch(live, json.dumps({"type": "post.subscribe", "post": str(world["draft"])}))
        assert live.topics == set()
        dispatch(live, json.dumps({"type": "post.subscribe", "post": "nonsense"}))
        assert live.topics == set()
