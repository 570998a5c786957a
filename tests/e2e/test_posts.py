"""Posts in a real browser, as a new writer would: a draft with two new tags and a live preview,
publish, then find it on the home page, its tag page, the author page, search and the feed."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import ConsoleMessage, Error, Page, expect

from blog.core.db import utcnow
from tests.e2e.helpers import expect_signed_in
from tests.factories import DEFAULT_PASSWORD, make_user

EXPECTED_4XX = "Failed to load resource: the server responded with a status of 4"


def _writer(app: Flask) -> tuple[str, str]:
    with app.app_context():
        user = make_user(user_name="hedy", email_verified_at=utcnow())
        return user.email, user.user_name


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect_signed_in(page)


def _watch_errors(page: Page) -> list[str]:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.text.startswith(EXPECTED_4XX):
            return
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type} on {page.url}: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error on {page.url}: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return problems


def test_write_preview_publish_and_find_it_everywhere(
    page: Page, app: Flask, live_server: str
) -> None:
    problems = _watch_errors(page)
    email, user_name = _writer(app)
    _sign_in(page, live_server, email)

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Write").click()
    expect(page).to_have_url(f"{live_server}/write")
    expect(page.get_by_role("heading", name="Write a post")).to_be_visible()
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__noReload = 'still here'; }")

    page.get_by_label("Title").fill("Frequency hopping for everyone")
    preview = page.locator("#post-preview")
    expect(preview).to_contain_text("The preview of your text appears here.")
    text = page.get_by_label("Text")
    # Typed key by key, as a person would: the preview follows (debounced), no reload.
    text.press_sequentially("# Spread spectrum\n\nRadio that **hops** between channels.", delay=5)
    expect(preview.locator("h2")).to_have_text("Spread spectrum")
    expect(preview.locator("strong")).to_have_text("hops")
    text.press_sequentially(" A [link](https://example.com).", delay=5)
    expect(preview.get_by_role("link", name="link")).to_have_attribute(
        "rel", "nofollow noopener noreferrer"
    )
    # The preview region announces its changes politely to screen readers.
    expect(page.locator("[aria-live='polite']").filter(has=preview)).to_have_count(1)

    page.get_by_label("Tags").fill("Radio, Inventions")
    page.get_by_role("button", name="Save draft").click()
    expect(page.locator("#flash-messages")).to_contain_text("Draft saved. Only you can see it.")
    expect(page).to_have_url(re.compile(r"/posts/[0-9a-f-]{36}/edit$"))
    expect(page.get_by_label("Tags")).to_have_value("inventions, radio")  # tags sort by name

    # A draft is nowhere public yet.
    page.goto(f"{live_server}/")
    expect(page.locator("#feed")).not_to_contain_text("Frequency hopping")
    page.go_back()

    page.get_by_role("button", name="Publish").click()
    expect(page).to_have_url(f"{live_server}/posts/frequency-hopping-for-everyone")
    expect(page.locator("#flash-messages")).to_contain_text("Your post is published.")
    expect(page.get_by_role("heading", level=1)).to_have_text("Frequency hopping for everyone")
    expect(page.locator(".post-body h2")).to_have_text("Spread spectrum")

    _find_it_everywhere(page, live_server, user_name)
    # A second post: the tags field suggests the tags already in use.
    page.goto(f"{live_server}/write")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("Tags").press_sequentially("science, ra", delay=20)
    expect(page.locator("#tag-options option[value='science, radio']")).to_have_count(1)

    assert problems == []


def _find_it_everywhere(page: Page, live_server: str, user_name: str) -> None:
    # Home, then the tag page through the post's tag link, then the author page.
    page.get_by_role("banner").get_by_role("link", name="Blog", exact=True).click()
    item = page.locator("#feed .post-item").filter(has_text="Frequency hopping for everyone")
    expect(item).to_have_count(1)
    item.get_by_role("link", name="radio").click()
    expect(page).to_have_url(f"{live_server}/tags/radio")
    expect(page.locator("#feed")).to_contain_text("Frequency hopping for everyone")
    page.goto(f"{live_server}/tags/inventions")
    expect(page.locator("#feed")).to_contain_text("Frequency hopping for everyone")
    page.locator("#feed").get_by_role("link", name=user_name).first.click()
    expect(page).to_have_url(f"{live_server}/u/{user_name}/posts")
    expect(page.locator("#feed")).to_contain_text("Frequency hopping for everyone")

    # The tag index counts it.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Tags").click()
    expect(page.locator(".tag-index li").filter(has_text="radio")).to_contain_text("1 post")

    # Search: results follow the typing (htmx), and the address follows too.
    page.get_by_role("navigation", name="Main").get_by_role("link", name="Search").click()
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__noReload = 'search'; }")
    page.get_by_label("Words to find").press_sequentially("spectr", delay=20)
    results = page.locator("#search-results")
    expect(results.locator(".post-item")).to_have_count(1)
    expect(results.locator("mark").first).to_be_visible()
    expect(page).to_have_url(re.compile(r"/search\?q=spectr"))
    assert page.evaluate("() => window.__noReload") == "search"
    expect(page.locator("#search-status")).to_contain_text("1 result")

    # The Atom feed has it.
    feed = page.request.get(f"{live_server}/feed.atom")
    assert feed.ok
    assert feed.headers["content-type"].startswith("application/atom+xml")
    body = feed.text()
    assert "<title>Frequency hopping for everyone</title>" in body
    assert "/posts/frequency-hopping-for-everyone" in body
    assert page.request.get(f"{live_server}/tags/radio/feed.atom").text().count("<entry>") == 1


def test_editor_errors_swap_in_beside_the_field(page: Page, app: Flask, live_server: str) -> None:
    email, _ = _writer(app)
    _sign_in(page, live_server, email)
    page.goto(f"{live_server}/write")
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__noReload = true; }")
    page.get_by_label("Title").fill("Hi")
    page.get_by_label("Text").fill("Short")
    with page.expect_response(
        lambda r: r.url.endswith("/write") and r.request.method == "POST"
    ) as info:
        page.get_by_role("button", name="Publish").click()
    assert info.value.status == 422
    title = page.get_by_label("Title")
    expect(title).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#title-error")).to_contain_text("A title has 5 to 500 characters.")
    expect(page.locator("#content-error")).to_contain_text("The text has 10 to 100,000 characters.")
    expect(title).to_be_focused()
    assert page.evaluate("() => window.__noReload") is True


def test_publish_without_javascript(browser, app: Flask, live_server: str) -> None:  # type: ignore[no-untyped-def]
    email, _ = _writer(app)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        _sign_in(page, live_server, email)
        page.goto(f"{live_server}/write")
        page.get_by_label("Title").fill("Written without scripts")
        page.get_by_label("Text").fill("Plain *HTML* forms still work.")
        page.get_by_role("button", name="Preview").click()
        expect(page.locator("#post-preview em")).to_have_text("HTML")
        page.get_by_role("button", name="Publish").click()
        expect(page).to_have_url(f"{live_server}/posts/written-without-scripts")
        page.get_by_role("button", name="Archive").click()
        expect(page.locator("#post-status")).to_contain_text("Archived")
    finally:
        context.close()
