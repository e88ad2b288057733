"""The web UI's plugin hooks (``memos_web_*`` in memos_core.hookspecs) over HTTP, on every driver.

Throwaway plugins, registered through ``memos_extra_plugins``, use every hook (some answers sync,
some async) and give a few answers the pages must refuse: what they add is read back from the
pages as a browser gets them, and their own ``web.*`` routes take the forms the pages draw.
"""

from __future__ import annotations

import collections
import logging

import pytest
from aiohttp import web
from fixtures import web_pages
from markupsafe import Markup

from memos_core import hookimpl, viewer_of

pages = web_pages.pages  # the fixture: a signed-out browser of memos_client, with an admin on the instance
parse, api, cards = web_pages.parse, web_pages.api, web_pages.cards


class UiPlugin:
    """Uses every UI hook, and registers the routes its items lead to."""

    def __init__(self) -> None:
        self.calls: collections.Counter[str] = collections.Counter()
        self.starred: list[tuple[str, str]] = []
        self.motto = "carpe diem"

    @hookimpl
    def memos_register_routes(self, app: web.Application) -> None:
        app.router.add_get("/ui-plugin/page", self.page, name="web.ui_plugin.page")
        app.router.add_post("/ui-plugin/star/{uid}", self.star, name="web.ui_plugin.star")
        app.router.add_post("/ui-plugin/motto", self.save_motto, name="web.ui_plugin.motto")

    async def page(self, request: web.Request) -> web.Response:
        viewer = viewer_of(request)
        return web.Response(text=f"plugin page for {viewer.user.username if viewer else 'a visitor'}")

    async def star(self, request: web.Request) -> web.Response:
        viewer = viewer_of(request)
        if viewer is None:
            raise web.HTTPUnauthorized()
        form = await request.post()
        self.starred.append((request.match_info["uid"], viewer.user.username))
        nxt = str(form.get("next", "/"))
        raise web.HTTPSeeOther(nxt if nxt.startswith("/") and not nxt.startswith("//") else "/")

    async def save_motto(self, request: web.Request) -> web.Response:
        if viewer_of(request) is None:
            raise web.HTTPUnauthorized()
        self.motto = str((await request.post()).get("motto", ""))
        raise web.HTTPSeeOther("/setting?saved=ui-plugin#ui-plugin")

    @hookimpl
    def memos_web_extra_css_urls(self, request):
        self.calls["css"] += 1
        return [
            "/ui-plugin/static/ui.css",
            "https://cdn.example.com/evil.css",  # another origin: the CSP would refuse it
            "//cdn.example.com/protocol-relative.css",  # starts with "/", still another origin
            "/ui-plugin/static/ui.css",  # the same one again: linked once
        ]

    @hookimpl
    async def memos_web_extra_js_urls(self, request):
        self.calls["js"] += 1
        return [
            "/ui-plugin/static/ui.js",
            {"url": "/ui-plugin/static/mod.js", "module": True},
            "http://cdn.example.com/x.js",
        ]

    @hookimpl
    def memos_web_nav_items(self, request):
        self.calls["nav"] += 1
        if viewer_of(request) is None:
            return [{"label": "About the plugin", "href": "https://plugin.example.org/about"}]
        return [{"label": "Plugin page", "href": "/ui-plugin/page"}, {"label": "Sneaky", "href": "javascript:alert(1)"}]

    @hookimpl
    def memos_web_settings_sections(self, request, csrf_token):
        self.calls["settings"] += 1
        form = Markup(
            '<form method="post" action="/ui-plugin/motto"><input type="hidden" name="csrf_token" value="{}">'
            '<label>Motto <input name="motto" value="{}"></label><button type="submit">Save motto</button></form>'
        ).format(csrf_token, self.motto)
        return [
            {"id": "ui-plugin", "title": "UI plugin", "html": form},
            {"id": "plugins", "title": "A clash", "html": "taken by the built-in Plugins section"},
            {"id": "main", "title": "Another clash", "html": "the page's own main element"},
            {"id": "ui-admin", "title": "UI admin", "html": "<b>for admins</b>", "admin": True},
        ]

    @hookimpl
    def memos_web_memo_actions(self, request, memo):
        self.calls["actions"] += 1
        uid = memo["name"].removeprefix("memos/")
        items = [{"label": "Open in plugin", "href": f"/ui-plugin/page?memo={uid}"}]
        if viewer_of(request) is not None:
            items.append({"label": "Star", "action": f"/ui-plugin/star/{uid}"})
            items.append({"label": "Exfiltrate", "action": "https://evil.example/collect"})
        return items

    @hookimpl
    async def memos_web_memo_extra(self, request, memo):
        self.calls["extra"] += 1
        return Markup('<p class="ui-extra">{} characters</p>').format(len(memo["content"]))


