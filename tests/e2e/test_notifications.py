"""Live notifications in a real browser: two tabs of one person see the badge and a toast
without a reload; marking all read in one clears the badge in the other; and the notice that
shows while the live channel is down."""

from __future__ import annotations

import re
import uuid
from typing import Any

from flask import Flask
from playwright.sync_api import BrowserContext, Page, expect

from blog.extensions import db
from blog.notifications import services
from tests.factories import DEFAULT_PASSWORD
from tests.posts.helpers import Person, new_author


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#live")).to_have_count(1)


def _notify(app: Flask, person: Person, title: str) -> None:
    """What a handler job does: rows in a transaction, the live update after its commit."""
    with app.app_context():
        services.notify_users(
            [person.id],
            services.Notice(kind="mention", title=title, message="You were mentioned.", link="/"),
            event_id=uuid.uuid4(),
        )
        db.session.commit()


# Waits for a condition, up to a deadline no working run comes near (CI has 2 busy cores);
# how fast a badge arrives is benchmarks/notifications.py's business, not a test's.
DEADLINE_MS = 30_000


def _wait_connected(page: Page) -> None:
    # The server's first message is the live-status element; then the socket is registered.
    page.wait_for_function("() => window.__blogLiveOpen === true", timeout=DEADLINE_MS)


def _track_socket(page: Page) -> None:
    page.add_init_script(
        "document.addEventListener('htmx:wsAfterMessage', () => { window.__blogLiveOpen = true; });"
    )
    # Toasts stay until dismissed here (static/js/live.js reads #toasts' data-seconds): a slow
    # run must not see one leave on its own before the test has looked at it.
    page.add_init_script(
        "document.addEventListener('DOMContentLoaded', () => {"
        " const t = document.getElementById('toasts'); if (t) t.dataset.seconds = '3600'; });"
    )


def test_two_tabs_get_the_badge_and_toast_and_mark_all_read_clears_both(
    app: Flask, context: BrowserContext, live_server: str
) -> None:
    person = new_author(app)
    errors: list[str] = []
    first = context.new_page()
    first.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _track_socket(first)
    _sign_in(first, live_server, person.email)
    second = context.new_page()  # the same browser: the same session cookie, another tab
    _track_socket(second)
    second.goto(f"{live_server}/notifications")
    for tab in (first, second):
        _wait_connected(tab)
        expect(tab.locator("#notification-badge")).to_be_hidden()

    _notify(app, person, "Ada mentioned you")

    for tab in (first, second):
        badge = tab.locator("#notification-badge")
        expect(badge).to_be_visible(timeout=DEADLINE_MS)
        expect(badge).to_have_text(re.compile(r"^1\s*,\s*1 unread$"))
        toast = tab.locator("#toasts .toast")
        expect(toast).to_contain_text("Ada mentioned you")
    # The toast region is announced politely; the badge link names the count.
    expect(first.locator("#toasts")).to_have_attribute("aria-live", "polite")
    expect(first.locator("#toasts")).to_have_attribute("role", "status")
    name = re.compile(r"^Notifications\s*,\s*1 unread$")
    expect(first.get_by_role("link", name=name)).to_be_visible()

    _notify(app, person, "Grace mentioned you")
    expect(first.locator("#notification-badge")).to_have_text(
        re.compile(r"^2"), timeout=DEADLINE_MS
    )
    second.reload()  # the inbox page shows both, unread
    _wait_connected(second)
    expect(second.locator(".notification.unread")).to_have_count(2)
    expect(second.locator("#notification-badge")).to_have_text(re.compile(r"^2"))

    second.get_by_role("button", name="Mark all as read").click()

    expect(second.locator(".notification.unread")).to_have_count(0)
    expect(second.locator("#notification-badge")).to_be_hidden()
    expect(first.locator("#notification-badge")).to_be_hidden(timeout=DEADLINE_MS)
    assert errors == []


def test_the_notice_shows_while_the_live_channel_is_down(
    app: Flask, page: Page, live_server: str
) -> None:
    from blog.core.live import get_hub

    person = new_author(app)
    _track_socket(page)
    _sign_in(page, live_server, person.email)
    _wait_connected(page)
    status = page.locator("#live-status")
    expect(status).to_be_hidden()

    hub = get_hub(app)
    hub._set_subscribed(False)  # what the listener does when Redis goes away
    expect(status).to_be_visible(timeout=DEADLINE_MS)
    expect(status).to_have_attribute("role", "status")
    # The page itself keeps working.
    page.get_by_role("link", name=re.compile("^Notifications")).click()
    expect(page.get_by_role("heading", name="Notifications")).to_be_visible()
    hub._set_subscribed(True)
    _wait_connected(page)
    expect(status).to_be_hidden(timeout=DEADLINE_MS)


