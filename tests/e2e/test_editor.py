"""The editor in a real browser: a draft saves itself while it is typed and survives closing
the tab; a second tab's stale save is refused with the newer text offered; an image pasted into
the text is uploaded with progress, shown in the preview and published with its srcset; the
editor and a post's history pass axe."""

from __future__ import annotations

import base64
import io
import os
import re

from flask import Flask
from PIL import Image
from playwright.sync_api import Browser, Page, Route, expect
from sqlalchemy import select

from blog.core.db import utcnow
from tests.e2e.test_face import _axe, _context
from tests.e2e.test_posts import _sign_in, _watch_errors
from tests.factories import make_user
from tests.posts.helpers import make_post

SAVED = re.compile(r"^Saved \d\d:\d\d")


def _writer(app: Flask, name: str) -> str:
    with app.app_context():
        return make_user(user_name=name, email_verified_at=utcnow()).email


def _draft(app: Flask, name: str, content: str = "The text as it was first saved.") -> tuple:
    with app.app_context():
        user = make_user(user_name=name, email_verified_at=utcnow())
        post = make_post(user, title="A draft in two tabs", content=content, status="draft")
        return user.email, post.id


def test_a_draft_saves_itself_and_survives_closing_the_tab(
    page: Page, app: Flask, live_server: str
) -> None:
    problems = _watch_errors(page)
    email = _writer(app, "ada_autosave")
    _sign_in(page, live_server, email)
    page.goto(f"{live_server}/write")
    page.wait_for_function("() => window.htmx !== undefined")
    status = page.locator("#autosave-status")
    expect(status).to_have_text("Your draft is saved as you type.")
    expect(status).to_have_attribute("role", "status")

    saves: list[str] = []
    page.on("request", lambda r: saves.append(r.url) if r.url.endswith("/autosave") else None)
    page.get_by_label("Title").fill("Notes on the engine")
    # Typing without a pause longer than the debounce: a save still comes within ~5 s.
    page.get_by_label("Text").press_sequentially(
        "The engine weaves algebraic patterns, as a loom weaves flowers and leaves.",
        delay=90,  # ~6.7 s of steady typing
    )
    assert saves, "no autosave while the text kept changing"
    expect(status).to_have_text(SAVED, timeout=5000)
    expect(status.locator("time")).to_have_attribute("datetime", re.compile(r"^\d{4}-"))
    # The first save made the draft: the address is its editor now.
    expect(page).to_have_url(re.compile(r"/posts/[0-9a-f-]{36}/edit$"))
    edit_url = page.url
    page.wait_for_timeout(1800)  # the last keystrokes' debounced save
    expect(status).to_have_text(SAVED)
    page.close()

    again = page.context.new_page()
    again.goto(edit_url)
    expect(again.get_by_label("Title")).to_have_value("Notes on the engine")
    expect(again.get_by_label("Text")).to_have_value(
        "The engine weaves algebraic patterns, as a loom weaves flowers and leaves."
    )
    expect(again.locator("#post-preview")).to_contain_text("algebraic patterns")
    # It is one draft, listed under "Your posts".
    again.goto(f"{live_server}/me/posts")
    expect(again.get_by_role("link", name="Notes on the engine", exact=True)).to_have_count(1)
    assert problems == []


def test_the_later_save_from_a_second_tab_is_refused_and_the_newer_text_offered(
    page: Page, app: Flask, live_server: str
) -> None:
    email, post_id = _draft(app, "ada_two_tabs")
    _sign_in(page, live_server, email)
    edit = f"{live_server}/posts/{post_id}/edit"
    other = page.context.new_page()
    page.goto(edit)
    other.goto(edit)
    for tab in (page, other):
        tab.wait_for_function("() => window.htmx !== undefined")

    page.get_by_label("Text").fill("Tab one's text, saved first.")
    expect(page.locator("#autosave-status")).to_have_text(SAVED, timeout=5000)

    other.get_by_label("Text").fill("Tab two's text, from the old version.")
    status = other.locator("#autosave-status")
    expect(status).to_contain_text(
        "This post was changed in another tab or window at", timeout=5000
    )
    expect(status).to_contain_text("Your text here is not saved.")
    if os.environ.get("EDITOR_SHOTS"):
        other.screenshot(path=f"{os.environ['EDITOR_SHOTS']}/editor-conflict-1280-light.png")
    # Nothing was overwritten: tab one's text is what the server has.
    other.get_by_role("link", name="Load the newer text").click()
    expect(other.get_by_label("Text")).to_have_value("Tab one's text, saved first.")


