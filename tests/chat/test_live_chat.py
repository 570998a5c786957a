"""Chat over real websockets (the `live_server` fixture): what each participant's socket gets,
what a non-participant's socket gets (nothing) and can do (nothing), typing, removal, order,
refusals and reads.

A "nothing arrived" check never waits a fixed time: after the event under test, a probe is
published on the same user's channel (or a later message of the same sender is sent), and
every message the socket got before that probe is inspected. The listener forwards in the
order Redis received the publishes, so whatever the event published would be in front of it.
"""

from __future__ import annotations

import json
import re
import time
import uuid
from typing import Any

import pytest
from flask import Flask
from sqlalchemy import func, select

from blog.chat.models import ConversationParticipant, Message
from blog.core.live import get_hub, publish_to_user
from blog.extensions import db
from tests.chat.helpers import start
from tests.notifications.helpers import LiveClient, session_cookie
from tests.posts.helpers import Person, make_author, new_author, signed_in

# Generous: CI machines have 2 cores and run other suites at the same time.
DEADLINE = 15.0


@pytest.fixture
def alice(app):
    return new_author(app)


@pytest.fixture
def bob(app):
    return new_author(app)


@pytest.fixture
def carol(app):
    return new_author(app)


def _connect(app: Flask, base: str, cookie: str) -> Any:
    """A websocket to /ws as a signed-in browser, once the server has registered it (its first
    message is the live status) and this process's listener is subscribed (else a publish
    would reach no one)."""
    ws = LiveClient.connect(
        base.replace("http://", "ws://") + "/ws", headers={"Cookie": cookie, "Origin": base}
    )
    first = ws.receive(timeout=DEADLINE)
    assert first is not None, "the server sent no status"
    assert 'id="live-status"' in first
    assert get_hub(app).subscribed.wait(DEADLINE), "the live listener did not subscribe"
    return ws


class Tab:
    """One open socket of a signed-in person, with what it has received so far."""

    def __init__(self, app: Flask, base: str, person: Person, cookie: str | None = None):
        self.app = app
        self.person = person
        self.browser = None
        if cookie is None:
            self.browser = signed_in(app, person.email)
            cookie = session_cookie(app, self.browser)
        self.cookie = cookie
        self.ws = _connect(app, base, cookie)
        self.seen: list[str] = []

    def send(self, **data: Any) -> None:
        self.ws.send(json.dumps(data))

    def wait_for(self, needle: str | re.Pattern[str], timeout: float = DEADLINE) -> str:
        """The first message from now on that contains `needle`; the ones before are kept."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            message = self.ws.receive(timeout=max(0.05, deadline - time.monotonic()))
            if message is None:
                continue
            text = str(message)
            self.seen.append(text)
            if needle.search(text) if isinstance(needle, re.Pattern) else needle in text:
                return text
        raise AssertionError(
            f"{self.person.user_name}: nothing with {needle!r} in {timeout} s; "
            f"the last messages: {[t[:160] for t in self.seen[-5:]]}"
        )

    def received_until_probe(self) -> list[str]:
        """Everything this socket got before a probe published now on its user's channel."""
        marker = f"probe-{uuid.uuid4().hex}"
        with self.app.app_context():
            assert publish_to_user(self.person.id, f'<span id="{marker}"></span>')
        start_at = len(self.seen)
        self.wait_for(marker)
        return self.seen[start_at:-1]

    def close(self) -> None:
        self.ws.close()


@pytest.fixture
def tabs(app, live_server):
    opened: list[Tab] = []

    def open_tab(person: Person, cookie: str | None = None) -> Tab:
        tab = Tab(app, live_server, person, cookie)
        opened.append(tab)
        return tab

    yield open_tab
    for tab in opened:
        tab.close()


def _messages(app: Flask, cid: uuid.UUID) -> list[str]:
    with app.app_context():
        bodies = list(
            db.session.scalars(
                select(Message.body)
                .where(Message.conversation_id == cid)
                .order_by(Message.created_at, Message.id)
            )
        )
        db.session.remove()
        return bodies


def _message_count(app: Flask) -> int:
    with app.app_context():
        count = db.session.scalar(select(func.count()).select_from(Message))
        db.session.remove()
        return int(count or 0)


# --------------------------------------------------------------------------- delivery


