"""Download your data in a real browser: alice asks for it on her account page, watches the
progress, and the ready link appears by itself (htmx polls every 2 s) once the jobs have run
(in this process, on the real Redis, as the other browser tests run them)."""

from __future__ import annotations

import json
import re
import zipfile

from flask import Flask
from playwright.sync_api import Browser, Page, expect

from blog.core.db import utcnow
from tests.e2e.test_face import _axe, _context, _sideways
from tests.factories import DEFAULT_PASSWORD, make_user
from tests.posts.helpers import make_post


def _alice(app: Flask) -> None:
    with app.app_context():
        alice = make_user(email="alice@example.com", user_name="alice", email_verified_at=utcnow())
        make_post(alice, title="Alice on tides", content="Tides **rise** twice a day, mostly.")


def _sign_in(page: Page, base: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill("alice@example.com")
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile(r"^Account menu of "))).to_be_visible()


def test_alice_downloads_her_data(page: Page, app: Flask, live_server: str, run_jobs) -> None:
    _alice(app)
    _sign_in(page, live_server)
    page.goto(f"{live_server}/account")
    section = page.locator("#account-export")
    expect(section.get_by_role("heading", name="Download your data")).to_be_visible()

    section.get_by_role("button", name="Download your data").click()
    status = section.get_by_role("status")
    expect(status).to_contain_text("gather your data")
    expect(section.locator("progress")).to_be_visible()
    expect(section.get_by_role("button", name="Download your data")).to_have_count(0)

    run_jobs()  # the relay, the handler, the build, the notification
    link = section.get_by_role("link", name=re.compile(r"^Download your data \(ZIP"))
    expect(link).to_be_visible(timeout=10_000)  # the next poll, without a reload
    expect(section).to_contain_text("You can ask for one download a day")
    expect(section.locator("progress")).to_have_count(0)

    with page.expect_download() as info:
        link.click()
    download = info.value
    assert download.suggested_filename.endswith(".zip")
    with zipfile.ZipFile(download.path()) as archive:
        posts = json.loads(archive.read("posts.json"))
        assert [p["title"] for p in posts] == ["Alice on tides"]
        assert "README.txt" in archive.namelist()

    # The in-app notification carries the same link.
    page.goto(f"{live_server}/notifications")
    expect(page.get_by_role("link", name=re.compile("Your data download is ready"))).to_be_visible()


def test_the_account_page_passes_axe_in_every_state(
    browser: Browser, app: Flask, live_server: str, run_jobs
) -> None:
    _alice(app)
    problems: list[str] = []
    for width, scheme in ((1280, "light"), (390, "dark")):
        context = _context(browser, width, scheme)
        page = context.new_page()
        _sign_in(page, live_server)
        page.goto(f"{live_server}/account#account-export")
        problems += _axe(page)
        if width == 1280:
            page.locator("#account-export").get_by_role("button").click()
            expect(page.locator("#data-export progress")).to_be_visible()
            problems += _axe(page)  # building
            run_jobs()
            expect(page.locator("#data-export a[download]")).to_be_visible(timeout=10_000)
        else:
            page.reload()
        problems += _axe(page)  # ready
        assert _sideways(page) <= 0, f"sideways scroll at {width} px"
        context.close()
    assert problems == []
