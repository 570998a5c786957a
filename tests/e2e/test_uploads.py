"""Uploads in a real browser, as a new user would: a picture on the profile, an image put into
a post at the cursor and published, and a progress bar that moves while a big file goes up."""

from __future__ import annotations

import io
import os
import re

from flask import Flask
from PIL import Image
from playwright.sync_api import ConsoleMessage, Page, expect

from blog.core.db import utcnow
from tests.e2e.test_posts import _sign_in, _watch_errors
from tests.factories import make_user
from tests.posts.helpers import make_post


def _user(app: Flask, name: str) -> tuple[str, str]:
    with app.app_context():
        user = make_user(user_name=name, email_verified_at=utcnow())
        return user.email, user.user_name


def _png(color: str, size: tuple[int, int] = (120, 80)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return buf.getvalue()


def _loaded(page: Page, selector: str) -> bool:
    return bool(page.eval_on_selector(selector, "img => img.complete && img.naturalWidth > 0"))


def _pixel(page: Page, selector: str) -> list[int]:
    """The colour of a pixel of a loaded image on the page (waits for it to load)."""
    page.wait_for_function(
        "s => { const i = document.querySelector(s);"
        " return i && i.complete && i.naturalWidth > 0; }",
        arg=selector,
    )
    return page.evaluate(
        """s => { const i = document.querySelector(s);
             const c = document.createElement('canvas'); c.width = i.naturalWidth;
             c.height = i.naturalHeight; const x = c.getContext('2d'); x.drawImage(i, 0, 0);
             return Array.from(x.getImageData(5, 5, 1, 1).data); }""",
        selector,
    )


def _purple(rgba: list[int]) -> bool:
    # The thumbnail is a lossy WebP: near purple (128, 0, 128), not exactly.
    return all(abs(a - b) <= 8 for a, b in zip(rgba[:3], (128, 0, 128), strict=True))


def test_an_uploaded_avatar_shows_everywhere_the_name_has_one(  # noqa: PLR0917 - pytest fixtures
    page: Page, app: Flask, live_server: str, run_jobs, browser, smtp_server
) -> None:
    problems = _watch_errors(page)
    email, user_name = _user(app, "grace")
    with app.app_context():
        author = make_user(user_name="ada_av", email_verified_at=utcnow())
        slug = make_post(author, title="Notes with a discussion").slug
    _sign_in(page, live_server, email)

    # A comment first, under the generated avatar.
    page.goto(f"{live_server}/posts/{slug}")
    page.get_by_label("Your comment").fill("Lovely notes.")
    page.get_by_role("button", name="Post comment").click()
    comment_avatar = "#comment-list li.comment img.avatar"
    expect(page.locator("#comment-list li.comment .avatar")).to_have_text("GR")  # initials
    expect(page.locator(comment_avatar)).to_have_count(0)

    page.goto(f"{live_server}/account/profile")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("New picture").set_input_files(
        {"name": "me.png", "mimeType": "image/png", "buffer": _png("purple")}
    )
    page.get_by_role("button", name="Upload picture").click()
    expect(page.locator("#flash-messages")).to_contain_text("Your new picture is saved.")
    run_jobs()  # the thumbnail
    thumb = re.compile(r"^/files/[0-9a-f-]{36}/thumb$")

    # The profile editor, the public profile and the comment all show the picture (purple),
    # not the generated initials; so they do for a visitor who is not signed in.
    page.goto(f"{live_server}/account/profile")
    expect(page.locator("#avatar-settings img.avatar")).to_have_attribute("src", thumb)
    assert _purple(_pixel(page, "#avatar-settings img.avatar"))
    page.goto(f"{live_server}/u/{user_name}")
    expect(page.locator("#profile img.avatar")).to_have_attribute("src", thumb)
    assert _purple(_pixel(page, "#profile img.avatar"))
    page.goto(f"{live_server}/posts/{slug}")
    expect(page.locator(comment_avatar)).to_have_attribute("src", thumb)
    assert _purple(_pixel(page, comment_avatar))
    # The header's account button is the picture too.
    assert _purple(_pixel(page, ".account-toggle img.avatar"))

    visitor = browser.new_context()
    try:
        visitor_page = visitor.new_page()
        visitor_page.goto(f"{live_server}/posts/{slug}")
        assert _purple(_pixel(visitor_page, comment_avatar))
        visitor_page.goto(f"{live_server}/u/{user_name}")
        assert _purple(_pixel(visitor_page, "#profile img.avatar"))
    finally:
        visitor.close()
    assert problems == []


def test_an_image_goes_into_a_post_at_the_cursor_and_is_published(
    page: Page, app: Flask, live_server: str, browser
) -> None:
    problems = _watch_errors(page)
    email, _user_name = _user(app, "ada_img")
    _sign_in(page, live_server, email)

    page.goto(f"{live_server}/write")
    page.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("Title").fill("A picture of the engine")
    text = page.get_by_label("Text")
    text.fill("First paragraph.\n\nLast paragraph.")
    # The cursor after "First paragraph.\n\n": the image goes there.
    text.evaluate("t => { const at = t.value.indexOf('Last'); t.setSelectionRange(at, at); }")

    page.get_by_text("Insert an image").click()
    page.get_by_label("Image", exact=True).set_input_files(
        {"name": "engine.png", "mimeType": "image/png", "buffer": _png("teal")}
    )
    page.get_by_label("Image description").fill("The analytical engine")
    page.get_by_role("button", name="Upload and insert").click()

    expect(page.locator("#editor-image-form-result")).to_contain_text("Added to your post")
    expect(text).to_have_value(
        re.compile(
            r"^First paragraph\.\n\n!\[The analytical engine\]\(/files/[0-9a-f-]{36}\)\n"
            r"Last paragraph\.$"
        )
    )
    preview_image = page.locator("#post-preview img")
    expect(preview_image).to_have_attribute("alt", "The analytical engine")

    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#flash-messages")).to_contain_text("Your post is published.")
    image = page.locator(".post-body img")
    expect(image).to_have_attribute("alt", "The analytical engine")
    page.wait_for_function(
        "() => { const i = document.querySelector('.post-body img');"
        " return i.complete && i.naturalWidth === 120; }"
    )
    post_url = page.url

    # A reader who is not signed in sees it too.
    reader = browser.new_context()
    try:
        reader_page = reader.new_page()
        reader_page.goto(post_url)
        reader_page.wait_for_function(
            "() => { const i = document.querySelector('.post-body img');"
            " return i.complete && i.naturalWidth === 120; }"
        )
    finally:
        reader.close()
    assert problems == []


def test_the_progress_bar_moves_while_a_large_file_uploads(
    page: Page, app: Flask, live_server: str
) -> None:
    email, _user_name = _user(app, "big_files")
    _sign_in(page, live_server, email)
    seen: list[int] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.text.startswith("progress:"):
            seen.append(int(message.text.split(":")[1]))

    page.on("console", on_console)
    page.goto(f"{live_server}/uploads")
    page.wait_for_function("() => window.htmx !== undefined")
    # Record every value the bar shows (the page reloads when the upload is done).
    page.evaluate(
        """() => { const bar = document.querySelector('#upload-form-progress');
             new MutationObserver(() => console.log('progress:' + bar.getAttribute('value')))
               .observe(bar, {attributes: true, attributeFilter: ['value']}); }"""
    )
    # A slow uplink (about 2 MB/s), so the upload takes a couple of seconds as on a real network.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {
            "offline": False,
            "latency": 20,
            "downloadThroughput": -1,
            "uploadThroughput": 2 * 1024 * 1024,
        },
    )
    page.get_by_label("File", exact=True).set_input_files(
        {
            "name": "archive.zip",
            "mimeType": "application/zip",
            "buffer": b"PK\x03\x04" + os.urandom(6 * 1024 * 1024),
        }
    )
    expect(page.locator("#upload-form-progress")).to_be_hidden()
    page.get_by_role("button", name="Upload", exact=True).click()
    expect(page.locator("#flash-messages")).to_contain_text("Uploaded archive.zip", timeout=30_000)

    assert seen, "the progress bar never changed"
    middle = [value for value in seen if 0 < value < 100]
    assert len(middle) >= 2, f"no progress between 0 and 100: {seen}"
    assert middle == sorted(middle)