def test_a_message_sent_over_the_socket_reaches_both_participants_and_no_one_else(
    app, tabs, alice, bob, carol
):
    a, b, c = tabs(alice), tabs(bob), tabs(carol)
    cid = start(a.browser, bob.user_name)

    a.send(type="chat.subscribe", conversation=str(cid))
    b.send(type="chat.subscribe", conversation=str(cid))
    a.send(type="chat.send", conversation=str(cid), body="Hello <b>Bob</b>")

    mine = a.wait_for(f"messages-{cid}")
    theirs = b.wait_for(f"messages-{cid}")
    assert f'hx-swap-oob="beforeend:#messages-{cid}"' in mine
    assert 'class="message mine"' in mine
    assert 'class="message"' in theirs
    assert "message mine" not in theirs
    for text in (mine, theirs):
        # Escaped, never markup.
        assert "Hello &lt;b&gt;Bob&lt;/b&gt;" in text
        assert "<b>Bob</b>" not in text
        assert alice.user_name in text
    badge = b.wait_for('id="chat-badge"')
    assert 'hx-swap-oob="true"' in badge
    assert re.search(r'<span aria-hidden="true">1</span>', badge)
    assert f'<span id="conv-unread-{cid}" class="badge" hx-swap-oob="true">' in badge
    assert _messages(app, cid) == ["Hello <b>Bob</b>"]

    # The sender's own count is not raised.
    assert not any('id="chat-badge"' in t for t in a.received_until_probe())
    # The stranger's socket got nothing at all.
    assert c.received_until_probe() == []


def test_a_non_participant_can_neither_send_subscribe_nor_type_into_a_conversation(
    app, tabs, alice, bob, carol
):
    a, b, c = tabs(alice), tabs(bob), tabs(carol)
    cid = start(a.browser, bob.user_name)
    theirs = start(c.browser, alice.user_name)  # Carol's own conversation with Alice
    a.send(type="chat.subscribe", conversation=str(cid))
    b.send(type="chat.subscribe", conversation=str(cid))

    c.send(type="chat.subscribe", conversation=str(cid))
    c.send(type="chat.send", conversation=str(cid), body="let me in")
    c.send(type="chat.typing", conversation=str(cid))
    c.send(type="chat.read", conversation=str(cid))
    # Malformed ids are ignored the same way.
    c.send(type="chat.send", conversation="not-a-uuid", body="let me in")
    c.send(type="chat.send", conversation=str(uuid.uuid4()), body="let me in")
    # The socket handles one message after the other: once this one is delivered, the
    # intrusions above have been handled.
    c.send(type="chat.send", conversation=str(theirs), body="marker")

    a.wait_for(f"messages-{theirs}")
    before_marker_a = a.seen[:-1]
    c.wait_for(f"messages-{theirs}")
    assert _messages(app, cid) == []
    assert _messages(app, theirs) == ["marker"]
    assert _message_count(app) == 1
    for text in before_marker_a + a.received_until_probe():
        assert "let me in" not in text
        assert "is typing" not in text
        assert f"messages-{cid}" not in text
    for text in b.received_until_probe():
        assert "let me in" not in text
        assert "is typing" not in text
    # Carol's socket got only her own conversation's traffic: nothing about Alice and Bob's.
    c.received_until_probe()
    for text in c.seen:
        assert str(cid) not in text
        assert "Not sent" not in text
    # The socket does not remember the subscription either.

    for live in get_hub(app).sockets(carol.id):
        assert str(cid) not in live.topics
    # Bob still receives the next real message: nothing was broken by the intrusions.
    a.send(type="chat.send", conversation=str(cid), body="still here")
    assert "still here" in b.wait_for(f"messages-{cid}")


def test_typing_reaches_the_other_participant_only(app, tabs, alice, bob):
    a, b = tabs(alice), tabs(bob)
    cid = start(a.browser, bob.user_name)

    a.send(type="chat.typing", conversation=str(cid))

    typing = b.wait_for(f'id="typing-{cid}"')
    assert f"{alice.user_name} is typing" in typing
    assert 'hx-swap-oob="true"' in typing
    assert not any("is typing" in t for t in a.received_until_probe())
    assert _message_count(app) == 0  # nothing stored


def test_a_removed_member_stops_receiving_at_once(app, tabs, alice, bob, carol):
    a, b, c = tabs(alice), tabs(bob), tabs(carol)
    cid = start(a.browser, f"{bob.user_name}, {carol.user_name}", "Engine room")
    for tab in (a, b, c):
        tab.send(type="chat.subscribe", conversation=str(cid))
    a.send(type="chat.send", conversation=str(cid), body="first, for all three")
    for tab in (b, c):
        assert "first, for all three" in tab.wait_for(f"messages-{cid}")

    response = a.browser.post_form(
        f"/chat/{cid}/members/{carol.id}/remove", {}, csrf_from=f"/chat/{cid}/members"
    )
    assert response.status_code in (302, 303)
    removed = c.wait_for(f'id="composer-{cid}"')
    assert "You are no longer in this conversation." in removed

    a.send(type="chat.send", conversation=str(cid), body="second, without Carol")
    assert "second, without Carol" in b.wait_for(f"messages-{cid}")
    for text in c.received_until_probe():
        assert "second, without Carol" not in text
        assert f"messages-{cid}" not in text
    # Nor can she still write into it over her open socket.
    c.send(type="chat.send", conversation=str(cid), body="I am still here")
    c.send(type="chat.typing", conversation=str(cid))
    a.send(type="chat.send", conversation=str(cid), body="third")
    assert "third" in b.wait_for(f"messages-{cid}")
    assert _messages(app, cid) == ["first, for all three", "second, without Carol", "third"]
    for text in b.received_until_probe():
        assert "I am still here" not in text
        assert "is typing" not in text


