"""Live refresh in headless Chromium: two windows of one account; what one writes appears in the
other without a reload, while the other keeps what it is typing (and a card it is editing)."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def cards(page):
    return page.get_by_role("region", name="Memos").get_by_role("article")


def following(page) -> None:
    """Wait until the page's event stream is open (events before that are not replayed)."""
    expect(page.locator("html")).to_have_attribute("data-live", "open")


def window(new_context, ui, account, then: str = "/home"):
    page = new_context().new_page()
    ui.sign_in(page, account, then)
    following(page)
    page.evaluate("window.__notReloaded = true")
    return page


def test_a_memo_written_in_one_window_appears_in_the_other(new_context, ui, account, web_server):
    web_server.create_memo(account, "An older memo, being edited")
    reader = window(new_context, ui, account)
    writer = window(new_context, ui, account)

    # The reader edits a card in place, then types in the editor on top.
    old = cards(reader).filter(has_text="An older memo")
    old.get_by_label("Memo actions").click()
    old.get_by_role("menuitem", name="Edit").click()
    edit_box = reader.get_by_label("Edit memo")
    edit_box.fill("An older memo, with my unsaved change")
    box = reader.get_by_label("Write a memo")
    box.click()
    reader.keyboard.type("half a thought, not saved")

    writer.get_by_label("Write a memo").fill("Hello from the other window #live")
    writer.get_by_role("button", name="Save", exact=True).click()
    expect(cards(writer).filter(has_text="Hello from the other window")).to_be_visible()

    expect(cards(reader).filter(has_text="Hello from the other window")).to_be_visible()
    expect(cards(reader).first).to_contain_text("Hello from the other window")  # newest first
    expect(box).to_have_value("half a thought, not saved")
    expect(box).to_be_focused()
    expect(edit_box).to_have_value("An older memo, with my unsaved change")
    assert reader.evaluate("window.__notReloaded") is True

    # A change made elsewhere to a shown memo replaces its card; deleting one removes it.
    [fresh] = [m for m in web_server.api("GET", "/api/v1/memos", account=account)["memos"] if "#live" in m["content"]]
    web_server.api("PATCH", f"/api/v1/{fresh['name']}?updateMask=content", {"content": "Edited elsewhere"}, account)
    expect(cards(reader).filter(has_text="Edited elsewhere")).to_have_count(1)
    expect(cards(reader).filter(has_text="Hello from the other window")).to_have_count(0)
    web_server.api("DELETE", f"/api/v1/{fresh['name']}", account=account)
    expect(cards(reader).filter(has_text="Edited elsewhere")).to_have_count(0)
    expect(box).to_have_value("half a thought, not saved")
    expect(edit_box).to_have_value("An older memo, with my unsaved change")
    assert reader.evaluate("window.__notReloaded") is True


def test_comments_appear_on_an_open_memo_page(new_context, ui, account, web_server):
    memo = web_server.create_memo(account, "Talk about this", visibility="PROTECTED")
    other = web_server.create_account()
    reader = window(new_context, ui, account, "/" + memo["name"])
    box = reader.get_by_label("Write a comment")
    box.click()
    reader.keyboard.type("my reply in progress")

    web_server.api(
        "POST",
        f"/api/v1/{memo['name']}/comments",
        {"content": "A comment from elsewhere", "visibility": "PROTECTED"},
        other,
    )
    comments = reader.get_by_role("region", name="Comments (1)")
    expect(comments.get_by_role("article").filter(has_text="A comment from elsewhere")).to_be_visible()
    expect(box).to_have_value("my reply in progress")
    expect(box).to_be_focused()
    assert reader.evaluate("window.__notReloaded") is True
