"""The administrator's settings over HTTP, on every driver: Members, System, Memo, Tags, Storage,
SSO, AI and Notifications. Each form saves through the service the API uses; a refused value shows
the service's message beside its form with what was typed kept and nothing written; write-only
secrets (S3 secret, client secrets, API keys, SMTP password) never appear in a page, and an empty
secret field keeps the stored one. Non-admins are refused (403) on every admin form, and the
settings' effects reach every page: tag colours, the week start, custom CSS and script, the logo,
sign-up switched off, double-click to edit, the reaction list."""

from __future__ import annotations

import base64
import io
import re
import struct
import zlib

import pytest
from fixtures import web_pages

from memos_core.context import CONTEXT
from memos_core.services import instance as instance_service
from memos_core.services import storage_setting
from memos_core.store import idp as idp_store

pages = web_pages.pages  # a signed-out browser of memos_client, with an admin on the instance
parse, api, cards = web_pages.parse, web_pages.api, web_pages.cards

SECRET = "s3cr3t-Value-9f8e7d"


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\x00\x80\xff" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def section(text: str, section_id: str):
    return parse(text).one("section", id=section_id)


async def setting(client, key: str) -> dict:
    """The stored value, write-only secrets included (what the API never shows)."""
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        if key == "STORAGE":
            return await storage_setting.get(ctx.store)
        return await instance_service.get_setting(ctx.store, key)


async def client_secret(client, uid: str) -> str:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return (await idp_store.get_idp(ctx.store, uid)).config.get("clientSecret", "")


async def patch_setting(client, admin, key: str, field: str, value: dict) -> dict:
    return await api(client, admin, "PATCH", f"/api/v1/instance/settings/{key}", {field: value})


@pytest.fixture
async def admin(pages, memos_users):
    boss = await memos_users("boss", role="ADMIN")
    await pages.sign_in(boss)
    return boss


# -- who may --------------------------------------------------------------------------------------
IDP = {
    "type": "OAUTH2",
    "title": "Hub",
    "config": {
        "oauth2Config": {
            "clientId": "cid",
            "clientSecret": SECRET,
            "authUrl": "https://idp.example/auth",
            "tokenUrl": "https://idp.example/token",
            "userInfoUrl": "https://idp.example/user",
            "fieldMapping": {"identifier": "login"},
        }
    },
}

ADMIN_POSTS = [
    ("/web/setting/members", {"username": "mallory", "password": "pw-123456", "role": "ADMIN"}),
    ("/web/setting/members/carol", {"role": "ADMIN", "password": "taken-over"}),
    ("/web/setting/members/carol/state", {"restore": "1"}),
    ("/web/setting/members/carol/delete", {}),
    ("/web/setting/system", {"title": "Pwned", "disallowUserRegistration": "on", "weekStartDayOffset": "1"}),
    ("/web/setting/memo", {"contentLengthLimit": "99999", "reactions": "💀"}),
    ("/web/setting/tags", {"pattern": "evil", "use_color": "on", "color": "#ff0000"}),
    ("/web/setting/tags/remove", {"pattern": "work"}),
    ("/web/setting/storage", {"storageType": "DATABASE", "uploadSizeLimitMb": "1", "filepathTemplate": "x"}),
    ("/web/setting/sso", {"title": "Evil", "clientId": "x", "authUrl": "https://e/a", "map_identifier": "id"}),
    ("/web/setting/sso/hub", {"title": "Evil", "clientId": "x", "authUrl": "https://e/a", "map_identifier": "id"}),
    ("/web/setting/sso/hub/delete", {}),
    ("/web/setting/ai", {"id": "p1", "title": "Evil", "type": "OPENAI", "apiKey": "k"}),
    ("/web/setting/ai/p1/delete", {}),
    ("/web/setting/notifications", {"smtpHost": "evil.example", "smtpPort": "25"}),
]
WATCHED = (
    "/api/v1/users",
    "/api/v1/identity-providers",
    "/api/v1/instance/settings/GENERAL",
    "/api/v1/instance/settings/MEMO_RELATED",
    "/api/v1/instance/settings/TAGS",
    "/api/v1/instance/settings/STORAGE",
    "/api/v1/instance/settings/AI",
    "/api/v1/instance/settings/NOTIFICATION",
)