def test_a_message_a_moderator_removes_leaves_every_open_tab(app, tabs, alice, bob, run_jobs):
    """reports: agreeing with a report replaces the message in place, over the socket, in the
    tabs of both members (the sender's own copy too), without a page load."""
    from blog.auth.models import User
    from blog.flags import reports

    a, b = tabs(alice), tabs(bob)
    cid = start(a.browser, bob.user_name)
    b.send(type="chat.send", conversation=str(cid), body="something nasty")
    assert "something nasty" in a.wait_for(f"messages-{cid}")
    run_jobs()  # what the message's own event does, out of the way
    mod = new_author(app, role="moderator")
    with app.app_context():
        message = db.session.scalars(select(Message).where(Message.conversation_id == cid)).one()
        message_id = message.id
        reports.report_message(message, reporter=db.session.get(User, alice.id), reason="threat")
        reports.decide_report(message, "agreed", actor=db.session.get(User, mod.id))
        db.session.commit()
        db.session.remove()
    run_jobs()  # the relay, then the handler of message.removed
    for tab, mine in ((a, False), (b, True)):
        # (the sender's tab also holds the message's first arrival, its own copy)
        frame = tab.wait_for(re.compile(f'id="message-{message_id}"[^>]*hx-swap-oob="true"'))
        assert "Removed by a moderator." in frame
        assert "something nasty" not in frame
        assert ('class="message mine"' in frame) is mine


def test_messages_arrive_in_the_order_they_were_sent(app, tabs, alice, bob):
    a, b = tabs(alice), tabs(bob)
    cid = start(a.browser, bob.user_name)
    bodies = [f"number {i:02d}" for i in range(20)]  # the default limit allows 20 in 10 s

    for body in bodies:
        a.send(type="chat.send", conversation=str(cid), body=body)

    for tab in (a, b):
        order: list[str] = []
        while len(order) < len(bodies):
            text = tab.wait_for(f"messages-{cid}")
            order.extend(re.findall(r">(number \d\d)</p>", text))
        assert order == bodies
    assert _messages(app, cid) == bodies
    # The cursors the tabs sort by agree with the order sent.
    cursors = [
        m.group(1)
        for t in b.seen
        for m in re.finditer(r'data-cursor="([^"]+)"', t)
        if f"messages-{cid}" in t
    ]
    keys = [(int(c.split(".")[0]), c.split(".")[1]) for c in cursors]
    assert keys == sorted(keys)


# --------------------------------------------------------------------------- refusals


def test_an_over_long_message_is_refused_to_the_sender_and_not_stored(app, tabs, alice, bob):
    a, b = tabs(alice), tabs(bob)
    cid = start(a.browser, bob.user_name)
    body = "x" * 4001

    a.send(type="chat.send", conversation=str(cid), body=body)

    error = a.wait_for(f'id="chat-error-{cid}"')
    assert "Not sent: A message has at most 4000 characters (this one has 4001)." in error
    assert f'data-unsent="{body}"' in error  # the tab puts the text back in the box
    assert _message_count(app) == 0
    assert not any(f"messages-{cid}" in t for t in b.received_until_probe())
    assert not any(f"messages-{cid}" in t for t in a.received_until_probe())


def test_a_rate_limited_socket_send_is_refused_to_the_sender_and_not_stored(app, tabs, alice, bob):
    from blog.core.settings import invalidate_settings
    from blog.ops.services import set_setting

    with app.app_context():
        admin = make_author("admin")
        set_setting("rate_limits", {"chat_send": "3/minute"}, environment="testing", actor=admin)
        db.session.commit()
        # As the settings editor does: a background read may have cached "no rows" in Redis.
        invalidate_settings("testing")
        db.session.remove()
    a, b = tabs(alice), tabs(bob)
    cid = start(a.browser, bob.user_name)

    for i in range(4):
        a.send(type="chat.send", conversation=str(cid), body=f"burst {i}")

    error = a.wait_for(f'id="chat-error-{cid}"')
    assert "Not sent: You are sending messages too fast." in error
    assert 'data-unsent="burst 3"' in error
    assert _messages(app, cid) == ["burst 0", "burst 1", "burst 2"]
    b.received_until_probe()
    got = [re.findall(r">(burst \d)</p>", t) for t in b.seen if f"messages-{cid}" in t]
    assert got == [["burst 0"], ["burst 1"], ["burst 2"]]
    # A POST counts against the same limit.
    response = a.browser.post_form(
        f"/chat/{cid}/messages", {"body": "by form"}, csrf_from=f"/chat/{cid}"
    )
    assert response.status_code == 429
    assert _message_count(app) == 3


