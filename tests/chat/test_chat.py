"""Chat through HTTP: starting conversations, access, sending, history, unread, membership."""

from __future__ import annotations

import re
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from blog.chat.models import Conversation, ConversationParticipant, Message
from blog.core.db import utcnow
from blog.extensions import db
from tests.chat.helpers import add_messages, conversation_id, send, start
from tests.posts.helpers import make_author, new_author, signed_in


@pytest.fixture
def alice(app):
    return new_author(app)


@pytest.fixture
def bob(app):
    return new_author(app)


@pytest.fixture
def carol(app):
    return new_author(app)


def _count(app, model, **where):
    with app.app_context():
        query = select(func.count()).select_from(model)
        for name, value in where.items():
            query = query.where(getattr(model, name) == value)
        return db.session.scalar(query)


def _configure(app, key, value):
    """Store a setting as an admin would, and drop this process's cached copy."""
    from blog.core.settings import invalidate_settings
    from blog.ops.services import set_setting

    with app.app_context():
        set_setting(key, value, environment="testing", actor=make_author("admin"))
        db.session.commit()
        invalidate_settings("testing")
        db.session.remove()


def _roles(app, cid):
    with app.app_context():
        return dict(
            db.session.execute(
                select(ConversationParticipant.user_id, ConversationParticipant.role).where(
                    ConversationParticipant.conversation_id == cid
                )
            ).all()
        )


# --------------------------------------------------------------------------- starting


def test_one_direct_conversation_per_pair_whoever_starts_it(app, alice, bob):
    a, b = signed_in(app, alice.email), signed_in(app, bob.email)
    first = a.post_form(f"/chat/with/{bob.user_name}", {}, csrf_from=f"/u/{bob.user_name}")
    again = a.post_form(f"/chat/with/{bob.user_name}", {}, csrf_from=f"/u/{bob.user_name}")
    theirs = start(b, alice.user_name)
    assert conversation_id(first) == conversation_id(again) == theirs
    assert _count(app, Conversation) == 1
    assert _count(app, ConversationParticipant) == 2
    page = b.get(f"/chat/{theirs}").get_data(as_text=True)
    assert f'<h1 id="chat-title">{alice.user_name}</h1>' in page


def test_the_profile_has_a_message_button_for_others_only(app, alice, bob):
    a = signed_in(app, alice.email)
    assert f'action="/chat/with/{bob.user_name}"' in a.get(f"/u/{bob.user_name}").get_data(
        as_text=True
    )
    assert "/chat/with/" not in a.get(f"/u/{alice.user_name}").get_data(as_text=True)


def test_starting_refuses_unknown_people_yourself_and_a_group_without_title(app, alice, bob):
    a = signed_in(app, alice.email)
    response = a.post_form("/chat", {"members": "nobody_here"}, csrf_from="/chat")
    assert response.status_code == 422
    assert "No one who can chat is called nobody_here" in response.get_data(as_text=True)
    response = a.post_form("/chat", {"members": alice.user_name}, csrf_from="/chat")
    assert response.status_code == 422
    assert "yourself" in response.get_data(as_text=True)
    carol = new_author(app)
    response = a.post_form(
        "/chat", {"members": f"{bob.user_name}, {carol.user_name}"}, csrf_from="/chat"
    )
    assert response.status_code == 422
    assert "A group needs a title." in response.get_data(as_text=True)
    assert _count(app, Conversation) == 0


def test_a_group_has_its_creator_as_owner(app, alice, bob, carol):
    a = signed_in(app, alice.email)
    cid = start(a, f"@{bob.user_name}, {carol.user_name}", "Book club")
    assert _roles(app, cid) == {alice.id: "owner", bob.id: "member", carol.id: "member"}
    page = signed_in(app, carol.email).get(f"/chat/{cid}").get_data(as_text=True)
    assert "Book club" in page


