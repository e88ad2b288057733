"""The administrator's settings in headless Chromium: an admin changes instance settings through the
Settings page and other people see the effect (sign-up gone, a new reaction in the picker, a tag's
colour, double-click to edit), archives and deletes a member, and a non-admin who types an admin
settings address or posts to an admin form is refused with 403."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def settings_section(page, name: str):
    return page.get_by_role("region", name=name, exact=True)


def test_an_admins_instance_settings_reach_other_people(fresh_server, new_context, ui):
    admin = fresh_server.create_account("admin")  # the first account: the admin
    mia = fresh_server.create_account("mia")
    fresh_server.create_memo(mia, "Plan the #work week")

    page = new_context(server=fresh_server).new_page()
    ui.sign_in(page, admin, then="/setting")

    # System: sign-up off.
    page.goto("/setting#system")
    system = settings_section(page, "System")
    system.get_by_label("Disallow sign-up").check()
    system.get_by_role("button", name="Save system settings").click()
    expect(page).to_have_url(re.compile(r"/setting\?saved=system#system$"))
    expect(settings_section(page, "System").get_by_role("status")).to_have_text("Saved.")

    # Memo: a new reaction list and double-click to edit.
    page.goto("/setting#memo")
    memo = settings_section(page, "Memo")
    memo.get_by_label("Reactions").fill("🦄\n👍")
    memo.get_by_label("Double-click a memo to edit it").check()
    memo.get_by_role("button", name="Save memo settings").click()
    expect(settings_section(page, "Memo").get_by_role("status")).to_have_text("Saved.")

    # Tags: #work in red. A broken pattern first: the message shows beside the form, typed kept.
    page.goto("/setting#tags")
    add = settings_section(page, "Tags").get_by_role("form", name="Add a tag pattern")
    add.get_by_label("Pattern").fill("wo(rk")
    add.get_by_label("Colour", exact=True).fill("#cc0000")
    add.get_by_role("button", name="Add tag pattern").click()
    add = settings_section(page, "Tags").get_by_role("form", name="Add a tag pattern")
    expect(add.get_by_role("alert")).to_contain_text("invalid tag pattern")
    expect(add.get_by_label("Pattern")).to_have_value("wo(rk")
    add.get_by_label("Pattern").fill("work")
    add.get_by_role("button", name="Add tag pattern").click()
    expect(settings_section(page, "Tags").get_by_role("status")).to_have_text("Saved.")

    # Another person's page: the tag's colour, the new reaction, double-click opens the editor.
    other = new_context(server=fresh_server).new_page()
    ui.sign_in(other, mia)
    card = other.get_by_role("article").filter(has_text="Plan the")
    tag = card.get_by_role("link", name="#work")
    expect(tag).to_have_css("background-color", "rgb(204, 0, 0)")
    expect(tag).to_have_css("color", "rgb(255, 255, 255)")  # readable on red
    sidebar_tag = other.get_by_role("complementary").get_by_role("link", name="#work", exact=True)
    expect(sidebar_tag).to_have_css("background-color", "rgb(204, 0, 0)")
    card.get_by_label("Add reaction").click()
    expect(card.get_by_role("button", name="React 🦄")).to_be_visible()
    expect(card.get_by_role("button", name="React 😄")).to_have_count(0)
    card.get_by_role("button", name="React 🦄").click()
    expect(card.get_by_role("button", name=re.compile(r"^🦄 1"))).to_be_visible()
    other.get_by_role("article").filter(has_text="Plan the").locator(".memo-body").dblclick()
    editor = other.locator("form[data-editor][data-edit-uid]")
    expect(editor).to_be_visible()
    expect(editor.locator("textarea[name=content]")).to_have_value("Plan the #work week")

    # A visitor: no way to sign up.
    visitor = new_context(server=fresh_server).new_page()
    visitor.goto("/auth")
    expect(visitor.get_by_label("Username")).to_be_visible()
    expect(visitor.get_by_role("link", name="Sign up")).to_have_count(0)


def test_an_admin_archives_then_deletes_a_member(web_server, new_context, ui):
    member = web_server.create_account()
    theirs = new_context().new_page()
    ui.sign_in(theirs, member)

    page = new_context().new_page()
    ui.sign_in(page, web_server.admin, then="/setting")
    page.goto("/setting#members")
    members = settings_section(page, "Members")
    row = members.get_by_role("listitem").filter(has=page.get_by_role("link", name=member.username, exact=True))
    expect(row.get_by_text(f"Delete… {member.username}")).to_have_count(0)  # only once archived
    row.get_by_role("button", name=f"Archive {member.username}").click()
    expect(settings_section(page, "Members").get_by_role("status")).to_have_text("Saved.")
    row = (
        settings_section(page, "Members")
        .get_by_role("listitem")
        .filter(has=page.get_by_role("link", name=member.username, exact=True))
    )
    expect(row.get_by_text("Archived", exact=True)).to_be_visible()

    # Their open session ends at once, and they cannot sign in again.
    theirs.goto("/home")
    expect(theirs).to_have_url(re.compile(r"/auth\?redirect="))
    theirs.get_by_label("Username").fill(member.username)
    theirs.get_by_label("Password").fill(member.password)
    theirs.get_by_role("button", name="Sign in").click()
    expect(theirs.get_by_role("alert")).to_be_visible()
    expect(theirs).to_have_url(re.compile(r"/auth"))

    # Delete, behind a confirmation.
    row.get_by_text(f"Delete… {member.username}").click()
    row.get_by_role("button", name=f"Delete {member.username}").click()
    expect(settings_section(page, "Members").get_by_role("status")).to_have_text("Saved.")
    expect(settings_section(page, "Members").get_by_role("link", name=member.username, exact=True)).to_have_count(0)
    assert member.username not in {
        u["username"] for u in web_server.api("GET", "/api/v1/users", account=web_server.admin)["users"]
    }


def test_a_member_typing_an_admin_settings_address_is_refused(signed_in, web_server):
    page = signed_in
    page.goto("/setting#members")
    expect(page.get_by_role("heading", name="Settings")).to_be_visible()
    expect(page.locator("#members")).to_have_count(0)
    expect(page.get_by_role("navigation", name="Settings sections").get_by_role("link", name="Members")).to_have_count(
        0
    )

    response = page.goto("/setting?section=members")
    assert response.status == 403
    expect(page.get_by_text("only administrators may change this setting")).to_be_visible()

    # A post made by hand from the member's own page (valid CSRF token) is refused all the same.
    page.goto("/home")
    status = page.evaluate(
        """async () => {
            const body = new URLSearchParams({reactions: "💀", contentLengthLimit: "9000"});
            const token = document.querySelector('meta[name="csrf-token"]').content;
            const r = await fetch("/web/setting/memo", {method: "POST", body, headers: {"X-CSRF-Token": token}});
            return r.status;
        }"""
    )
    assert status == 403
    reactions = web_server.api("GET", "/api/v1/instance/settings/MEMO_RELATED", account=web_server.admin)
    assert "💀" not in reactions["memoRelatedSetting"]["reactions"]
