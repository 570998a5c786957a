"""Flags: readers report posts and comments; enough distinct readers hide the item until a
moderator agrees (a post archived, a comment removed: both undoable), disagrees (show again) or
ignores (show again, no decision)."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from blog.audit.models import AuditLog
from blog.auth.models import User
from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.flags.models import Flag
from blog.posts.models import Post
from tests.conftest import new_client
from tests.factories import make_user
from tests.posts.helpers import make_post


@pytest.fixture
def world(app, sign_in):
    with app.app_context():
        ada = make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        for name in ("reader1", "reader2", "reader3"):
            make_user(email=f"{name}@example.com", user_name=name, email_verified_at=utcnow())
        make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        post = make_post(ada, title="Questionable content here")
        comment = add_comment(post, ada, "A questionable comment")
        db.session.commit()
        ids = {"post": post.id, "slug": post.slug, "comment": comment.id}

    def browser(who: str, htmx: bool = False):
        client = new_client(app, htmx=htmx)
        sign_in(client, f"{who}@example.com")
        return client

    ids["as"] = browser
    return ids


def _flag(world, who, kind, reason="spam"):
    target = world["post"] if kind == "post" else world["comment"]
    path = f"/posts/{target}/flag" if kind == "post" else f"/comments/{target}/flag"
    return world["as"](who, htmx=True).post_form(
        path, {"reason": reason}, csrf_from=f"/posts/{world['slug']}"
    )


def _hidden(app, world, kind):
    with app.app_context():
        model = Post if kind == "post" else Comment
        return db.session.get(model, world[kind]).hidden_at is not None


@pytest.mark.parametrize("kind", ["post", "comment"])
def test_three_distinct_readers_hide_an_item(app, world, kind):
    first = _flag(world, "reader1", kind)
    assert first.status_code == 200
    assert "moderators will look at it" in first.get_data(as_text=True)
    _flag(world, "reader1", kind)  # the same reader again: still one flag
    _flag(world, "reader2", kind)
    assert not _hidden(app, world, kind)

    _flag(world, "reader3", kind)

    assert _hidden(app, world, kind)
    with app.app_context():
        assert db.session.scalar(select(Flag).where(Flag.reporter_id.is_(None))) is None
        assert len(db.session.scalars(select(Flag)).all()) == 3


def test_a_hidden_post_leaves_the_lists_and_hides_its_text_from_readers(app, world):
    for who in ("reader1", "reader2", "reader3"):
        _flag(world, who, "post")
    reader = new_client(app)

    home = reader.get("/").get_data(as_text=True)
    page = reader.get(f"/posts/{world['slug']}").get_data(as_text=True)
    mod_page = world["as"]("mod").get(f"/posts/{world['slug']}").get_data(as_text=True)

    assert "Questionable content here" not in home
    assert "while moderators review" in page
    assert 'class="post-body"' not in page
    assert 'class="post-body"' in mod_page


def test_a_hidden_comment_is_replaced_for_readers(app, world):
    for who in ("reader1", "reader2", "reader3"):
        _flag(world, who, "comment")

    page = new_client(app).get(f"/posts/{world['slug']}").get_data(as_text=True)

    assert "A questionable comment" not in page
    assert "Hidden while moderators review" in page


def test_nobody_flags_their_own_words_and_a_reason_is_needed(app, world):
    own = _flag(world, "ada", "post")
    empty = _flag(world, "reader1", "comment", reason="  ")

    assert own.status_code == 409
    assert empty.status_code == 422
    with app.app_context():
        assert db.session.scalars(select(Flag)).all() == []


def test_signed_out_readers_cannot_flag(app, world):
    response = new_client(app).post_form(f"/posts/{world['post']}/flag", {"reason": "x"})
    assert response.status_code == 302


def test_the_queue_lists_open_flags_with_context_for_moderators_only(app, world):
    _flag(world, "reader1", "post", reason="Looks like spam")
    _flag(world, "reader2", "comment", reason="Rude")

    body = world["as"]("mod").get("/admin/flags").get_data(as_text=True)

    assert "Questionable content here" in body
    assert "reader1: Looks like spam" in body
    assert "A questionable comment" in body
    assert "reader2: Rude" in body
    assert world["as"]("reader1").get("/admin/flags").status_code == 403


def _decide(world, kind, decision):
    target = world["post"] if kind == "post" else world["comment"]
    return world["as"]("mod").post_form(
        f"/admin/flags/{kind}/{target}/{decision}", csrf_from="/admin/flags"
    )


def test_agreeing_removes_a_comment_with_the_readers_reasons(app, world):
    for who in ("reader1", "reader2", "reader3"):
        _flag(world, who, "comment", reason="Rude")

    response = _decide(world, "comment", "agreed")

    assert response.status_code == 302
    with app.app_context():
        comment = db.session.get(Comment, world["comment"])
        assert comment.removed_reason == "Flagged: Rude"
        assert comment.hidden_at is None
        flags = db.session.scalars(select(Flag)).all()
        assert {f.resolution for f in flags} == {"agreed"}
        assert db.session.scalar(select(AuditLog).where(AuditLog.action == "flags.agreed"))
    assert "No open flags." in world["as"]("mod").get("/admin/flags").get_data(as_text=True)


def test_agreeing_archives_a_post(app, world):
    _flag(world, "reader1", "post")

    _decide(world, "post", "agreed")

    with app.app_context():
        assert db.session.get(Post, world["post"]).is_archived


def test_disagreeing_shows_the_item_again(app, world):
    for who in ("reader1", "reader2", "reader3"):
        _flag(world, who, "post")
    assert _hidden(app, world, "post")

    _decide(world, "post", "disagreed")

    assert not _hidden(app, world, "post")
    assert "Questionable content here" in new_client(app).get("/").get_data(as_text=True)
    # Decided: readers may flag it again later, afresh.
    assert _flag(world, "reader1", "post").status_code == 200


def test_a_decision_without_open_flags_is_refused(app, world):
    response = _decide(world, "post", "ignored")
    assert response.status_code == 302
    with app.app_context():
        assert db.session.scalar(select(AuditLog).where(AuditLog.action.like("flags.%"))) is None


def test_the_threshold_comes_from_the_settings(app, world):
    from blog.core.settings import invalidate_settings
    from blog.ops.services import set_setting

    with app.app_context():
        mod = db.session.scalar(select(User).where(User.user_name == "mod"))
        set_setting("moderation", {"flags_to_hide": 1}, environment="testing", actor=mod)
        db.session.commit()
        invalidate_settings("testing")

    _flag(world, "reader1", "post")

    assert _hidden(app, world, "post")


def _decide_and_read(world, kind, decision):
    """The moderator decides from the queue; returns (queue before, page after the redirect)."""
    mod = world["as"]("mod")
    target = world["post"] if kind == "post" else world["comment"]
    queue = mod.get("/admin/flags").get_data(as_text=True)
    after = mod.post_form(
        f"/admin/flags/{kind}/{target}/{decision}", csrf_from="/admin/flags", follow_redirects=True
    )
    return queue, after.get_data(as_text=True).replace("&#34;", '"').replace("&#39;", "'")


def test_agreeing_on_a_post_says_it_is_archived_and_can_be_published_again(app, world):
    _flag(world, "reader1", "post")

    queue, after = _decide_and_read(world, "post", "agreed")

    # Before: the queue says what Agree does, tied to the button.
    assert "Agree: archive it" in queue
    assert "Agree archives the post" in queue
    assert "a moderator can publish it again" in queue
    assert f'aria-describedby="flagged-post-{world["post"]}-hint"' in queue
    # After: the message says the same, and never that the post is gone for good.
    assert "1 flag(s) resolved: the post is archived." in after
    assert "a moderator can publish it again" in after
    assert "for good" not in after
    # And it is true: a moderator is offered "Publish again" on the post's page.
    page = world["as"]("mod").get(f"/posts/{world['slug']}").get_data(as_text=True)
    assert "Publish again" in page


def test_agreeing_on_a_comment_says_it_is_removed_and_can_be_restored(app, world):
    _flag(world, "reader1", "comment", reason="Rude")

    queue, after = _decide_and_read(world, "comment", "agreed")

    assert "Agree: remove it" in queue
    assert "Agree removes the comment" in queue
    assert "1 flag(s) resolved: the comment is removed." in after
    assert "a moderator can restore it" in after
    assert "for good" not in after
    with app.app_context():
        assert db.session.get(Comment, world["comment"]).removed_at is not None


def test_ignoring_says_the_item_is_shown_again(app, world):
    for who in ("reader1", "reader2", "reader3"):
        _flag(world, who, "comment")
    assert _hidden(app, world, "comment")

    _, after = _decide_and_read(world, "comment", "ignored")

    assert "the flags are closed without a decision; the comment is shown again." in after
    assert not _hidden(app, world, "comment")
