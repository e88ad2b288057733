"""The inbox and the attachments library in headless Chromium: notifications marked read and
deleted in place (the rail's unread badge follows), opening one lands on the comment; the
library's "load more" merges the next page and "delete all unused" asks first."""

from __future__ import annotations

import base64
import re

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_inbox_mark_read_open_and_delete(signed_in, web_server, account):
    page = signed_in
    other = web_server.create_account()
    parent = web_server.create_memo(account, "My garden", visibility="PUBLIC")
    comment = web_server.api(
        "POST", f"/api/v1/{parent['name']}/comments", {"content": "Lovely roses", "visibility": "PUBLIC"}, other
    )
    web_server.create_memo(other, f"Ask @{account.username} about tulips", visibility="PUBLIC")
    page.goto("/inbox")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_label("2 unread")).to_be_visible()
    inbox = page.get_by_role("list", name="Unread notifications")
    expect(inbox.get_by_role("listitem")).to_have_count(2)

    # Mark the mention read: it leaves the unread list at once, the badge follows.
    mention = inbox.get_by_role("listitem").filter(has_text="about tulips")
    mention.get_by_role("button", name="Mark as read").click()
    expect(inbox.get_by_role("listitem")).to_have_count(1)
    expect(nav.get_by_label("1 unread")).to_be_visible()
    statuses = {
        n["type"]: n["status"]
        for n in web_server.api("GET", f"/api/v1/users/{account.username}/notifications", account=account)[
            "notifications"
        ]
    }
    assert statuses == {"MEMO_MENTION": "ARCHIVED", "MEMO_COMMENT": "UNREAD"}

    # Opening the comment notice goes to the comment on its memo's page and marks it read.
    inbox.get_by_role("link", name="Lovely roses").click()
    expect(page).to_have_url(re.compile(rf"/{parent['name']}#memo-{comment['name'].removeprefix('memos/')}$"))
    page.goto("/inbox?tab=all")
    expect(page.get_by_role("navigation", name="Main").get_by_label(re.compile("unread"))).to_have_count(0)

    # Delete one, behind a confirmation.
    every = page.get_by_role("list", name="All notifications")
    item = every.get_by_role("listitem").filter(has_text="about tulips")
    item.get_by_text("Delete…").click()
    item.get_by_role("button", name="Delete notification").click()
    expect(every.get_by_role("listitem")).to_have_count(1)
    left = web_server.api("GET", f"/api/v1/users/{account.username}/notifications", account=account)
    assert [n["type"] for n in left["notifications"]] == ["MEMO_COMMENT"]


def test_attachments_load_more_and_delete_all_unused(signed_in, web_server, account):
    page = signed_in
    content = base64.b64encode(b"hello").decode()
    for i in range(50):  # more than a page
        web_server.api(
            "POST",
            "/api/v1/attachments",
            {"filename": f"note{i:02}.txt", "type": "text/plain", "content": content},
            account,
        )
    page.goto("/attachments")
    documents = page.get_by_role("region", name="Documents and audio").get_by_role("listitem")
    shown = documents.count()
    assert 0 < shown < 50
    page.get_by_role("link", name="Load more").click()
    expect(documents).to_have_count(50)
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)

    page.get_by_text("Delete all unused…").click()
    page.get_by_role("button", name="Delete 50 unused").click()
    expect(page.get_by_role("status").filter(has_text="Deleted 50 unused attachments.")).to_be_visible()
    assert web_server.api("GET", "/api/v1/attachments", account=account)["attachments"] == []
