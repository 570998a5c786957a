"""Mute, ignore and "Direct messages from", rule by rule, at the service level and through HTTP.

alice screens bob throughout; carol stands for everyone else; the moderator is staff.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from blog.auth.models import User
from blog.chat import services as chat
from blog.chat.models import Conversation, Message
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.notifications import services as notifications
from blog.notifications.models import KINDS, Notification
from blog.posts.models import Post
from blog.safety import services
from tests.posts.helpers import new_author, new_post, signed_in


@pytest.fixture
def people(app):
    # Old enough that the new-account limits (tests/safety/test_newcomers.py) stay out of it.
    old = utcnow() - timedelta(days=30)
    made = {
        name: new_author(app, user_name=name, created_at=old) for name in ("alice", "bob", "carol")
    }
    made["mod"] = new_author(app, role="moderator", user_name="mod", created_at=old)
    return made


def _user(user_id: uuid.UUID) -> User:
    user = db.session.get(User, user_id)
    assert user is not None
    return user


def _screen(app, who, whom, level: str) -> None:
    with app.app_context():
        services.screen(_user(who.id), _user(whom.id), level)
        db.session.commit()


def _kinds(app, user_id: uuid.UUID, type_: str = "websocket") -> list[str]:
    with app.app_context():
        return list(
            db.session.scalars(
                select(Notification.kind)
                .where(Notification.user_id == user_id, Notification.type == type_)
                .order_by(Notification.created_at)
            )
        )


def _conversations(app) -> int:
    with app.app_context():
        return int(db.session.scalar(select(func.count()).select_from(Conversation)) or 0)


# --------------------------------------------------------------------------- notifications


@pytest.mark.parametrize("level", ["mute", "ignore"])
def test_a_screen_silences_every_kind_in_the_same_statements(app, people, count_queries, level):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    def notify_all() -> list[int]:
        counts = []
        with app.app_context():
            for kind in KINDS:
                notice = notifications.Notice(kind=kind, title="t", message="m", actor_id=bob.id)
                with count_queries() as q:
                    notifications.notify_users([alice.id, carol.id], notice, event_id=uuid.uuid4())
                counts.append(q.count)
            db.session.commit()
        return counts

    with app.app_context():  # warm the one-time lookups (settings), then count
        warm = notifications.Notice(kind=KINDS[0], title="t", message="m", actor_id=bob.id)
        notifications.notify_users([people["mod"].id], warm, event_id=uuid.uuid4())
        db.session.commit()
    before = notify_all()
    assert len(_kinds(app, alice.id)) == len(KINDS)
    _screen(app, alice, bob, level)
    after = notify_all()

    # Every kind, the ones added beside this branch included: nothing more for alice…
    assert len(_kinds(app, alice.id)) == len(KINDS)
    assert len(_kinds(app, alice.id, "email")) == len(_kinds(app, alice.id, "email"))
    # …carol hears from bob as before, and the fan-out is the same statements per channel.
    assert len(_kinds(app, carol.id)) == 2 * len(KINDS)
    assert after == before


def test_a_muted_persons_comment_and_mention_notify_nothing(app, people, run_jobs):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    post = new_post(app, alice)
    _screen(app, alice, bob, "mute")
    with app.app_context():
        add_comment(
            db.session.get(Post, post.id),  # type: ignore[arg-type]
            _user(bob.id),
            "Hello @alice and @carol",
        )
        db.session.commit()
    run_jobs()
    assert _kinds(app, alice.id) == []
    assert _kinds(app, alice.id, "email") == []
    assert _kinds(app, carol.id) == ["mention"]


def test_undo_lets_notifications_through_again(app, people, run_jobs):
    alice, bob = people["alice"], people["bob"]
    post = new_post(app, alice)
    _screen(app, alice, bob, "ignore")
    with app.app_context():
        assert services.unscreen(_user(alice.id), bob.id) is True
        db.session.commit()
        add_comment(db.session.get(Post, post.id), _user(bob.id), "Back again")  # type: ignore[arg-type]
        db.session.commit()
    run_jobs()
    assert _kinds(app, alice.id) == ["comment_on_post"]


def test_staff_cannot_be_muted_and_a_promoted_person_is_heard_again(app, people):
    alice, bob, mod = people["alice"], people["bob"], people["mod"]
    with app.app_context():
        with pytest.raises(services.ScreenRefused, match="Moderators and admins"):
            services.screen(_user(alice.id), _user(mod.id), "mute")
        with pytest.raises(services.ScreenRefused, match="yourself"):
            services.screen(_user(alice.id), _user(alice.id), "ignore")
    _screen(app, alice, bob, "mute")
    with app.app_context():
        _user(bob.id).role = "moderator"
        db.session.commit()
        notice = notifications.Notice(kind="mention", title="t", message="m", actor_id=bob.id)
        notifications.notify_users([alice.id], notice, event_id=uuid.uuid4())
        db.session.commit()
    assert _kinds(app, alice.id) == ["mention"]


# --------------------------------------------------------------------------- chat


def test_a_muted_person_cannot_start_a_conversation_and_no_row_is_made(app, people):
    alice, bob = people["alice"], people["bob"]
    _screen(app, alice, bob, "mute")
    with app.app_context():
        with pytest.raises(chat.ChatRefused) as refused:
            chat.start_direct(_user(bob.id), _user(alice.id))
        assert str(refused.value) == "You can't message this person."
        db.session.rollback()
    assert _conversations(app) == 0

    # Through the profile's Message button: the refusal, and nothing more.
    browser = signed_in(app, bob.email)
    response = browser.post_form("/chat/with/alice", csrf_from="/u/alice", follow_redirects=True)
    page = response.get_data(as_text=True)
    assert "You can&#39;t message this person." in page or "You can't message this person." in page
    assert "muted you" not in page.lower()
    # …and through the chat page's form.
    response = browser.post_form("/chat", {"members": "alice"}, csrf_from="/chat")
    assert response.status_code == 422
    assert "message this person" in response.get_data(as_text=True)
    assert _conversations(app) == 0


@pytest.mark.parametrize("level", ["mute", "ignore"])
def test_a_muted_person_cannot_write_in_an_existing_direct_conversation(app, people, level):
    """Muting after the conversation began ends the other's messages there (the service,
    hence the form, the websocket and attachments alike); the one who muted still writes,
    and a group with both stays open to both."""
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    with app.app_context():
        direct = chat.start_direct(_user(bob.id), _user(alice.id))
        group = chat.create_group(_user(bob.id), "Club", [_user(alice.id), _user(carol.id)])
        chat.send_message(direct.id, _user(bob.id), "hello before")
        db.session.commit()
        direct_id, group_id = direct.id, group.id
    _screen(app, alice, bob, level)
    with app.app_context():
        with pytest.raises(chat.ChatRefused, match="You can't message this person"):
            chat.send_message(direct_id, _user(bob.id), "hello after")
        db.session.rollback()
        chat.send_message(direct_id, _user(alice.id), "I can still write")
        chat.send_message(group_id, _user(bob.id), "the group is fine")
        db.session.commit()

    browser = signed_in(app, bob.email)
    response = browser.post_form(
        f"/chat/{direct_id}/messages", {"body": "through the form"}, csrf_from=f"/chat/{direct_id}"
    )
    assert response.status_code == 422
    assert "message this person" in response.get_data(as_text=True)
    with app.app_context():
        bodies = set(db.session.scalars(select(Message.body)))
    assert "hello after" not in bodies
    assert "through the form" not in bodies
    assert {"hello before", "I can still write", "the group is fine"} <= bodies


def test_a_muted_person_cannot_add_you_to_a_group(app, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    _screen(app, alice, bob, "ignore")
    with app.app_context():
        with pytest.raises(chat.ChatRefused, match="You can't message alice"):
            chat.create_group(_user(bob.id), "Party", [_user(alice.id), _user(carol.id)])
        db.session.rollback()
        group = chat.create_group(_user(bob.id), "Party", [_user(carol.id)])
        db.session.commit()
        me = chat.participant(group.id, bob.id)
        assert me is not None
        with pytest.raises(chat.ChatRefused, match="You can't message this person"):
            chat.add_members(group, me, [_user(alice.id)])
        db.session.rollback()
        assert alice.id not in chat.participant_ids(group.id)


def test_staff_can_always_message(app, people):
    alice, mod = people["alice"], people["mod"]
    with app.app_context():
        services.set_dm_from(alice.id, "nobody")
        db.session.commit()
        conversation = chat.start_direct(_user(mod.id), _user(alice.id))
        db.session.commit()
        assert conversation.kind == "direct"


def test_direct_messages_from_everyone_following_or_nobody(app, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]

    def refused(choice: str) -> set[uuid.UUID]:
        with app.app_context():
            services.set_dm_from(alice.id, choice)
            db.session.commit()
            return {
                u
                for u in (bob.id, carol.id)
                if alice.id in services.refusing_messages(_user(u), [alice.id])
            }

    with app.app_context():
        assert services.dm_from(alice.id) == "everyone"
        notifications.follow(_user(alice.id), _user(carol.id))
        db.session.commit()
    assert refused("everyone") == set()
    assert refused("following") == {bob.id}
    assert refused("nobody") == {bob.id, carol.id}
    with (
        app.app_context(),
        pytest.raises(chat.ChatRefused, match="You can't message this person"),
    ):
        chat.start_direct(_user(carol.id), _user(alice.id))
    assert _conversations(app) == 0


def test_the_preference_is_saved_from_the_preferences_page(app, people):
    alice = people["alice"]
    browser = signed_in(app, alice.email)
    page = browser.get("/notifications/preferences").get_data(as_text=True)
    assert "Direct messages from" in page
    response = browser.post_form(
        "/preferences/messages", {"dm_from": "following"}, csrf_from="/notifications/preferences"
    )
    assert response.status_code == 302
    with app.app_context():
        assert services.dm_from(alice.id) == "following"
    bad = browser.post_form(
        "/preferences/messages", {"dm_from": "martians"}, csrf_from="/notifications/preferences"
    )
    assert bad.status_code == 302
    with app.app_context():
        assert services.dm_from(alice.id) == "following"


# --------------------------------------------------------------------------- ignore in lists


def test_ignored_authors_leave_your_lists_and_stay_in_everyone_elses(app, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    post = new_post(app, bob, title="Zebra crossings explained", tags=["roads"])
    _screen(app, alice, bob, "ignore")
    hers, theirs = signed_in(app, alice.email), signed_in(app, carol.email)
    for path in ("/", "/tags/roads", "/search?q=zebra"):
        assert post.title not in hers.get(path).get_data(as_text=True), path
        assert post.title in theirs.get(path).get_data(as_text=True), path
    # Muting alone hides nothing.
    _screen(app, alice, bob, "mute")
    assert post.title in hers.get("/").get_data(as_text=True)


def test_ignored_comments_are_collapsed_for_you_only(app, people):
    alice, bob, carol = people["alice"], people["bob"], people["carol"]
    post = new_post(app, alice)
    with app.app_context():
        add_comment(db.session.get(Post, post.id), _user(bob.id), "Bobs very words")  # type: ignore[arg-type]
        add_comment(db.session.get(Post, post.id), _user(carol.id), "Carols words")  # type: ignore[arg-type]
        db.session.commit()
    _screen(app, alice, bob, "ignore")
    hers = signed_in(app, alice.email).get(f"/posts/{post.slug}").get_data(as_text=True)
    assert hers.count("Comment by a person you ignore") == 1
    assert hers.index("Comment by a person you ignore") < hers.index("Bobs very words")
    theirs = signed_in(app, carol.email).get(f"/posts/{post.slug}").get_data(as_text=True)
    assert "Comment by a person you ignore" not in theirs
    assert "person you ignore" not in new_post_page(app, post.slug)


def new_post_page(app, slug: str) -> str:
    from tests.conftest import new_client

    return new_client(app).get(f"/posts/{slug}").get_data(as_text=True)


def test_screening_costs_no_statement_on_the_home_and_post_pages(app, people, count_queries):
    alice, bob = people["alice"], people["bob"]
    post = new_post(app, bob)
    browser = signed_in(app, alice.email)

    def counts() -> tuple[int, int]:
        result = []
        for path in ("/", f"/posts/{post.slug}"):
            runs = []
            for _ in range(2):  # the lower of two: the settings cache may add a read
                with count_queries() as q:
                    assert browser.get(path).status_code == 200
                runs.append(q.count)
            result.append(min(runs))
        return result[0], result[1]

    before = counts()
    _screen(app, alice, bob, "ignore")
    assert counts() == before


# --------------------------------------------------------------------------- the buttons


def test_profile_buttons_mute_ignore_and_undo(app, people):
    alice = people["alice"]
    browser = signed_in(app, alice.email)
    page = browser.get("/u/bob").get_data(as_text=True)
    assert 'action="/u/bob/screen"' in page
    # Staff profiles offer no mute.
    assert 'action="/u/mod/screen"' not in browser.get("/u/mod").get_data(as_text=True)

    response = browser.post_form("/u/bob/screen", {"level": "mute"}, csrf_from="/u/bob")
    assert response.status_code == 302
    page = browser.get("/u/bob").get_data(as_text=True)
    assert "Unmute" in page
    prefs = browser.get("/notifications/preferences").get_data(as_text=True)
    assert "People you mute or ignore" in prefs
    assert "/u/bob/unscreen" in prefs

    htmx = signed_in(app, alice.email, htmx=True)
    fragment = htmx.post_form(
        "/u/bob/unscreen", {"fragment": "buttons"}, csrf_from="/u/bob"
    ).get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="screen-buttons"')
    assert 'action="/u/bob/screen"' in fragment
    with app.app_context():
        assert services.screen_level(alice.id, people["bob"].id) is None

    refused = browser.post_form("/u/mod/screen", {"level": "mute"}, csrf_from="/u/mod")
    assert refused.status_code == 302
    with app.app_context():
        assert services.screen_level(alice.id, people["mod"].id) is None


def test_a_screen_goes_with_either_account(app, people):
    alice, bob = people["alice"], people["bob"]
    _screen(app, alice, bob, "mute")
    with app.app_context():
        db.session.delete(_user(bob.id))
        db.session.commit()
        assert services.screens(alice.id) == []
