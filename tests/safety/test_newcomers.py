"""New-account limits: each limit, the words that say when it lifts, staff and older accounts
exempt, and a change on the settings page taking effect without a restart."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from blog.auth.models import User
from blog.chat import services as chat
from blog.chat.models import Conversation
from blog.comments.services import CommentRefused, add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.posts.models import Post
from blog.safety import newcomers
from tests.factories import make_user
from tests.posts.helpers import new_author, new_post, signed_in

LINKS = "See [one](https://a.example), [two](https://b.example) and [three](https://c.example)."


def _user(user_id) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


@pytest.fixture
def old(app):
    return new_author(app, created_at=utcnow() - timedelta(days=3))


def test_the_message_says_which_limit_and_when_it_lifts():
    now = utcnow().replace(hour=10, minute=0)
    assert newcomers.when(now.replace(hour=14, minute=5), now) == "14:05 UTC today"
    assert newcomers.when(now + timedelta(hours=28, minutes=5), now) == "14:05 UTC tomorrow"
    assert newcomers.when(now + timedelta(days=3), now).startswith("10:00 UTC on ")


def test_links_per_comment(app, old):
    newbie = new_author(app)
    post = new_post(app, old)
    with app.app_context():
        target = db.session.get(Post, post.id)
        with pytest.raises(CommentRefused) as refused:
            add_comment(target, _user(newbie.id), LINKS)  # type: ignore[arg-type]
        lifts = newcomers.when(_user(newbie.id).created_at + timedelta(hours=24))
        assert str(refused.value) == (
            f"New accounts can add at most 2 links per comment until {lifts}."
        )
        db.session.rollback()
        add_comment(target, _user(newbie.id), "Two: [a](https://a.example) [b](https://b.example)")  # type: ignore[arg-type]
        add_comment(target, _user(old.id), LINKS)  # type: ignore[arg-type]
        db.session.commit()


def test_the_comment_form_shows_the_limit_beside_it(app, old):
    newbie = new_author(app)
    post = new_post(app, old)
    browser = signed_in(app, newbie.email)
    response = browser.post_form(
        f"/posts/{post.id}/comments", {"content": LINKS}, csrf_from=f"/posts/{post.slug}"
    )
    assert response.status_code == 422
    assert "New accounts can add at most 2 links per comment until" in response.get_data(
        as_text=True
    )


def test_mentions_per_comment(app, old):
    newbie = new_author(app)
    post = new_post(app, old)
    with app.app_context():
        names = [make_user(user_name=f"pal{n}").user_name for n in range(3)]
        text = " ".join(f"@{n}" for n in names) + " @nobody_at_all"
        target = db.session.get(Post, post.id)
        with pytest.raises(CommentRefused, match="at most 2 mentions per comment"):
            add_comment(target, _user(newbie.id), text)  # type: ignore[arg-type]
        db.session.rollback()
        # Unknown names ping nobody and do not count.
        add_comment(target, _user(newbie.id), f"@{names[0]} @{names[1]} @nobody_at_all")  # type: ignore[arg-type]
        db.session.commit()


def test_links_and_images_per_post_in_the_editor(app):
    newbie = new_author(app)
    browser = signed_in(app, newbie.email)
    form = {"title": "Links", "content": LINKS, "tags": "", "intent": "draft"}
    response = browser.post_form("/write", form, csrf_from="/write")
    assert response.status_code == 422
    page = response.get_data(as_text=True)
    assert "New accounts can add at most 2 links to a post until" in page
    form["content"] = "![a](https://a.example/a.png) ![b](https://b.example/b.png)"
    page = browser.post_form("/write", form, csrf_from="/write").get_data(as_text=True)
    assert "New accounts can add at most 1 image to a post until" in page
    with app.app_context():
        assert db.session.scalar(select(func.count()).select_from(Post)) == 0
    form["content"] = "One picture: ![a](https://a.example/a.png)"
    assert browser.post_form("/write", form, csrf_from="/write").status_code == 302


def test_new_conversations_per_day(app, old):
    newbie = new_author(app)
    others = [new_author(app) for _ in range(4)]
    with app.app_context():
        me = _user(newbie.id)
        for other in others[:3]:
            chat.start_direct(me, _user(other.id))
        db.session.commit()
        # The same conversation again is no new one…
        chat.start_direct(me, _user(others[0].id))
        with pytest.raises(chat.ChatRefused, match="at most 3 new conversations a day until"):
            chat.start_direct(me, _user(others[3].id))
        with pytest.raises(chat.ChatRefused, match="at most 3 new conversations a day"):
            chat.create_group(me, "Club", [_user(others[3].id)])
        db.session.rollback()
        # …someone else may still start one with the new account.
        chat.start_direct(_user(old.id), me)
        db.session.commit()
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 4


def test_staff_are_exempt(app, old):
    moderator = new_author(app, role="moderator")
    post = new_post(app, old)
    with app.app_context():
        add_comment(db.session.get(Post, post.id), _user(moderator.id), LINKS)  # type: ignore[arg-type]
        db.session.commit()


def test_a_change_on_the_settings_page_applies_without_a_restart(app, old):
    newbie = new_author(app)
    post = new_post(app, old)
    with app.app_context():
        make_user(email="boss@example.com", user_name="boss", role="admin")
    admin = signed_in(app, "boss@example.com")
    page = admin.get("/admin/settings").get_data(as_text=True)
    assert "new_accounts" in page

    def save(value: dict) -> None:
        response = admin.post_form(
            "/admin/settings/new_accounts",
            {"new_accounts-value": json.dumps(value)},
            csrf_from="/admin/settings",
        )
        assert response.status_code == 302, response.get_data(as_text=True)[:500]

    browser = signed_in(app, newbie.email)

    def comment(text: str) -> int:
        return browser.post_form(
            f"/posts/{post.id}/comments", {"content": text}, csrf_from=f"/posts/{post.slug}"
        ).status_code

    save({**newcomers.DEFAULTS, "links_per_comment": 0})
    assert comment("Just [one](https://a.example)") == 422
    save({**newcomers.DEFAULTS, "links_per_comment": 5})
    assert comment(LINKS) in (200, 204, 302)
    save({**newcomers.DEFAULTS, "links_per_comment": 0, "new_account_hours": 0})
    assert comment("No longer new: [one](https://a.example)") in (200, 204, 302)
