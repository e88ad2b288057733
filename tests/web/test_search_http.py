"""The list pages' search box over HTTP, on every driver: words typed there run ListMemos' ranked
search (best match first, the other chips ANDed as its filter, pages following the ranking), each
card shows the memo's highlighted excerpt as the search service made it (escaped content, ``<mark>``
around matches), a refused search says why, and a mode chooser appears only when a plugin added a
search mode."""

from __future__ import annotations

import dataclasses
import html
import re
from urllib.parse import parse_qs, quote, urlsplit

import pytest
import sqlalchemy as sa
from fixtures import web_pages

from memos_core import hookimpl, tables
from memos_core.app import SEARCH_CATCH_UP, create_app


@pytest.fixture
def memos_app(memos_config, memos_extra_plugins):
    """The app without the semantic plugin where it is installed: these tests pick the search modes
    themselves (none but the built-in one, or a throwaway plugin's)."""
    config = dataclasses.replace(memos_config, disable_plugins=(*memos_config.disable_plugins, "semantic"))
    return create_app(config, extra_plugins=memos_extra_plugins)


@pytest.fixture(autouse=True)
async def index_caught_up(memos_client) -> None:
    """The search index's start-up catch-up finished before a test writes: on a fresh database it
    first empties the index, which would hide for a moment a memo written meanwhile."""
    await memos_client.app[SEARCH_CATCH_UP].task


pages = web_pages.pages  # the fixture: a signed-out browser of memos_client, with an admin on the instance
parse, api, cards = web_pages.parse, web_pages.api, web_pages.cards
ZH = {"Accept-Language": "zh-CN,zh;q=0.9"}


async def memo(client, user, content: str, visibility: str = "PRIVATE", **fields) -> str:
    body = {"content": content, "visibility": visibility, **fields}
    return (await api(client, user, "POST", "/api/v1/memos", body))["name"].removeprefix("memos/")


def snippets(text: str) -> dict[str, str]:
    """Each card's excerpt as the page's HTML has it (uid -> inner HTML, the screen-reader lead cut)."""
    found = re.findall(
        r'<article class="memo[^"]*" id="memo-([^"]+)".*?<p class="search-snippet">'
        r'<span class="sr-only">[^<]*</span>(.*?)</p>',
        text,
        re.S,
    )
    return dict(found)


def chips(text: str) -> list[tuple[str, str]]:
    """The active filter chips: (label, where its × leads)."""
    box = parse(text).all("div", class_="chips")
    return [(c.text.strip(), c.one("a").attrs["href"]) for c in box[0].all("span", class_="chip")] if box else []


