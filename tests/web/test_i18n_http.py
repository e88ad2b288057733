"""The pages' language over HTTP, on every driver: the signed-in viewer's GENERAL ``locale`` setting,
else the browser's ``Accept-Language`` (matched by language and script), else English; the page
scripts' messages as a cached script; dates, months and weekdays in the language's own forms; the
views' own messages and error pages translated, and what a person typed escaped inside them."""

from __future__ import annotations

import json
import re

from fixtures import web_pages

pages = web_pages.pages  # the fixture: a signed-out browser of memos_client, with an admin on the instance
parse, api = web_pages.parse, web_pages.api

ZH = {"Accept-Language": "zh-CN,zh;q=0.9,en;q=0.8"}
EN = {"Accept-Language": "en-GB,en;q=0.9"}
HTML_LANG = re.compile(r'<html lang="([^"]+)"')
CATALOG = re.compile(r'<script defer src="(/web/i18n/[^"]+)"></script>')


def lang_of(text: str) -> str:
    return HTML_LANG.search(text).group(1)


def rail(text: str) -> list[str]:
    return [a.content() for a in parse(text).one("nav", id="nav").one("ul").all("a")]


async def set_locale(client, user, locale: str) -> None:
    body = {"generalSetting": {"locale": locale}}
    await api(client, user, "PATCH", f"/api/v1/users/{user.username}/settings/GENERAL?updateMask=locale", body)


# -- choosing the language -------------------------------------------------------------------------
async def test_accept_language_chooses_the_language_of_a_visitor(pages):
    text = await pages.get("/explore", headers=ZH)
    assert lang_of(text) == "zh-Hans"
    assert rail(text)[0] == "探索"
    assert "<title>探索 · Memos</title>" in text
    assert parse(text).one("a", class_="skip").content() == "跳到正文"
    assert CATALOG.search(text).group(1).startswith("/web/i18n/zh-Hans.js?v=")

    text = await pages.get("/explore", headers=EN)
    assert lang_of(text) == "en" and rail(text)[0] == "Explore"
    assert CATALOG.search(text) is None  # English is the text itself: no catalog to load

    for header, expected in (
        ("zh", "zh-Hans"),
        ("zh-Hans-SG", "zh-Hans"),
        ("fr-CH, fr;q=0.9, zh;q=0.5", "zh-Hans"),  # the first offered language, by preference
        ("zh-TW", "en"),  # Traditional Chinese is not offered: not sent Simplified
        ("zh-Hant, zh-CN;q=0.5", "zh-Hans"),
        ("de, zh;q=0", "en"),  # q=0 means "not this one"
        ("en;q=0.5, zh;q=0.8", "zh-Hans"),
        ("*", "en"),
        ("", "en"),
        ("not a header;;q=x,,", "en"),
    ):
        assert lang_of(await pages.get("/explore", headers={"Accept-Language": header})) == expected, header


