"""Chat in real browsers (Debian's Chromium): two people chat live in a direct conversation
(from the profile's "Message" button) and in a group (made on /chat with the autocomplete);
a stranger gets the 404 page; the navigation's unread count; "Load older messages" keeps the
reader's place; the plain form without JavaScript; and a Redis restart in the middle of a
conversation, on a Redis server and web server of the test's own."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect
from sqlalchemy import select
from werkzeug.serving import make_server

from blog.chat.models import ConversationParticipant, Message
from blog.core.embedded import EmbeddedRedis
from blog.core.live import get_hub, publish_to_user
from blog.extensions import db
from tests.chat.helpers import add_messages, send, start
from tests.conftest import _free_port
from tests.factories import DEFAULT_PASSWORD
from tests.posts.helpers import Person, new_author, signed_in

LIVE = 5000  # ms: "without reload within a few seconds"
CONVERSATION_URL = re.compile(r"/chat/([0-9a-f-]{36})$")


# --------------------------------------------------------------------------- helpers


@pytest.fixture
def people(app: Flask) -> dict[str, Person]:
    return {
        name: new_author(app, user_name=name, email=f"{name}@example.com")
        for name in ("ada", "grace", "curie", "dora")
    }


@pytest.fixture
def contexts(browser: Browser) -> Iterator[Any]:
    """new_context(**options): another browser (its own cookies), closed after the test."""
    made: list[BrowserContext] = []

    def new_context(**options: Any) -> BrowserContext:
        context = browser.new_context(**options)
        # Counts the live channel's messages: the first is the server's status, sent once the
        # socket is registered (only then can a publish reach this tab).
        context.add_init_script(
            "window.__live = 0;"
            "document.addEventListener('htmx:wsAfterMessage', () => { window.__live += 1; });"
        )
        made.append(context)
        return context

    yield new_context
    for context in made:
        context.close()


def _browser_page(new_context: Any, base: str, person: Person, **options: Any) -> Page:
    page: Page = new_context(**options).new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.__dict__["js_errors"] = errors
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(person.email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-form")).to_have_count(0)
    return page


def _connected(page: Page) -> None:
    page.wait_for_function("() => window.__live > 0", timeout=10_000)


def _mark_no_reload(page: Page) -> None:
    page.evaluate("window.__noReload = true")  # gone if the page reloads


def _not_reloaded(page: Page) -> bool:
    return page.evaluate("window.__noReload === true") is True


def _box(page: Page) -> Any:
    return page.locator("textarea[name=body]")


def _stored(app: Flask, cid: uuid.UUID | str) -> list[str]:
    with app.app_context():
        bodies = list(
            db.session.scalars(
                select(Message.body)
                .where(Message.conversation_id == uuid.UUID(str(cid)))
                .order_by(Message.created_at, Message.id)
            )
        )
        db.session.remove()
    return bodies


def _chat_live(sender: Page, receiver: Page, cid: str, body: str, *, enter: bool) -> None:
    """`sender` writes `body` and sends it (Enter or the button); both see it once, no reload."""
    box = _box(sender)
    box.fill(body)
    if enter:
        box.press("Enter")
    else:
        sender.get_by_role("button", name="Send").click()
    expect(box).to_have_value("")
    mine = sender.locator("li.message.mine p.body", has_text=body)
    expect(mine).to_have_count(1)
    theirs = receiver.locator("li.message:not(.mine) p.body", has_text=body)
    expect(theirs).to_have_count(1, timeout=LIVE)


def _assert_no_js_errors(*pages: Page) -> None:
    for page in pages:
        assert page.__dict__["js_errors"] == [], page.__dict__["js_errors"]


# --------------------------------------------------------------------------- live chat


def test_two_browsers_chat_live_in_a_direct_conversation_from_the_profile(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    ada = _browser_page(contexts, live_server, people["ada"])
    grace = _browser_page(contexts, live_server, people["grace"])

    ada.goto(f"{live_server}/u/grace")
    ada.get_by_role("button", name="Message grace").click()
    expect(ada).to_have_url(CONVERSATION_URL)
    expect(ada.get_by_role("heading", level=1)).to_have_text("grace")
    url = ada.url
    cid = CONVERSATION_URL.search(url).group(1)  # type: ignore[union-attr]
    grace.goto(url)
    expect(grace.get_by_role("heading", level=1)).to_have_text("ada")
    for page in (ada, grace):
        _connected(page)
        _mark_no_reload(page)

    _chat_live(ada, grace, cid, "Hello Grace, shall we compute?", enter=True)
    _chat_live(grace, ada, cid, "Gladly, Ada. Bring the cards.", enter=False)
    _chat_live(ada, grace, cid, "On my way.", enter=True)

    # Shift+Enter is a new line, not a send.
    _box(grace).fill("first line")
    _box(grace).press("Shift+Enter")
    _box(grace).press_sequentially("second line")
    expect(_box(grace)).to_have_value("first line\nsecond line")
    _box(grace).press("Enter")
    expect(ada.locator("li.message:not(.mine) p.body").last).to_have_text(
        "first line\nsecond line", timeout=LIVE
    )
    expect(ada.locator("li.message:not(.mine) p.body br")).to_have_count(1)
    # Typing is announced to the other side.
    _box(ada).press_sequentially("typing…", delay=30)
    expect(grace.locator(f"#typing-{cid}")).to_have_text("ada is typing…", timeout=LIVE)

    expect(ada.locator("li.message")).to_have_count(4)
    expect(grace.locator("li.message")).to_have_count(4)
    assert _stored(app, cid) == [
        "Hello Grace, shall we compute?",
        "Gladly, Ada. Bring the cards.",
        "On my way.",
        "first line\nsecond line",
    ]
    assert _not_reloaded(ada)
    assert _not_reloaded(grace)
    _assert_no_js_errors(ada, grace)


def test_a_message_a_moderator_removes_is_replaced_in_both_open_pages(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person], run_jobs: Any
) -> None:
    from blog.auth.models import User
    from blog.flags import reports

    ada = _browser_page(contexts, live_server, people["ada"])
    grace = _browser_page(contexts, live_server, people["grace"])
    cid = start(signed_in(app, people["ada"].email), "grace")
    for page in (ada, grace):
        page.goto(f"{live_server}/chat/{cid}")
        _connected(page)
        _mark_no_reload(page)
    _chat_live(ada, grace, str(cid), "Something nobody should read", enter=True)
    _chat_live(grace, ada, str(cid), "Reported.", enter=True)
    run_jobs()
    mod = new_author(app, role="moderator")
    with app.app_context():
        message = db.session.scalars(
            select(Message).where(Message.body == "Something nobody should read")
        ).one()
        reports.report_message(
            message, reporter=db.session.get(User, people["grace"].id), reason="x"
        )
        reports.decide_report(message, "agreed", actor=db.session.get(User, mod.id))
        db.session.commit()
        db.session.remove()
    run_jobs()
    for page in (ada, grace):
        expect(page.locator("li.message em", has_text="Removed by a moderator.")).to_have_count(
            1, timeout=LIVE
        )
        expect(page.get_by_text("Something nobody should read")).to_have_count(0)
        expect(page.locator("li.message")).to_have_count(2)  # in place, not appended
        assert _not_reloaded(page)
    expect(ada.locator("li.message.mine em", has_text="Removed by a moderator.")).to_have_count(1)
    _assert_no_js_errors(ada, grace)


def test_two_browsers_chat_live_in_a_group_made_with_the_autocomplete_and_a_stranger_gets_404(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    ada = _browser_page(contexts, live_server, people["ada"])
    ada.goto(f"{live_server}/chat")
    field = ada.get_by_label("With")
    field.press_sequentially("gra", delay=40)
    ada.get_by_role("button", name="Add grace").click()
    expect(field).to_have_value("grace, ")
    field.press_sequentially("cu", delay=40)
    ada.get_by_role("button", name="Add curie").click()
    expect(field).to_have_value("grace, curie, ")
    ada.get_by_label("Group title (for a group)").fill("Difference engine")
    ada.get_by_role("button", name="Start").click()
    expect(ada).to_have_url(CONVERSATION_URL)
    expect(ada.get_by_role("heading", level=1)).to_have_text("Difference engine")
    cid = CONVERSATION_URL.search(ada.url).group(1)  # type: ignore[union-attr]
    with app.app_context():
        members = {
            p.user.user_name: p.role
            for p in db.session.scalars(
                select(ConversationParticipant).where(
                    ConversationParticipant.conversation_id == uuid.UUID(cid)
                )
            )
        }
        db.session.remove()
    assert members == {"ada": "owner", "grace": "member", "curie": "member"}

    grace = _browser_page(contexts, live_server, people["grace"])
    grace.goto(f"{live_server}/chat")
    grace.get_by_role("link", name=re.compile("Difference engine")).click()
    expect(grace).to_have_url(f"{live_server}/chat/{cid}")
    for page in (ada, grace):
        _connected(page)
        _mark_no_reload(page)

    _chat_live(ada, grace, cid, "Welcome to the group.", enter=True)
    _chat_live(grace, ada, cid, "Glad to be here.", enter=True)
    # Who sent it is shown on the other side.
    expect(grace.locator("li.message:not(.mine) .sender")).to_have_text("ada")

    # A third browser, not a participant: the 404 page, for the page and its fragments.
    dora = _browser_page(contexts, live_server, people["dora"])
    dora.goto(f"{live_server}/chat")
    _connected(dora)
    for path in ("", "/members", "/newer?after=0." + "0" * 32):
        response = dora.goto(f"{live_server}/chat/{cid}{path}")
        assert response is not None
        assert response.status == 404
        expect(dora.get_by_role("heading", name="Page not found")).to_be_visible()
        expect(dora.get_by_text("Welcome to the group.")).to_have_count(0)
    # Her open tab got nothing from the group's traffic meanwhile.
    dora.goto(f"{live_server}/")
    _connected(dora)
    live_before = dora.evaluate("window.__live")
    _chat_live(ada, grace, cid, "Not for Dora.", enter=True)
    # A probe on her own channel, published after the message: it is the one thing she gets.
    with app.app_context():
        assert publish_to_user(people["dora"].id, '<span id="probe" hx-swap-oob="true"></span>')
    dora.wait_for_function(f"() => window.__live > {live_before}", timeout=10_000)
    assert dora.evaluate("window.__live") == live_before + 1
    expect(dora.locator("#chat-badge")).to_be_hidden()
    expect(dora.get_by_text("Not for Dora.")).to_have_count(0)
    assert _not_reloaded(ada)
    assert _not_reloaded(grace)
    _assert_no_js_errors(ada, grace)


# --------------------------------------------------------------------------- unread counts


def test_the_chat_badge_counts_while_elsewhere_and_clears_when_the_conversation_is_opened(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    ada = signed_in(app, people["ada"].email)
    cid = start(ada, "grace")
    grace = _browser_page(contexts, live_server, people["grace"])
    grace.goto(f"{live_server}/")  # another page than the conversation
    _connected(grace)
    _mark_no_reload(grace)
    badge = grace.locator("#chat-badge")
    expect(badge).to_be_hidden()

    assert send(ada, cid, "One").status_code == 302
    expect(badge).to_be_visible(timeout=LIVE)
    expect(badge).to_have_text(re.compile(r"^1\s*,\s*1 unread$"))
    assert send(ada, cid, "Two").status_code == 302
    expect(badge).to_have_text(re.compile(r"^2\s*,\s*2 unread$"), timeout=LIVE)
    assert _not_reloaded(grace)
    expect(grace.get_by_role("link", name=re.compile(r"^Chat\s*,\s*2 unread$"))).to_be_visible()

    grace.get_by_role("link", name=re.compile(r"^Chat")).click()
    conversation = grace.locator(f"#conv-{cid}")
    expect(conversation).to_have_class(re.compile(r"\bunread\b"))
    expect(grace.locator(f"#conv-unread-{cid}")).to_have_text(re.compile(r"^2\s*,\s*2 unread$"))
    conversation.get_by_role("link").click()
    expect(grace).to_have_url(f"{live_server}/chat/{cid}")
    expect(badge).to_be_hidden()
    _connected(grace)

    # A message arriving while the conversation is on screen is read at once.
    assert send(ada, cid, "Three").status_code == 302
    expect(grace.locator("li.message p.body", has_text="Three")).to_be_visible(timeout=LIVE)
    _wait_read_through(app, cid, people["grace"].id)
    expect(badge).to_be_hidden()
    grace.goto(f"{live_server}/")
    expect(badge).to_be_hidden()
    _assert_no_js_errors(grace)


def _wait_read_through(app: Flask, cid: uuid.UUID, user_id: uuid.UUID) -> None:
    """Until the participant's last_read_at reaches the newest message (the tab's chat.read)."""
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        with app.app_context():
            read = db.session.scalar(
                select(ConversationParticipant.last_read_at).where(
                    ConversationParticipant.conversation_id == cid,
                    ConversationParticipant.user_id == user_id,
                )
            )
            newest = db.session.scalar(
                select(Message.created_at)
                .where(Message.conversation_id == cid)
                .order_by(Message.created_at.desc())
                .limit(1)
            )
            db.session.remove()
        if read is not None and newest is not None and read >= newest:
            return
        time.sleep(0.1)
    raise AssertionError("the open conversation was not marked read")


# --------------------------------------------------------------------------- history


def test_load_older_messages_keeps_the_reader_in_place(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    ada = signed_in(app, people["ada"].email)
    cid = start(ada, "grace")
    add_messages(app, cid, people["ada"].id, 120)
    grace = _browser_page(contexts, live_server, people["grace"])
    grace.goto(f"{live_server}/chat/{cid}")
    _connected(grace)
    _mark_no_reload(grace)
    bodies = grace.locator("#chat-scroll li.message p.body")
    expect(bodies).to_have_count(50)
    expect(bodies.first).to_have_text("message 70")
    expect(bodies.last).to_have_text("message 119")
    scroller = grace.locator("#chat-scroll")
    # Opened at the newest message.
    assert scroller.evaluate("s => s.scrollHeight - s.scrollTop - s.clientHeight") < 5

    scroller.evaluate("s => { s.scrollTop = 0; }")
    anchor = grace.locator(
        "#chat-scroll li.message", has=grace.locator("p.body", has_text=re.compile("^message 70$"))
    )
    offset = _offset_in(anchor, scroller)
    grace.get_by_role("link", name="Load older messages").click()

    expect(bodies).to_have_count(100)
    expect(bodies.first).to_have_text("message 20")
    assert abs(_offset_in(anchor, scroller) - offset) < 3, "the reader was moved"
    # Time order, oldest at the top.
    texts = bodies.all_text_contents()
    assert texts == [f"message {i}" for i in range(20, 120)]

    scroller.evaluate("s => { s.scrollTop = 0; }")
    grace.get_by_role("link", name="Load older messages").click()
    expect(bodies).to_have_count(120)
    expect(grace.get_by_text("This is the beginning of the conversation.")).to_be_visible()
    expect(grace.get_by_role("link", name="Load older messages")).to_have_count(0)
    assert bodies.all_text_contents() == [f"message {i}" for i in range(120)]
    assert _not_reloaded(grace)
    _assert_no_js_errors(grace)


def _offset_in(element: Any, scroller: Any) -> float:
    """The element's distance from the top of the scroller's visible area, in CSS pixels."""
    return float(
        element.evaluate(
            "(el) => el.getBoundingClientRect().top"
            " - document.getElementById('chat-scroll').getBoundingClientRect().top"
        )
    )


# --------------------------------------------------------------------------- without JavaScript


def test_without_javascript_sending_is_a_plain_form(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    ada = _browser_page(contexts, live_server, people["ada"])
    cid = str(start(signed_in(app, people["grace"].email), "ada"))
    ada.goto(f"{live_server}/chat/{cid}")
    _connected(ada)
    grace = _browser_page(contexts, live_server, people["grace"], java_script_enabled=False)
    grace.goto(f"{live_server}/chat/{cid}")

    _box(grace).fill("Sent by a plain form")
    with grace.expect_navigation():
        grace.get_by_role("button", name="Send").click()
    expect(grace).to_have_url(re.compile(rf"/chat/{cid}#latest$"))
    expect(grace.locator("li.message.mine p.body")).to_have_text(["Sent by a plain form"])
    expect(_box(grace)).to_have_value("")
    # The other side, with JavaScript, gets it live.
    expect(ada.locator("li.message:not(.mine) p.body")).to_have_text(
        ["Sent by a plain form"], timeout=LIVE
    )
    # An empty message is explained on the page.
    with grace.expect_navigation():
        grace.get_by_role("button", name="Send").click()
    expect(grace.get_by_role("alert")).to_contain_text("Write a message first.")
    assert _stored(app, cid) == ["Sent by a plain form"]


# --------------------------------------------------------------------------- Redis restart


@pytest.fixture
def own_redis(tmp_path: Path) -> Iterator[EmbeddedRedis]:
    """A redis-server of this test's own (never the machine's or the test session's)."""
    server = EmbeddedRedis(tmp_path / "redis", persist=False)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def own_site(app: Flask, make_app: Any, own_redis: EmbeddedRedis) -> Iterator[tuple[Flask, str]]:
    """Another web process: an app on the same database but `own_redis`, served over HTTP."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    site = make_app(REDIS_URL=own_redis.url(0), BLOG_SITE_URL=base)
    server = make_server("127.0.0.1", port, site, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield site, base
    finally:
        server.shutdown()
        get_hub(site).stop()


def test_restarting_redis_mid_chat_loses_no_message_and_clients_reconnect(
    app: Flask,
    own_site: tuple[Flask, str],
    own_redis: EmbeddedRedis,
    contexts: Any,
    people: dict[str, Person],
) -> None:
    _site, base = own_site
    cid = str(start(signed_in(app, people["ada"].email), "grace"))
    ada = _browser_page(contexts, base, people["ada"])
    grace = _browser_page(contexts, base, people["grace"])
    for page in (ada, grace):
        page.goto(f"{base}/chat/{cid}")
        _connected(page)
        _mark_no_reload(page)
        expect(page.locator("#live-status")).to_be_hidden(timeout=15_000)
    _chat_live(ada, grace, cid, "Before the outage", enter=True)

    own_redis.stop()
    for page in (ada, grace):
        expect(page.locator("#live-status")).to_be_visible(timeout=15_000)
        expect(page.locator("#live-status")).to_contain_text("Live updates are unavailable")

    # Sent by the page while Redis is away: persisted, and shown to its sender at once.
    for sender, body in ((ada, "During the outage, from Ada"), (grace, "During, from Grace")):
        _box(sender).fill(body)
        _box(sender).press("Enter")
        expect(_box(sender)).to_have_value("")
        expect(sender.locator("li.message.mine p.body", has_text=body)).to_have_count(1)
    assert _stored(app, cid) == [
        "Before the outage",
        "During the outage, from Ada",
        "During, from Grace",
    ]

    own_redis.start()  # the same socket path: the same address for the app
    expected = ["Before the outage", "During the outage, from Ada", "During, from Grace"]
    for page in (ada, grace):
        # The listener reconnects with backoff (at most 8 s between tries).
        expect(page.locator("#live-status")).to_be_hidden(timeout=30_000)
        expect(page.locator("#chat-scroll li.message p.body")).to_have_text(expected, timeout=LIVE)

    _chat_live(grace, ada, cid, "After the restart", enter=True)
    expected.append("After the restart")
    for page in (ada, grace):
        expect(page.locator("#chat-scroll li.message p.body")).to_have_text(expected)
        assert _not_reloaded(page)
    assert _stored(app, cid) == expected
    _assert_no_js_errors(ada, grace)


# --------------------------------------------------------------------------- the list, live


def test_the_chat_list_shows_new_conversations_live(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    grace = _browser_page(contexts, live_server, people["grace"])
    grace.goto(f"{live_server}/chat")
    _connected(grace)
    _mark_no_reload(grace)
    rows = grace.locator("#conversation-list > li.conversation")
    expect(rows).to_have_count(0)
    empty = grace.get_by_text("No conversations yet.")
    expect(empty).to_be_visible()

    # Someone starts a conversation with her: its row appears, and the empty notice goes.
    ada = signed_in(app, people["ada"].email)
    cid = start(ada, "grace")
    row = grace.locator(f"#conv-{cid}")
    expect(row).to_be_visible(timeout=LIVE)
    expect(row.get_by_role("link")).to_contain_text("ada")
    expect(row).to_contain_text("No messages yet.")
    expect(empty).to_be_hidden()

    # Someone makes a group with her: on top, the newest.
    curie = signed_in(app, people["curie"].email)
    gid = start(curie, "grace, dora", "Analytical society")
    expect(rows).to_have_count(2, timeout=LIVE)
    expect(rows.first).to_have_id(f"conv-{gid}")
    expect(rows.first.get_by_role("link")).to_contain_text("Analytical society")

    # Someone adds her to a group that already has messages: its last message comes along.
    hid = start(curie, "dora", "Engine room")
    assert send(curie, hid, "Welcome aboard").status_code == 302
    added = curie.post_form(
        f"/chat/{hid}/members", {"members": "grace"}, csrf_from=f"/chat/{hid}/members"
    )
    assert added.status_code == 302, added.get_data(as_text=True)[:300]
    expect(rows).to_have_count(3, timeout=LIVE)
    expect(grace.locator(f"#conv-{hid}")).to_contain_text("curie: Welcome aboard")

    # The same direct conversation "started" again is not a second row; a message in it
    # updates the row's count, which is live like the others'.
    assert start(ada, "grace") == cid
    assert send(ada, cid, "Hello Grace").status_code == 302
    expect(grace.locator(f"#conv-unread-{cid}")).to_have_text(
        re.compile(r"^1\s*,\s*1 unread$"), timeout=LIVE
    )
    expect(rows).to_have_count(3)
    assert _not_reloaded(grace)
    _assert_no_js_errors(grace)

    # The row is the one the page renders: it leads to the conversation.
    grace.locator(f"#conv-{gid}").get_by_role("link").click()
    expect(grace).to_have_url(f"{live_server}/chat/{gid}")


# --------------------------------------------------------------------------- presence


def _online(app: Flask, user_id: uuid.UUID) -> bool:
    from blog.core.live import online

    with app.app_context():
        return str(user_id) in online([user_id])


def test_presence_shows_someone_who_opens_the_conversation_as_present_at_once(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    cid = str(start(signed_in(app, people["grace"].email), "ada"))
    grace = _browser_page(contexts, live_server, people["grace"])
    grace.goto(f"{live_server}/chat/{cid}")
    _connected(grace)
    _mark_no_reload(grace)
    on_grace = grace.locator(f"#presence-{cid} li")

    # Ada signs in, leaves the site (no tab of hers is open), then opens the conversation
    # from a link: a fresh tab, whose socket connects only after the page is rendered.
    ada = _browser_page(contexts, live_server, people["ada"])
    ada.goto("about:blank")
    deadline = time.monotonic() + 10
    while _online(app, people["ada"].id) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _online(app, people["ada"].id)
    expect(on_grace.filter(has_text="ada")).to_have_class(re.compile(r"\boffline\b"))

    ada.goto(f"{live_server}/chat/{cid}")
    on_ada = ada.locator(f"#presence-{cid} li")
    # She is looking at it: she is here, on her own page...
    expect(on_ada.filter(has_text="ada")).to_have_class(re.compile(r"\bonline\b"))
    expect(on_ada.filter(has_text="ada")).to_contain_text("online")
    expect(on_ada.filter(has_text="grace")).to_have_class(re.compile(r"\bonline\b"))
    _connected(ada)
    # ...and on Grace's open page, within seconds (not at its next 30 s refresh).
    expect(on_grace.filter(has_text="ada")).to_have_class(re.compile(r"\bonline\b"), timeout=LIVE)
    expect(on_grace.filter(has_text="ada")).to_contain_text("online")
    assert _not_reloaded(grace)
    _assert_no_js_errors(grace, ada)


# --------------------------------------------------------------------------- errors


def test_an_error_answer_to_the_composer_shows_beside_it_never_in_the_messages(
    app: Flask, live_server: str, contexts: Any, people: dict[str, Person]
) -> None:
    cid = str(start(signed_in(app, people["grace"].email), "ada"))
    ada = _browser_page(contexts, live_server, people["ada"])
    ada.goto(f"{live_server}/chat/{cid}")
    _connected(ada)
    messages = ada.locator(f"#messages-{cid}")
    hub = get_hub(app)
    hub._set_subscribed(False)  # live delivery is down: the composer POSTs by htmx
    try:
        expect(ada.locator("#live-status")).to_be_visible(timeout=LIVE)
        # The page's token is no longer good (a tab left open for too long).
        ada.evaluate(
            """() => {
              document.body.setAttribute('hx-headers', JSON.stringify({'X-CSRFToken': 'old'}));
              document.querySelectorAll('input[name=csrf_token]')
                .forEach((i) => { i.value = 'old'; });
            }"""
        )
        _box(ada).fill("Hello?")
        ada.get_by_role("button", name="Send").click()

        alert = ada.locator("form.chat-form + [role=alert]")
        expect(alert).to_contain_text("Your form expired")
        expect(messages).not_to_contain_text("expired")
        expect(messages.locator("> *")).to_have_count(1)  # still only "No messages yet."
        expect(_box(ada)).to_have_value("Hello?")
        expect(ada.locator("h1")).to_have_count(1)
    finally:
        hub._set_subscribed(True)
    assert _stored(app, cid) == []