async def test_non_admins_never_see_or_reach_the_admin_sections(pages, memos_client, memos_users, memos_unchanged):
    boss = await memos_users("boss", role="ADMIN")
    bob = await memos_users("bob")
    await memos_users("carol", row_status="ARCHIVED")
    await api(memos_client, boss, "POST", "/api/v1/identity-providers?identityProviderId=hub", IDP)
    await patch_setting(memos_client, boss, "TAGS", "tagsSetting", {"tags": {"work": {"blurContent": True}}})
    ai = {"providers": [{"id": "p1", "title": "Mine", "type": "OPENAI", "apiKey": SECRET}]}
    await patch_setting(memos_client, boss, "AI", "aiSetting", ai)
    email = {"email": {"smtpHost": "smtp.example", "smtpPassword": SECRET}}
    await patch_setting(memos_client, boss, "NOTIFICATION", "notificationSetting", email)
    secrets_before = [await setting(memos_client, "AI"), await setting(memos_client, "NOTIFICATION")]

    await pages.sign_in(bob)
    text = await pages.get("/setting")
    ids = [s.attrs["id"] for s in parse(text).all("section", class_="settings-section")]
    assert ids and not {"members", "system", "memo", "tags", "storage", "sso", "ai", "notifications", "plugins"} & set(
        ids
    )
    assert not [path for path, _ in ADMIN_POSTS if f'action="{path}#' in text]
    await pages.get("/setting?section=members", status=403)  # typing an admin section's address

    token = await pages.csrf()
    async with memos_unchanged(boss.headers, *WATCHED):
        for path, body in ADMIN_POSTS:
            r = await pages.post(path, body, token=token)
            assert r.status == 403, (path, r.status)
            assert "only administrators may change this setting" in await r.text()
            r = await pages.post(path, body, token=token, script=True)
            assert r.status == 403 and (await r.json())["message"], path
    assert [await setting(memos_client, "AI"), await setting(memos_client, "NOTIFICATION")] == secrets_before
    assert await client_secret(memos_client, "hub") == SECRET

    memos_client.session.cookie_jar.clear()  # signed out: sent to sign in, nothing written
    r = await memos_client.post("/web/setting/memo", data={"reactions": "x"}, allow_redirects=False)
    assert r.status in (302, 403)
    assert (await setting(memos_client, "MEMO_RELATED"))["reactions"] == instance_service.DEFAULT_REACTIONS


# -- Members --------------------------------------------------------------------------------------
async def test_members_create_change_archive_restore_and_delete(pages, admin, memos_client, memos_users):
    r = await pages.post("/web/setting/members", {"username": "dora", "password": "dora-pass-1", "role": "USER"})
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=members#members"
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "dora", "password": "dora-pass-1"}}
    )
    assert r.status == 200  # a real account with that password
    await pages.sign_in(admin)

    text = await pages.get("/setting?saved=members")
    members = section(text, "members")
    assert members.one("p", class_="saved").content() == "Saved."
    dora = members.one("li", id="member-dora")
    assert "User" in dora.content() and not dora.all("form", action="/web/setting/members/dora/delete#members")
    me = members.one("li", id="member-boss")
    assert not me.all("select", name="role")  # an admin cannot change their own role here
    assert not me.all("form", action="/web/setting/members/boss/state#members")

    # Role and password.
    r = await pages.post("/web/setting/members/dora", {"role": "ADMIN", "password": "dora-pass-2"})
    assert r.status == 303
    users = {u["username"]: u for u in (await api(memos_client, admin, "GET", "/api/v1/users"))["users"]}
    assert users["dora"]["role"] == "ADMIN"
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "dora", "password": "dora-pass-2"}}
    )
    assert r.status == 200
    await pages.sign_in(admin)

    # Delete is refused until archived; archive, then delete.
    r = await pages.post("/web/setting/members/dora/delete", {})
    assert r.status == 400
    row = section(await r.text(), "members").one("li", id="member-dora")
    assert "archive dora before deleting the account" in row.one("p", class_="error").content()
    r = await pages.post("/web/setting/members/dora/state", {})
    assert r.status == 303
    users = {u["username"]: u for u in (await api(memos_client, admin, "GET", "/api/v1/users"))["users"]}
    assert users["dora"]["state"] == "ARCHIVED"
    row = section(await pages.get("/setting"), "members").one("li", id="member-dora")
    assert "Archived" in row.content()
    assert row.one("form", action="/web/setting/members/dora/state#members").one("input", name="restore")
    assert row.one("details", class_="admin-confirm").one("button", class_="danger").content() == "Delete dora"

    r = await pages.post("/web/setting/members/dora/state", {"restore": "1"})
    assert r.status == 303
    users = {u["username"]: u for u in (await api(memos_client, admin, "GET", "/api/v1/users"))["users"]}
    assert users["dora"]["state"] == "NORMAL"
    await pages.post("/web/setting/members/dora/state", {})
    r = await pages.post("/web/setting/members/dora/delete", {})
    assert r.status == 303
    users = {u["username"] for u in (await api(memos_client, admin, "GET", "/api/v1/users"))["users"]}
    assert "dora" not in users