def test_keep_my_text_replaces_the_newer_text_only_when_asked(
    page: Page, app: Flask, live_server: str
) -> None:
    email, post_id = _draft(app, "ada_keep_mine")
    _sign_in(page, live_server, email)
    edit = f"{live_server}/posts/{post_id}/edit"
    other = page.context.new_page()
    page.goto(edit)
    other.goto(edit)
    for tab in (page, other):
        tab.wait_for_function("() => window.htmx !== undefined")
    page.get_by_label("Text").fill("Tab one's text, saved first.")
    expect(page.locator("#autosave-status")).to_have_text(SAVED, timeout=5000)
    other.get_by_label("Text").fill("Tab two's text, kept on purpose.")
    expect(other.locator("#autosave-status")).to_contain_text(
        "changed in another tab", timeout=5000
    )
    other.get_by_role("button", name="Keep my text instead").click()
    expect(other.locator("#autosave-status")).to_have_text(SAVED, timeout=5000)
    page.reload()
    expect(page.get_by_label("Text")).to_have_value("Tab two's text, kept on purpose.")


def test_saving_while_the_first_autosave_is_under_way_makes_one_post(
    page: Page, app: Flask, live_server: str
) -> None:
    email = _writer(app, "ada_one_post")
    _sign_in(page, live_server, email)
    page.goto(f"{live_server}/write")
    page.wait_for_function("() => window.htmx !== undefined")
    held: list = []

    def hold(route: Route) -> None:  # the first autosave waits on the wire
        held.append(route)

    page.route("**/write/autosave", hold)
    page.get_by_label("Title").fill("Only one of these")
    page.get_by_label("Text").fill("Saved twice at once, kept once.")
    page.wait_for_timeout(2000)
    assert len(held) == 1
    page.get_by_role("button", name="Save draft").click()
    page.wait_for_timeout(300)
    held[0].continue_()
    expect(page.locator("#flash-messages")).to_contain_text("Draft saved.")
    page.goto(f"{live_server}/me/posts")
    expect(page.get_by_role("link", name="Only one of these", exact=True)).to_have_count(1)


def _png_b64(size: tuple[int, int] = (1200, 800), color: str = "teal") -> str:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, "PNG")
    return base64.b64encode(buf.getvalue()).decode()


PASTE = """([b64, name]) => {
  const bytes = Uint8Array.from(atob(b64), (c) => c.charCodeAt(0));
  const file = new File([bytes], name, { type: "image/png" });
  const data = new DataTransfer();
  data.items.add(file);
  const t = document.getElementById("content");
  t.focus();
  const paste = { clipboardData: data, bubbles: true, cancelable: true };
  t.dispatchEvent(new ClipboardEvent("paste", paste));
}"""


