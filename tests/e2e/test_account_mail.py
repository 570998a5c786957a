"""Account mail in a real browser: confirm the address from the sign-up mail, and reset a
forgotten password through the mail, as a new user would (the mailed links point at the live
server, because SITE_URL is its address)."""

from __future__ import annotations

import re

from flask import Flask
from playwright.sync_api import ConsoleMessage, Error, Page, expect

from tests.auth.helpers import link_in
from tests.e2e.helpers import account_menu, expect_signed_in

EXPECTED_4XX = "Failed to load resource: the server responded with a status of"


def _watch_console(page: Page) -> list[str]:
    problems: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.text.startswith(EXPECTED_4XX):  # 422 form swaps are expected
            return
        if message.type in ("error", "warning"):
            problems.append(f"console {message.type}: {message.text}")

    def on_page_error(error: Error) -> None:
        problems.append(f"page error on {page.url}: {error}")

    page.on("console", on_console)
    page.on("pageerror", on_page_error)
    return problems


def test_confirm_the_address_from_the_sign_up_mail(
    page: Page, app: Flask, live_server: str, smtp_server, run_jobs
) -> None:
    problems = _watch_console(page)
    page.goto(f"{live_server}/register")
    form = page.locator("#register-form")
    form.get_by_label("Email").fill("mary@example.com")
    form.get_by_label("User name").fill("mary")
    form.get_by_label("Password", exact=True).fill("Somerville-Tides-1831")
    form.get_by_label("Repeat the password").fill("Somerville-Tides-1831")
    form.get_by_role("button", name="Sign up").click()
    expect_signed_in(page, "mary")
    banner = page.get_by_role("complementary", name="Confirm your email address")
    expect(banner).to_contain_text("mary@example.com")

    run_jobs()
    [message] = smtp_server.messages
    page.goto(link_in(app, message, "/verify-email/"))
    page.get_by_role("button", name="Confirm my email address").click()

    expect(page).to_have_url(f"{live_server}/")
    expect(page.locator("#flash-messages")).to_contain_text("your email address is confirmed")
    expect(page.locator("#verify-banner")).to_have_count(0)
    account_menu(page).get_by_role("link", name="Account").click()
    expect(page.locator("#account-email")).to_contain_text("Confirmed")
    assert problems == []


def test_reset_a_forgotten_password_through_the_mail(
    page: Page, app: Flask, live_server: str, smtp_server, run_jobs
) -> None:
    from tests.factories import make_user

    with app.app_context():
        make_user(email="alan@example.com", user_name="alan")
    run_jobs()
    smtp_server.messages.clear()
    problems = _watch_console(page)

    page.goto(f"{live_server}/login")
    page.get_by_role("link", name="Forgot your password?").click()
    page.get_by_label("Email").fill("alan@example.com")
    page.get_by_role("button", name="Mail me a link").click()
    expect(page.get_by_role("heading", name="Check your mail")).to_be_visible()

    run_jobs()
    [message] = smtp_server.messages
    assert message["Subject"] == "Reset your Blog password"
    page.goto(link_in(app, message, "/reset-password/"))
    page.get_by_label("New password", exact=True).fill("weak")
    page.get_by_label("Repeat the new password").fill("weak")
    page.get_by_role("button", name="Set the new password").click()
    expect(page.locator("#password-error")).to_contain_text("Use at least 8 characters.")

    page.get_by_label("New password", exact=True).fill("Turing-Machine-1936")
    page.get_by_label("Repeat the new password").fill("Turing-Machine-1936")
    page.get_by_role("button", name="Set the new password").click()
    expect(page).to_have_url(re.compile(r"/login$"))
    expect(page.locator("#flash-messages")).to_contain_text("Your password has been changed")

    page.get_by_label("Email").fill("alan@example.com")
    page.get_by_label("Password", exact=True).fill("Turing-Machine-1936")
    page.locator("#login-form").get_by_role("button", name="Sign in").click()
    expect_signed_in(page, "alan")
    assert problems == []
