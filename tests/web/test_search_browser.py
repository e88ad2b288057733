"""The search box in headless Chromium: words typed there list the best match first, each card
shows its excerpt with the matches highlighted (readable in light and dark themes), markup in a memo
stays text, "load more" follows the ranking, and another user's private memo is never found. The
mode chooser of an instance with more than one search mode is tested over HTTP (test_search_http.py),
where a throwaway plugin can add a mode."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 800}


@pytest.fixture(scope="module")
def web_server_env() -> dict[str, str]:
    """The built-in word search alone, even where the semantic plugin is installed: a second mode
    would add the chooser (and its parameter to every search's URL)."""
    return {"MEMOS_DISABLE_PLUGINS": "semantic"}


def cards(page):
    return page.get_by_role("region", name="Memos").get_by_role("article")


def search(page, words: str) -> None:
    box = page.get_by_role("searchbox", name="Search memos")
    box.fill(words)
    box.press("Enter")
    page.wait_for_url(re.compile(r"[?&]text="))


def test_words_find_the_best_match_first_with_highlights(signed_in, web_server, account):
    page = signed_in
    web_server.create_memo(account, "Soup recipe: tomato, onion, tomato paste and more tomato")
    web_server.create_memo(account, "Shopping: tomato and bread")  # newer, one mention
    web_server.create_memo(account, "Nothing red here")
    page.reload()
    expect(cards(page).first).to_contain_text("Nothing red here")  # newest first without a search

    search(page, "tomato")
    expect(page).to_have_url(re.compile(r"/home\?text=tomato$"))
    expect(cards(page)).to_have_count(2)
    expect(cards(page).nth(0)).to_contain_text("Soup recipe")
    expect(cards(page).nth(1)).to_contain_text("Shopping")
    excerpt = cards(page).nth(0).locator(".search-snippet")
    expect(excerpt.locator("mark")).to_have_text(["tomato", "tomato", "tomato"])
    expect(cards(page).nth(1).locator(".search-snippet mark")).to_have_text(["tomato"])
    # The match stands out from the text around it.
    assert excerpt.locator("mark").first.evaluate("el => getComputedStyle(el).backgroundColor") != excerpt.evaluate(
        "el => getComputedStyle(el).backgroundColor"
    )

    # The URL holds the search: a reload shows the same results; the chip clears it.
    page.reload()
    expect(cards(page)).to_have_count(2)
    expect(page.get_by_role("searchbox", name="Search memos")).to_have_value("tomato")
    page.get_by_role("link", name="Remove filter “tomato”").click()
    expect(page).to_have_url(re.compile(r"/home$"))
    expect(cards(page)).to_have_count(3)
    expect(page.locator(".search-snippet")).to_have_count(0)


def test_load_more_continues_the_ranking(signed_in, web_server, account):
    page = signed_in
    for i in range(18):
        web_server.create_memo(account, "plum " * (i + 1) + f"batch{i}")
    search(page, "plum")
    expect(cards(page)).to_have_count(16)
    expect(cards(page).first).to_contain_text("batch17")
    page.get_by_role("link", name="Load more").click()
    expect(cards(page)).to_have_count(18)
    expect(cards(page).nth(16)).to_contain_text("batch1")
    expect(cards(page).nth(17)).to_contain_text("batch0")
    expect(cards(page).nth(17).locator(".search-snippet mark")).to_have_text(["plum"])
    expect(page.get_by_role("link", name="Load more")).to_have_count(0)


def test_markup_in_a_memo_shows_as_text_in_its_excerpt(new_context, web_server, ui):
    author = web_server.create_account()
    web_server.create_memo(author, "<script>window.__xss = 1</script> <b>bold</b> needle in the haystack", "PUBLIC")
    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    ui.sign_in(page, web_server.create_account(), then="/explore")
    search(page, "needle")
    excerpt = cards(page).filter(has_text="haystack").locator(".search-snippet")
    expect(excerpt).to_contain_text("<script>window.__xss = 1</script> <b>bold</b> needle in the haystack")
    expect(excerpt.locator("mark")).to_have_text(["needle"])
    assert excerpt.locator("b, script").count() == 0
    search(page, "script")
    expect(cards(page).filter(has_text="haystack").locator(".search-snippet mark")).to_have_text(["script", "script"])
    assert page.evaluate("window.__xss") is None and dialogs == []


def test_another_users_private_memo_is_never_found(new_context, web_server, ui):
    owner, reader = web_server.create_account(), web_server.create_account()
    web_server.create_memo(owner, "quokka secret diary", "PRIVATE")
    web_server.create_memo(owner, "quokka spotted at the park", "PUBLIC")
    page = new_context().new_page()
    ui.sign_in(page, reader, then="/explore")
    search(page, "quokka")
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("spotted at the park")
    search(page, "secret")
    expect(page.get_by_text("No memo matches this search.")).to_be_visible()
    expect(page.get_by_text("secret diary")).to_have_count(0)


def test_one_search_mode_has_no_chooser_and_a_refused_search_says_why(signed_in, web_server, account):
    page = signed_in
    web_server.create_memo(account, "a memo about ferns")
    expect(page.get_by_role("combobox", name="Search mode")).to_have_count(0)
    search(page, "ferns")
    expect(page.get_by_role("combobox", name="Search mode")).to_have_count(0)
    search(page, "fern " * 60)
    expect(page.get_by_role("alert").filter(has_text="This search cannot run")).to_contain_text(
        "longer than 256 characters"
    )
    expect(cards(page)).to_have_count(0)


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_highlights_read_well_in_both_themes_and_fit_a_phone(new_context, web_server, account, ui, scheme):
    web_server.create_memo(account, "Lantern festival notes: " + "lantern " * 40 + "https://example.com/" + "x" * 150)
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True, color_scheme=scheme).new_page()
    ui.sign_in(page, account)
    page.goto("/home?text=lantern")
    mark = cards(page).first.locator(".search-snippet mark").first
    expect(mark).to_be_visible()
    fg, bg = mark.evaluate("el => [getComputedStyle(el).color, getComputedStyle(el).backgroundColor]")
    assert _contrast(_rgb(fg), _rgb(bg)) >= 4.5, (scheme, fg, bg)
    width, inner = page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")
    assert width <= inner, f"the results scroll sideways: {width} > {inner}"


def _rgb(css: str) -> tuple[int, int, int]:
    r, g, b = (int(v) for v in re.findall(r"\d+", css)[:3])
    return r, g, b


def _contrast(a: tuple[int, int, int], b: tuple[int, int, int]) -> float:
    def lum(rgb: tuple[int, int, int]) -> float:
        c = [v / 255 for v in rgb]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    hi, lo = sorted((lum(a), lum(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)
