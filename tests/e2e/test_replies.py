"""Threaded replies and mentions in a real browser: bob answers alice's comment inline (focus in
the form, the reply under the comment, no reload) and alice is told; the same without
JavaScript; a mention picked from the suggestions with the keyboard becomes a link; the post
page with a thread is axe-clean at both widths and schemes."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from blog.auth.models import User
from blog.comments.models import Comment
from blog.comments.services import add_comment
from blog.core.db import utcnow
from blog.extensions import db
from blog.posts.models import Post
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.posts.helpers import make_post

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious", "moderate")


def _setup(app: Flask, depth: int = 0) -> tuple[str, uuid.UUID]:
    """alice's comment on ada's post and a chain of `depth` replies under it: the post's slug
    and alice's comment."""
    with app.app_context():
        ada = make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        alice = make_user(
            email="alice@example.com",
            user_name="alice",
            display_name="Alice Liddell",
            email_verified_at=utcnow(),
        )
        bob = make_user(email="bob@example.com", user_name="bob", email_verified_at=utcnow())
        post = make_post(ada, title="Notes on the Analytical Engine")
        parent = add_comment(post, alice, "The engine *weaves* algebra.")
        top = parent.id
        for n in range(depth):
            parent = add_comment(post, (bob, alice)[n % 2], f"Level {n + 1} reply", parent=parent)
        db.session.commit()
        return post.slug, top


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-form")).to_have_count(0)


def _reply_link(page: Page, comment_id: uuid.UUID):
    return page.locator(f"#comment-{comment_id} > article").get_by_role(
        "link", name="Reply to this comment"
    )


def _alice_is_told(app: Flask, run_jobs, page: Page, base: str) -> None:
    run_jobs()
    _sign_in(page, base, "alice@example.com")
    page.goto(f"{base}/notifications")
    expect(page.locator("main")).to_contain_text("bob replied to your comment")


def test_bob_replies_inline_and_the_reply_sits_under_alices_comment(
    page: Page, browser: Browser, live_server: str, app: Flask, run_jobs
) -> None:
    slug, top = _setup(app)
    _sign_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server}/posts/{slug}")
    page.evaluate("window.__noReload = true")
    comment = page.locator(f"#comment-{top}")

    # Opened and closed with Escape: focus goes back to Reply.
    reply = comment.get_by_role("link", name="Reply to this comment")
    reply.click()
    box = page.get_by_label("Your reply to Alice Liddell")
    expect(box).to_be_focused()
    page.keyboard.press("Escape")
    expect(box).to_have_count(0)
    expect(reply).to_be_focused()

    reply.click()
    expect(box).to_be_focused()
    box.fill("It *does*, and music too.")
    page.get_by_role("button", name="Post reply").click()

    answer = page.locator(f"#replies-{top} > li.comment")
    expect(answer).to_have_count(1)
    expect(answer).to_contain_text("It does, and music too.")
    expect(answer.locator("em")).to_have_text("does")
    expect(page.locator("#comment-count")).to_have_text("2 comments")
    expect(box).to_have_count(0)  # the form closed
    assert page.evaluate("window.__noReload") is True

    page.reload()
    expect(page.locator(f"#replies-{top} > li.comment")).to_contain_text("music too")
    alice = browser.new_page()
    _alice_is_told(app, run_jobs, alice, live_server)
    alice.close()


def test_a_reply_without_javascript(browser: Browser, live_server: str, app: Flask, run_jobs):
    slug, top = _setup(app)
    context = browser.new_context(java_script_enabled=False)
    page = context.new_page()
    _sign_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server}/posts/{slug}")

    _reply_link(page, top).click()
    expect(page.get_by_role("heading", name="Reply to a comment")).to_be_visible()
    expect(page.locator("main")).to_contain_text("The engine weaves algebra.")
    page.get_by_label("Your comment").fill("Without a script, too.")
    page.get_by_role("button", name="Post reply").click()

    assert "#comment-" in page.url
    expect(page.locator(f"#replies-{top} > li.comment")).to_contain_text("Without a script, too.")
    with app.app_context():
        reply = db.session.query(Comment).filter(Comment.parent_id == top).one()
        assert page.url.endswith(f"#comment-{reply.id}")
    alice = context.new_page()
    context.clear_cookies()
    _alice_is_told(app, run_jobs, alice, live_server)
    context.close()


