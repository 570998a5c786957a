"""Staff work in a real browser: a moderator suspends a user whose open session ends; an admin
switches maintenance mode on and off while another tab is open; a failed job is requeued."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from blog.core.db import utcnow
from blog.jobs.queues import get_queue
from tests.e2e.helpers import account_menu
from tests.factories import DEFAULT_PASSWORD, make_user


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-form")).to_have_count(0)


def explode() -> None:
    raise RuntimeError("the printer is on fire")


def test_a_moderator_suspends_a_user_whose_session_ends(
    browser: Browser, live_server: str, app: Flask
) -> None:
    with app.app_context():
        make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        make_user(email="troll@example.com", user_name="troll", email_verified_at=utcnow())
    troll = browser.new_context().new_page()
    _sign_in(troll, live_server, "troll@example.com")
    mod = browser.new_context().new_page()
    _sign_in(mod, live_server, "mod@example.com")

    account_menu(mod).get_by_role("link", name="Moderation").click()
    mod.get_by_role("link", name="Accounts").click()
    mod.get_by_label("Name or email").fill("troll")
    mod.get_by_role("link", name="troll").click()
    mod.get_by_label("Reason (shown to the user)").fill("Flooding the comments")
    mod.get_by_label("For").select_option("7d")
    mod.get_by_role("button", name="Suspend and sign out everywhere").click()
    expect(mod.locator("#user-status")).to_contain_text("suspended until")
    expect(mod.locator("#user-status")).to_contain_text("Flooding the comments")

    troll.goto(f"{live_server}/account")
    expect(troll).to_have_url(re.compile(re.escape(f"{live_server}/login?next=")))
    troll.get_by_label("Email").fill("troll@example.com")
    troll.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    troll.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(troll.locator("#login-form")).to_contain_text("Flooding the comments")


def test_maintenance_mode_on_and_off_from_another_tab(
    browser: Browser, live_server: str, app: Flask
) -> None:
    with app.app_context():
        make_user(
            email="admin@example.com", user_name="root", role="admin", email_verified_at=utcnow()
        )
    visitor = browser.new_context().new_page()
    visitor.goto(f"{live_server}/")
    admin = browser.new_context().new_page()
    _sign_in(admin, live_server, "admin@example.com")

    admin.goto(f"{live_server}/admin/settings")
    admin.get_by_label("Maintenance mode on").check()
    admin.get_by_label("Message shown to visitors").fill("Upgrading the engine, back at noon.")
    admin.get_by_role("button", name="Save maintenance mode").click()
    expect(admin.get_by_role("status").filter(has_text="Maintenance mode is on")).to_be_visible()

    visitor.reload()
    expect(visitor.locator("main")).to_contain_text("Upgrading the engine, back at noon.")

    admin.get_by_role("link", name="Switch it off").click()
    admin.get_by_label("Maintenance mode on").uncheck()
    admin.get_by_role("button", name="Save maintenance mode").click()
    expect(admin.get_by_text("Maintenance mode is on")).to_have_count(0)

    visitor.reload()
    expect(visitor.locator("main")).not_to_contain_text("Upgrading the engine")


def test_an_admin_requeues_a_failed_job(page: Page, live_server: str, app: Flask, run_jobs) -> None:
    with app.app_context():
        make_user(
            email="admin@example.com", user_name="root", role="admin", email_verified_at=utcnow()
        )
        job = get_queue("default").enqueue(explode)
    run_jobs(allow_failures=True)
    _sign_in(page, live_server, "admin@example.com")

    page.goto(f"{live_server}/admin/jobs")
    row = page.locator(f"#failed-{job.id}")
    expect(row).to_contain_text("RuntimeError: the printer is on fire")
    row.get_by_role("button", name="Requeue").click()

    expect(page.get_by_text(f"Job {job.id} is queued again on default.")).to_be_visible()
    expect(page.locator(f"#failed-{job.id}")).to_have_count(0)
    expect(page.locator("#queue-default")).to_contain_text("default")


def test_readers_flag_a_comment_and_a_moderator_works_the_queue(
    browser: Browser, live_server: str, app: Flask
) -> None:
    from blog.comments.services import add_comment
    from tests.posts.helpers import make_post

    with app.app_context():
        ada = make_user(email="ada@example.com", user_name="ada", email_verified_at=utcnow())
        make_user(
            email="mod@example.com", user_name="mod", role="moderator", email_verified_at=utcnow()
        )
        for n in (1, 2, 3):
            make_user(
                email=f"reader{n}@example.com", user_name=f"reader{n}", email_verified_at=utcnow()
            )
        post = make_post(ada, title="A post with a bad comment")
        add_comment(post, ada, "Buy my pills")
        from blog.extensions import db

        db.session.commit()
        slug = post.slug

    for n in (1, 2, 3):
        reader = browser.new_context().new_page()
        _sign_in(reader, live_server, f"reader{n}@example.com")
        reader.goto(f"{live_server}/posts/{slug}")
        comment = reader.locator("#comment-list li.comment").first
        comment.get_by_label("More actions on this comment").click()
        comment.get_by_label("Flag this comment: what is wrong with it?").fill("Spam")
        comment.get_by_role("button", name="Send to moderators").click()
        expect(comment.get_by_role("status")).to_contain_text("moderators will look at it")
        reader.context.close()

    visitor = browser.new_context().new_page()
    visitor.goto(f"{live_server}/posts/{slug}")
    expect(visitor.locator("#comment-list")).to_contain_text("Hidden while moderators review")
    expect(visitor.locator("#comment-list")).not_to_contain_text("Buy my pills")

    mod = browser.new_context().new_page()
    _sign_in(mod, live_server, "mod@example.com")
    mod.goto(f"{live_server}/admin/moderation")
    mod.get_by_role("link", name="Flags").click()
    item = mod.locator("article.flagged").first
    expect(item).to_contain_text("Buy my pills")
    expect(item).to_contain_text("3 flag(s)")
    item.get_by_role("button", name="Agree: remove it").click()
    expect(mod.get_by_text("No open flags.")).to_be_visible()

    visitor.reload()
    expect(visitor.locator("#comment-list")).to_contain_text(
        "Removed by a moderator: Flagged: Spam"
    )
    mod.goto(f"{live_server}/moderation-log")
    expect(mod.locator("#moderation-log")).to_contain_text("removed a comment")
