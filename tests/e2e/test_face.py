"""The product's face in a real browser: the header and its menus (mouse, keyboard, no
JavaScript), pictures of people, times, colour schemes, no sideways scrolling on a phone, and
axe-core on every main page at 1280 and 390 px in light and dark.

The data is the demo's (blog.ops.demo: four accounts, posts with tags and comments, a group
conversation), so the pages look as a newcomer first sees them.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from flask import Flask
from playwright.sync_api import Browser, BrowserContext, Page, expect

from blog.config import PROJECT_ROOT
from tests.e2e.helpers import account_menu

AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
BLOCKING = ("critical", "serious", "moderate")
ADMIN = ("admin@example.com", "Admin-demo-2026")
ALICE = ("alice@example.com", "Alice-demo-2026")
# HTML's valid global date and time strings allow at most three digits of fractions.
VALID_DATETIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,3})?)?(Z|[+-]\d\d:\d\d)$")
VALID_DATE = re.compile(r"^\d{4}-\d\d-\d\d$")  # a day (the charts' axes): no time to explain


@pytest.fixture
def demo(app: Flask) -> None:
    from blog.ops.demo import seed_demo_data

    with app.app_context():
        seed_demo_data()


def _sign_in(page: Page, base: str, who: tuple[str, str]) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(who[0])
    page.get_by_label("Password", exact=True).fill(who[1])
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("button", name=re.compile(r"^Account menu of "))).to_be_visible()


def _context(browser: Browser, width: int, scheme: str = "light", **kw: Any) -> BrowserContext:
    height = 900 if width > 800 else 844
    # bypass_csp: axe-core is added as an inline script, which our CSP rightly refuses.
    return browser.new_context(
        viewport={"width": width, "height": height},
        color_scheme=scheme,  # type: ignore[arg-type]
        bypass_csp=True,
        **kw,
    )


def _axe(page: Page) -> list[str]:
    """axe-core's blocking violations on the page as it is now, one line each."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document, {resultTypes: ['violations']})")
    problems = []
    for v in result["violations"]:
        if v["impact"] in BLOCKING:
            targets = ", ".join(str(n["target"]) for n in v["nodes"][:3])
            problems.append(f"{page.url} [{v['impact']}] {v['id']}: {v['help']} ({targets})")
    return problems


def _main_pages(page: Page, base: str) -> list[str]:
    """The main pages of the judged list, with real ids found through the site."""

    def first(url: str, pattern: str) -> str:
        page.goto(base + url)
        for href in page.eval_on_selector_all(
            "main a[href]", "els => els.map(e => e.getAttribute('href'))"
        ):
            if href and re.match(pattern, href):
                return str(href)
        raise AssertionError(f"no link like {pattern} on {url}")

    post = first("/", r"^/posts/[^/#?]+$")
    tag = first("/tags", r"^/tags/[^/]+$")
    conversation = first("/chat", r"^/chat/[0-9a-f-]{36}$")
    return [
        "/",
        post,
        tag,
        "/search?q=postgresql",
        "/write",
        "/chat",
        conversation,
        "/notifications",
        "/notifications/preferences",
        "/account",
        "/admin/",
        "/admin/database",
        "/admin/users",
        "/menu",
    ]


def _sideways(page: Page) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))


def _bad_times(page: Page) -> list[str]:
    found = page.eval_on_selector_all(
        "time", "els => els.map(e => [e.getAttribute('datetime'), e.getAttribute('title')])"
    )
    return [
        f"{page.url}: {d!r} title={t!r}"
        for d, t in found
        if not VALID_DATE.match(d or "") and (not VALID_DATETIME.match(d or "") or not t)
    ]


@pytest.mark.parametrize(
    ("width", "scheme"), [(1280, "light"), (1280, "dark"), (390, "light"), (390, "dark")]
)
def test_main_pages_pass_axe_fit_the_screen_and_show_valid_times(  # noqa: PLR0917 - fixtures
    browser: Browser, app: Flask, live_server: str, demo: None, width: int, scheme: str
) -> None:
    problems: list[str] = []
    context = _context(browser, width, scheme)
    try:
        page = context.new_page()
        for path in ("/login", "/register"):
            page.goto(live_server + path)
            problems += _axe(page)
            if width < 800 and _sideways(page) > 0:
                problems.append(f"{path} scrolls sideways by {_sideways(page)} px")
        _sign_in(page, live_server, ADMIN)
        pages = _main_pages(page, live_server)
        for path in pages:
            page.goto(live_server + path)
            page.wait_for_load_state("networkidle")
            problems += _axe(page)
            problems += _bad_times(page)
            if width < 800 and _sideways(page) > 0:
                problems.append(f"{path} scrolls sideways by {_sideways(page)} px")
        # Open menus are part of the page too.
        page.goto(live_server + "/")
        account_menu(page)
        problems += _axe(page)
    finally:
        context.close()
    assert problems == []


