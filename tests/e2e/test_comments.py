"""Comments in a real browser: post one inline (no reload), edit it, delete it; a moderator
removes another with a reason; an archived post takes none. Keyboard focus follows."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Page, expect

from blog.auth.models import User
from blog.core.db import utcnow
from blog.extensions import db
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.posts.helpers import make_post


def _setup(app: Flask) -> str:
    with app.app_context():
        author = make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        make_user(email="bob@example.com", user_name="bob", email_verified_at=utcnow())
        post = make_post(author, title="Notes on the Analytical Engine")
        return post.slug


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-form")).to_have_count(0)


def test_comment_edit_and_delete_inline(page: Page, live_server: str, app: Flask) -> None:
    slug = _setup(app)
    _sign_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server}/posts/{slug}")
    page.evaluate("window.__noReload = true")  # gone if the page reloads

    page.get_by_label("Your comment").fill("A *fine* engine, @ada.")
    page.get_by_role("button", name="Post comment").click()

    comment = page.locator("#comment-list li.comment").first
    expect(comment).to_contain_text("A fine engine, @ada.")
    expect(comment.locator("em")).to_have_text("fine")
    expect(page.locator("#comment-count")).to_have_text("1 comment")
    expect(page.get_by_label("Your comment")).to_have_value("")  # a fresh form
    assert page.evaluate("window.__noReload") is True

    comment.get_by_role("link", name="Edit your comment").click()
    editor = page.locator("#comment-list textarea")
    expect(editor).to_be_focused()
    editor.fill("A **splendid** engine.")
    page.locator("#comment-list").get_by_role("button", name="Save").click()
    expect(comment.locator("strong")).to_have_text("splendid")
    expect(comment).to_contain_text("(edited)")

    # Deleting asks first, in the page's own dialog: Cancel keeps the comment, focus returns.
    delete = comment.get_by_role("button", name="Delete your comment")
    delete.click()
    confirm = page.get_by_role("dialog")
    expect(confirm).to_contain_text("Delete your comment? This cannot be undone.")
    confirm.get_by_role("button", name="Cancel").click()
    expect(confirm).to_be_hidden()
    expect(delete).to_be_focused()
    expect(comment).to_contain_text("A splendid engine.")
    delete.click()
    confirm.get_by_role("button", name="Delete comment").click()
    expect(comment).to_contain_text("Deleted by its author.")
    assert page.evaluate("window.__noReload") is True

    page.reload()
    expect(page.locator("#comment-list")).to_contain_text("Deleted by its author.")


def test_errors_show_beside_the_field(page: Page, live_server: str, app: Flask) -> None:
    slug = _setup(app)
    _sign_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server}/posts/{slug}")

    page.get_by_role("button", name="Post comment").click()

    expect(page.locator("#comment-form")).to_contain_text("Write something first.")
    expect(page.get_by_label("Your comment")).to_be_focused()


def test_a_moderator_removes_a_comment_and_an_archived_post_takes_none(
    page: Page, live_server: str, app: Flask
) -> None:
    from blog.comments.services import add_comment
    from blog.posts import services
    from blog.posts.models import Post

    slug = _setup(app)
    with app.app_context():
        make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        post = db.session.query(Post).filter_by(slug=slug).one()
        bob = db.session.query(User).filter_by(user_name="bob").one()
        add_comment(post, bob, "Buy cheap watches")
        db.session.commit()
    _sign_in(page, live_server, "mod@example.com")
    page.goto(f"{live_server}/posts/{slug}")

    comment = page.locator("#comment-list li.comment").first
    # Remove is a rare action: in the comment's small menu.
    comment.get_by_label("More actions on this comment").click()
    comment.get_by_label(re.compile("Remove as a moderator")).fill("Spam")
    comment.get_by_role("button", name="Remove comment").click()
    expect(page.locator("#comment-list li.comment").first).to_contain_text(
        "Removed by a moderator: Spam"
    )

    with app.app_context():
        post = db.session.query(Post).filter_by(slug=slug).one()
        services.archive_post(post, actor=post.author)
        db.session.commit()
    page.reload()
    expect(page.locator("#comments")).to_contain_text("comments are read-only")
    expect(page.get_by_role("button", name="Post comment")).to_have_count(0)


def _configure(app: Flask, key: str, value: object) -> None:
    """Store a runtime setting as an admin would, and drop this process's cached copy."""
    from blog.core.settings import invalidate_settings
    from blog.ops.services import set_setting

    with app.app_context():
        admin = make_user(role="admin", email_verified_at=utcnow())
        set_setting(key, value, environment="testing", actor=admin)
        db.session.commit()
        invalidate_settings("testing")
        db.session.remove()


def test_a_rate_limited_comment_is_explained_beside_the_form_never_in_the_list(
    page: Page, live_server: str, app: Flask
) -> None:
    slug = _setup(app)
    _configure(app, "rate_limits", {"comment": "1/minute"})
    _sign_in(page, live_server, "bob@example.com")
    page.goto(f"{live_server}/posts/{slug}")
    comments = page.locator("#comment-list li.comment")
    box = page.get_by_label("Your comment")

    box.fill("The first, within the limit.")
    page.get_by_role("button", name="Post comment").click()
    expect(comments).to_have_count(1)
    box.fill("The second, over the limit.")
    page.get_by_role("button", name="Post comment").click()

    alert = page.locator("#comment-form-error")
    expect(alert).to_contain_text("Too many requests")
    expect(alert).to_contain_text("Please wait a little and try again.")
    expect(alert).to_have_attribute("role", "alert")
    # Beside the form that sent it, right after it: not in the list, not in place of it.
    assert (
        page.evaluate("document.getElementById('comment-form').nextElementSibling.id")
        == "comment-form-error"
    )
    expect(comments).to_have_count(1)
    expect(page.locator("#comment-list")).not_to_contain_text("Too many requests")
    expect(page.locator("#comment-count")).to_have_text("1 comment")
    # What they wrote is still there to send again, and the page has one h1.
    expect(box).to_have_value("The second, over the limit.")
    expect(page.locator("h1")).to_have_count(1)

    # Once they may again, the comment goes in and the message goes away.
    _configure(app, "rate_limits", {"comment": "10/minute"})
    page.get_by_role("button", name="Post comment").click()
    expect(comments).to_have_count(2)
    expect(comments.nth(1)).to_contain_text("The second, over the limit.")
    expect(alert).to_be_hidden()
    expect(page.locator("#comment-list")).not_to_contain_text("Too many requests")