def test_a_pasted_image_uploads_with_progress_and_is_published_with_srcset(
    page: Page, app: Flask, live_server: str, run_jobs
) -> None:
    problems = _watch_errors(page)
    email = _writer(app, "ada_paste")
    _sign_in(page, live_server, email)
    page.goto(f"{live_server}/write")
    page.wait_for_function("() => window.htmx !== undefined")
    expect(page.locator("#paste-hint")).to_be_visible()
    page.get_by_label("Title").fill("The engine, pasted")
    text = page.get_by_label("Text")
    text.fill("First paragraph.\n\nLast paragraph.")
    text.evaluate("t => { const at = t.value.indexOf('Last'); t.setSelectionRange(at, at); }")

    page.evaluate(PASTE, [_png_b64(), "engine.png"])
    progress = page.locator("#image-progress")
    expect(progress).to_be_visible()
    expect(progress).to_have_js_property("value", 100)
    expect(page.locator("#image-status-text")).to_contain_text("Image added")
    expect(text).to_have_value(
        re.compile(r"^First paragraph\.\n\n!\[engine\]\(/files/[0-9a-f-]{36}\)\nLast paragraph\.$")
    )
    # The alt text is selected, ready to be replaced by a better description.
    assert text.evaluate("t => t.value.slice(t.selectionStart, t.selectionEnd)") == "engine"
    page.keyboard.type("The analytical engine")
    preview = page.locator("#post-preview img")
    expect(preview).to_have_attribute("alt", "The analytical engine")
    expect(preview).to_have_attribute("srcset", re.compile(r"/thumb 320w, /files/.+ 1200w$"))
    expect(page.locator("#autosave-status")).to_have_text(SAVED, timeout=5000)

    run_jobs()  # the thumbnail
    page.get_by_role("button", name="Publish").click()
    expect(page.locator("#flash-messages")).to_contain_text("Your post is published.")
    image = page.locator(".post-body img")
    expect(image).to_have_attribute("alt", "The analytical engine")
    expect(image).to_have_attribute("loading", "lazy")
    expect(image).to_have_attribute("width", "1200")
    expect(image).to_have_attribute("height", "800")
    expect(image).to_have_attribute("srcset", re.compile(r"^/files/[0-9a-f-]{36}/thumb 320w, "))
    page.wait_for_function(
        "() => { const i = document.querySelector('.post-body img');"
        " return i.complete && i.naturalWidth > 0; }"
    )
    assert problems == []


def test_the_editor_and_the_history_pass_axe_and_fit_a_phone(
    browser: Browser, app: Flask, live_server: str
) -> None:
    email, draft_id = _draft(app, "ada_axe")
    with app.app_context():
        from blog.auth.models import User
        from blog.extensions import db
        from blog.posts import services

        user = db.session.scalar(select(User).where(User.email == email))
        post = make_post(user, title="A post with a past", content="Line one.\nLine two.")
        services.update_post(
            post, title="A post with a present", content="Line one.\nLine 2.", tag_names=[]
        )
        db.session.commit()
        published_id, published_slug = post.id, post.slug
    shots = os.environ.get("EDITOR_SHOTS")
    problems: list[str] = []
    for width, scheme in ((1280, "light"), (390, "dark"), (1280, "dark"), (390, "light")):
        context = _context(browser, width, scheme)
        try:
            page = context.new_page()
            _sign_in(page, live_server, email)
            for name, path in (
                ("editor", f"/posts/{draft_id}/edit"),
                ("editor-published", f"/posts/{published_id}/edit"),
                ("history", f"/posts/{published_id}/history"),
            ):
                page.goto(live_server + path)
                page.wait_for_function("() => window.htmx !== undefined")
                if name == "editor":
                    page.get_by_label("Text").fill("A change to be saved in the background.")
                    expect(page.locator("#autosave-status")).to_have_text(SAVED, timeout=5000)
                    page.evaluate(PASTE, [_png_b64((600, 400)), "chart.png"])
                    expect(page.locator("#image-status-text")).to_contain_text("Image added")
                if name == "editor-published":
                    page.get_by_label("Text").fill("An edit that waits for Update post.")
                    expect(page.locator("#autosave-status")).to_contain_text("Unsaved changes")
                problems += _axe(page)
                wide = page.evaluate(
                    "() => document.documentElement.scrollWidth - window.innerWidth"
                )
                if wide > 0:
                    problems.append(f"{path} at {width}px scrolls sideways by {wide}px")
                if shots:
                    page.screenshot(path=f"{shots}/{name}-{width}-{scheme}.png", full_page=True)
            page.goto(f"{live_server}/posts/{published_slug}")
            expect(page.locator(".post-meta .edited")).to_contain_text("edited")
            if shots:
                page.screenshot(path=f"{shots}/post-edited-{width}-{scheme}.png")
        finally:
            context.close()
    assert problems == []
