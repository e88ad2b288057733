"""The example third-party plugin (examples/memos-example-plugin) in a real ``memos serve``.

It is installed in the test environment like any plugin a self-hoster adds (the dev dependency
group), so the server loads it from its entry point: no memos-py code knows it. In the browser its
rail link, its memo action, its line below each memo and its stylesheet must all be there and work.
"""

from __future__ import annotations

import importlib.metadata
import re

import pytest
from playwright.sync_api import expect


def test_example_plugin_is_installed_as_a_memos_plugin():
    eps = [ep for ep in importlib.metadata.entry_points(group="memos.plugins") if ep.name == "word-count"]
    assert [ep.value for ep in eps] == ["memos_example_plugin"], "run scripts/bootstrap.sh --dev"
    assert eps[0].dist.metadata["Name"] == "memos-example-plugin"


@pytest.mark.browser
def test_nav_item_memo_action_and_extra_content(signed_in, web_server, account, new_context):
    page = signed_in
    memo = web_server.create_memo(account, "One two three, four **five**! #counted", visibility="PUBLIC")
    uid = memo["name"].removeprefix("memos/")
    page.goto("/home")
    card = page.locator(f"#memo-{uid}")
    extra = card.locator(".memo-extra .word-count")
    expect(extra).to_have_text("6 words")  # "#counted" is a word too; markdown marks are not
    # its stylesheet came through memos_web_extra_css_urls (same origin: the CSP let it in)
    assert extra.evaluate("el => getComputedStyle(el).fontSize") == "12.8px"  # .8rem of the app's 16px

    # the memo action: a link in the card's menu to the plugin's page for this memo
    card.get_by_label("Memo actions").click()
    card.get_by_role("menuitem", name="Word count").click()
    page.wait_for_url(re.compile(rf"/word-count\?memo={uid}$"))
    expect(page.locator(".total")).to_have_text("6 words")
    page.get_by_role("link", name="Back to the memo").click()
    page.wait_for_url(f"**/memos/{uid}")

    # the rail's item, for a signed-in viewer: totals over their own memos
    rail = page.get_by_role("navigation", name="Main")
    rail.get_by_role("link", name="Word count").click()
    page.wait_for_url("**/word-count")
    expect(page.locator(".total")).to_have_text("6 words")
    expect(page.get_by_text("in your 1 memo (comments included).")).to_be_visible()

    # a visitor reads the public memo: the action and the count, but no rail item
    visitor = new_context().new_page()
    visitor.goto("/explore")
    card = visitor.locator(f"#memo-{uid}")
    expect(card.locator(".word-count")).to_have_text("6 words")
    expect(visitor.get_by_role("navigation", name="Main").get_by_role("link", name="Word count")).to_have_count(0)
    card.get_by_label("Memo actions").click()
    card.get_by_role("menuitem", name="Word count").click()
    expect(visitor.locator(".total")).to_have_text("6 words")


@pytest.mark.browser
def test_a_private_memo_is_not_counted_for_others(signed_in, web_server, account, new_context):
    memo = web_server.create_memo(account, "my secret words", visibility="PRIVATE")
    uid = memo["name"].removeprefix("memos/")
    signed_in.goto(f"/word-count?memo={uid}")
    expect(signed_in.locator(".total")).to_have_text("3 words")

    visitor = new_context().new_page()
    response = visitor.goto(f"/word-count?memo={uid}")
    assert response.status == 401  # the core's access rule, shown as the app's error page
    expect(visitor.locator("body")).not_to_contain_text("secret")