async def test_a_refused_member_keeps_what_was_typed_but_never_the_password(pages, admin, memos_client, memos_users):
    await memos_users("erin")
    before = (await api(memos_client, admin, "GET", "/api/v1/users"))["users"]
    r = await pages.post("/web/setting/members", {"username": "erin", "password": "typed-Secret-77", "role": "ADMIN"})
    assert r.status == 409
    text = await r.text()
    form = section(text, "members").one("form", action="/web/setting/members#members")
    assert "already taken" in form.one("p", class_="error").content()
    assert form.one("input", name="username").attrs["value"] == "erin"
    assert "selected" in form.one("option", value="ADMIN").attrs
    assert form.one("input", name="password").attrs.get("value") is None
    assert "typed-Secret-77" not in text
    assert (await api(memos_client, admin, "GET", "/api/v1/users"))["users"] == before

    # An edit refused: the message beside that member's row, nothing changed.
    r = await pages.post("/web/setting/members/erin", {"role": "USER"})
    assert r.status == 400
    row = section(await r.text(), "members").one("li", id="member-erin")
    assert "nothing to change" in row.one("p", class_="error").content()
    assert "open" in row.one("details", class_="admin-edit").attrs


# -- System ---------------------------------------------------------------------------------------
async def test_system_settings_save_and_reach_every_page(pages, admin, memos_client):
    r = await pages.post(
        "/web/setting/system",
        {
            "title": "Team notes",
            "description": "Our shared notebook",
            "logo_url": "https://example.com/logo.png",
            "additionalStyle": "body { --accent: #aa0000; }",
            "additionalScript": "document.documentElement.dataset.custom = '1';",
            "disallowUserRegistration": "on",
            "disallowChangeNickname": "on",
            "weekStartDayOffset": "1",
        },
    )
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=system#system"
    general = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/GENERAL"))["generalSetting"]
    assert general["customProfile"] == {
        "title": "Team notes",
        "description": "Our shared notebook",
        "logoUrl": "https://example.com/logo.png",
    }
    assert general["disallowUserRegistration"] is True and general["disallowChangeNickname"] is True
    assert general["disallowPasswordAuth"] is False and general["disallowChangeUsername"] is False
    assert general["weekStartDayOffset"] == 1
    assert general["additionalStyle"] == "body { --accent: #aa0000; }"

    form = section(await pages.get("/setting"), "system").one("form")
    assert form.one("input", name="title").attrs["value"] == "Team notes"
    assert "checked" in form.one("input", name="disallowUserRegistration").attrs
    assert "checked" not in form.one("input", name="disallowPasswordAuth").attrs
    assert "selected" in form.one("option", value="1").attrs

    # Every page: the name, the logo, the custom CSS and script as separate resources (never inline).
    home = await pages.get("/home")
    tree = parse(home)
    assert tree.one("a", class_="rail-brand").content() == "Team notes"
    assert tree.one("img", class_="brand-logo").attrs["src"] == "https://example.com/logo.png"
    assert tree.one("link", href="/web/custom.css").attrs["rel"] == "stylesheet"
    assert tree.one("script", src="/web/custom.js")
    assert "--accent: #aa0000" not in home and "dataset.custom" not in home
    r = await memos_client.get("/web/custom.css")
    assert r.status == 200 and r.content_type == "text/css"
    assert await r.text() == "body { --accent: #aa0000; }"
    assert r.headers["Cache-Control"] == "no-cache" and r.headers["ETag"]
    r2 = await memos_client.get("/web/custom.css", headers={"If-None-Match": r.headers["ETag"]})
    assert r2.status == 304
    r = await memos_client.get("/web/custom.js")
    assert r.content_type == "text/javascript" and "dataset.custom" in await r.text()

    # The week starts on Monday in the sidebar's calendars.
    heads = [th.content() for th in parse(home).one("table", class_="calendar").one("thead").all("th")]
    assert heads == ["Mo", "Tu", "We", "Th", "Fr", "Sa", "Su"]
    year = parse(await pages.get("/home?calendar=year&year=2026")).all("table", class_="mini")[0]
    assert [a.attrs["title"] for a in year.one("thead").all("abbr")][:2] == ["Monday", "Tuesday"]
    # 1 Jan 2026 is a Thursday: three blank days before it in a week starting on Monday.
    first_week = year.one("tbody").children[0].children
    assert [c.attrs.get("class") for c in first_week[:4]] == ["blank", "blank", "blank", "lvl-0"]

    # Sign-up is gone for visitors; the description shows on the sign-in page.
    memos_client.session.cookie_jar.clear()
    signin = await pages.get("/auth")
    assert "/auth/signup" not in signin and "Our shared notebook" in signin

    # Emptied again: nothing linked, the resources serve nothing.
    await pages.sign_in(admin)
    r = await pages.post("/web/setting/system", {"title": "Team notes", "weekStartDayOffset": "0"})
    assert r.status == 303
    home = await pages.get("/home")
    assert "/web/custom.css" not in home and "/web/custom.js" not in home and "brand-logo" not in home
    assert await (await memos_client.get("/web/custom.css")).text() == ""