def test_people_search_suggests_names(app, alice, bob):
    a = signed_in(app, alice.email)
    html = a.get(f"/chat/people?members={bob.user_name[:-1]}").get_data(as_text=True)
    assert f'data-user-name="{bob.user_name}"' in html
    assert f'data-user-name="{alice.user_name}"' not in html
    assert "No one matches" in a.get("/chat/people?members=zzzz_nope").get_data(as_text=True)


# --------------------------------------------------------------------------- access


def test_only_participants_see_anything_of_a_conversation(app, alice, bob, carol, client):
    cid = start(signed_in(app, alice.email), bob.user_name)
    c = signed_in(app, carol.email)
    for path in (
        f"/chat/{cid}",
        f"/chat/{cid}/older?before=1.{'0' * 32}",
        f"/chat/{cid}/presence",
        f"/chat/{cid}/members",
        f"/chat/{uuid.uuid4()}",
    ):
        assert c.get(path).status_code == 404, path
    for path, data in (
        (f"/chat/{cid}/messages", {"body": "let me in"}),
        (f"/chat/{cid}/leave", {}),
        (f"/chat/{cid}/members", {"members": carol.user_name}),
        (f"/chat/{cid}/rename", {"title": "mine now"}),
    ):
        assert c.post_form(path, data, csrf_from="/chat").status_code == 404, path
    assert _count(app, Message) == 0
    # Signed out: sent to sign in, nothing shown.
    response = client.get(f"/chat/{cid}")
    assert response.status_code == 302
    assert "/login" in response.headers["Location"]