class TextExtra:
    """Answers a plain string: the page must show it as text, not as HTML."""

    @hookimpl
    def memos_web_memo_extra(self, memo):
        return "<i>not html</i>"


@pytest.fixture
def plugin() -> UiPlugin:
    return UiPlugin()


@pytest.fixture
def memos_extra_plugins(plugin):
    return [plugin, TextExtra()]


async def _memo(client, user, content: str, visibility: str = "PUBLIC") -> str:
    return (await api(client, user, "POST", "/api/v1/memos", {"content": content, "visibility": visibility}))["name"]


async def test_pages_load_plugin_css_and_js_from_this_site_only(pages, plugin, caplog):
    caplog.set_level(logging.WARNING, logger="memos_web.plugin_ui")
    text = await pages.get("/explore")
    head = parse(text).one("head")
    sheets = [n.attrs["href"] for n in head.all("link", rel="stylesheet")]
    assert sheets.count("/ui-plugin/static/ui.css") == 1  # once, after the app's own
    assert sheets.index("/ui-plugin/static/ui.css") > 0 and "app" in sheets[0]
    scripts = {n.attrs["src"]: n.attrs for n in head.all("script")}
    assert "defer" in scripts["/ui-plugin/static/ui.js"] and "type" not in scripts["/ui-plugin/static/ui.js"]
    assert scripts["/ui-plugin/static/mod.js"].get("type") == "module"
    assert "cdn.example.com" not in text
    warned = "\n".join(r.getMessage() for r in caplog.records)
    assert "'https://cdn.example.com/evil.css'" in warned
    assert "'//cdn.example.com/protocol-relative.css'" in warned
    assert "'http://cdn.example.com/x.js'" in warned
    assert warned.count("evil.css") == 1  # once per page
    assert plugin.calls["css"] == plugin.calls["js"] == 1


async def test_nav_items_follow_the_viewer(pages, plugin, memos_users):
    rail = parse(await pages.get("/explore")).one("nav", id="nav")
    links = {a.content(): a.attrs["href"] for a in rail.all("a")}
    assert links["About the plugin"] == "https://plugin.example.org/about"
    assert "Plugin page" not in links

    bob = await memos_users("bob")
    await pages.sign_in(bob)
    text = await pages.get("/home")
    links = {a.content(): a.attrs["href"] for a in parse(text).one("nav", id="nav").all("a")}
    assert links["Plugin page"] == "/ui-plugin/page"
    assert "About the plugin" not in links
    assert "Sneaky" not in text and "javascript:" not in text
    # the item leads to the plugin's own web.* route, where the session is the page's
    assert await pages.get(links["Plugin page"]) == "plugin page for bob"


async def test_cards_draw_plugin_actions_and_extra_content(pages, plugin, memos_client, memos_users):
    alice = await memos_users("alice")
    first = await _memo(memos_client, alice, "hello <world>")
    second = await _memo(memos_client, alice, "a second memo")

    text = await pages.get("/explore")  # a visitor: the plugin offers a link only
    uids = cards(text)
    assert set(uids) == {first[6:], second[6:]}
    assert plugin.calls["actions"] == plugin.calls["extra"] == len(uids)  # once per card
    card = parse(text).one("article", id=f"memo-{first[6:]}")
    menu = card.one("div", class_="menu-items")  # a menu for a viewer who may not edit the memo
    links = {a.content(): a.attrs["href"] for a in menu.all("a")}
    assert links["Open in plugin"] == f"/ui-plugin/page?memo={first[6:]}"
    assert not menu.all("form") and "Archive" not in menu.content() and "Edit" not in links
    extra = card.one("div", class_="memo-extra")
    assert extra.one("p", class_="ui-extra").content() == "13 characters"  # Markup, drawn as it is
    assert "&lt;i&gt;not html&lt;/i&gt;" in text and "<i>not html</i>" not in text  # a str is text

    bob = await memos_users("bob")
    await pages.sign_in(bob)
    text = await pages.get("/explore")
    menu = parse(text).one("article", id=f"memo-{first[6:]}").one("div", class_="menu-items")
    (form,) = menu.all("form")
    assert form.attrs["action"] == f"/ui-plugin/star/{first[6:]}" and form.attrs["method"] == "post"
    fields = {i.attrs["name"]: i.attrs["value"] for i in form.all("input")}
    assert fields["next"] == "/explore" and fields["csrf_token"]
    assert form.one("button").content() == "Star"
    assert "evil.example" not in text and "Exfiltrate" not in text

    # the form posts to the plugin's route with the page's CSRF token, then back to the list
    r = await pages.post(form.attrs["action"], {"next": fields["next"]}, token=fields["csrf_token"])
    assert r.status == 303 and r.headers["Location"] == "/explore"
    assert plugin.starred == [(first[6:], "bob")]
    # without the token the web package refuses it before the plugin sees it
    r = await pages.post(form.attrs["action"], {"next": "/explore"}, token="forged")
    assert r.status == 403
    assert plugin.starred == [(first[6:], "bob")]