async def test_system_logo_upload_and_refused_values(pages, admin, memos_client):
    image = png()
    r = await pages.post("/web/setting/system", {"title": "Logo", "logo_file": io.BytesIO(image)})
    assert r.status == 303, await r.text()
    general = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/GENERAL"))["generalSetting"]
    assert general["customProfile"]["logoUrl"] == "data:image/png;base64," + base64.b64encode(image).decode()
    home = await pages.get("/home")
    src = parse(home).one("img", class_="brand-logo").attrs["src"]
    assert src.startswith("/web/logo?v=") and "base64" not in home  # pages stay small
    r = await memos_client.get(src)
    assert r.status == 200 and r.content_type == "image/png" and await r.read() == image
    assert r.headers["Cache-Control"] == "no-cache"
    form = section(await pages.get("/setting"), "system").one("form")
    assert form.one("input", name="logo_url").attrs["value"] == ""  # an uploaded image is not a URL to edit
    assert form.one("input", name="logo_remove")

    # Saving without touching the logo keeps it; refused values change nothing and keep what was typed.
    r = await pages.post("/web/setting/system", {"title": "Logo 2"})
    assert r.status == 303
    kept = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/GENERAL"))["generalSetting"]
    assert kept["customProfile"]["logoUrl"] == general["customProfile"]["logoUrl"]
    refusals = [
        ({"logo_file": io.BytesIO(b"GIF8" + b"not really")}, "must be a PNG, JPEG, GIF or WebP image"),
        ({"logo_file": io.BytesIO(image + b"\0" * (2 * 1024 * 1024))}, "at most 2 MiB"),
        ({"logo_url": "javascript:alert(1)"}, "must be an http(s) URL"),
        ({"weekStartDayOffset": "9"}, "weekStartDayOffset"),
        ({"weekStartDayOffset": "Monday"}, "must be a whole number"),
    ]
    for fields, message in refusals:
        r = await pages.post(
            "/web/setting/system",
            {"title": "Typed title", "additionalStyle": "p{}", "weekStartDayOffset": "0", **fields},
        )
        assert r.status == 400, fields
        text = await r.text()
        system = section(text, "system")
        assert message in system.one("p", class_="error").content()
        assert system.one("input", name="title").attrs["value"] == "Typed title"
        assert system.one("textarea", name="additionalStyle").text == "p{}"
    after = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/GENERAL"))["generalSetting"]
    assert after == kept

    r = await pages.post("/web/setting/system", {"title": "Logo 2", "logo_remove": "on"})
    assert r.status == 303
    general = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/GENERAL"))["generalSetting"]
    assert general["customProfile"]["logoUrl"] == ""
    assert (await memos_client.get("/web/logo")).status == 404


