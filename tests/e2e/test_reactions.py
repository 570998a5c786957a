"""Likes and Save in real browsers, as two people in two windows: bob likes alice's post and
her comment, and alice's open tab shows the new counts without a reload; bob saves the post and
finds it under Saved (axe-clean); without JavaScript the same buttons work as plain forms."""

from __future__ import annotations

import re
import time
from typing import Any

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from blog.auth.models import User
from blog.comments.services import add_comment
from blog.extensions import db
from blog.posts.models import Post
from tests.e2e.test_face import _axe, _context
from tests.e2e.test_notifications import DEADLINE_MS, _sign_in, _track_socket, _wait_connected
from tests.factories import DEFAULT_PASSWORD
from tests.posts.helpers import make_post, new_author


def _world(app: Flask) -> dict[str, Any]:
    alice, bob = new_author(app, user_name="alice"), new_author(app, user_name="bob")
    with app.app_context():
        post = make_post(db.session.get(User, alice.id), title="Engines of thought")  # type: ignore[arg-type]
        comment = add_comment(post, db.session.get(User, alice.id), "A first remark.")  # type: ignore[arg-type]
        db.session.commit()
        return {
            "alice": alice,
            "bob": bob,
            "post": post.id,
            "slug": post.slug,
            "comment": comment.id,
        }


def _save_and_find_it_under_saved(bob: Page, live_server: str) -> None:
    """Save, then find it under Saved in the account menu: axe-clean, no sideways scroll."""
    save = bob.locator("#post-reactions").get_by_role("button", name=re.compile(r"^Save"))
    expect(save).to_have_attribute("aria-pressed", "false")
    save.click()
    expect(
        bob.locator("#post-reactions").get_by_role("button", name=re.compile(r"^Saved"))
    ).to_have_attribute("aria-pressed", "true")
    bob.get_by_role("button", name=re.compile(r"^Account menu of ")).click()
    bob.get_by_role("link", name="Saved", exact=True).click()
    expect(bob).to_have_url(f"{live_server}/saved")
    expect(bob.get_by_role("heading", name="Saved", level=1)).to_be_visible()
    expect(bob.get_by_role("link", name="Engines of thought", exact=True)).to_be_visible()
    assert _axe(bob) == []
    no_sideways = bob.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert no_sideways


def test_bob_likes_and_alice_sees_the_counts_live_then_bob_saves_it(
    app: Flask, browser: Browser, live_server: str, run_jobs: Any
) -> None:
    world = _world(app)
    post_path = f"{live_server}/posts/{world['slug']}"
    errors: list[str] = []

    alice_ctx = _context(browser, 1280)
    alice = alice_ctx.new_page()
    alice.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _track_socket(alice)
    _sign_in(alice, live_server, world["alice"].email)
    alice.goto(post_path)
    _wait_connected(alice)
    post_count = alice.locator(f"#like-count-post-{world['post']}")
    comment_count = alice.locator(f"#like-count-comment-{world['comment']}")
    expect(post_count).to_have_text("0")
    expect(comment_count).to_have_text("0")
    # Her own post and comment: counts, no button to press.
    expect(alice.locator(f"#like-post-{world['post']}.reaction-static")).to_have_count(1)
    expect(alice.locator(f"#like-comment-{world['comment']}.reaction-static")).to_have_count(1)

    bob_ctx = _context(browser, 390)
    bob = bob_ctx.new_page()
    bob.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    _sign_in(bob, live_server, world["bob"].email)
    bob.goto(post_path)
    like_post = bob.get_by_role("button", name=re.compile(r"^Like this post"))
    expect(like_post).to_have_attribute("aria-pressed", "false")
    like_post.click()
    expect(bob.get_by_role("button", name=re.compile(r"^Like this post"))).to_have_attribute(
        "aria-pressed", "true"
    )
    expect(bob.locator(f"#like-count-post-{world['post']}")).to_have_text("1")
    like_comment = bob.get_by_role("button", name=re.compile(r"^Like this comment"))
    like_comment.click()
    expect(bob.locator(f"#like-count-comment-{world['comment']}")).to_have_text("1")

    # The events worker's turn (here, in the test's process): relay, then the handlers, which
    # publish the counts to every open tab of the post. Alice's tab has them within 1 s.
    run_jobs()
    started = time.monotonic()
    expect(post_count).to_have_text("1", timeout=DEADLINE_MS)
    expect(comment_count).to_have_text("1", timeout=DEADLINE_MS)
    elapsed = time.monotonic() - started
    assert elapsed < 1.0, f"the counts took {elapsed:.2f} s to reach alice's tab"
    assert alice.url == post_path  # no reload
    # And she is told, once for the post (grouped) and once for the comment.
    expect(alice.locator("#notification-badge")).to_have_text(
        re.compile(r"^2"), timeout=DEADLINE_MS
    )

    # Bob takes his like back: alice's count follows.
    bob.get_by_role("button", name=re.compile(r"^Like this post")).click()
    expect(bob.locator(f"#like-count-post-{world['post']}")).to_have_text("0")
    run_jobs()
    expect(post_count).to_have_text("0", timeout=DEADLINE_MS)

    _save_and_find_it_under_saved(bob, live_server)
    assert errors == []
    alice_ctx.close()
    bob_ctx.close()


def test_like_and_save_work_without_javascript(
    app: Flask, browser: Browser, live_server: str
) -> None:
    world = _world(app)
    context = _context(browser, 1280, java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(world["bob"].email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    page.goto(f"{live_server}/posts/{world['slug']}")
    page.get_by_role("button", name=re.compile(r"^Like this post")).click()
    expect(page).to_have_url(re.compile(r"/posts/.+#post-reactions$"))
    expect(page.get_by_role("button", name=re.compile(r"^Like this post"))).to_have_attribute(
        "aria-pressed", "true"
    )
    page.goto(f"{live_server}/")
    card = page.locator(f"#post-{world['post']}")
    card.get_by_role("button", name=re.compile(r"^Save")).click()
    expect(page).to_have_url(f"{live_server}/")
    expect(
        page.locator(f"#post-{world['post']}").get_by_role("button", name=re.compile(r"^Saved"))
    ).to_have_attribute("aria-pressed", "true")
    page.goto(f"{live_server}/saved")
    expect(page.get_by_role("link", name="Engines of thought", exact=True)).to_be_visible()
    with app.app_context():
        assert db.session.get(Post, world["post"]).like_count == 1  # type: ignore[union-attr]
    context.close()