async def test_own_memos_keep_the_built_in_menu_with_plugin_items(pages, plugin, memos_client, memos_users):
    alice = await memos_users("alice")
    name = await _memo(memos_client, alice, "mine", visibility="PRIVATE")
    await pages.sign_in(alice)
    text = await pages.get(f"/{name}")  # the memo's own page draws its card too
    menu = parse(text).one("article", id=f"memo-{name[6:]}").one("div", class_="menu-items")
    labels = [n.content() for n in menu.all() if n.tag in ("a", "button", "summary")]
    assert labels[:2] == ["Pin", "Edit"]
    assert labels.index("Open in plugin") < labels.index("Archive") < labels.index("Delete…")
    assert "Star" in labels


async def test_settings_page_draws_plugin_sections_and_their_forms_save(pages, plugin, memos_users):
    bob = await memos_users("bob")
    await pages.sign_in(bob)
    text = await pages.get("/setting")
    tree = parse(text)
    menu = {a.content(): a.attrs["href"] for a in tree.one("nav", class_="settings-menu").all("a")}
    assert menu["UI plugin"] == "#ui-plugin"
    assert "A clash" not in text and "Another clash" not in text  # ids the page already uses
    assert "UI admin" not in text  # an admin section, and bob is not an admin
    section = tree.one("section", id="ui-plugin")
    assert section.one("h2").content() == "UI plugin"
    form = section.one("form")
    fields = {i.attrs["name"]: i.attrs.get("value") for i in form.all("input")}
    assert fields["motto"] == "carpe diem" and fields["csrf_token"]

    # the phone menu's select leads to the plugin's section too
    r = await pages.client.get("/setting?section=ui-plugin", allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/setting#ui-plugin"

    r = await pages.post("/ui-plugin/motto", {"motto": "festina <lente>"}, token=fields["csrf_token"])
    assert r.status == 303
    text = await pages.get(r.headers["Location"])
    section = parse(text).one("section", id="ui-plugin")
    assert section.one("p", class_="saved").content() == "Saved."
    assert section.one("input", name="motto").attrs["value"] == "festina <lente>"  # escaped by Markup.format

    admin = await memos_users("root", role="ADMIN")
    await pages.sign_in(admin)
    text = await pages.get("/setting")
    tree = parse(text)
    admin_menu = tree.one("nav", class_="settings-menu")
    assert "UI admin" in admin_menu.content()
    assert "&lt;b&gt;for admins&lt;/b&gt;" in text  # a plain str is shown as text
    assert "A clash" not in text


class Broken:
    """A plugin whose UI hooks raise: the page must still render, without its items."""

    @hookimpl
    def memos_web_nav_items(self, request):
        raise RuntimeError("nav boom")

    @hookimpl
    def memos_web_memo_extra(self, request, memo):
        raise RuntimeError("extra boom")


@pytest.mark.parametrize("memos_extra_plugins", [[Broken()]])
async def test_a_failing_ui_hook_is_logged_and_the_page_still_renders(pages, memos_client, memos_users, caplog):
    alice = await memos_users("alice")
    await _memo(memos_client, alice, "still here")
    with caplog.at_level(logging.ERROR, logger="memos_web.plugin_ui"):
        text = await pages.get("/explore")
    assert "still here" in text
    failed = [r.getMessage() for r in caplog.records if r.levelno == logging.ERROR]
    assert any("memos_web_nav_items failed" in m for m in failed)
    assert any("memos_web_memo_extra failed" in m for m in failed)