def _is_focused(page: Page, selector: str) -> bool:
    script = "(s) => document.activeElement === document.querySelector(s)"
    return bool(page.evaluate(script, selector))


def test_toasts_are_announced_never_take_focus_and_close_from_the_keyboard(
    app: Flask, page: Page, live_server: str
) -> None:
    person = new_author(app)
    _track_socket(page)
    _sign_in(page, live_server, person.email)
    _wait_connected(page)
    region = page.locator("#toasts")
    expect(region).to_have_attribute("role", "status")
    expect(region).to_have_attribute("aria-live", "polite")
    # The reader is somewhere on the page when the toast arrives: the focus stays there.
    nav_link = page.locator("#nav-notifications")
    nav_link.focus()

    _notify(app, person, "Ada mentioned you")

    toast = page.locator("#toasts .toast")
    expect(toast).to_have_count(1, timeout=DEADLINE_MS)
    expect(toast).to_contain_text("Ada mentioned you")
    assert _is_focused(page, "#nav-notifications")
    # Its close button is a real button in the tab order: Tab reaches it from the nav.
    close = toast.get_by_role("button", name="Dismiss: Ada mentioned you")
    expect(close).to_be_visible()
    for _ in range(30):
        if _is_focused(page, "#toasts .toast [data-toast-close]"):
            break
        page.keyboard.press("Tab")
    else:
        raise AssertionError("Tab never reached the toast's close button")
    page.keyboard.press("Enter")
    expect(toast).to_have_count(0)
    # The focus is not dropped to <body> with the toast.
    assert _is_focused(page, "#nav-notifications")

    # Escape closes the newest toast from wherever the reader is (not a form field)...
    _notify(app, person, "Grace mentioned you")
    _notify(app, person, "Linus mentioned you")
    expect(toast).to_have_count(2, timeout=DEADLINE_MS)
    page.keyboard.press("Escape")
    expect(toast).to_have_count(1)
    expect(toast).to_contain_text("Grace mentioned you")
    # ...and, with the focus inside a toast, that toast.
    toast.get_by_role("link", name="All notifications").focus()
    page.keyboard.press("Escape")
    expect(toast).to_have_count(0)
    assert _is_focused(page, "#nav-notifications")


def test_a_suspended_persons_open_tab_says_once_that_the_session_ended_and_stops(
    app: Flask, page: Page, live_server: str, run_jobs: Any, smtp_server: Any
) -> None:
    from blog.auth.models import User
    from blog.auth.services import suspend_user
    from tests.factories import make_user

    person = new_author(app)
    opened: list[str] = []
    page.on("websocket", lambda ws: opened.append(ws.url))
    _track_socket(page)
    _sign_in(page, live_server, person.email)
    _wait_connected(page)
    status = page.locator("#live-status")
    expect(status).to_be_hidden()
    sockets = len(opened)

    with app.app_context():
        moderator = make_user(role="moderator")
        suspend_user(db.session.get(User, person.id), actor=moderator, reason="Spam")
        db.session.commit()
    run_jobs()  # the relay and the suspension notice (a toast, if the tab is still connected)

    expect(status).to_be_visible(timeout=DEADLINE_MS)
    expect(status).to_contain_text("signed out")
    expect(status).to_contain_text("suspended")
    expect(status).not_to_contain_text("reconnecting")
    expect(status).not_to_contain_text("Live updates are unavailable")
    sign_in = status.get_by_role("link", name="Sign in")
    expect(sign_in).to_be_visible()
    # It stays that way: no reconnection attempts, no other notice replacing it.
    page.wait_for_timeout(4000)
    assert len(opened) == sockets
    expect(status).to_contain_text("signed out")
    expect(status).not_to_contain_text("reconnecting")
    # Nothing covers anything: the suspension toast (if it came first) and the notice.
    toast = page.locator("#toasts .toast")
    if toast.count():
        a, b = toast.first.bounding_box(), status.bounding_box()
        assert a is not None
        assert b is not None
        apart = (
            a["x"] + a["width"] <= b["x"]
            or b["x"] + b["width"] <= a["x"]
            or a["y"] + a["height"] <= b["y"]
            or b["y"] + b["height"] <= a["y"]
        )
        assert apart, (a, b)

    sign_in.click()
    expect(page.locator("#login-form")).to_be_visible()