def test_sending_needs_a_csrf_token(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    response = a.post(f"/chat/{cid}/messages", data={"body": "no token"})
    assert response.status_code == 400
    assert _count(app, Message) == 0


# --------------------------------------------------------------------------- sending


def test_a_message_by_plain_post_is_stored_escaped_and_links_are_safe(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    body = "<script>alert(1)</script> see https://example.org/a?b=1&c=2. and javascript:alert(2)"
    response = send(a, cid, body)
    assert response.status_code == 302
    assert response.headers["Location"].endswith(f"/chat/{cid}#latest")
    page = signed_in(app, bob.email).get(f"/chat/{cid}").get_data(as_text=True)
    assert "<script>alert(1)" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert (
        '<a href="https://example.org/a?b=1&amp;c=2" rel="nofollow noopener noreferrer ugc"' in page
    )
    assert 'href="javascript:' not in page
    with app.app_context():
        stored = db.session.scalar(select(Message.body))
    assert stored == body


def test_an_htmx_send_answers_with_the_message(app, alice, bob):
    from tests.posts.helpers import htmx_client

    a = htmx_client(app, alice.email)
    cid = start(a, bob.user_name)
    response = a.post_form(f"/chat/{cid}/messages", {"body": "hello"}, csrf_from=f"/chat/{cid}")
    assert response.status_code == 201
    html = response.get_data(as_text=True)
    assert 'class="message mine"' in html
    assert "hello" in html


@pytest.mark.parametrize(
    ("body", "message"),
    [("   ", "Write a message first."), ("x" * 4001, "At most 4000 characters.")],
)
def test_empty_and_too_long_messages_are_refused_with_a_message(app, alice, bob, body, message):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    response = send(a, cid, body)
    assert response.status_code == 422
    assert message in response.get_data(as_text=True)
    assert _count(app, Message) == 0


def test_the_size_limit_comes_from_configuration(app, alice, bob):
    _configure(app, "chat", {"max_message_chars": 10, "quiet_minutes": 15})
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    response = send(a, cid, "eleven chars")
    assert response.status_code == 422
    assert "at most 10 characters" in response.get_data(as_text=True)
    assert send(a, cid, "ten chars!").status_code == 302


def test_the_send_rate_limit_comes_from_configuration(app, alice, bob):
    _configure(app, "rate_limits", {"chat_send": "3/minute"})
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    assert [send(a, cid, f"m{i}").status_code for i in range(4)] == [302, 302, 302, 429]
    assert "too fast" in send(a, cid, "again").get_data(as_text=True)
    assert _count(app, Message) == 3


def test_a_soft_deleted_sender_shows_as_deleted_user(app, alice, bob, carol):
    from blog.auth.models import User
    from blog.core.db import utcnow

    a = signed_in(app, alice.email)
    cid = start(a, f"{bob.user_name}, {carol.user_name}", "Group")
    send(a, cid, "before I go")
    with app.app_context():
        db.session.get(User, alice.id).deleted_at = utcnow()
        db.session.commit()
    page = signed_in(app, bob.email).get(f"/chat/{cid}").get_data(as_text=True)
    assert "before I go" in page
    assert '<span class="sender muted">deleted user</span>' in page


def test_a_purged_group_sender_is_set_null_and_shown_as_deleted_user(app, alice, bob, carol):
    from blog.auth.models import User

    a = signed_in(app, alice.email)
    cid = start(a, f"{bob.user_name}, {carol.user_name}", "Group")
    send(signed_in(app, carol.email), cid, "carol was here")
    with app.app_context():
        db.session.delete(db.session.get(User, carol.id))
        db.session.commit()
        assert db.session.scalar(select(Message.sender_id)) is None
    page = signed_in(app, bob.email).get(f"/chat/{cid}").get_data(as_text=True)
    assert "carol was here" in page
    assert "deleted user" in page


# --------------------------------------------------------------------------- history


def test_history_shows_the_newest_fifty_and_loads_older_by_keyset(app, alice, bob):
    from tests.posts.helpers import htmx_client

    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    add_messages(app, cid, alice.id, 120)
    page = a.get(f"/chat/{cid}").get_data(as_text=True)
    shown = re.findall(r"message (\d+)</p>", page)
    assert shown == [str(i) for i in range(70, 120)]  # oldest first, newest at the bottom
    older = re.search(r'hx-get="(/chat/[^"]+/older\?before=[^"]+)"', page).group(1)
    h = htmx_client(app, alice.email)
    fragment = h.get(older.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r"message (\d+)</p>", fragment) == [str(i) for i in range(20, 70)]
    last = re.search(r'hx-get="(/chat/[^"]+/older\?before=[^"]+)"', fragment).group(1)
    fragment = h.get(last).get_data(as_text=True)
    assert re.findall(r"message (\d+)</p>", fragment) == [str(i) for i in range(20)]
    assert "beginning of the conversation" in fragment
    # Without JavaScript the same link is a page.
    link = re.search(r'<a href="(/chat/[^"]+\?before=[^"]+)"', page).group(1)
    plain = a.get(link.replace("&amp;", "&")).get_data(as_text=True)
    assert re.findall(r"message (\d+)</p>", plain) == [str(i) for i in range(20, 70)]
    # A malformed cursor is the first page, not an error.
    assert a.get(f"/chat/{cid}?before=nonsense").status_code == 200


def test_a_conversation_page_is_a_fixed_number_of_statements(app, alice, bob, count_queries):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    add_messages(app, cid, alice.id, 5)
    a.get(f"/chat/{cid}")
    with count_queries() as few:
        a.get(f"/chat/{cid}")
    add_messages(app, cid, bob.id, 60)
    with count_queries() as many:
        a.get(f"/chat/{cid}")
    assert many.count == few.count


def test_the_chat_list_is_a_fixed_number_of_statements(app, alice, count_queries):
    from datetime import timedelta

    from blog.auth.models import User
    from blog.core.db import utcnow

    with app.app_context():  # past the new-account limit of 3 new conversations a day
        db.session.get(User, alice.id).created_at = utcnow() - timedelta(days=2)  # type: ignore[union-attr]
        db.session.commit()
    a = signed_in(app, alice.email)
    others = [new_author(app) for _ in range(6)]
    start(a, others[0].user_name)
    a.get("/chat")
    with count_queries() as one:
        a.get("/chat")
    for other in others[1:]:
        cid = start(a, other.user_name)
        send(signed_in(app, other.email), cid, "hi")
    with count_queries() as six:
        page = a.get("/chat").get_data(as_text=True)
    assert six.count == one.count
    assert page.count('class="conversation unread"') == 5


# --------------------------------------------------------------------------- unread


def test_unread_counts_in_the_list_and_navigation_clear_when_read(app, alice, bob):
    a, b = signed_in(app, alice.email), signed_in(app, bob.email)
    cid = start(a, bob.user_name)
    for text in ("one", "two", "three"):
        send(a, cid, text)
    listing = b.get("/chat").get_data(as_text=True)
    assert re.search(rf'id="conv-unread-{cid}"[^>]*>\s*<span aria-hidden="true">3</span>', listing)
    assert re.search(r'id="chat-badge" class="badge">\s*<span aria-hidden="true">3</span>', listing)
    # The sender has nothing unread of their own.
    assert 'id="chat-badge" class="badge" hidden' in a.get("/chat").get_data(as_text=True)
    b.get(f"/chat/{cid}")  # reading it
    listing = b.get("/chat").get_data(as_text=True)
    assert 'id="chat-badge" class="badge" hidden' in listing
    assert f'id="conv-unread-{cid}" class="badge" hidden' in listing


def test_the_list_shows_the_newest_message_and_caps_the_unread_count(app, alice, bob):
    """The preview is the newest message (one LATERAL step per conversation), and a count
    past 99 says "99+" (the count itself stops at 100: benchmarks/scale.py measures it)."""
    a, b = signed_in(app, alice.email), signed_in(app, bob.email)
    cid = start(a, bob.user_name)
    add_messages(app, cid, alice.id, 150)  # dated before now: Bob joined before them
    with app.app_context():
        db.session.execute(
            update(ConversationParticipant)
            .where(ConversationParticipant.conversation_id == cid)
            .values(joined_at=utcnow() - timedelta(hours=1))
        )
        db.session.commit()
    quiet = start(b, new_author(app).user_name)  # a conversation with no message at all
    listing = b.get("/chat").get_data(as_text=True)
    assert re.search(
        rf'id="conv-unread-{cid}"[^>]*>\s*<span aria-hidden="true">99\+</span>', listing
    )
    assert "more than 99 unread" in listing
    assert "message 149" in listing
    assert "message 148" not in listing
    assert f'id="conv-{quiet}"' in listing


# --------------------------------------------------------------------------- membership


def test_owners_add_and_remove_members_and_a_removed_member_loses_access(app, alice, bob, carol):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name, "Team")
    response = a.post_form(
        f"/chat/{cid}/members", {"members": carol.user_name}, csrf_from=f"/chat/{cid}/members"
    )
    assert response.status_code == 302
    c = signed_in(app, carol.email)
    assert c.get(f"/chat/{cid}").status_code == 200
    # A member cannot manage.
    b = signed_in(app, bob.email)
    response = b.post_form(
        f"/chat/{cid}/members/{carol.id}/remove", {}, csrf_from=f"/chat/{cid}/members"
    )
    assert response.status_code == 409
    assert "Only the group" in response.get_data(as_text=True)
    response = a.post_form(
        f"/chat/{cid}/members/{carol.id}/remove", {}, csrf_from=f"/chat/{cid}/members"
    )
    assert response.status_code == 302
    assert c.get(f"/chat/{cid}").status_code == 404
    assert send(c, cid, "still here?").status_code == 404


def test_rename_by_an_admin_but_not_by_a_member(app, alice, bob, carol):
    a = signed_in(app, alice.email)
    cid = start(a, f"{bob.user_name}, {carol.user_name}", "Old name")
    b = signed_in(app, bob.email)
    assert (
        b.post_form(f"/chat/{cid}/rename", {"title": "Bob's"}, csrf_from="/chat").status_code == 409
    )
    a.post_form(f"/chat/{cid}/members/{bob.id}/role", {"role": "admin"}, csrf_from="/chat")
    response = b.post_form(f"/chat/{cid}/rename", {"title": "New name"}, csrf_from="/chat")
    assert response.status_code == 302
    assert "New name" in b.get(f"/chat/{cid}").get_data(as_text=True)


def test_the_last_owner_leaving_makes_the_longest_standing_member_owner(app, alice, bob, carol):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name, "Relay")
    a.post_form(f"/chat/{cid}/members", {"members": carol.user_name}, csrf_from="/chat")
    response = a.post_form(f"/chat/{cid}/leave", {}, csrf_from="/chat")
    assert response.status_code == 302
    assert _roles(app, cid) == {bob.id: "owner", carol.id: "member"}
    assert a.get(f"/chat/{cid}").status_code == 404
    # The last two leave: the conversation goes.
    signed_in(app, bob.email).post_form(f"/chat/{cid}/leave", {}, csrf_from="/chat")
    signed_in(app, carol.email).post_form(f"/chat/{cid}/leave", {}, csrf_from="/chat")
    assert _count(app, Conversation) == 0