async def test_words_run_the_ranked_search_with_highlighted_excerpts(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    many = await memo(memos_client, alice, "apple apple apple cherry")
    once = await memo(memos_client, alice, "apple banana")  # newer, but one mention only
    await memo(memos_client, alice, "banana split")
    await memo(memos_client, alice, "pineapple tart")  # a word search finds whole words

    text = await pages.get("/home?text=apple")
    assert cards(text) == [many, once]  # best match first, not newest first
    assert snippets(text) == {
        many: "<mark>apple</mark> <mark>apple</mark> <mark>apple</mark> cherry",
        once: "<mark>apple</mark> banana",
    }
    page = parse(text)
    assert page.one("input", id="search-text").attrs["value"] == "apple"  # the box keeps the words
    assert chips(text) == [("“apple”", "/home")]
    assert "No memo matches this search." not in text
    # Every word is required, in any order.
    assert cards(await pages.get("/home?text=" + quote("cherry APPLE"))) == [many]
    nothing = await pages.get("/home?text=durian")
    assert cards(nothing) == [] and "No memo matches this search." in nothing
    # Without words the list is the usual one, newest first, without excerpts.
    plain = await pages.get("/home")
    assert len(cards(plain)) == 4 and 'class="search-snippet"' not in plain


async def test_other_chips_still_apply_and_a_shortcut_keeps_the_words(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    tagged = await memo(memos_client, alice, "garden plan #work")
    pinned = await memo(memos_client, alice, "garden garden tools", pinned=True)
    await memo(memos_client, alice, "garden party #home")
    await memo(memos_client, alice, "office plan #work")

    text = await pages.get("/home?text=garden&tag=work")
    assert cards(text) == [tagged]
    assert chips(text) == [("“garden”", "/home?tag=work"), ("#work", "/home?text=garden")]
    assert cards(await pages.get("/home?text=garden&pinned=1")) == [pinned]
    # The search form carries the other chips along (hidden), so a new search keeps them.
    form = parse(text).one("form", class_="search")
    assert [(i.attrs["name"], i.attrs["value"]) for i in form.all("input", type="hidden")] == [("tag", "work")]
    # A shortcut holds a filter only: the words become substring conditions there.
    saved = parse(text).one("form", action="/web/shortcuts").one("textarea", name="filter").text
    assert saved == '(content.contains("garden")) && (tag in ["work"])'


async def test_load_more_follows_the_ranking(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    made = [await memo(memos_client, alice, "kiwi " * (i + 1) + f"note{i}") for i in range(20)]
    await memo(memos_client, alice, "no fruit here")
    ranked = made[::-1]  # more kiwis rank higher

    first = await pages.get("/home?text=kiwi")
    assert cards(first) == ranked[:16]
    more = parse(first).one("a", class_="load-more").attrs["href"]
    query = parse_qs(urlsplit(html.unescape(more)).query)
    assert query["text"] == ["kiwi"] and query["pageToken"]
    # The page's script asks for the next cards as a fragment; without JavaScript it is a whole page.
    fragment = await pages.get(html.unescape(more), headers={"X-Requested-With": "memos-web"})
    assert cards(fragment) == ranked[16:] and "load-more" not in fragment
    assert len(snippets(fragment)) == 4
    assert cards(await pages.get(html.unescape(more))) == ranked[16:]


async def test_excerpts_show_markup_in_memos_as_text(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    uid = await memo(memos_client, alice, "<script>alert(1)</script> <b>bold</b> needle & co", "PUBLIC")
    for path in ("/home?text=needle", "/explore?text=needle", "/explore?text=script"):
        text = await pages.get(path)
        assert uid in snippets(text), (path, cards(text), snippets(text))
        found = snippets(text)[uid]
        assert "<script" not in found and "<b>" not in found, path
        assert re.sub(r"</?mark>", "", found) == (
            "&lt;script&gt;alert(1)&lt;/script&gt; &lt;b&gt;bold&lt;/b&gt; needle &amp; co"
        ), path
    assert "<mark>needle</mark>" in snippets(await pages.get("/home?text=needle"))[uid]
    assert snippets(await pages.get("/explore?text=script"))[uid].startswith("&lt;<mark>script</mark>&gt;")
    # The search's words are shown back as text too (box and chip).
    text = await pages.get("/explore?text=" + quote("<b>x</b>"))
    assert "<b>x</b>" not in text and "“&lt;b&gt;x&lt;/b&gt;”" in text


async def test_another_users_private_memo_is_never_found(pages, memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    secret = await memo(memos_client, bob, "zebra secret plans", "PRIVATE")
    shared = await memo(memos_client, bob, "zebra crossing", "PROTECTED")
    public = await memo(memos_client, bob, "zebra stripes", "PUBLIC")
    own = await memo(memos_client, alice, "zebra notes", "PRIVATE")

    await pages.sign_in(alice)
    for path in ("/home?text=zebra", "/explore?text=zebra", "/u/bob?text=zebra", "/explore?text=secret"):
        text = await pages.get(path)
        assert secret not in cards(text) and "secret" not in "".join(snippets(text).values()), path
    assert cards(await pages.get("/home?text=zebra")) == [own]
    assert sorted(cards(await pages.get("/explore?text=zebra"))) == sorted([shared, public])
    assert cards(await pages.get("/explore?text=secret")) == []
    # Signed out, Explore's search finds public memos only.
    memos_client.session.cookie_jar.clear()
    assert cards(await pages.get("/explore?text=zebra")) == [public]


async def test_a_refused_search_says_why(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    await memo(memos_client, alice, "a memo to keep")
    long = "word " * 60  # over the 256 characters a search may have
    text = await pages.get("/home?text=" + quote(long) + "&tag=x", status=400)
    page = parse(text)
    (alert,) = page.all("p", role="alert", class_="search-error")
    assert alert.content() == "This search cannot run: search is longer than 256 characters"
    assert cards(text) == [] and "No memo matches" not in text
    # The page is whole: the box holds the words to shorten, the chips clear them.
    assert page.one("input", id="search-text").attrs["value"] == long.strip()
    assert ("#x", "/home?text=" + quote(long.strip()).replace("%20", "+")) in chips(text)
    assert cards(await pages.get("/home")) != []
    # The page's script loading more of it gets the error, not an empty page.
    await pages.get("/home?text=" + quote(long), status=400, headers={"X-Requested-With": "memos-web"})
    memos_client.session.cookie_jar.clear()  # a visitor's language is their browser's
    zh = await pages.get("/explore?text=" + quote(long), status=400, headers=ZH)
    assert "无法执行此搜索：search is longer than 256 characters" in zh


# -- search modes ------------------------------------------------------------------------------------
class OldestFirst:
    """A throwaway mode: the eligible memos that hold the query's first word, oldest first."""

    label = "Oldest first"

    async def rank(self, ctx, *, query, eligible, limit, offset):
        m = tables.memo
        q = sa.select(m.c.id).where(*eligible, m.c.content.contains(query.split()[0])).order_by(m.c.id)
        return [r[0] for r in await ctx.store.fetch_all(q.limit(limit).offset(offset))]


class Modes:
    @hookimpl
    def memos_register_search_modes(self, register):
        register("oldest", OldestFirst())


def mode_options(text: str) -> list[tuple[str, str, bool]]:
    select = parse(text).all("select", name="mode")
    if not select:
        return []
    return [(o.attrs["value"], o.content(), "selected" in o.attrs) for o in select[0].all("option")]


async def test_no_mode_chooser_with_the_word_search_alone(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    await memo(memos_client, alice, "garden")
    for path in ("/home", "/home?text=garden", "/explore?text=garden"):
        text = await pages.get(path)
        assert mode_options(text) == [] and 'name="mode"' not in text, path
    # A link made while a mode was installed still searches, by words.
    text = await pages.get("/home?text=garden&mode=semantic")
    assert len(cards(text)) == 1 and chips(text) == [("“garden”", "/home")]


@pytest.mark.parametrize("memos_extra_plugins", [[Modes()]], ids=["oldest-mode"])
async def test_the_mode_chooser_lists_installed_modes_and_searches_in_the_chosen_one(pages, memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    await pages.sign_in(alice)
    old = await memo(memos_client, alice, "garden bed")
    new = await memo(memos_client, alice, "garden garden garden shed")
    await memo(memos_client, bob, "garden of bob", "PRIVATE")
    await memo(memos_client, alice, "garden party #home")

    text = await pages.get("/home")
    assert mode_options(text) == [("text", "Words", True), ("oldest", "Oldest first", False)]
    form = parse(text).one("form", class_="search")
    assert form.one("label", for_="search-mode").content() == "Search mode"

    text = await pages.get("/home?text=garden&mode=oldest&tag=home")
    assert len(cards(text)) == 1  # the chips still apply in another mode
    text = await pages.get("/home?text=garden&mode=oldest")
    assert cards(text)[:2] == [old, new] and len(cards(text)) == 3  # the mode's order; bob's memo hidden
    assert snippets(text)[new] == "<mark>garden</mark> <mark>garden</mark> <mark>garden</mark> shed"
    assert mode_options(text)[1] == ("oldest", "Oldest first", True)
    assert chips(text) == [("“garden” (Oldest first)", "/home")]  # clearing the words drops the mode too
    tagged = parse(await pages.get("/home?text=garden&mode=oldest")).one("aside", id="sidebar")
    assert tagged.one("a", href="/home?text=garden&mode=oldest&tag=home")  # other links keep it
    # The default mode needs no parameter, and ranks by words.
    text = await pages.get("/home?text=garden&mode=text")
    assert cards(text)[0] == new and chips(text) == [("“garden”", "/home")]
    memos_client.session.cookie_jar.clear()  # a visitor's language is their browser's
    assert mode_options(await pages.get("/explore", headers=ZH))[0] == ("text", "关键词", True)
