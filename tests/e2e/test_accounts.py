"""Accounts in a real browser: sign up, sign in, devices, sign out, with and without JavaScript."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import Browser, ConsoleMessage, Error, Page, expect

from tests.e2e.helpers import (
    account_menu,
    expect_signed_in,
    expect_signed_out,
    sign_in_link,
    sign_out,
)
from tests.factories import DEFAULT_PASSWORD, make_user

EXPECTED_422 = "Failed to load resource: the server responded with a status of 422"


def _new_user(app: Flask, **attrs: str) -> tuple[str, str]:
    """Create a user; return (email, user_name), read while the row is still attached."""
    with app.app_context():
        user = make_user(**attrs)
        return user.email, user.user_name


def _sign_in(page: Page, base: str, email: str, password: str = DEFAULT_PASSWORD) -> None:
    page.goto(f"{base}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill(password)
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect_signed_in(page)


def test_sign_up_see_devices_and_sign_out(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/register")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill("grace@example.com")
    form.get_by_label("User name").fill("grace")
    form.get_by_label("Password", exact=True).fill("Hopper-Cobol-1959")
    form.get_by_label("Repeat the password").fill("Hopper-Cobol-1959")
    form.get_by_role("button", name="Sign up").click()

    expect(page).to_have_url(f"{live_server}/")
    expect_signed_in(page, "grace")

    account_menu(page).get_by_role("link", name="Devices").click()
    expect(page).to_have_url(f"{live_server}/account/sessions")
    rows = page.locator("#session-list tbody tr")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("This device")
    expect(rows.first).to_have_attribute("aria-current", "true")

    sign_out(page)
    expect(page).to_have_url(f"{live_server}/")
    expect(sign_in_link(page)).to_be_visible()
    expect(page.get_by_text("You are signed out.")).to_be_visible()
    expect_signed_out(page)

    page.goto(f"{live_server}/account/sessions")
    expect(page).to_have_url(re.compile(r"/login\?next=(/|%2F)account(/|%2F)sessions$"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()


def test_weak_password_error_is_swapped_in_beside_the_field(page: Page, live_server: str) -> None:
    page.goto(f"{live_server}/register")
    # Wait for htmx to be ready, or the click would be a plain form post.
    page.wait_for_function("() => window.htmx !== undefined")
    page.evaluate("() => { window.__noReload = 'still here'; }")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill("weak@example.com")
    form.get_by_label("User name").fill("weakling")
    form.get_by_label("Password", exact=True).fill("password")
    form.get_by_label("Repeat the password").fill("password")
    with page.expect_response(lambda r: r.url.endswith("/register")) as response_info:
        form.get_by_role("button", name="Sign up").click()
    response = response_info.value
    assert response.status == 422
    assert response.request.headers.get("hx-request") == "true"

    password = page.get_by_label("Password", exact=True)
    expect(password).to_have_attribute("aria-invalid", "true")
    error = page.locator("#password-error")
    expect(error).to_be_visible()
    expect(error).to_contain_text("too common")
    expect(password).to_have_attribute("aria-describedby", re.compile(r"\bpassword-error\b"))
    # app.js moves focus to the first invalid field after the swap.
    expect(password).to_be_focused()
    # The fields that were fine are not flagged.
    expect(page.get_by_label("Email")).not_to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("User name")).not_to_have_attribute("aria-invalid", "true")

    assert page.evaluate("() => window.__noReload") == "still here"
    expect(page).to_have_url(f"{live_server}/register")


def test_revoking_another_device_signs_it_out(
    browser: Browser, app: Flask, live_server: str
) -> None:
    email, _ = _new_user(app)
    laptop_context = browser.new_context()
    phone_context = browser.new_context()
    try:
        laptop = laptop_context.new_page()
        phone = phone_context.new_page()
        _sign_in(laptop, live_server, email)
        _sign_in(phone, live_server, email)

        laptop.goto(f"{live_server}/account/sessions")
        laptop.wait_for_function("() => window.htmx !== undefined")
        laptop.evaluate("() => { window.__noReload = true; }")
        rows = laptop.locator("#session-list tbody tr")
        expect(rows).to_have_count(2)
        # exact: the other row's button is named "Sign out this device".
        other = rows.filter(has_not=laptop.get_by_text("This device", exact=True))
        expect(other).to_have_count(1)
        with laptop.expect_response(lambda r: "/revoke" in r.url) as response_info:
            other.get_by_role("button", name="Sign out this device").click()
        assert response_info.value.status == 200

        expect(rows).to_have_count(1)
        expect(rows.first).to_contain_text("This device")
        expect(laptop.get_by_text("That device has been signed out.")).to_be_visible()
        assert laptop.evaluate("() => window.__noReload") is True

        # The phone still holds its cookie; only the server knows the session has ended.
        phone.reload()
        expect(sign_in_link(phone)).to_be_visible()
        expect_signed_out(phone)
        phone.goto(f"{live_server}/account/sessions")
        expect(phone).to_have_url(re.compile(r"/login\?next="))

        # The laptop is still signed in.
        laptop.reload()
        expect(laptop.locator("#session-list tbody tr")).to_have_count(1)
    finally:
        laptop_context.close()
        phone_context.close()


def test_sign_in_with_the_keyboard_only(page: Page, app: Flask, live_server: str) -> None:
    email, user_name = _new_user(app)
    page.goto(f"{live_server}/")
    page.wait_for_function("() => window.htmx !== undefined")
    link = sign_in_link(page)
    for _ in range(10):
        page.keyboard.press("Tab")
        if link.evaluate("el => el === document.activeElement"):
            break
    expect(link).to_be_focused()
    page.keyboard.press("Enter")

    expect(page).to_have_url(re.compile(r"/login$"))
    page.wait_for_function("() => window.htmx !== undefined")
    # The email field takes focus on arrival (autofocus): no Tab needed to get into it.
    expect(page.get_by_label("Email")).to_be_focused()
    page.keyboard.type(email)
    page.keyboard.press("Tab")
    expect(page.get_by_label("Password", exact=True)).to_be_focused()
    page.keyboard.type(DEFAULT_PASSWORD)
    page.keyboard.press("Enter")

    expect(page).to_have_url(f"{live_server}/")
    expect_signed_in(page, f"{user_name}")


def test_no_csp_violations_or_script_errors(page: Page, app: Flask, live_server: str) -> None:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        # Chromium logs every 4xx XHR; a 422 is the form-error swap this test provokes on purpose.
        if message.text.startswith(EXPECTED_422):
            return
        if message.type in ("error", "warning"):
            source = message.location.get("url") or page.url
            problems.append(f"console {message.type} from {source}: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error on {page.url}: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    email, _ = _new_user(app)

    for path in ("/", "/login", "/register"):
        page.goto(f"{live_server}{path}")
        page.wait_for_load_state("networkidle")
        assert page.evaluate("() => typeof window.htmx") == "object", path

    # An htmx swap too: a validation error on the sign-in form.
    page.goto(f"{live_server}/login")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password", exact=True).fill("not-the-password")
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_contain_text("The email address or password is not right.")

    _sign_in(page, live_server, email)
    page.goto(f"{live_server}/account/sessions")
    expect(page.locator("#session-list tbody tr")).to_have_count(1)
    page.wait_for_load_state("networkidle")

    assert problems == []


def test_sign_in_and_out_without_javascript(browser: Browser, app: Flask, live_server: str) -> None:
    email, user_name = _new_user(app)
    context = browser.new_context(java_script_enabled=False)
    try:
        page = context.new_page()
        page.goto(f"{live_server}/login")
        page.get_by_label("Email").fill(email)
        page.get_by_label("Password", exact=True).fill(DEFAULT_PASSWORD)
        with page.expect_response(lambda r: r.request.method == "POST") as response_info:
            page.locator("#login-form").get_by_role("button", name="Sign in").click()
        sign_in_post = response_info.value
        assert sign_in_post.request.method == "POST"
        assert sign_in_post.status == 302
        assert "hx-request" not in sign_in_post.request.headers

        expect(page).to_have_url(f"{live_server}/")
        expect_signed_in(page, f"{user_name}")
        expect(page.locator("#flash-messages")).to_contain_text(f"Signed in as {user_name}.")
        page.goto(f"{live_server}/account/sessions")
        expect(page.locator("#session-list tbody tr")).to_have_count(1)

        # Without JavaScript the account button is a link to the menu page, which signs out.
        page.get_by_role("button", name=f"Account menu of {user_name}").click()
        expect(page).to_have_url(re.compile(r"/menu#account$"))
        page.locator("main").get_by_role("button", name=re.compile(r"^Sign out")).click()
        expect(page).to_have_url(f"{live_server}/")
        expect(page.get_by_text("You are signed out.")).to_be_visible()
        expect(sign_in_link(page)).to_be_visible()
        page.goto(f"{live_server}/account/sessions")
        expect(page).to_have_url(re.compile(r"/login\?next="))
    finally:
        context.close()


def test_flash_message_survives_the_htmx_sign_up_redirect(page: Page, live_server: str) -> None:
    """The welcome flash must reach the page htmx loads after its HX-Redirect."""
    page.goto(f"{live_server}/register")
    page.wait_for_function("() => window.htmx !== undefined")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill("linus@example.com")
    form.get_by_label("User name").fill("linus")
    form.get_by_label("Password", exact=True).fill("Penguin-Kernel-1991")
    form.get_by_label("Repeat the password").fill("Penguin-Kernel-1991")
    with page.expect_response(lambda r: r.request.method == "POST") as response_info:
        form.get_by_role("button", name="Sign up").click()
    assert response_info.value.status == 204
    assert response_info.value.headers.get("hx-redirect") == "/"

    expect_signed_in(page, "linus")
    expect(page.locator("#flash-messages")).to_contain_text(
        "Welcome, linus! Your account is ready."
    )
