"""Comments: only on published posts, inline with htmx and without JavaScript, the author's own
edits, moderators' removals with a reason, mentions in the event, paging, bounded queries."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.auth.models import User
from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.outbox.models import OutboxEvent
from blog.posts.models import Post
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_post


@pytest.fixture
def world(app, sign_in):
    with app.app_context():
        ada = make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        bob = make_user(email="bob@example.com", user_name="bob", email_verified_at=utcnow())
        mod = make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        post = make_post(ada, title="On the Analytical Engine")
        ids = {"ada": ada.id, "bob": bob.id, "mod": mod.id, "post": post.id, "slug": post.slug}

    def browser(who: str, htmx: bool = False):
        client = new_client(app, htmx=htmx)
        sign_in(client, f"{who}@example.com")
        return client

    ids["as"] = browser
    return ids


def _comments(app) -> list[Comment]:
    with app.app_context():
        rows = db.session.scalars(select(Comment).order_by(Comment.created_at)).all()
        db.session.expunge_all()
        return list(rows)


def _post_path(world) -> str:
    return f"/posts/{world['slug']}"


def test_a_comment_without_javascript_posts_and_redirects_to_it(app, world):
    bob = world["as"]("bob")

    response = bob.post_form(
        f"/posts/{world['post']}/comments",
        {"content": "Great *read*, @ada!"},
        csrf_from=_post_path(world),
    )

    (comment,) = _comments(app)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"#comment-{comment.id}")
    assert comment.content_html == (
        '<p>Great <em>read</em>, <a href="/u/ada" class="mention" rel="nofollow noopener '
        'noreferrer">@ada</a>!</p>\n'
    )
    page = bob.get(_post_path(world)).get_data(as_text=True)
    assert f'id="comment-{comment.id}"' in page
    assert "1 comment" in page


def test_an_htmx_comment_returns_the_new_item_a_fresh_form_and_the_count(app, world):
    bob = world["as"]("bob", htmx=True)

    response = bob.post_form(
        f"/posts/{world['post']}/comments", {"content": "First!"}, csrf_from=_post_path(world)
    )

    body = response.get_data(as_text=True)
    assert response.status_code == 201
    assert body.lstrip().startswith('<li id="comment-')
    assert '<form id="comment-form" hx-swap-oob="true"' in body
    assert '<span id="comment-count" hx-swap-oob="true">1 comment</span>' in body


def test_the_event_carries_the_mentions(app, world):
    with app.app_context():
        make_user(user_name="grace")
    bob = world["as"]("bob")

    bob.post_form(
        f"/posts/{world['post']}/comments",
        {"content": "@ada and @Grace, see `@nobody` and @bob and @ghost"},
        csrf_from=_post_path(world),
    )

    with app.app_context():
        (event,) = db.session.scalars(
            select(OutboxEvent).where(OutboxEvent.event_type == "comment.created")
        ).all()
        data = event.event_data
    assert sorted(m["user_name"] for m in data["mentions"]) == [
        "ada",
        "grace",
    ]  # not self, not code
    assert data["post_author_id"] == str(world["ada"])
    assert data["author_id"] == str(world["bob"])


@pytest.mark.parametrize("content", ["", "   ", "x" * 2001])
def test_empty_and_too_long_comments_are_refused_beside_the_field(app, world, content):
    bob = world["as"]("bob", htmx=True)

    response = bob.post_form(
        f"/posts/{world['post']}/comments", {"content": content}, csrf_from=_post_path(world)
    )

    assert response.status_code == 422
    assert response.headers["HX-Retarget"] == "#comment-form"
    assert 'id="comment-form"' in response.get_data(as_text=True)
    assert _comments(app) == []


def test_an_archived_post_shows_comments_read_only_and_refuses_new_ones(app, world):
    from blog.posts import services

    with app.app_context():
        add_comment(
            db.session.get(Post, world["post"]),
            db.session.get(type(db.session.get(Post, world["post"]).author), world["bob"]),
            "Before the archive",
        )
        post = db.session.get(Post, world["post"])
        services.archive_post(post, actor=post.author)
        db.session.commit()
    bob = world["as"]("bob")

    page = bob.get(_post_path(world)).get_data(as_text=True)
    response = bob.post_form(
        f"/posts/{world['post']}/comments", {"content": "After"}, csrf_from=_post_path(world)
    )

    assert "Before the archive" in page
    assert "comments are read-only" in page
    assert "Post comment" not in page
    assert response.status_code == 303
    assert len(_comments(app)) == 1


def test_a_draft_takes_no_comments_and_is_404_to_others(app, world):
    with app.app_context():
        ada = db.session.get(User, world["ada"])
        draft = make_post(ada, title="Secret draft", status="draft")
        draft_id = draft.id
    bob = world["as"]("bob")

    response = bob.post_form(f"/posts/{draft_id}/comments", {"content": "hi"}, csrf_from="/")

    assert response.status_code == 404


def test_signed_out_and_unverified_users_cannot_comment(app, world):
    with app.app_context():
        make_user(email="new@example.com")
    anonymous = new_client(app)
    response = anonymous.post_form(f"/posts/{world['post']}/comments", {"content": "hi"})
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]
    page = anonymous.get(_post_path(world)).get_data(as_text=True)
    assert "to comment." in page

    unverified = new_client(app)
    unverified.post_form(
        "/login", {"email": "new@example.com", "password": "Correct-Horse-7"}, csrf_from="/login"
    )
    response = unverified.post_form(f"/posts/{world['post']}/comments", {"content": "hi"})
    assert response.status_code == 403
    assert _comments(app) == []


def _bobs_comment(app, world, text="Bob was here") -> uuid.UUID:
    bob = world["as"]("bob")
    bob.post_form(
        f"/posts/{world['post']}/comments", {"content": text}, csrf_from=_post_path(world)
    )
    return _comments(app)[-1].id


def test_the_author_edits_inline(app, world):
    comment_id = _bobs_comment(app, world)
    bob = world["as"]("bob", htmx=True)

    form = bob.get(f"/comments/{comment_id}/edit")
    saved = bob.post_form(
        f"/comments/{comment_id}/edit", {"content": "Bob **edited**"}, csrf_from=_post_path(world)
    )

    assert form.status_code == 200
    assert "autofocus" in form.get_data(as_text=True)
    assert saved.status_code == 200
    assert "<strong>edited</strong>" in saved.get_data(as_text=True)
    assert "(edited)" in saved.get_data(as_text=True)
    assert _comments(app)[0].edited_at is not None


def test_the_author_deletes_and_the_thread_keeps_its_place(app, world):
    comment_id = _bobs_comment(app, world)
    bob = world["as"]("bob")

    response = bob.post_form(f"/comments/{comment_id}/delete", csrf_from=_post_path(world))

    assert response.status_code == 302
    page = bob.get(_post_path(world)).get_data(as_text=True)
    assert "Deleted by its author." in page
    assert "Bob was here" not in page


@pytest.mark.parametrize("htmx", [False, True])
@pytest.mark.parametrize("action", ["edit", "delete"])
def test_nobody_else_edits_or_deletes_a_comment(app, world, htmx, action):
    comment_id = _bobs_comment(app, world)
    for who in ("ada", "mod"):  # the post's author and a moderator: still not theirs to edit
        other = world["as"](who, htmx=htmx)
        response = other.post_form(
            f"/comments/{comment_id}/{action}", {"content": "hijacked"}, csrf_from=_post_path(world)
        )
        assert response.status_code == 403, who
    (comment,) = _comments(app)
    assert (comment.content, comment.deleted_at) == ("Bob was here", None)


def test_a_moderator_removes_a_comment_with_a_reason(app, world):
    comment_id = _bobs_comment(app, world, "Buy cheap watches")
    mod = world["as"]("mod", htmx=True)

    response = mod.post_form(
        f"/comments/{comment_id}/remove", {"reason": "Spam"}, csrf_from=_post_path(world)
    )

    assert response.status_code == 200
    assert "Removed by a moderator: Spam" in response.get_data(as_text=True)
    page = new_client(app).get(_post_path(world)).get_data(as_text=True)
    assert "Buy cheap watches" not in page
    assert "Removed by a moderator: Spam" in page
    with app.app_context():
        (entry,) = db.session.scalars(
            select(AuditLog).where(AuditLog.action == "comment.remove")
        ).all()
        assert entry.new_values["reason"] == "Spam"
        assert db.session.scalar(
            select(OutboxEvent).where(OutboxEvent.event_type == "comment.removed")
        )
    assert "removed a comment" in new_client(app).get("/moderation-log").get_data(as_text=True)


def test_users_cannot_remove_and_a_reason_is_required(app, world):
    comment_id = _bobs_comment(app, world)
    ada = world["as"]("ada")
    mod = world["as"]("mod", htmx=True)

    assert (
        ada.post_form(
            f"/comments/{comment_id}/remove", {"reason": "mine"}, csrf_from="/"
        ).status_code
        == 403
    )
    assert (
        mod.post_form(f"/comments/{comment_id}/remove", {"reason": " "}, csrf_from="/").status_code
        == 422
    )
    assert _comments(app)[0].removed_at is None


def test_unknown_comments_are_404(world):
    bob = world["as"]("bob")
    assert bob.post_form(f"/comments/{uuid.uuid4()}/edit", {"content": "x"}).status_code == 404
    assert bob.get(f"/comments/{uuid.uuid4()}").status_code == 404


def test_markdown_in_comments_is_sanitised(app, world):
    bob = world["as"]("bob")
    payload = (
        "<script>alert(1)</script> [x](javascript:alert(1)) <img src=x onerror=alert(1)> "
        '<a hx-get="/admin" href="/">y</a> <svg onload=alert(1)>'
    )
    bob.post_form(
        f"/posts/{world['post']}/comments", {"content": payload}, csrf_from=_post_path(world)
    )

    page = new_client(app).get(_post_path(world)).get_data(as_text=True)
    body = page.split('id="comments"')[1]
    # What remains is text (escaped) or sanitised markup: no live tag or attribute survives.
    for bad in ("<script", 'href="javascript', "<img src=x", "<a hx-get", "<svg"):
        assert bad not in body, bad
    assert "&lt;script&gt;" in body


def test_long_threads_page_and_the_query_count_stays_flat(app, world, count_queries):
    with app.app_context():
        post = db.session.get(Post, world["post"])
        users = [make_user(user_name=f"reader{n}") for n in range(5)]
        for n in range(200):
            add_comment(post, users[n % 5], f"Comment number {n}")
        db.session.commit()
    reader = new_client(app)
    reader.get(_post_path(world))  # warm caches (settings, view counter)

    with count_queries() as q:
        page = reader.get(_post_path(world)).get_data(as_text=True)

    assert page.count('class="comment"') == 50
    assert "200 comments" in page
    assert "Show more comments" in page
    assert q.count <= 8, q.statements
    more = page.split('hx-get="')[-1].split('"')[0].replace("&amp;", "&")
    fragment = new_client(app, htmx=True).get(more).get_data(as_text=True)
    assert fragment.count('class="comment"') == 50
    assert "Comment number 50<" in fragment


def test_comment_is_rate_limited(app, world, monkeypatch):
    monkeypatch.setitem(app.config, "AUTH_COMMENT_LIMIT", "2/minute")
    bob = world["as"]("bob")
    codes = [
        bob.post_form(
            f"/posts/{world['post']}/comments", {"content": f"c{n}"}, csrf_from=_post_path(world)
        ).status_code
        for n in range(3)
    ]
    assert codes == [302, 302, 429]


def test_a_moderator_restores_a_removed_comment(app, world):
    comment_id = _bobs_comment(app, world, "Actually fine")
    mod = world["as"]("mod", htmx=True)
    mod.post_form(
        f"/comments/{comment_id}/remove", {"reason": "Spam?"}, csrf_from=_post_path(world)
    )
    assert "Restore" in mod.get(f"/comments/{comment_id}").get_data(as_text=True)
    bob = world["as"]("bob")
    assert bob.post_form(f"/comments/{comment_id}/restore", csrf_from="/").status_code == 403

    response = mod.post_form(f"/comments/{comment_id}/restore", csrf_from=_post_path(world))

    assert response.status_code == 200
    assert "Actually fine" in response.get_data(as_text=True)
    (comment,) = _comments(app)
    assert (comment.removed_at, comment.removed_reason) == (None, None)
    assert "restored a comment" in new_client(app).get("/moderation-log").get_data(as_text=True)
    assert mod.post_form(f"/comments/{comment_id}/restore", csrf_from="/").status_code == 409


def test_demo_data_includes_a_discussion_seeded_once(app):
    from sqlalchemy import func

    from blog.ops.demo import seed_demo_data

    with app.app_context():
        seed_demo_data()
        seed_demo_data()
        assert db.session.scalar(select(func.count()).select_from(Comment)) == 2
        post = db.session.scalar(select(Post).where(Post.title.like("Server-rendered%")))
        slug = post.slug
        db.session.remove()
    page = new_client(app).get(f"/posts/{slug}").get_data(as_text=True)
    assert "2 comments" in page
    assert "The live preview is my favourite part." in page