# --------------------------------------------------------------------------- reads


def test_reading_in_one_tab_clears_the_badge_in_the_other(app, tabs, alice, bob):
    a = tabs(alice)
    cid = start(a.browser, bob.user_name)
    b1 = tabs(bob)
    b2 = tabs(bob, cookie=b1.cookie)  # the same browser: a second tab
    a.send(type="chat.send", conversation=str(cid), body="unread until Bob looks")
    for tab in (b1, b2):
        badge = tab.wait_for('id="chat-badge"')
        assert '<span aria-hidden="true">1</span>' in badge

    b1.send(type="chat.read", conversation=str(cid))

    cleared = b2.wait_for('id="chat-badge"')
    assert re.search(r'<span id="chat-badge" class="badge" hx-swap-oob="true" hidden>', cleared)
    assert f'<span id="conv-unread-{cid}" class="badge" hx-swap-oob="true" hidden>' in cleared
    assert "unread</span>" not in cleared
    b1.wait_for('id="chat-badge"')  # the reading tab too
    with app.app_context():
        last_read = db.session.scalar(
            select(ConversationParticipant.last_read_at).where(
                ConversationParticipant.conversation_id == cid,
                ConversationParticipant.user_id == bob.id,
            )
        )
        newest = db.session.scalar(select(func.max(Message.created_at)))
        db.session.remove()
    assert last_read is not None
    assert newest is not None
    assert last_read >= newest
    # The page agrees: nothing unread.
    page = b1.browser.get("/chat").get_data(as_text=True)
    assert re.search(r'<span id="chat-badge" class="badge" hidden>', page)


# --------------------------------------------------------------------------- the chat list


def test_a_new_conversation_arrives_as_a_row_of_the_chat_list_of_those_added(
    app, tabs, alice, bob, carol
):
    a, b, c = tabs(alice), tabs(bob), tabs(carol)
    cid = start(a.browser, bob.user_name)

    row = b.wait_for(f'id="conv-{cid}"')
    assert 'hx-swap-oob="afterbegin:#conversation-list"' in row
    assert f"<strong>{alice.user_name}</strong>" in row  # her name, for him
    assert 'id="conversations-empty"' in row
    mine = a.wait_for(f'id="conv-{cid}"')  # her other tabs' lists too
    assert f"<strong>{bob.user_name}</strong>" in mine
    # The same conversation again is not news.
    assert start(a.browser, bob.user_name) == cid
    assert not any("conversation-list" in t for t in b.received_until_probe())

    # A group: one escaped row for all its new members; added later, only the newcomer's.
    gid = start(a.browser, bob.user_name, "Tea & <b>cakes</b>")
    group_row = b.wait_for(f'id="conv-{gid}"')
    assert "Tea &amp; &lt;b&gt;cakes&lt;/b&gt;" in group_row
    assert "<b>cakes</b>" not in group_row
    assert not any("conversation-list" in t for t in c.received_until_probe())
    added = a.browser.post_form(
        f"/chat/{gid}/members", {"members": carol.user_name}, csrf_from=f"/chat/{gid}/members"
    )
    assert added.status_code == 302
    assert "Tea &amp;" in c.wait_for(f'id="conv-{gid}"')
    assert not any(f"conv-{gid}" in t for t in b.received_until_probe())


def test_opening_a_conversation_shows_the_opener_present_on_the_others_pages(
    app, tabs, alice, bob, carol
):
    a = tabs(alice)
    cid = start(a.browser, bob.user_name)
    c = tabs(carol)
    b = tabs(bob)

    b.send(type="chat.subscribe", conversation=str(cid))

    presence = a.wait_for(f'id="presence-{cid}"')
    assert 'hx-swap-oob="true"' in presence
    for name in (alice.user_name, bob.user_name):
        assert re.search(rf'<li class="online">\s*<span class="dot"[^>]*></span>{name}', presence)
    assert f'id="presence-{cid}"' in b.wait_for(f'id="presence-{cid}"')
    assert not any(str(cid) in t for t in c.received_until_probe())
