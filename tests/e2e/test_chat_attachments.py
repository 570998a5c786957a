"""Sending a picture in chat, in a real browser: the sender attaches it from the composer (a
progress bar, no reload), sees the thumbnail, and the other participant's open page shows it
live over the websocket; the thumbnail opens the original. Without JavaScript the same form
posts and the page comes back with the picture."""

from __future__ import annotations

import io
import re

from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, Page, expect

from tests.chat.helpers import start
from tests.e2e.test_posts import _watch_errors
from tests.factories import DEFAULT_PASSWORD
from tests.posts.helpers import new_author, signed_in


def _png(color: str, size: tuple[int, int] = (640, 480)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-form")).to_have_count(0)


def _track_socket(page: Page) -> None:
    page.add_init_script(
        "document.addEventListener('htmx:wsAfterMessage', () => { window.__blogLiveOpen = true; });"
    )


def _known(problem: str) -> bool:
    """Console errors that are not this feature's: Chromium's own image viewer styles itself
    inline, which the sandbox CSP of /files/<id> blocks (as it should: the picture still shows).
    Live fragments for targets a page does not have are dropped before the swap (live.js), so
    an htmx:oobErrorNoTarget is a real error here."""
    return "/files/" in problem.split(": ", 1)[0]


def _loaded(page: Page, selector: str) -> None:
    page.wait_for_function(
        "s => { const i = document.querySelector(s);"
        " return i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
    )


def test_send_a_picture_in_chat(app: Flask, browser: Browser, live_server: str) -> None:
    alice, bob = new_author(app), new_author(app)
    cid = start(signed_in(app, alice.email), bob.user_name)
    alice_ctx, bob_ctx = browser.new_context(), browser.new_context()
    try:
        sender, reader = alice_ctx.new_page(), bob_ctx.new_page()
        problems = [_watch_errors(sender), _watch_errors(reader)]
        for page, person in ((sender, alice), (reader, bob)):
            _track_socket(page)
            _sign_in(page, live_server, person.email)
            page.goto(f"{live_server}/chat/{cid}")
            page.wait_for_function("() => window.__blogLiveOpen === true", timeout=5000)
        sender.evaluate("window.__noReload = true")
        reader.evaluate("window.__noReload = true")

        sender.get_by_text("Attach a picture or a file").click()
        form = sender.locator("form.chat-attach-form")
        form.get_by_label("Picture or file").set_input_files(
            {"name": "sunset.png", "mimeType": "image/png", "buffer": _png("orange")}
        )
        form.get_by_label("Caption").fill("Sunset from the pier")
        form.get_by_role("button", name="Send").click()

        expect(form.locator(".upload-result")).to_contain_text("Sent.")
        expect(form.locator("progress")).to_have_attribute("value", "100")
        for page in (sender, reader):
            message = page.locator(f"#messages-{cid} li.message").last
            image = message.locator(".attachment-image img")
            expect(image).to_have_attribute("alt", "Sunset from the pier")
            expect(image).to_have_attribute("src", re.compile(r"^/files/[0-9a-f-]{36}/thumb$"))
            expect(message).to_contain_text("Sunset from the pier")
            _loaded(page, f"#messages-{cid} li.message:last-child .attachment-image img")
            # One copy, even though the sender got it from the POST and the socket both.
            expect(page.locator(f"#messages-{cid} li.message")).to_have_count(1)
            assert page.evaluate("window.__noReload") is True  # live, no reload
        expect(form.get_by_label("Picture or file")).to_have_value("")  # ready for the next

        # The thumbnail links to the original, full size.
        link = reader.locator(f"#messages-{cid} .attachment-image a")
        reader.goto(live_server + str(link.get_attribute("href")))
        _loaded(reader, "img")
        assert reader.evaluate("document.querySelector('img').naturalWidth") == 640
        assert [[p for p in tab if not _known(p)] for tab in problems] == [[], []]
    finally:
        alice_ctx.close()
        bob_ctx.close()


def test_send_a_file_in_chat_without_javascript(
    app: Flask, browser: Browser, live_server: str
) -> None:
    alice, bob = new_author(app), new_author(app)
    cid = start(signed_in(app, alice.email), bob.user_name)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        _sign_in(page, live_server, alice.email)
        page.goto(f"{live_server}/chat/{cid}")
        page.get_by_text("Attach a picture or a file").click()
        form = page.locator("form.chat-attach-form")
        form.get_by_label("Picture or file").set_input_files(
            {"name": "notes.txt", "mimeType": "text/plain", "buffer": b"Bring the charts.\n"}
        )
        form.get_by_role("button", name="Send").click()

        expect(page).to_have_url(re.compile(rf"/chat/{cid}#latest$"))
        link = page.locator(f"#messages-{cid} .attachment-file a")
        expect(link).to_have_text("notes.txt")
        expect(page.locator(f"#messages-{cid} .attachment-file")).to_contain_text("18 bytes · TXT")
    finally:
        context.close()