# -- Memo -----------------------------------------------------------------------------------------
async def test_memo_settings_reactions_and_double_click(pages, admin, memos_client):
    await api(memos_client, admin, "POST", "/api/v1/memos", {"content": "hello", "visibility": "PUBLIC"})
    home = await pages.get("/home")
    assert "data-dblclick-edit" not in parse(home).one("body").attrs

    r = await pages.post(
        "/web/setting/memo",
        {"contentLengthLimit": "20000", "reactions": "🦄\n  ship it \n\n🦄\n", "enableDoubleClickEdit": "on"},
    )
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=memo#memo"
    value = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/MEMO_RELATED"))["memoRelatedSetting"]
    assert value == {"contentLengthLimit": 20000, "reactions": ["🦄", "ship it"], "enableDoubleClickEdit": True}

    home = await pages.get("/home")
    assert "data-dblclick-edit" in parse(home).one("body").attrs
    picker = [i.attrs["value"] for i in parse(home).one("details", class_="picker").all("input", name="reaction")]
    assert "🦄" in picker and "ship it" in picker and "👍" not in picker
    form = section(await pages.get("/setting"), "memo").one("form")
    assert form.one("textarea", name="reactions").text == "🦄\nship it"
    assert "checked" in form.one("input", name="enableDoubleClickEdit").attrs

    r = await pages.post("/web/setting/memo", {"contentLengthLimit": "lots", "reactions": "🎈\n🎉"})
    assert r.status == 400
    memo = section(await r.text(), "memo")
    assert "must be a whole number" in memo.one("p", class_="error").content()
    assert memo.one("textarea", name="reactions").text == "🎈\n🎉"
    assert memo.one("input", name="contentLengthLimit").attrs["value"] == "lots"
    assert "checked" not in memo.one("input", name="enableDoubleClickEdit").attrs
    after = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/MEMO_RELATED"))["memoRelatedSetting"]
    assert after == value


# -- Tags -----------------------------------------------------------------------------------------
async def test_tag_colours_and_blur_by_pattern(pages, admin, memos_client):
    await api(
        memos_client, admin, "POST", "/api/v1/memos", {"content": "plan #work/q3 and #home", "visibility": "PUBLIC"}
    )
    home = await pages.get("/home")
    assert "/web/tags.css" not in home

    r = await pages.post("/web/setting/tags", {"pattern": "work/.*", "use_color": "on", "color": "#ff0000"})
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=tags#tags"
    r = await pages.post("/web/setting/tags", {"pattern": "home", "color": "#00ff00", "blur": "on"})
    assert r.status == 303
    tags = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/TAGS"))["tagsSetting"]["tags"]
    assert tags == {
        "home": {"backgroundColor": None, "blurContent": True},
        "work/.*": {"backgroundColor": {"red": 1, "green": 0, "blue": 0, "alpha": None}, "blurContent": False},
    }

    # The colour reaches cards and the sidebar as a class (no inline style) and a stylesheet.
    home = await pages.get("/home")
    tree = parse(home)
    assert tree.one("link", href="/web/tags.css")
    card_tags = {a.content(): a.attrs["class"] for a in tree.one("article").all("a", class_="tag")}
    assert card_tags == {"#work/q3": "tag tag-color-1", "#home": "tag"}
    sidebar = tree.one("ul", class_="tags")
    assert sidebar.one("a", class_="tag-color-1").content() == "#work/q3"
    assert 'style="' not in home
    r = await memos_client.get("/web/tags.css")
    assert r.status == 200 and r.content_type == "text/css" and r.headers["Cache-Control"] == "no-cache"
    css = await r.text()
    assert re.search(r"\.tag-color-1 \{ background-color: rgb\(255 0 0 / 1\); color: #000000;", css)
    assert "tag-color-0" not in css  # "home" has no colour
    assert (await memos_client.get("/web/tags.css", headers={"If-None-Match": r.headers["ETag"]})).status == 304

    # Edit (rename and recolour), then remove.
    r = await pages.post(
        "/web/setting/tags", {"original": "work/.*", "pattern": "work.*", "use_color": "on", "color": "#0000ff"}
    )
    assert r.status == 303
    tags = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/TAGS"))["tagsSetting"]["tags"]
    assert set(tags) == {"home", "work.*"} and tags["work.*"]["backgroundColor"]["blue"] == 1
    text = await pages.get("/setting")
    row = next(li for li in section(text, "tags").all("li") if li.all("input", value="work.*"))
    assert row.one("input", name="color").attrs["value"] == "#0000ff"
    r = await pages.post("/web/setting/tags/remove", {"pattern": "home"})
    assert r.status == 303
    tags = (await api(memos_client, admin, "GET", "/api/v1/instance/settings/TAGS"))["tagsSetting"]["tags"]
    assert set(tags) == {"work.*"}

    # A refused pattern: the message beside the add form, what was typed kept, nothing written.
    r = await pages.post("/web/setting/tags", {"pattern": "(unclosed", "use_color": "on", "color": "#123456"})
    assert r.status == 400
    forms = section(await r.text(), "tags").all("form", action="/web/setting/tags#tags")
    new = next(f for f in forms if not f.all("input", name="original"))
    assert "invalid tag pattern" in new.one("p", class_="error").content()
    assert new.one("input", name="pattern").attrs["value"] == "(unclosed"
    assert new.one("input", name="color").attrs["value"] == "#123456"
    assert (await api(memos_client, admin, "GET", "/api/v1/instance/settings/TAGS"))["tagsSetting"]["tags"] == tags