@pytest.mark.parametrize("who", [ADMIN, ALICE], ids=["admin", "user"])
def test_the_header_is_one_row_on_a_desktop_for_every_role(
    browser: Browser, live_server: str, demo: None, who: tuple[str, str]
) -> None:
    for width in (1024, 1280):
        context = _context(browser, width)
        try:
            page = context.new_page()
            _sign_in(page, live_server, who)
            bar = page.locator(".site-bar").bounding_box()
            assert bar is not None
            assert bar["height"] <= 64, (width, bar)
            # Every primary link is shown (nothing folded away) and sits in that one row.
            for name in ("Home", "Tags", "Search", "Write", "Chat", "Notifications"):
                link = page.get_by_role("navigation", name="Main").get_by_role(
                    "link", name=re.compile(f"^{name}")
                )
                expect(link).to_be_visible()
                box = link.bounding_box()
                assert box is not None
                assert box["y"] >= bar["y"]
                assert box["y"] + box["height"] <= bar["y"] + bar["height"]
            expect(page.locator(".nav-toggle")).to_be_hidden()
            # Staff pages live in the account menu, so the row is the same for every role.
            menu = account_menu(page)
            for name in ("Profile", "Your posts", "Account", "Devices", "Preferences"):
                expect(menu.get_by_role("link", name=name, exact=True)).to_be_visible()
            staff = menu.get_by_role("link", name="Admin", exact=True)
            expect(staff).to_have_count(1 if who is ADMIN else 0)
        finally:
            context.close()


def test_the_phone_menu_works_by_mouse_keyboard_and_escape(
    browser: Browser, app: Flask, live_server: str, demo: None
) -> None:
    context = _context(browser, 390)
    try:
        page = context.new_page()
        _sign_in(page, live_server, ALICE)
        toggle = page.get_by_role("button", name="Menu", exact=True)
        links = page.locator("#primary-links")
        expect(toggle).to_have_attribute("aria-expanded", "false")
        expect(links).to_be_hidden()
        # Chat and notifications stay in the bar, with their badges, while the menu is shut.
        expect(page.locator("#nav-chat")).to_be_visible()
        expect(page.locator("#nav-notifications")).to_be_visible()
        assert page.locator(".site-bar").bounding_box()["height"] <= 64  # type: ignore[index]

        toggle.click()
        expect(toggle).to_have_attribute("aria-expanded", "true")
        expect(links.get_by_role("link", name="Tags")).to_be_visible()
        page.keyboard.press("Escape")
        expect(links).to_be_hidden()
        expect(toggle).to_be_focused()

        # The keyboard alone: Space and Enter open it, Tab walks into it, Escape returns.
        page.keyboard.press("Space")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        page.keyboard.press("Tab")
        expect(links.get_by_role("link", name="Home")).to_be_focused()
        page.keyboard.press("Escape")
        expect(toggle).to_be_focused()
        expect(toggle).to_have_attribute("aria-expanded", "false")
        page.keyboard.press("Enter")
        expect(toggle).to_have_attribute("aria-expanded", "true")
        links.get_by_role("link", name="Tags").click()
        expect(page).to_have_url(f"{live_server}/tags")

        # The account menu: a click outside closes it.
        menu = account_menu(page)
        page.mouse.click(200, 820)
        expect(menu).to_be_hidden()
    finally:
        context.close()


