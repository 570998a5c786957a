"""Sharing and reports in Chromium: a post's JSON-LD parses and matches the post and the CSP
reports no violation for it (a data block is not script); a member reports a chat message from
its menu, and the moderator sees it in the queue with its neighbours; axe on both pages."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from typing import Any

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from blog.auth.models import User
from blog.chat import services as chat
from blog.chat.models import Message
from blog.core.db import utcnow
from blog.extensions import db
from tests.e2e.test_face import _axe
from tests.factories import DEFAULT_PASSWORD
from tests.posts.helpers import new_author, new_post

WATCH = (
    "window.__csp = [];"
    "document.addEventListener('securitypolicyviolation',"
    " e => window.__csp.push(e.violatedDirective + ' ' + e.blockedURI));"
)


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile(r"^Account menu of "))).to_be_visible()


def _watched(browser: Browser, **options: Any) -> tuple[Page, list[str]]:
    context = browser.new_context(**options)
    context.add_init_script(WATCH)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    return page, errors


def test_a_post_pages_json_ld_matches_the_post_without_a_csp_violation(
    browser: Browser, app: Flask, live_server: str
) -> None:
    author = new_author(app, display_name="Ada Writer")
    title = "Breaking </script><script>window.__owned = 1</script> out"
    post = new_post(app, author, title=title, tags=["graphs"])
    page, errors = _watched(browser)
    try:
        page.goto(f"{live_server}/posts/{post.slug}")
        expect(page.locator("h1")).to_have_text(title)
        blocks = page.eval_on_selector_all(
            'script[type="application/ld+json"]', "els => els.map(e => e.textContent)"
        )
        assert len(blocks) == 1
        data = json.loads(blocks[0])
        assert data["@type"] == "BlogPosting"
        assert data["headline"] == title
        assert data["author"]["name"] == "Ada Writer"
        og = page.get_attribute('meta[property="og:title"]', "content")
        assert og == title
        canonical = page.get_attribute('link[rel="canonical"]', "href")
        assert canonical is not None
        assert canonical.endswith(f"/posts/{post.slug}")
        assert page.evaluate("window.__owned") is None
        assert page.evaluate("window.__csp") == []
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        page.context.close()


def _conversation(app: Flask) -> dict[str, Any]:
    alice = new_author(app, user_name="alice", email="alice@example.com")
    bob = new_author(app, user_name="bob", email="bob@example.com")
    mod = new_author(app, role="moderator", user_name="mod", email="mod@example.com")
    with app.app_context():
        conversation = chat.start_direct(
            db.session.get(User, alice.id),  # type: ignore[arg-type]
            db.session.get(User, bob.id),  # type: ignore[arg-type]
        )
        db.session.flush()
        start = utcnow() - timedelta(minutes=20)
        messages = [
            Message(
                conversation_id=conversation.id,
                sender_id=(bob if i % 2 == 0 else alice).id,
                body=f"chat line {i}",
                created_at=start + timedelta(minutes=i),
            )
            for i in range(9)
        ]
        db.session.add_all(messages)
        db.session.commit()
        return {
            "cid": conversation.id,
            "messages": [m.id for m in messages],
            "alice": alice,
            "mod": mod,
        }


def test_a_member_reports_a_message_and_the_moderator_sees_it_with_its_neighbours(
    browser: Browser, app: Flask, live_server: str
) -> None:
    world = _conversation(app)
    target = world["messages"][4]
    page, errors = _watched(
        browser, viewport={"width": 390, "height": 844}, bypass_csp=True
    )  # axe is an inline script
    try:
        _sign_in(page, live_server, world["alice"].email)
        page.goto(f"{live_server}/chat/{world['cid']}")
        message = page.locator(f"#message-{target}")
        message.get_by_label("More actions on this message").click()
        message.get_by_role("link", name="Report this message").click()
        expect(page.get_by_role("heading", name="Report a message")).to_be_visible()
        expect(page.locator("#report-notice")).to_have_text(
            "Reporting shares this message and the few around it with the moderators; it is "
            "the only way staff see a private conversation."
        )
        assert _axe(page) == []
        page.get_by_label("What is wrong with it?").fill("He threatens me")
        page.get_by_role("button", name="Send to moderators").click()
        expect(page.get_by_text("moderators will look at this message")).to_be_visible()
        assert page.url.startswith(f"{live_server}/chat/{world['cid']}")
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        page.context.close()
    page, errors = _watched(browser, viewport={"width": 1280, "height": 900}, bypass_csp=True)
    try:
        _sign_in(page, live_server, world["mod"].email)
        page.goto(f"{live_server}/admin/flags")
        item = page.locator(f"#flagged-message-{target}")
        expect(item).to_be_visible()
        expect(item.get_by_text("alice: He threatens me")).to_be_visible()
        lines = item.locator(".report-context .body").all_inner_texts()
        assert lines == [f"chat line {i}" for i in range(1, 8)]
        expect(item.locator(".reported .body")).to_have_text("chat line 4")
        assert _axe(page) == []
        item.get_by_role("button", name="Agree: remove the message").click()
        expect(page.get_by_text("the message is removed")).to_be_visible()
        assert not [e for e in errors if "Content Security Policy" in e], errors
    finally:
        page.context.close()
