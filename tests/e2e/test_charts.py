"""The admin charts in Chromium: a tooltip on hover and on keyboard focus, the arrow keys, the
theme's colours, no sideways scrolling on a phone, and axe-core on the chart areas at 1280 and
390 px in light and dark.

Set BLOG_SCREENSHOTS=<dir> to keep a picture of each page at each width and scheme."""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path

import pytest
from flask import Flask
from playwright.sync_api import Browser, Page, expect

from blog.core.charts import day_label, full_day_label
from blog.core.db import utcnow
from blog.extensions import db
from blog.ops.models import DbSample
from tests.factories import DEFAULT_PASSWORD, make_user

AXE = Path(__file__).resolve().parents[2] / "node_modules" / "axe-core" / "axe.min.js"
SIZES = {1280: 900, 390: 844}


def _sign_in(page: Page, base: str, email: str) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.locator("#login-form")).to_have_count(0)


@pytest.fixture
def activity(app: Flask):
    """An admin (signed up today), three sign-ups two days ago, and six hours of database
    samples every 5 minutes (a fresh install: fewer than a day's keep axe quick), with half an
    hour where the cron job did not run."""
    now = utcnow()
    with app.app_context():
        make_user(email="admin@example.com", user_name="root", role="admin", email_verified_at=now)
        for _ in range(3):
            make_user(created_at=now - timedelta(days=2))
        for i in range(72):
            if 25 <= i < 31:
                continue
            db.session.add(
                DbSample(
                    taken_at=now - timedelta(minutes=5 * (71 - i)),
                    connections=4 + (i * 7) % 9,
                    cache_hit_ratio=0.995 + ((i * 3) % 5) / 1000,
                    database_bytes=12_000_000 + i * 20_000,
                    table_sizes={"posts": 4096, "users": 8192},
                    slow_statements=[],
                )
            )
        db.session.commit()
    return now


def test_hovering_or_focusing_a_bar_shows_its_day_and_count(
    page: Page, live_server: str, activity
) -> None:
    today, two_days_ago = activity.date(), (activity - timedelta(days=2)).date()
    _sign_in(page, live_server, "admin@example.com")
    page.goto(f"{live_server}/admin/")
    chart = page.locator("#chart-sign-ups")
    tip = chart.locator(".chart-tip")
    expect(tip).to_be_hidden()

    chart.locator(".chart-point").nth(27).hover()
    expect(tip).to_be_visible()
    expect(tip).to_have_text(f"{full_day_label(two_days_ago)}3 sign-ups")
    plot = chart.locator(".chart-plot").bounding_box()
    box = tip.bounding_box()
    assert plot
    assert box
    assert plot["x"] <= box["x"]
    assert box["x"] + box["width"] <= plot["x"] + plot["width"] + 1
    page.mouse.move(1, 1)
    expect(tip).to_be_hidden()

    # The keyboard: one tab stop per chart (its newest day), then the arrow keys.
    page.get_by_role("link", name="Public moderation log").focus()
    page.keyboard.press("Tab")
    focused = page.locator(".chart-point:focus")
    expect(focused).to_have_attribute("aria-label", f"{full_day_label(today)}: 1 sign-up")
    expect(tip).to_have_text(f"{full_day_label(today)}1 sign-up")
    expect(chart.locator(".chart-keys")).to_be_visible()
    page.keyboard.press("ArrowLeft")
    page.keyboard.press("ArrowLeft")
    expect(tip).to_have_text(f"{full_day_label(two_days_ago)}3 sign-ups")
    expect(focused).to_have_attribute("tabindex", "0")
    assert chart.locator('.chart-point[tabindex="0"]').count() == 1
    page.keyboard.press("Home")
    expect(tip).to_contain_text("0 sign-ups")
    page.keyboard.press("Escape")
    expect(tip).to_be_hidden()
    page.keyboard.press("End")
    expect(tip).to_have_text(f"{full_day_label(today)}1 sign-up")
    page.keyboard.press("Tab")  # out of the chart, to its table
    expect(page.locator(":focus")).to_have_text("Show the data as a table")
    expect(tip).to_be_hidden()
    page.keyboard.press("Enter")
    table = chart.locator(".chart-data table")
    expect(table).to_be_visible()
    expect(table.locator("tbody tr").nth(27)).to_have_text(f"{full_day_label(two_days_ago)}3")


def test_hovering_or_focusing_a_sample_shows_its_time_and_value(
    page: Page, live_server: str, activity
) -> None:
    _sign_in(page, live_server, "admin@example.com")
    page.goto(f"{live_server}/admin/database")
    chart = page.locator("#chart-connections")
    tip = chart.locator(".chart-tip")
    cursor = chart.locator(".chart-cursor circle")
    expect(chart.locator("polyline")).to_have_count(2)  # the missing hour breaks the line

    sample = chart.locator(".chart-point").nth(40)
    label = sample.get_attribute("aria-label")
    assert label
    assert label.endswith(" connections")
    sample.hover()
    expect(tip).to_be_visible()
    when, _, value = label.rpartition(": ")
    expect(tip).to_have_text(when + value)
    expect(cursor).to_be_visible()
    assert cursor.get_attribute("cx") == sample.get_attribute("data-x")

    chart.locator('.chart-point[tabindex="0"]').focus()
    page.keyboard.press("ArrowLeft")
    previous = chart.locator(".chart-point").nth(-2)
    expect(previous).to_be_focused()
    previous_when, _, previous_value = (previous.get_attribute("aria-label") or "").rpartition(": ")
    expect(tip).to_have_text(previous_when + previous_value)
    page.mouse.move(1, 1)  # the pointer leaves: the keyboard's place stays shown
    expect(tip).to_have_text(previous_when + previous_value)