def test_without_javascript_the_menu_buttons_lead_to_a_menu_page(
    browser: Browser, live_server: str, demo: None
) -> None:
    context = _context(browser, 390, java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.get_by_label("Email").fill(ADMIN[0])
        page.get_by_label("Password", exact=True).fill(ADMIN[1])
        page.locator("#login-form").get_by_role("button", name="Sign in").click()
        page.get_by_role("button", name="Menu", exact=True).click()
        expect(page).to_have_url(re.compile(r"/menu$"))
        main = page.locator("main")
        for name in (
            "Home",
            "Tags",
            "Search",
            "Write",
            "Chat",
            "Notifications",
            "Devices",
            "Admin",
        ):
            expect(main.get_by_role("link", name=name, exact=True)).to_be_visible()
        # The colour scheme is a plain form there too.
        main.get_by_role("button", name="Dark").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        main.get_by_role("button", name=re.compile("^Sign out")).click()
        expect(page.get_by_text("You are signed out.")).to_be_visible()
    finally:
        context.close()


def test_the_colour_scheme_follows_the_system_then_the_choice(
    browser: Browser, live_server: str, demo: None
) -> None:
    def background(page: Page) -> str:
        return str(page.evaluate("getComputedStyle(document.body).backgroundColor"))

    dark_system = _context(browser, 1280, "dark")
    try:
        page = dark_system.new_page()
        page.goto(f"{live_server}/")
        expect(page.locator("html")).not_to_have_attribute("data-theme", re.compile("."))
        dark_bg = background(page)
        # A visitor's choice is kept in a cookie...
        page.locator(".site-footer").get_by_role("button", name="Light").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        assert background(page) != dark_bg
        page.reload()
        expect(page.locator("html")).to_have_attribute("data-theme", "light")
        # ...a person's on their account: another browser, signed in, sees it too.
        _sign_in(page, live_server, ALICE)
        account_menu(page).get_by_role("button", name="Dark").click()
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        expect(account_menu(page).get_by_role("button", name="Dark")).to_have_attribute(
            "aria-pressed", "true"
        )
    finally:
        dark_system.close()
    light_system = _context(browser, 1280, "light")
    try:
        page = light_system.new_page()
        _sign_in(page, live_server, ALICE)
        expect(page.locator("html")).to_have_attribute("data-theme", "dark")
        assert background(page) == dark_bg
    finally:
        light_system.close()


def test_every_person_shown_has_a_picture(browser: Browser, live_server: str, demo: None) -> None:
    context = _context(browser, 1280)
    try:
        page = context.new_page()
        _sign_in(page, live_server, ADMIN)
        checks = {
            "/": ".post-item .byline",
            "/admin/users": "#user-results tbody tr",
            "/chat": "#conversation-list li",
        }
        commented = page.locator(".post-item", has_not_text=" 0 comments").first
        post = commented.locator("h2 a").get_attribute("href")
        for path, rows in [*checks.items(), (post, "#comment-list li.comment")]:
            page.goto(f"{live_server}{path}")
            items = page.locator(rows)
            count = items.count()
            assert count > 0, path
            for i in range(count):
                expect(items.nth(i).locator(".avatar").first).to_be_visible()
        # Initials stand in for a missing picture, on a colour that is the same everywhere.
        page.goto(f"{live_server}/admin/users")
        row = page.locator("#user-results tbody tr", has_text="alice")
        initials = row.locator(".avatar")
        expect(initials).to_have_text("AL")
        colour = initials.evaluate("e => getComputedStyle(e).backgroundColor")
        page.goto(f"{live_server}/")
        card = page.locator(".post-item", has=page.get_by_role("link", name="alice")).first
        assert (
            card.locator(".avatar").evaluate("e => getComputedStyle(e).backgroundColor") == colour
        )
    finally:
        context.close()


def test_times_read_as_phrases_and_stay_fresh(
    browser: Browser, live_server: str, demo: None
) -> None:
    context = _context(browser, 1280)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/")
        first = page.locator(".post-item time").first
        expect(first).to_have_text(re.compile(r"ago|yesterday|just now|^\d{1,2} \w{3}"))
        expect(first).to_have_attribute("title", re.compile(r"\d{4}, \d\d:\d\d UTC$"))
        # The page keeps the phrase current without a request: a time made two hours older
        # reads "2 hours ago" on the next refresh.
        text = page.evaluate(
            """() => {
              const t = document.createElement('time');
              t.setAttribute('datetime', new Date(Date.now() - 2 * 3600e3).toISOString());
              t.dataset.relative = '';
              document.querySelector('main').append(t);
              window.blogTime.refresh();
              return t.textContent;
            }"""
        )
        assert text == "2 hours ago"
    finally:
        context.close()


def test_axe_itself_is_installed() -> None:
    # A missing axe would make the checks above fail loudly; this names the cause.
    assert Path(AXE).is_file(), "run `make install` (npm ci installs axe-core)"