# -- Storage --------------------------------------------------------------------------------------
async def test_storage_settings_with_a_write_only_secret(pages, admin, memos_client):
    ctx = memos_client.app[CONTEXT]
    storage = section(await pages.get("/setting"), "storage")
    offered = [o.attrs["value"] for o in storage.one("select", name="storageType").all("option")]
    assert offered == ctx.storages.names()  # only the registered backends
    assert "Not set." in storage.content()

    fields = {
        "storageType": "DATABASE",
        "uploadSizeLimitMb": "12",
        "filepathTemplate": "files/{year}/{filename}",
        "endpoint": "https://s3.example.com",
        "region": "eu-1",
        "bucket": "notes",
        "accessKeyId": "AKID",
        "accessKeySecret": SECRET,
        "usePathStyle": "on",
    }
    r = await pages.post("/web/setting/storage", fields)
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=storage#storage"
    stored = await setting(memos_client, "STORAGE")
    assert stored["storageType"] == "DATABASE" and stored["uploadSizeLimitMb"] == "12"
    assert stored["filepathTemplate"] == "files/{year}/{filename}"
    assert stored["s3Config"] == {
        "accessKeyId": "AKID",
        "accessKeySecret": SECRET,
        "endpoint": "https://s3.example.com",
        "region": "eu-1",
        "bucket": "notes",
        "usePathStyle": True,
    }
    text = await pages.get("/setting")
    assert SECRET not in text
    storage = section(text, "storage")
    assert storage.one("input", name="accessKeySecret").attrs.get("value") is None
    assert "Set: leave empty to keep it." in storage.content()
    assert storage.one("input", name="bucket").attrs["value"] == "notes"

    # An empty secret keeps the stored one; a refused value keeps what was typed, never the secret.
    r = await pages.post("/web/setting/storage", {**fields, "accessKeySecret": "", "bucket": "notes2"})
    assert r.status == 303
    stored = await setting(memos_client, "STORAGE")
    assert stored["s3Config"]["bucket"] == "notes2" and stored["s3Config"]["accessKeySecret"] == SECRET
    for bad, message in (
        ({"filepathTemplate": "../escape/{filename}"}, "'..' path segments are not allowed"),
        ({"uploadSizeLimitMb": "0"}, "positive number of MiB"),
        ({"storageType": "FTP"}, "invalid storageSetting.storageType"),
    ):
        r = await pages.post(
            "/web/setting/storage", {**fields, "bucket": "typed-bucket", "accessKeySecret": "new-" + SECRET, **bad}
        )
        assert r.status == 400, bad
        text = await r.text()
        assert SECRET not in text
        storage = section(text, "storage")
        assert message in storage.one("p", class_="error").content()
        assert storage.one("input", name="bucket").attrs["value"] == "typed-bucket"
    assert await setting(memos_client, "STORAGE") == stored