def test_a_direct_conversation_cannot_be_left(app, alice, bob):
    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    response = a.post_form(f"/chat/{cid}/leave", {}, csrf_from="/chat")
    assert response.status_code == 409
    assert a.get(f"/chat/{cid}").status_code == 200


# --------------------------------------------------------------------------- notifying


@pytest.mark.usefixtures("smtp_server")
def test_people_away_are_notified_once_per_quiet_period(app, alice, bob, run_jobs):
    from blog.notifications.models import Notification

    a = signed_in(app, alice.email)
    cid = start(a, bob.user_name)
    send(a, cid, "are you there?")
    send(a, cid, "hello??")
    run_jobs()
    with app.app_context():
        rows = db.session.execute(
            select(Notification.user_id, Notification.type, Notification.title).where(
                Notification.kind == "chat_message"
            )
        ).all()
    assert {(r.user_id, r.type) for r in rows} == {(bob.id, "websocket"), (bob.id, "email")}
    assert len(rows) == 2  # one per channel, not per message
    assert all(alice.user_name in r.title for r in rows)


def test_demo_chat_is_seeded_once_and_alice_sees_it(app):
    from blog.ops.demo import seed_demo_data

    with app.app_context():
        seed_demo_data()
        seed_demo_data()
        assert db.session.scalar(select(func.count()).select_from(Conversation)) == 2
        assert db.session.scalar(select(func.count()).select_from(Message)) == 4
        db.session.remove()
    from tests.conftest import new_client

    alice = new_client(app)
    response = alice.post_form(
        "/login", {"email": "alice@example.com", "password": "Alice-demo-2026"}, csrf_from="/login"
    )
    assert response.status_code == 302
    page = alice.get("/chat").get_data(as_text=True)
    assert "Site team" in page
    assert ">bob<" in page or "bob" in page


def test_the_chat_badge_is_drawn_after_the_page_marked_the_conversation_read(
    app, alice, bob, count_queries
):
    """The badges come with the session lookup (blog.auth.sessions read_with_session); a
    request that writes (opening a conversation marks it read) draws them read again."""
    a, b = signed_in(app, alice.email), signed_in(app, bob.email)
    cid = start(a, bob.user_name)
    for n in range(3):
        send(a, cid, f"Unread message {n}")
    badge = re.compile(r'<span id="chat-badge" class="badge"( hidden)?>')
    home = b.get("/").get_data(as_text=True)
    assert badge.search(home).group(1) is None  # type: ignore[union-attr]
    assert ", 3 unread" in home
    with count_queries() as opened:
        page = b.get(f"/chat/{cid}").get_data(as_text=True)
    assert badge.search(page).group(1) == " hidden"  # type: ignore[union-attr]
    assert any("nav_badge_counts" in s for s in opened.statements)  # read again after the write
    with count_queries() as later:
        home = b.get("/").get_data(as_text=True)
    assert badge.search(home).group(1) == " hidden"  # type: ignore[union-attr]
    assert not any("nav_badge_counts" in s for s in later.statements)
