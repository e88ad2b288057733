"""The account settings in headless Chromium: an access token's life (created, shown once with a
working copy button, deleted), a refused webhook URL shown beside the field with what was typed,
and the settings menu used with the keyboard alone."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_access_token_lifecycle(new_context, ui, account, web_server):
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    ui.sign_in(page, account, then="/setting")
    tokens = page.locator("#account-tokens")
    create = tokens.get_by_role("form", name="Create a token")
    create.get_by_label("Description").fill("deploy script")
    create.get_by_label("Expires").select_option("90")
    create.get_by_role("button", name="Create token").click()

    shown = tokens.get_by_label("New token (deploy script)")
    expect(shown).to_have_value(re.compile(r"^memos_pat_[0-9A-Za-z]{32}$"))
    token = shown.input_value()
    copy = tokens.get_by_role("button", name="Copy token")
    expect(copy).to_be_visible()
    copy.click()
    expect(page.locator("#toast")).to_have_text("Token copied")
    assert page.evaluate("navigator.clipboard.readText()") == token
    me = web_server.served.request("GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200

    # Shown once: the list has the token's description and dates, never the token again.
    page.goto("/setting#account")
    expect(tokens.get_by_role("button", name="Copy token")).to_have_count(0)
    assert token not in page.content()
    row = tokens.get_by_role("row", name=re.compile("deploy script"))
    expect(row.get_by_role("cell").nth(3)).not_to_have_text("Never")  # "last used": by the call above
    row.get_by_role("button", name="Delete token deploy script").click()
    expect(tokens.get_by_role("status")).to_have_text("The token was deleted. Programs using it can no longer sign in.")
    expect(tokens.get_by_role("row", name=re.compile("deploy script"))).to_have_count(0)
    me = web_server.served.request("GET", "/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 401


def test_a_refused_webhook_url_is_shown_beside_the_field_with_what_was_typed(signed_in, web_server):
    page = signed_in
    page.goto("/setting#webhooks")
    new = page.get_by_role("form", name="New webhook")
    new.get_by_label("Name").fill("Local CI")
    new.get_by_label("URL").fill("http://127.0.0.1:9000/hook")
    new.get_by_role("button", name="Add webhook").click()

    section = page.locator("section#webhooks")
    expect(section).to_be_visible()  # the page comes back on the webhooks section
    expect(page.locator("section#account")).to_be_hidden()
    url = new.get_by_label("URL")
    expect(url).to_have_value("http://127.0.0.1:9000/hook")
    expect(new.get_by_label("Name")).to_have_value("Local CI")
    expect(url).to_have_attribute("aria-invalid", "true")
    message = page.locator("#" + url.get_attribute("aria-describedby"))
    expect(message).to_have_text("webhook URL must not resolve to a reserved or private IP address")
    # Beside the field: just below it, in the same form.
    field, text = url.bounding_box(), message.bounding_box()
    assert 0 <= text["y"] - (field["y"] + field["height"]) < 60
    assert new.locator("#" + url.get_attribute("aria-describedby")).count() == 1

    # Corrected, it saves; the list shows it.
    url.fill("https://1.1.1.1/hook")
    new.get_by_role("button", name="Add webhook").click()
    expect(section.get_by_role("status")).to_have_text("Saved.")
    expect(section.get_by_role("form", name="Webhook Local CI").get_by_label("URL")).to_have_value(
        "https://1.1.1.1/hook"
    )


def test_the_settings_menu_works_with_the_keyboard_alone(signed_in):
    page = signed_in
    page.goto("/setting")
    expect(page.locator("section#account")).to_be_visible()
    expect(page.locator("section#webhooks")).to_be_hidden()
    for _ in range(40):  # Tab through the page until the menu's Webhooks link has the focus
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.getAttribute('href')") == "#webhooks":
            break
    else:
        pytest.fail("Tab never reached the Webhooks link of the settings menu")
    assert page.evaluate("getComputedStyle(document.activeElement).outlineStyle") != "none"  # focus visible

    page.keyboard.press("Enter")
    expect(page.locator("section#webhooks")).to_be_visible()
    expect(page.locator("section#account")).to_be_hidden()
    expect(page.get_by_role("link", name="Webhooks")).to_have_attribute("aria-current", "true")
    assert page.evaluate("document.activeElement.id") == "webhooks"  # focus moved into the section
    page.keyboard.press("Tab")  # and the next Tab reaches the section's first control
    assert page.evaluate("document.activeElement.closest('section')?.id") == "webhooks"