def test_chart_colours_follow_the_scheme_and_the_theme_attribute(
    browser: Browser, live_server: str, activity
) -> None:
    def colours(page: Page) -> list[str]:
        return page.evaluate(
            """() => {
              const text = document.querySelector('#chart-sign-ups .chart-axis text');
              const bar = document.querySelector('#chart-sign-ups .chart-bar');
              return [getComputedStyle(text).fill, getComputedStyle(bar).fill];
            }"""
        )

    light = browser.new_context(color_scheme="light").new_page()
    _sign_in(light, live_server, "admin@example.com")
    light.goto(f"{live_server}/admin/")
    dark = browser.new_context(color_scheme="dark").new_page()
    _sign_in(dark, live_server, "admin@example.com")
    dark.goto(f"{live_server}/admin/")

    assert colours(light) != colours(dark)
    light.evaluate("document.documentElement.dataset.theme = 'dark'")
    assert colours(light) == colours(dark)
    dark.evaluate("document.documentElement.dataset.theme = 'light'")
    light.evaluate("document.documentElement.dataset.theme = 'light'")
    assert colours(light) == colours(dark)


@pytest.mark.parametrize("width", list(SIZES))
@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_chart_pages_are_axe_clean_and_fit_the_screen(
    browser: Browser, live_server: str, activity, width: int, scheme: str
) -> None:
    assert AXE.exists(), "run `make install`: axe-core comes from package.json"
    context = browser.new_context(
        viewport={"width": width, "height": SIZES[width]}, color_scheme=scheme
    )
    page = context.new_page()
    refused: list[str] = []
    page.on(
        "console",
        lambda m: refused.append(m.text) if "Content Security Policy" in m.text else None,
    )
    _sign_in(page, live_server, "admin@example.com")
    shots = os.environ.get("BLOG_SCREENSHOTS")
    for name, path in (("admin", "/admin/"), ("database", "/admin/database")):
        page.goto(f"{live_server}{path}")
        expect(page.locator("[data-chart].is-ready").first).to_be_attached()
        if shots:
            Path(shots).mkdir(parents=True, exist_ok=True)
            page.screenshot(path=f"{shots}/{name}-{width}-{scheme}.png", full_page=True)
        # Show one tooltip, then open every table, so axe sees them too.
        page.locator("[data-chart] .chart-point[tabindex='0']").first.focus()
        expect(page.locator("[data-chart] .chart-tip").first).to_be_visible()
        if shots:
            page.locator("[data-chart]").first.screenshot(
                path=f"{shots}/{name}-{width}-{scheme}-focus.png"
            )
        page.evaluate("document.querySelectorAll('.chart-data').forEach(d => { d.open = true; })")

        overflow = page.evaluate(
            """() => Array.from(document.querySelectorAll('[data-chart], [data-chart] *'))
                 .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
                              && !e.closest('.overflow-auto'))
                 .map(e => e.tagName + '.' + e.getAttribute('class'))"""
        )
        assert overflow == [], f"{path} at {width}px: wider than the screen: {overflow[:5]}"
        assert page.evaluate(
            "() => document.querySelector('main').scrollWidth <= window.innerWidth"
        ), f"{path} scrolls sideways at {width}px"

        # Not add_script_tag: our CSP (script-src 'self') rightly refuses an inline script.
        # Playwright's evaluate runs outside the page's CSP.
        page.evaluate(AXE.read_text())
        result = page.evaluate(
            """async () => {
              const r = await axe.run({include: [['[data-chart]']]});
              return {
                checked: r.passes.map(p => p.id),
                violations: r.violations
                  .filter(v => ['critical', 'serious', 'moderate'].includes(v.impact))
                  .map(v => `${v.id} (${v.impact}): `
                    + v.nodes.slice(0, 3).map(n => n.target).join(' | ')),
              };
            }"""
        )
        assert {"color-contrast", "aria-allowed-role"} <= set(result["checked"])
        assert result["violations"] == [], f"{path} at {width}px {scheme}: {result['violations']}"
    assert refused == []  # no inline style or script slipped in (the tooltip uses CSSOM)
    context.close()


def test_without_javascript_the_charts_keep_axes_titles_and_tables(
    browser: Browser, live_server: str, activity
) -> None:
    page = browser.new_context(java_script_enabled=False).new_page()
    _sign_in(page, live_server, "admin@example.com")
    page.goto(f"{live_server}/admin/")
    chart = page.locator("#chart-sign-ups")
    expect(chart.locator(".chart-axis-x text").last).to_have_text(day_label(activity.date()))
    expect(chart.locator(".chart-axis-y text").last).to_have_text("3")
    # The browser's own tooltip (the SVG <title>) stays when charts.js does not run.
    assert chart.locator(".chart-point title").count() == 30
    chart.get_by_text("Show the data as a table").click()
    expect(chart.locator(".chart-data tbody tr")).to_have_count(30)
