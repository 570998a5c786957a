"""What browser tests share about the page's frame: the header's menus."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect


def account_menu(page: Page) -> Locator:
    """The account menu's panel, opened (the person's picture is its button)."""
    toggle = page.get_by_role("button", name=re.compile(r"^Account menu of "))
    panel = page.locator("#account-menu")
    if toggle.get_attribute("aria-expanded") != "true":
        toggle.click()
    expect(panel).to_be_visible()
    return panel


def sign_out(page: Page) -> None:
    account_menu(page).get_by_role("button", name=re.compile(r"^Sign out")).click()


def expect_signed_in(page: Page, name: str = "") -> None:
    label = f"Account menu of {name}" if name else re.compile(r"^Account menu of ")
    expect(page.get_by_role("button", name=label)).to_be_visible()


def sign_in_link(page: Page) -> Locator:
    return page.get_by_role("navigation", name="Account").get_by_role("link", name="Sign in")


def expect_signed_out(page: Page) -> None:
    expect(page.get_by_role("button", name=re.compile(r"^Account menu of "))).to_have_count(0)
    expect(sign_in_link(page)).to_be_visible()