# -- SSO ------------------------------------------------------------------------------------------
async def test_identity_providers_from_templates_with_a_write_only_client_secret(pages, admin, memos_client):
    sso = section(await pages.get("/setting"), "sso")
    assert sso.one("input", class_="copy-field").attrs["value"] == f"{pages.origin}/auth/callback"
    for key, title in (("github", "GitHub"), ("gitlab", "GitLab"), ("google", "Google"), ("custom", "Custom")):
        assert sso.one("a", href=f"/setting?sso_template={key}#sso").content() == title
    new = section(await pages.get("/setting?sso_template=github"), "sso").one("form", action="/web/setting/sso#sso")
    assert new.one("input", name="authUrl").attrs["value"] == "https://github.com/login/oauth/authorize"
    assert new.one("input", name="tokenUrl").attrs["value"] == "https://github.com/login/oauth/access_token"
    assert new.one("input", name="userInfoUrl").attrs["value"] == "https://api.github.com/user"
    assert new.one("input", name="map_identifier").attrs["value"] == "login"
    google = section(await pages.get("/setting?sso_template=google"), "sso").one("form", action="/web/setting/sso#sso")
    assert google.one("input", name="userInfoUrl").attrs["value"] == "https://openidconnect.googleapis.com/v1/userinfo"
    gitlab = section(await pages.get("/setting?sso_template=gitlab"), "sso").one("form", action="/web/setting/sso#sso")
    assert gitlab.one("input", name="tokenUrl").attrs["value"] == "https://gitlab.com/oauth/token"

    fields = {
        "title": "GitHub",
        "clientId": "gh-client",
        "clientSecret": SECRET,
        "authUrl": "https://github.com/login/oauth/authorize",
        "tokenUrl": "https://github.com/login/oauth/access_token",
        "userInfoUrl": "https://api.github.com/user",
        "scopes": "read:user  user:email",
        "map_identifier": "login",
        "map_displayName": "name",
        "map_email": "email",
        "map_avatarUrl": "avatar_url",
        "identifierFilter": "",
    }
    r = await pages.post("/web/setting/sso", fields)
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=sso#sso"
    (idp,) = (await api(memos_client, admin, "GET", "/api/v1/identity-providers"))["identityProviders"]
    uid = idp["name"].removeprefix("identity-providers/")
    assert idp["config"]["oauth2Config"]["scopes"] == ["read:user", "user:email"]
    assert idp["config"]["oauth2Config"]["fieldMapping"]["avatarUrl"] == "avatar_url"
    assert await client_secret(memos_client, uid) == SECRET
    text = await pages.get("/setting")
    assert SECRET not in text
    edit = section(text, "sso").one("form", action=f"/web/setting/sso/{uid}#sso")
    assert edit.one("input", name="clientId").attrs["value"] == "gh-client"
    assert edit.one("input", name="clientSecret").attrs.get("value") is None

    # An update with the secret left empty keeps it.
    r = await pages.post(f"/web/setting/sso/{uid}", {**fields, "clientSecret": "", "title": "GitHub.com"})
    assert r.status == 303
    (idp,) = (await api(memos_client, admin, "GET", "/api/v1/identity-providers"))["identityProviders"]
    assert idp["title"] == "GitHub.com" and await client_secret(memos_client, uid) == SECRET

    # Refused: the message beside that provider's form, typed values kept (never the secret).
    r = await pages.post(
        f"/web/setting/sso/{uid}", {**fields, "clientSecret": "other-" + SECRET, "tokenUrl": "ftp://x"}
    )
    assert r.status == 400
    text = await r.text()
    assert SECRET not in text
    row = next(li for li in section(text, "sso").all("li") if li.all("form", action=f"/web/setting/sso/{uid}#sso"))
    assert "tokenUrl must be an absolute http or https URL" in row.one("p", class_="error").content()
    assert row.one("input", name="tokenUrl").attrs["value"] == "ftp://x"
    assert "open" in row.one("details", class_="admin-edit").attrs
    r = await pages.post("/web/setting/sso", {**fields, "title": "Second", "map_identifier": ""})
    assert r.status == 400
    new = section(await r.text(), "sso").one("form", action="/web/setting/sso#sso")
    assert new.parent.one("p", class_="error").content().endswith("fieldMapping.identifier is required")
    assert new.one("input", name="title").attrs["value"] == "Second"
    assert await client_secret(memos_client, uid) == SECRET
    assert len((await api(memos_client, admin, "GET", "/api/v1/identity-providers"))["identityProviders"]) == 1

    r = await pages.post(f"/web/setting/sso/{uid}/delete", {})
    assert r.status == 303
    assert (await api(memos_client, admin, "GET", "/api/v1/identity-providers"))["identityProviders"] == []