async def test_the_users_setting_beats_the_browser(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    # Nothing stored: the setting's default, English (as upstream's API says it).
    assert lang_of(await pages.get("/home", headers=ZH)) == "en"

    await set_locale(memos_client, alice, "en")
    text = await pages.get("/home", headers=ZH)
    assert lang_of(text) == "en" and rail(text)[:2] == ["Home", "Explore"]

    await set_locale(memos_client, alice, "zh-Hans")
    text = await pages.get("/home", headers=EN)
    assert lang_of(text) == "zh-Hans"
    assert rail(text)[:7] == ["主页", "探索", "附件", "通知", "已归档", "个人资料", "设置"]  # then plugins' links
    assert parse(text).one("button", class_="link-button").content() == "退出登录"
    settings = await pages.get("/setting", headers=EN)
    assert parse(settings).one("h1").content() == "设置"
    assert [h.content() for h in parse(settings).one("nav", class_="settings-menu").all("a")][:3] == [
        "我的账号",
        "偏好设置",
        "Webhooks",
    ]

    # A language this UI does not speak (stored by another client) falls back to the browser's.
    await set_locale(memos_client, alice, "fr")
    assert lang_of(await pages.get("/home", headers=ZH)) == "zh-Hans"
    assert lang_of(await pages.get("/home", headers=EN)) == "en"
    # Another user is not affected by alice's choice.
    bob = await memos_users("bob")
    await set_locale(memos_client, alice, "zh-Hans")
    await pages.sign_in(bob)
    assert lang_of(await pages.get("/home", headers=EN)) == "en"


async def test_fragments_and_form_answers_speak_the_language(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await set_locale(memos_client, alice, "zh-Hans")
    await pages.sign_in(alice)
    memo = await api(memos_client, alice, "POST", "/api/v1/memos", {"content": "hello", "visibility": "PUBLIC"})
    uid = memo["name"].removeprefix("memos/")
    # The card the page's script swaps in after a change.
    r = await pages.post(f"/web/memos/{uid}/pin", {"pinned": "1", "next": "/home"}, script=True)
    assert r.status == 200
    card = parse(await r.text())
    assert card.one("summary", **{"aria-label": "备忘录操作"})
    assert "取消置顶" in card.one("div", class_="menu-items").content()
    # A refused shortcut comes back as a page in the language, the message of the service untouched.
    r = await pages.post("/web/shortcuts", {"title": "bad", "filter": "nonsense ((", "next": "/home"})
    assert r.status == 400
    page = parse(await r.text())
    assert page.one("h1").content() == "新建快捷方式"
    assert page.one("button", type="submit", class_="primary").content() == "保存快捷方式"


async def test_signing_up_keeps_the_language_of_the_sign_up_page(pages, memos_client):
    token = await pages.csrf("/auth/signup")
    form = {"username": "li", "password": "a-Good-passw0rd", "password_confirm": "a-Good-passw0rd", "csrf_token": token}
    headers = {**ZH, "Origin": pages.origin}
    r = await memos_client.post("/auth/signup", data=form, headers=headers, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/home"
    assert lang_of(await pages.get("/home", headers=EN)) == "zh-Hans"  # stored, not the browser's any more
    creds = {"passwordCredentials": {"username": "li", "password": form["password"]}}
    r = await memos_client.post("/api/v1/auth/signin", json=creds)
    bearer = {"Authorization": "Bearer " + (await r.json())["accessToken"]}
    r = await memos_client.get("/api/v1/users/li/settings/GENERAL", headers=bearer)
    assert (await r.json())["generalSetting"]["locale"] == "zh-Hans"

    # Signed up from an English page: nothing written, the default stays.
    pages.client.session.cookie_jar.clear()
    token = await pages.csrf("/auth/signup")
    form = dict(form, username="lee", csrf_token=token)
    r = await memos_client.post(
        "/auth/signup", data=form, headers={**EN, "Origin": pages.origin}, allow_redirects=False
    )
    assert r.status == 303
    assert lang_of(await pages.get("/home", headers=ZH)) == "en"


# -- the scripts' catalog --------------------------------------------------------------------------
def catalog_of(body: str) -> dict:
    prefix, suffix = "globalThis.memosI18n = ", ";\n"
    assert body.startswith(prefix) and body.endswith(suffix)
    return json.loads(body[len(prefix) : -len(suffix)])


async def test_the_page_scripts_catalog_is_served_and_cached(pages, memos_client):
    url = CATALOG.search(await pages.get("/explore", headers=ZH)).group(1)
    r = await memos_client.get(url)
    assert r.status == 200
    assert r.headers["Content-Type"] == "text/javascript; charset=utf-8"
    assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable"  # the versioned URL
    etag = r.headers["ETag"]
    assert url.endswith("?v=" + etag.strip('"'))
    catalog = catalog_of(await r.text())
    assert catalog["lang"] == "zh-Hans"
    messages = catalog["messages"]
    assert messages["Link copied"] == "链接已复制"
    assert messages["Could not upload %(name)s: %(why)s"] == "无法上传 %(name)s：%(why)s"
    assert "Explore" not in messages  # only what the scripts say: the templates' text stays server-side

    # Unversioned, it is revalidated by its ETag.
    r = await memos_client.get("/web/i18n/zh-Hans.js")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"] == etag
    r = await memos_client.get("/web/i18n/zh-Hans.js", headers={"If-None-Match": etag})
    assert r.status == 304 and await r.read() == b""
    r = await memos_client.get("/web/i18n/zh-Hans.js?v=stale")
    assert r.status == 200 and r.headers["Cache-Control"] == "no-cache"

    r = await memos_client.get("/web/i18n/en.js")
    assert r.status == 200 and catalog_of(await r.text()) == {"lang": "en", "messages": {}}
    for missing in ("/web/i18n/fr.js", "/web/i18n/zh_Hans.js", "/web/i18n/..%2Fsecret.js"):
        assert (await memos_client.get(missing)).status == 404, missing


# -- dates -----------------------------------------------------------------------------------------
async def test_dates_months_and_weekdays_are_localised(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    pages.set_zone("Europe/Paris")
    old = await api(memos_client, alice, "POST", "/api/v1/memos", {"content": "old one", "visibility": "PRIVATE"})
    body = {"createTime": "2021-06-15T08:00:00Z"}
    await api(memos_client, alice, "PATCH", f"/api/v1/{old['name']}?updateMask=create_time", body)
    await api(memos_client, alice, "POST", "/api/v1/memos", {"content": "new one", "visibility": "PRIVATE"})

    async def get(path: str, locale: str) -> str:
        await set_locale(memos_client, alice, locale)
        return await pages.get(path)

    def times(text: str) -> list[str]:
        return [t.content() for t in parse(text).all("a", class_="memo-time")]

    def calendar(text: str) -> tuple[str, list[str]]:
        block = parse(text).one("section", class_="calendar-block")
        return block.one("h2").content(), [th.content() for th in block.one("thead").all("th")]

    text = await get("/home?month=2021-06", "zh-Hans")
    assert times(text) == ["2021年6月15日 10:00"]  # Paris time, the language's own format
    title, weekdays = calendar(text)
    assert title == "2021年6月" and weekdays == ["周日", "周一", "周二", "周三", "周四", "周五", "周六"]
    text = await get("/home?month=2021-06", "en")
    assert times(text) == ["Jun 15, 2021, 10:00"]
    assert calendar(text) == ("June 2021", ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"])

    # The newest memo says how long ago it was written (the full time in its tooltip).
    card_time = parse(await get("/home", "zh-Hans")).all("a", class_="memo-time")[0].one("time")
    assert card_time.content() == "刚刚" and "年" in card_time.attrs["title"]
    assert parse(await get("/home", "en")).all("a", class_="memo-time")[0].content() == "just now"

    memo_page = await get(f"/{old['name']}", "zh-Hans")
    assert "创建于 2021年6月15日 10:00" in parse(memo_page).one("p", class_="memo-times").content()
    # The year view's months and the editor's datetime-local value (never localised).
    year = parse(await get("/home?calendar=year&year=2021", "zh-Hans"))
    assert [c.content() for c in year.all("caption")][:3] == ["一月", "二月", "三月"]
    editor = parse(await get(f"/{old['name']}?edit=1", "zh-Hans"))
    assert editor.one("input", name="createTimeLocal").attrs["value"] == "2021-06-15T10:00"


# -- messages of the views, error pages ------------------------------------------------------------
async def test_the_views_messages_and_error_pages_are_translated(pages, memos_client, memos_users):
    await memos_users("alice")
    token = await pages.csrf("/auth")
    form = {"username": "alice", "password": "wrong", "csrf_token": token}
    r = await memos_client.post("/auth", data=form, headers={**ZH, "Origin": pages.origin}, allow_redirects=False)
    assert r.status == 400
    assert parse(await r.text()).one(role="alert").content() == "用户名或密码错误。"

    r = await memos_client.get("/no/such/page", headers={**ZH, "Accept": "text/html"})
    assert r.status == 404
    page = parse(await r.text())
    assert page.one("h1").content() == "未找到" and "此页面不存在。" in page.one("section").content()
    assert lang_of(await r.text()) == "zh-Hans"

    r = await memos_client.get("/memos/nonexistent", headers={**ZH, "Accept": "text/html"})
    assert r.status == 404 and parse(await r.text()).one("h1").content() == "未找到"


async def test_what_was_typed_is_escaped_inside_a_translation(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    body = {"title": "<b>bold</b>", "filter": "pinned"}
    shortcut = await api(memos_client, alice, "POST", f"/api/v1/users/{alice.username}/shortcuts", body)
    sid = shortcut["name"].rsplit("/", 1)[-1]
    await set_locale(memos_client, alice, "zh-Hans")
    text = await pages.get(f"/home?shortcut={sid}")
    assert "快捷方式：&lt;b&gt;bold&lt;/b&gt;" in text
    assert "<b>bold</b>" not in text
