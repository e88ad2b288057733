"""The sidebar in headless Chromium: shortcuts saved from the current filter, selected and deleted;
memos found by clicking a calendar day (year and month views, in the browser's own time zone);
and by tag in tree mode. Elements are found by role and accessible name."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def cards(page):
    return page.get_by_role("region", name="Memos").get_by_role("article")


def sidebar(page):
    return page.get_by_role("complementary", name="Search and filters")


def test_save_the_filter_as_a_shortcut_select_it_and_delete_it(signed_in, web_server, account):
    page = signed_in
    web_server.create_memo(account, "Quarterly plan #work")
    web_server.create_memo(account, "Fix the tap #home")
    web_server.create_memo(account, "Ship the release #work/release")
    page.reload()
    side = sidebar(page)
    side.get_by_role("link", name="#work", exact=True).click()
    expect(cards(page)).to_have_count(2)

    # Save the current filter: the form comes prefilled with its expression.
    side = sidebar(page)
    side.get_by_text("Save current filter as shortcut").click()
    form = side.locator("form[action='/web/shortcuts']")
    expect(form.get_by_label("Filter")).to_have_value('(tag in ["work"])')
    form.get_by_label("Title").fill("Work only")

    # A broken filter is refused in place: the message shows, what was typed stays, nothing is saved.
    form.get_by_label("Filter").fill('tag in ["work"')
    form.get_by_role("button", name="Save shortcut").click()
    expect(form.get_by_role("alert")).to_contain_text("invalid filter")
    expect(form.get_by_label("Title")).to_have_value("Work only")
    assert web_server.api("GET", f"/api/v1/users/{account.username}/shortcuts", account=account)["shortcuts"] == []

    form.get_by_label("Filter").fill('tag in ["work"]')
    form.get_by_role("button", name="Save shortcut").click()
    expect(page).to_have_url(re.compile(r"/home\?shortcut=[0-9a-f-]+$"))
    expect(page.get_by_text("Shortcut: Work only")).to_be_visible()
    expect(cards(page)).to_have_count(2)
    (saved,) = web_server.api("GET", f"/api/v1/users/{account.username}/shortcuts", account=account)["shortcuts"]
    assert saved["title"] == "Work only" and saved["filter"] == 'tag in ["work"]'

    # Select it from an unfiltered page.
    page.goto("/home")
    expect(cards(page)).to_have_count(3)
    sidebar(page).get_by_role("link", name="Work only").click()
    expect(cards(page)).to_have_count(2)
    expect(cards(page).filter(has_text="Fix the tap")).to_have_count(0)

    # Delete it, behind a confirmation.
    side = sidebar(page)
    side.get_by_label("Edit shortcut Work only").click()
    side.get_by_text("Delete…").click()
    side.get_by_role("button", name="Delete shortcut").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    expect(sidebar(page).get_by_text("No shortcuts yet.")).to_be_visible()
    expect(cards(page)).to_have_count(3)
    assert web_server.api("GET", f"/api/v1/users/{account.username}/shortcuts", account=account)["shortcuts"] == []


def test_click_a_calendar_day_to_see_its_memos_in_the_browsers_time_zone(new_context, web_server, account, ui):
    # 16:30 UTC on 9 March is 01:30 on 10 March in Tokyo; 10:00 UTC is 19:00 on 9 March there.
    web_server.create_memo(account, "Late night idea", createTime="2024-03-09T16:30:00Z")
    web_server.create_memo(account, "Evening note", createTime="2024-03-09T10:00:00Z")
    web_server.create_memo(account, "Something else", createTime="2024-05-01T03:00:00Z")
    page = new_context(timezone_id="Asia/Tokyo").new_page()
    ui.sign_in(page, account)  # the pages learn the browser's zone on the way

    page.goto("/home?calendar=year&year=2024")
    side = sidebar(page)
    expect(side.get_by_role("heading", name="2024")).to_be_visible()
    side.get_by_role("link", name="2024-03-10: 1 memo").click()
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Late night idea")
    expect(page.get_by_role("link", name="Remove filter 2024-03-10")).to_be_visible()

    # The month view of that day; its neighbour holds the other memo.
    sidebar(page).get_by_role("link", name="Month view").click()
    side = sidebar(page)
    expect(side.get_by_role("heading", name="March 2024")).to_be_visible()
    side.get_by_role("link", name="2024-03-09: 1 memo").click()
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Evening note")
    page.get_by_role("link", name="Remove filter 2024-03-09").click()
    expect(cards(page)).to_have_count(3)


def test_find_memos_by_tag_in_tree_mode(signed_in, web_server, account):
    page = signed_in
    web_server.create_memo(account, "Alpha kickoff #project/alpha")
    web_server.create_memo(account, "Beta review #project/beta")
    web_server.create_memo(account, "Odds and ends #misc")
    page.reload()
    side = sidebar(page)
    side.get_by_role("button", name="Tree").click()
    side = sidebar(page)
    expect(side.get_by_role("button", name="Tree")).to_have_attribute("aria-pressed", "true")
    expect(side.get_by_role("link", name="#alpha")).to_be_visible()

    # Folding a branch hides its children; unfolding shows them again (keyboard on the summary).
    branch = side.locator("summary").filter(has=page.get_by_role("link", name="#project"))
    branch.focus()
    page.keyboard.press("Enter")
    expect(side.get_by_role("link", name="#alpha")).to_be_hidden()
    branch.focus()
    page.keyboard.press("Enter")
    side.get_by_role("link", name="#alpha").click()
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Alpha kickoff")

    # The parent lists its whole branch; the mode is remembered on the next page.
    page.get_by_role("link", name="Clear all").click()
    sidebar(page).get_by_role("link", name="#project").click()
    expect(cards(page)).to_have_count(2)
    page.goto(f"/u/{account.username}")  # the profile counts the viewer's own private memos, as Home does
    expect(sidebar(page).get_by_role("button", name="Tree")).to_have_attribute("aria-pressed", "true")