# -- AI -------------------------------------------------------------------------------------------
async def test_ai_providers_with_write_only_keys(pages, admin, memos_client):
    r = await pages.post("/web/setting/ai", {"title": "Work GPT", "type": "OPENAI", "endpoint": "", "apiKey": SECRET})
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=ai#ai"
    (provider,) = (await setting(memos_client, "AI"))["providers"]
    assert provider["apiKey"] == SECRET and provider["endpoint"] == "https://api.openai.com/v1"
    pid = provider["id"]
    text = await pages.get("/setting")
    assert SECRET not in text and SECRET[:4] + "..." not in text
    ai = section(text, "ai")
    assert "API key set" in ai.content()

    r = await pages.post(
        "/web/setting/ai", {"id": pid, "title": "Gemini", "type": "GEMINI", "endpoint": "", "apiKey": ""}
    )
    assert r.status == 303
    (provider,) = (await setting(memos_client, "AI"))["providers"]
    assert (provider["title"], provider["type"], provider["apiKey"]) == ("Gemini", "GEMINI", SECRET)

    r = await pages.post("/web/setting/ai", {"title": "No key", "type": "OPENAI", "endpoint": "https://llm.local/v1"})
    assert r.status == 400
    forms = section(await r.text(), "ai").all("form", action="/web/setting/ai#ai")
    new = next(f for f in forms if not f.all("input", name="id"))
    assert "an API key is required" in new.one("p", class_="error").content()
    assert new.one("input", name="endpoint").attrs["value"] == "https://llm.local/v1"
    assert len((await setting(memos_client, "AI"))["providers"]) == 1

    r = await pages.post(f"/web/setting/ai/{pid}/delete", {})
    assert r.status == 303
    assert (await setting(memos_client, "AI"))["providers"] == []


# -- Notifications --------------------------------------------------------------------------------
async def test_notification_smtp_settings_with_a_write_only_password(pages, admin, memos_client):
    notes = section(await pages.get("/setting"), "notifications")
    # The email plugin adds the test section; this one says so, and what password recovery needs.
    assert "“Test email” section of this page" in notes.content() and not notes.all("button", name="test")
    assert "instance URL (MEMOS_INSTANCE_URL)" in notes.content()
    assert [b.content() for b in notes.all("button")] == ["Save notification settings"]
    fields = {
        "enabled": "on",
        "smtpHost": "smtp.example.com",
        "smtpPort": "587",
        "smtpUsername": "mailer",
        "smtpPassword": SECRET,
        "useTls": "on",
        "fromEmail": "memos@example.com",
        "fromName": "Memos",
        "replyTo": "",
    }
    r = await pages.post("/web/setting/notifications", fields)
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=notifications#notifications"
    email = (await setting(memos_client, "NOTIFICATION"))["email"]
    assert email["smtpPassword"] == SECRET and email["smtpPort"] == 587 and email["useTls"] is True
    assert email["enabled"] is True and email["useSsl"] is False
    text = await pages.get("/setting?saved=notifications")
    assert SECRET not in text
    notes = section(text, "notifications")
    assert notes.one("p", class_="saved").content() == "Saved."
    assert "Set: leave empty to keep it." in notes.content()
    assert notes.one("input", name="smtpHost").attrs["value"] == "smtp.example.com"

    r = await pages.post("/web/setting/notifications", {**fields, "smtpPassword": "", "fromName": "Notes"})
    assert r.status == 303
    email = (await setting(memos_client, "NOTIFICATION"))["email"]
    assert email["smtpPassword"] == SECRET and email["fromName"] == "Notes"

    r = await pages.post("/web/setting/notifications", {**fields, "smtpPort": "70000", "smtpHost": "typed.example"})
    assert r.status == 400
    text = await r.text()
    assert SECRET not in text
    notes = section(text, "notifications")
    assert "smtpPort" in notes.one("p", class_="error").content()
    assert notes.one("input", name="smtpHost").attrs["value"] == "typed.example"
    assert notes.one("input", name="smtpPassword").attrs.get("value") is None
    assert (await setting(memos_client, "NOTIFICATION"))["email"] == email


async def test_plugins_section_is_last_in_the_menu(pages, admin):
    menu = parse(await pages.get("/setting")).one("nav", class_="settings-menu")
    admin_links = [a.attrs["data-section-link"] for a in menu.all("ul")[-1].all("a")]
    built_in = ["members", "system", "memo", "tags", "storage", "sso", "ai", "notifications", "plugins"]
    # Plugins' sections follow the built-in ones: the default install's email plugin adds "Test email".
    assert admin_links == [*built_in, "email-test"]
