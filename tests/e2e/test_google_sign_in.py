"""Google sign-in in a real browser, through the loopback OpenID provider's consent page, then
the new account's profile: what a person who signs up with Google does first."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.oidc_provider import Identity, OidcProvider


def test_sign_up_with_google_then_edit_the_profile(
    page: Page, live_server: str, oidc_provider: OidcProvider
) -> None:
    oidc_provider.next_identity = Identity("g-e2e", "grace@example.com", True, "Grace Hopper")

    page.goto(f"{live_server}/login")
    page.get_by_role("button", name="Sign in with Google").click()

    # At the provider: its own page, on its own origin.
    expect(page).to_have_url(re.compile(re.escape(f"{oidc_provider.url}/authorize?")))
    expect(page.get_by_text("Continue as Grace Hopper (grace@example.com)?")).to_be_visible()
    page.get_by_role("button", name="Continue").click()

    expect(page).to_have_url(f"{live_server}/")
    expect(page.get_by_text("Your account was created with Google.")).to_be_visible()

    page.goto(f"{live_server}/account")
    expect(page.locator("#account-identities")).to_contain_text("linked as grace@example.com")
    expect(page.locator("#account-password")).to_contain_text("Your account has no password")

    page.locator("#account-profile").get_by_role("link", name="Edit your profile").click()
    page.get_by_label("Display name").fill("Grace Hopper")
    page.get_by_label("About you").fill("Wrote the first compiler.")
    page.get_by_role("button", name="Save profile").click()

    expect(page).to_have_url(f"{live_server}/u/grace")
    expect(page.get_by_role("heading", level=1)).to_have_text("Grace Hopper")
    expect(page.get_by_text("Wrote the first compiler.")).to_be_visible()
    # No picture yet: the initials of the new display name, drawn on their colour.
    avatar = page.locator("#profile .avatar")
    expect(avatar).to_be_visible()
    expect(avatar).to_have_text("GH")
    assert avatar.evaluate("e => getComputedStyle(e).backgroundColor") != "rgba(0, 0, 0, 0)"


def test_cancelling_at_google_leaves_you_signed_out(
    page: Page, live_server: str, oidc_provider: OidcProvider
) -> None:
    page.goto(f"{live_server}/login")
    page.get_by_role("button", name="Sign in with Google").click()
    page.get_by_role("button", name="Cancel").click()

    expect(page).to_have_url(re.compile(re.escape(f"{live_server}/login/google/callback?")))
    expect(page.get_by_role("alert")).to_contain_text("Google sign-in was cancelled")
    page.get_by_role("link", name="Back to sign in").click()
    expect(page.get_by_role("button", name="Sign in with Google")).to_be_visible()