def _axe(page: Page) -> list[str]:
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    return [
        f"[{v['impact']}] {v['id']}: {v['help']} "
        + ", ".join(str(n["target"]) for n in v["nodes"][:3])
        for v in result["violations"]
        if v["impact"] in BLOCKING
    ]


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_post_page_with_a_thread_is_axe_clean(
    browser: Browser, live_server: str, app: Flask, scheme: str
) -> None:
    slug, top = _setup(app, depth=5)
    with app.app_context():
        # A removed comment in the thread: its replies stay under the placeholder.
        moderator = make_user(role="moderator")
        first = db.session.query(Comment).filter(Comment.parent_id == top).one()
        first.remove(by=moderator.id, reason="Off topic", now=utcnow())
        db.session.commit()
    for width in (1280, 390):
        context = browser.new_context(
            viewport={"width": width, "height": 900}, color_scheme=scheme, bypass_csp=True
        )
        page = context.new_page()
        _sign_in(page, live_server, "bob@example.com")
        page.goto(f"{live_server}/posts/{slug}")
        expect(page.locator(f"#replies-{top}")).to_contain_text("Removed by a moderator")
        _reply_link(page, top).click()
        area = page.locator(f"#reply-form-{top} textarea")
        expect(area).to_be_focused()
        area.press_sequentially("@ali", delay=30)  # the suggestions open: checked with the rest
        expect(page.get_by_role("listbox", name="People to mention")).to_be_visible()
        assert _axe(page) == []
        overflow = page.evaluate("document.documentElement.scrollWidth > window.innerWidth")
        assert not overflow, width
        context.close()


def test_a_mention_picked_from_the_suggestions_with_the_keyboard_becomes_a_link(
    page: Page, live_server: str, app: Flask
) -> None:
    slug, _top = _setup(app)
    with app.app_context():
        make_user(user_name="lovelace", display_name="Ada Lovelace")
        make_user(user_name="lovejoy", display_name="Lovejoy")
    _sign_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server}/posts/{slug}")

    box = page.get_by_label("Your comment")
    box.click()
    box.press_sequentially("Thanks @love", delay=30)
    listbox = page.get_by_role("listbox", name="People to mention")
    expect(listbox.get_by_role("option")).to_have_count(2)
    first, second = listbox.get_by_role("option").nth(0), listbox.get_by_role("option").nth(1)
    expect(first).to_contain_text("@lovejoy")
    expect(second).to_contain_text("Ada Lovelace")
    expect(second).to_contain_text("@lovelace")
    expect(box).to_have_attribute("aria-activedescendant", first.get_attribute("id") or "")
    expect(box).to_be_focused()
    box.press("ArrowDown")
    expect(second).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", second.get_attribute("id") or "")
    box.press("Enter")
    expect(listbox).to_have_count(0)
    expect(box).to_have_value("Thanks @lovelace ")
    box.press_sequentially("for the notes. @lov", delay=30)
    expect(listbox.get_by_role("option")).to_have_count(2)
    box.press("Escape")  # closes the list, keeps the text
    expect(listbox).to_have_count(0)
    expect(box).to_have_value("Thanks @lovelace for the notes. @lov")
    box.press("Backspace")
    box.press("Backspace")
    box.press("Backspace")
    box.press("Backspace")
    page.get_by_role("button", name="Post comment").click()

    link = page.locator("#comment-list a.mention")
    expect(link).to_have_text("@lovelace")
    expect(link).to_have_attribute("href", "/u/lovelace")


# Names kept importable for the checks above without lint noise.
_ = (User, Post)


def test_suggestions_in_the_editor_and_in_chat_where_enter_picks_instead_of_sending(
    page: Page, live_server: str, app: Flask
) -> None:
    from blog.chat.services import start_direct

    _setup(app)
    with app.app_context():
        make_user(user_name="lovelace", display_name="Ada Lovelace")
        bob = db.session.query(User).filter(User.user_name == "bob").one()
        alice = db.session.query(User).filter(User.user_name == "alice").one()
        conversation = start_direct(bob, alice)
        db.session.commit()
        chat_url = f"{live_server}/chat/{conversation.id}"
    _sign_in(page, live_server, "bob@example.com")

    page.goto(f"{live_server}/write")
    editor = page.locator("#post-form textarea[name=content]")
    editor.click()
    editor.press_sequentially("Written with @lovel", delay=30)
    expect(page.get_by_role("listbox", name="People to mention")).to_be_visible()
    editor.press("Tab")
    expect(editor).to_have_value("Written with @lovelace ")

    page.goto(chat_url)
    box = page.locator("textarea[name=body]")
    box.click()
    box.press_sequentially("Ask @lovel", delay=30)
    expect(page.get_by_role("listbox", name="People to mention")).to_be_visible()
    box.press("Enter")  # picks; does not send
    expect(box).to_have_value("Ask @lovelace ")
    box.press_sequentially("about it", delay=20)
    box.press("Enter")  # the list is closed: Enter sends
    expect(page.locator(".chat-message, [id^=message-]").last).to_contain_text(
        "Ask @lovelace about it"
    )
