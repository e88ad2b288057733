"""Themes in headless Chromium: the page really turns dark (its computed background), at once with
the script, through the plain form without it, and "system" follows the OS setting."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]

LIGHT_BG = "rgb(244, 244, 245)"
DARK_BG = "rgb(17, 17, 19)"


def background(page) -> str:
    return page.evaluate("getComputedStyle(document.body).backgroundColor")


def theme_select(page):
    return page.get_by_label("Theme", exact=True)


def test_choosing_dark_turns_the_page_dark_at_once_and_for_good(new_context, ui, account, web_server):
    page = new_context(color_scheme="light").new_page()
    ui.sign_in(page, account)
    assert background(page) == LIGHT_BG
    page.evaluate("window.__notReloaded = true")

    with page.expect_response("**/web/preferences/theme") as saved:
        theme_select(page).select_option("dark")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
    assert page.evaluate("window.__notReloaded") is True  # applied in place
    expect(page.get_by_role("button", name="Apply theme")).to_be_hidden()  # the script applies on change
    assert saved.value.ok

    # Saved: a reload, and another browser of the same account, paint dark from the first frame.
    page.reload()
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
    other = new_context(color_scheme="light").new_page()
    ui.sign_in(other, account)
    assert background(other) == DARK_BG
    setting = web_server.api("GET", f"/api/v1/users/{account.username}/settings/GENERAL", account=account)
    assert setting["generalSetting"]["theme"] == "default-dark"  # upstream's value for its dark theme

    theme_select(page).select_option("system")
    expect(page.locator("html")).to_have_attribute("data-theme", "system")
    assert background(page) == LIGHT_BG  # this browser's OS setting is light


def test_system_follows_the_os(new_context, web_server):
    for scheme, expected in (("dark", DARK_BG), ("light", LIGHT_BG)):
        page = new_context(color_scheme=scheme).new_page()
        page.goto("/explore")
        expect(page.locator("html")).to_have_attribute("data-theme", "system")
        assert background(page) == expected


def test_the_switcher_works_without_javascript(new_context, web_server):
    page = new_context(color_scheme="light", java_script_enabled=False).new_page()
    page.goto("/explore")
    assert background(page) == LIGHT_BG
    theme_select(page).select_option("dark")
    page.get_by_role("button", name="Apply theme").click()
    page.wait_for_url("**/explore")
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert background(page) == DARK_BG
