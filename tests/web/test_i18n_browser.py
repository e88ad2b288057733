"""Languages in headless Chromium: switching to Simplified Chinese and back through the Preferences
settings section (the pages, the page scripts' messages and a toast follow), and a visitor whose
browser asks for Chinese."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_switch_to_chinese_and_back_in_preferences(new_context, ui, account, web_server):
    context = new_context(permissions=["clipboard-read", "clipboard-write"])
    page = context.new_page()
    ui.sign_in(page, account, then="/setting")
    page.goto("/setting#preferences")
    prefs = page.locator("section#preferences")
    prefs.get_by_label("Language").select_option("zh-Hans")
    prefs.get_by_role("button", name="Save preferences").click()

    # The whole page now speaks Chinese: the rail, the settings menu, the section's status.
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    nav = page.get_by_role("navigation", name="主导航")
    expect(nav.get_by_role("link", name="探索")).to_be_visible()
    expect(nav.get_by_role("link", name="设置")).to_have_attribute("aria-current", "page")
    expect(page.get_by_role("heading", name="设置", level=1)).to_be_visible()
    expect(prefs.get_by_role("status")).to_have_text("已保存。")
    expect(prefs.get_by_label("语言")).to_have_value("zh-Hans")

    # The page scripts' messages too: the editor's snippet suggestions and a toast.
    web_server.create_memo(account, "a memo to copy", "PUBLIC")
    nav.get_by_role("link", name="主页").click()
    box = page.get_by_label("写备忘录")
    box.click()
    page.keyboard.type("/")
    listbox = page.get_by_role("listbox", name="建议")
    expect(listbox.get_by_role("option")).to_have_text(["任务", "代码块", "链接", "表格"])
    page.keyboard.press("Escape")
    card = page.locator("article.memo").filter(has_text="a memo to copy")
    card.get_by_label("备忘录操作").click()
    card.get_by_role("menuitem", name="复制链接").click()
    expect(page.locator("#toast")).to_have_text("链接已复制")
    expect(card.locator("time")).to_have_text("刚刚")

    # And back to English.
    page.goto("/setting#preferences")
    prefs.get_by_label("语言").select_option("en")
    prefs.get_by_role("button", name="保存偏好设置").click()
    expect(page.locator("html")).to_have_attribute("lang", "en")
    nav = page.get_by_role("navigation", name="Main")
    expect(nav.get_by_role("link", name="Explore")).to_be_visible()
    expect(prefs.get_by_role("status")).to_have_text("Saved.")
    nav.get_by_role("link", name="Home").click()
    page.get_by_label("Write a memo").fill("")  # the draft kept from the Chinese visit, if any
    page.get_by_label("Write a memo").click()
    page.keyboard.type("/")
    expect(page.get_by_role("listbox", name="Suggestions").get_by_role("option")).to_have_text(
        ["Task", "Code block", "Link", "Table"]
    )


def test_a_visitor_whose_browser_asks_for_chinese(new_context):
    page = new_context(locale="zh-CN").new_page()
    page.goto("/explore")
    expect(page.locator("html")).to_have_attribute("lang", "zh-Hans")
    expect(page.get_by_role("heading", name="探索", level=1)).to_be_visible()
    expect(page.get_by_role("link", name="登录")).to_be_visible()
    # The page scripts' catalog arrived before the modules ran (no inline script: the CSP allows none).
    assert page.evaluate("globalThis.memosI18n.lang") == "zh-Hans"
    page.goto("/auth")
    expect(page.get_by_role("heading", name="登录", level=2)).to_be_visible()
    expect(page.get_by_label("用户名")).to_be_visible()
