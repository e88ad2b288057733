"""The account owner's settings over HTTP, on every driver: My account (profile, avatar, password,
linked sign-ins, access tokens, deleting the account), Preferences and Webhooks. Each form saves
through the services the API uses; a refused one shows the service's message beside it, keeps what
was typed (never a password) and writes nothing; a new access token is drawn once, never again."""

from __future__ import annotations

import html
import io
import re
import struct
import zlib
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from fixtures import oauth_provider as oauth
from fixtures import web_pages

from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store

pages = web_pages.pages  # a signed-out browser of memos_client, with an admin on the instance
parse, api = web_pages.parse, web_pages.api
provider = oauth.provider

PUBLIC_URL = "https://1.1.1.1/hook"  # an IP literal: public, and resolvable without DNS


def png(width: int = 2, height: int = 2) -> bytes:
    """A real (tiny) PNG."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def section(text: str, section_id: str):
    return parse(text).one("section", id=section_id)


def part(text: str, part_id: str):
    return parse(text).one("div", id=part_id)


def alert(node) -> str:
    return node.one(role="alert").content()


async def user_json(client, user, username=None) -> dict:
    return await api(client, user, "GET", f"/api/v1/users/{username or user.username}")


async def set_general(client, **values) -> None:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "GENERAL", values)


# -- the page --------------------------------------------------------------------------------------
async def test_the_owner_sees_account_preferences_and_webhooks_in_that_order(pages, memos_client, memos_users):
    alice = await memos_users("alice", nickname="Alice A.", email="alice@example.com")
    r = await memos_client.get("/setting", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/auth?redirect=/setting"

    await pages.sign_in(alice)
    text = await pages.get("/setting")
    tree = parse(text)
    ids = [s.attrs["id"] for s in tree.all("section", class_="settings-section")]
    assert ids == ["account", "preferences", "webhooks", "data"]  # no admin section for a user
    links = [a.attrs["href"] for a in tree.one("nav", class_="settings-menu").all("a")]
    assert links == ["#account", "#preferences", "#webhooks", "#data"]
    profile = part(text, "account-profile")
    assert profile.one("input", name="username").attrs["value"] == "alice"
    assert profile.one("input", name="display_name").attrs["value"] == "Alice A."
    assert profile.one("input", name="email").attrs["value"] == "alice@example.com"
    assert "readonly" not in profile.one("input", name="username").attrs
    # every control has a visible label
    for control in [*section(text, "account").all("input"), *section(text, "account").all("select")]:
        if control.attrs.get("type") in ("hidden",) or "hidden" in control.attrs:
            continue
        assert control.parent.tag == "label", control.attrs


# -- profile ---------------------------------------------------------------------------------------
async def test_profile_is_saved_and_a_refusal_keeps_what_was_typed(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    await memos_users("bob")
    await pages.sign_in(alice)
    form = {"username": "alice", "display_name": "Alice Liddell", "email": "a@wonder.land", "description": "Down"}
    r = await pages.post("/web/setting/profile", form)
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=account#account"
    got = await user_json(memos_client, alice)
    assert (got["displayName"], got["email"], got["description"]) == ("Alice Liddell", "a@wonder.land", "Down")
    assert 'role="status">Saved.' in await pages.get("/setting?saved=account")

    # A taken username: 409, the message beside the profile form, everything typed kept.
    taken = dict(form, username="bob", display_name="Someone else")
    async with memos_unchanged(alice.headers, "/api/v1/users/alice"):
        r = await pages.post("/web/setting/profile", taken)
        assert r.status == 409
        text = await r.text()
    profile = part(text, "account-profile")
    assert alert(profile) == "username 'bob' is already taken"
    assert profile.one("input", name="username").attrs["value"] == "bob"
    assert profile.one("input", name="display_name").attrs["value"] == "Someone else"
    assert profile.one("input", name="username").attrs["aria-describedby"] == "account-profile-error"
    assert len(parse(text).all(role="alert")) == 1  # beside the form only, not again at the section's head

    # A rename works, and the session goes on under the new name.
    r = await pages.post("/web/setting/profile", dict(form, username="alicia"))
    assert r.status == 303
    assert (await user_json(memos_client, alice, "alicia"))["username"] == "alicia"
    assert part(await pages.get("/setting"), "account-profile").one("input", name="username").attrs["value"] == "alicia"


async def test_locked_username_and_display_name_are_read_only(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice", nickname="Alice")
    await set_general(memos_client, disallowChangeUsername=True, disallowChangeNickname=True)
    await pages.sign_in(alice)
    profile = part(await pages.get("/setting"), "account-profile")
    for name in ("username", "display_name"):
        field = profile.one("input", name=name)
        assert "readonly" in field.attrs and field.attrs["aria-describedby"].endswith("-locked")
    assert "An administrator has locked usernames" in profile.content()

    # The rest of the form still saves (the locked fields are sent unchanged, so not in the mask).
    form = {"username": "alice", "display_name": "Alice", "email": "new@example.com", "description": ""}
    assert (await pages.post("/web/setting/profile", form)).status == 303
    assert (await user_json(memos_client, alice))["email"] == "new@example.com"

    # A locked field changed anyway is refused by the service, and nothing is written.
    for changed in ({"username": "alicia"}, {"display_name": "Mallory"}):
        async with memos_unchanged(alice.headers, "/api/v1/users/alice"):
            r = await pages.post("/web/setting/profile", dict(form, email="other@example.com", **changed))
            assert r.status == 403
            assert "not allowed" in alert(part(await r.text(), "account-profile"))


# -- avatar ----------------------------------------------------------------------------------------
def upload(data: bytes, filename: str = "me.png", content_type: str = "image/png") -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("avatar", io.BytesIO(data), filename=filename, content_type=content_type)
    return form


async def post_multipart(pages, path: str, form: aiohttp.FormData):
    form.add_field("csrf_token", await pages.csrf())
    return await pages.client.post(path, data=form, headers={"Origin": pages.origin}, allow_redirects=False)


async def test_avatar_upload_is_stored_as_the_api_stores_it_and_removed(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    image = png()
    r = await post_multipart(pages, "/web/setting/avatar", upload(image, content_type="application/octet-stream"))
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=account&what=avatar#account"
    assert (await user_json(memos_client, alice))["avatarUrl"] == "/file/users/alice/avatar"
    served = await memos_client.get("/file/users/alice/avatar")
    assert served.status == 200 and served.content_type == "image/png" and await served.read() == image

    text = await pages.get("/setting?saved=account&what=avatar")
    avatar = part(text, "account-avatar")
    assert avatar.one("img").attrs["src"].startswith("/file/users/alice/avatar?v=")
    assert avatar.one(role="status").content() == "Your avatar was changed."
    assert avatar.one("input", type="file").attrs["accept"] == "image/png,image/jpeg,image/gif,image/webp"

    r = await pages.post("/web/setting/avatar", {"remove": "1"})
    assert r.status == 303
    assert (await user_json(memos_client, alice))["avatarUrl"] == ""
    assert (await memos_client.get("/file/users/alice/avatar")).status == 404


@pytest.mark.parametrize(
    ("data", "filename", "message"),
    [
        (b"<svg xmlns='http://www.w3.org/2000/svg'/>", "me.svg", "me.svg is not a PNG, JPEG, GIF or WebP image."),
        (b"GIF8" + b"not really", "fake.png", "fake.png is not a PNG, JPEG, GIF or WebP image."),
        (png() + b"\0" * (2 * 1024 * 1024), "big.png", "big.png is too large: an avatar may be at most 2 MiB."),
        (b"", "", "Choose an image to upload."),
    ],
    ids=["svg", "fake-gif", "too-large", "no-file"],
)
async def test_avatar_refusals(pages, memos_client, memos_users, memos_unchanged, data, filename, message):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    async with memos_unchanged(alice.headers, "/api/v1/users/alice"):
        r = await post_multipart(pages, "/web/setting/avatar", upload(data, filename, "image/png"))
        assert r.status == 400
        assert alert(part(await r.text(), "account-avatar")) == message


# -- password and sessions -------------------------------------------------------------------------
async def test_a_password_change_keeps_this_session_and_ends_the_others(pages, memos_client, memos_users):
    alice = await memos_users("alice", password="old-Passw0rd")
    # Another browser signed in as alice.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True)) as other:
        signin = {"passwordCredentials": {"username": "alice", "password": "old-Passw0rd"}}
        r = await other.post(str(memos_client.make_url("/api/v1/auth/signin")), json=signin)
        assert r.status == 200
        r = await other.get(str(memos_client.make_url("/setting")), allow_redirects=False)
        assert r.status == 200

        await pages.sign_in(alice)
        secret, typo = "new-Passw0rd-1", "new-Passw0rd-2"
        r = await pages.post("/web/setting/password", {"password": secret, "password_confirm": typo})
        assert r.status == 400
        text = await r.text()
        assert alert(part(text, "account-password")) == "The passwords do not match."
        assert secret not in text and typo not in text  # never drawn back
        r = await pages.post("/web/setting/password", {"password": "", "password_confirm": ""})
        assert r.status == 400 and alert(part(await r.text(), "account-password")) == "password is required"
        # Nothing changed: both sessions live, the old password signs in.
        assert (await other.get(str(memos_client.make_url("/setting")), allow_redirects=False)).status == 200

        r = await pages.post("/web/setting/password", {"password": secret, "password_confirm": secret})
        assert r.status == 303 and r.headers["Location"] == "/setting?saved=account&what=password#account"
        text = await pages.get("/setting?saved=account&what=password")  # this session goes on
        assert part(text, "account-password").one(role="status").content() == (
            "Your password was changed. Your other sessions were signed out."
        )
        r = await other.get(str(memos_client.make_url("/setting")), allow_redirects=False)
        assert r.status == 302 and r.headers["Location"] == "/auth?redirect=/setting"  # that one ended

    old = {"passwordCredentials": {"username": "alice", "password": "old-Passw0rd"}}
    new = {"passwordCredentials": {"username": "alice", "password": secret}}
    session = aiohttp.CookieJar(unsafe=True)
    async with aiohttp.ClientSession(cookie_jar=session) as fresh:
        assert (await fresh.post(str(memos_client.make_url("/api/v1/auth/signin")), json=old)).status == 400
        assert (await fresh.post(str(memos_client.make_url("/api/v1/auth/signin")), json=new)).status == 200


# -- personal access tokens ------------------------------------------------------------------------
async def tokens_of(client, user) -> list[dict]:
    return (await api(client, user, "GET", f"/api/v1/users/{user.username}/personalAccessTokens"))[
        "personalAccessTokens"
    ]


async def test_an_access_token_is_shown_once_works_and_is_deleted(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    r = await pages.post("/web/setting/tokens", {"description": "CI bot", "expires": "90"})
    assert r.status == 200 and r.headers["Cache-Control"] == "no-store"
    text = await r.text()
    token = re.search(r"memos_pat_[0-9A-Za-z]{32}", text).group(0)
    assert text.count(token) == 1  # drawn once, in the box to copy it from
    shown = part(text, "account-tokens").one("div", class_="new-token")
    assert shown.one("input", id="new-token").attrs["value"] == token
    assert shown.one("button", class_="token-copy").attrs["data-copy-from"] == "new-token"

    (listed,) = await tokens_of(memos_client, alice)
    assert listed["description"] == "CI bot" and listed["expiresAt"] and listed["lastUsedAt"] is None
    me = await memos_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 200 and (await me.json())["user"]["username"] == "alice"

    text = await pages.get("/setting")
    assert token not in text and "memos_pat_" not in text  # never again
    row = part(text, "account-tokens").one("tbody").one("tr")
    cells = [td.content() for td in row.all("td")]
    assert cells[0] == "CI bot" and cells[3] != "" and cells[2] not in ("Never", "")
    token_id = listed["name"].rsplit("/", 1)[1]

    # A lifetime the form does not offer: refused, the description kept, nothing created.
    async with memos_unchanged(alice.headers, "/api/v1/users/alice/personalAccessTokens"):
        r = await pages.post("/web/setting/tokens", {"description": "odd", "expires": "7"})
        assert r.status == 400
        tokens = part(await r.text(), "account-tokens")
    assert alert(tokens) == "Choose when the token expires."
    assert tokens.one("input", name="description").attrs["value"] == "odd"
    assert "memos_pat_" not in await r.text()

    # Never expiring.
    r = await pages.post("/web/setting/tokens", {"description": "", "expires": "0"})
    assert r.status == 200
    forever = next(t for t in await tokens_of(memos_client, alice) if t["description"] == "")
    assert forever["expiresAt"] is None

    r = await pages.post(f"/web/setting/tokens/{token_id}/delete", {})
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=account&what=token-deleted#account"
    assert [t["description"] for t in await tokens_of(memos_client, alice)] == [""]
    me = await memos_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    assert me.status == 401


# -- linked identities -----------------------------------------------------------------------------
async def linked_of(client, user) -> list[dict]:
    return (await api(client, user, "GET", f"/api/v1/users/{user.username}/linkedIdentities"))["linkedIdentities"]


async def follow(client, url: str):
    return await client.session.get(url if url.startswith("http") else str(client.make_url(url)))


async def test_link_and_unlink_a_sign_in_provider(pages, memos_client, memos_users, provider, memos_unchanged):
    admin = await memos_users("root", role="ADMIN")
    await oauth.make_idp(memos_client, admin, provider)
    provider.next_claims = {"login": "octocat", "name": "The Octocat"}
    alice = await memos_users("alice")
    await pages.sign_in(alice)

    identities = part(await pages.get("/setting"), "account-identities")
    link = identities.one("a", class_="button")
    assert link.attrs["aria-label"] == "Link Fake" and "not linked" in identities.content()
    href = html.unescape(link.attrs["href"])
    assert href.startswith("/auth/sso/fake/link?csrf_token=")

    # Without the page's token (another site's link) nothing starts.
    r = await memos_client.get("/auth/sso/fake/link", allow_redirects=False)
    assert r.status == 403 and provider.authorize_requests == []

    r = await memos_client.get(href, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith(provider.url("/authorize"))
    done = await follow(memos_client, r.headers["Location"])
    assert done.status == 200 and done.url.path == "/setting"
    assert parse_qs(done.url.query_string) == {"saved": ["account"], "what": ["linked"]}
    identities = part(await done.text(), "account-identities")
    assert "linked as octocat" in identities.content()
    assert identities.one(role="status").content() == "The account was linked: you can sign in with it now."
    assert await linked_of(memos_client, alice) == [
        {"name": "users/alice/linkedIdentities/fake", "idpName": "identity-providers/fake", "externUid": "octocat"}
    ]

    # The same provider account cannot be linked to bob as well: refused beside the list.
    bob = await memos_users("bob")
    await pages.sign_in(bob)
    page = await pages.get("/setting")
    href = html.unescape(part(page, "account-identities").one("a", class_="button").attrs["href"])
    async with memos_unchanged(bob.headers, "/api/v1/users/bob/linkedIdentities"):
        r = await memos_client.get(href, allow_redirects=False)
        refused = await follow(memos_client, r.headers["Location"])
        assert refused.status == 409
    assert alert(part(await refused.text(), "account-identities")) == (
        "This Fake account is already linked to another user here."
    )

    # A flow started by alice is not finished for bob: nothing is linked.
    await pages.sign_in(alice)
    r = await pages.post("/web/setting/identities/fake/unlink", {})
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=account&what=unlinked#account"
    assert await linked_of(memos_client, alice) == []
    r = await memos_client.get(
        html.unescape(part(await pages.get("/setting"), "account-identities").one("a", class_="button").attrs["href"]),
        allow_redirects=False,
    )
    query = {k: v[0] for k, v in parse_qs(urlsplit(r.headers["Location"]).query).items()}
    code = provider.code_for({"login": "octocat"})
    flow_cookie = next(c.value for c in memos_client.session.cookie_jar if c.key == "memos_sso")
    await pages.sign_in(bob)
    memos_client.session.cookie_jar.update_cookies({"memos_sso": flow_cookie})
    r = await memos_client.get("/auth/callback", params={"code": code, "state": query["state"]})
    assert r.status == 403 and "Sign in to the account you were linking" in await r.text()
    assert await linked_of(memos_client, alice) == [] and await linked_of(memos_client, bob) == []

    # Unlinking what is not linked: the service's 404, beside the list.
    r = await pages.post("/web/setting/identities/fake/unlink", {})
    assert r.status == 404 and alert(part(await r.text(), "account-identities")) == "linked identity not found"


# -- deleting the account --------------------------------------------------------------------------
async def test_delete_my_account_needs_my_username_typed(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    admin = await memos_users("root", role="ADMIN")
    await api(memos_client, alice, "POST", "/api/v1/memos", {"content": "mine", "visibility": "PRIVATE"})
    await pages.sign_in(alice)
    for typed in ("", "Alice", "bob"):
        async with memos_unchanged(alice.headers, "/api/v1/users/alice", "/api/v1/memos"):
            r = await pages.post("/web/setting/delete-account", {"confirm": typed})
            assert r.status == 400
            assert alert(part(await r.text(), "account-delete")) == (
                "Type your username, alice, to confirm. Nothing was deleted."
            )

    r = await pages.post("/web/setting/delete-account", {"confirm": "alice"})
    assert r.status == 303 and r.headers["Location"] == "/auth"
    assert "memos_refresh=;" in r.headers["Set-Cookie"]
    gone = await memos_client.get("/api/v1/users/alice", headers=admin.headers)
    assert gone.status == 404
    r = await memos_client.get("/setting", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith("/auth")


# -- preferences -----------------------------------------------------------------------------------
async def general_of(client, user) -> dict:
    return (await api(client, user, "GET", f"/api/v1/users/{user.username}/settings/GENERAL"))["generalSetting"]


async def test_preferences_are_stored_in_upstreams_values(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    prefs = section(await pages.get("/setting"), "preferences")
    options = {s.attrs["name"]: [o.attrs["value"] for o in s.all("option")] for s in prefs.all("select")}
    assert options == {
        "locale": ["en", "zh-Hans"],
        "theme": ["system", "light", "dark"],
        "memo_visibility": ["PRIVATE", "PROTECTED", "PUBLIC"],
    }
    assert [o.content() for o in prefs.one("select", name="locale").all("option")] == ["English", "简体中文"]

    form = {"locale": "zh-Hans", "theme": "dark", "memo_visibility": "PUBLIC"}
    # A value the form does not offer is refused with the message, nothing written.
    for bad, message in (
        ({"locale": "fr"}, "Choose a language from the list."),
        ({"theme": "paper"}, "Choose a theme from the list."),
        ({"memo_visibility": "SECRET"}, "Choose a visibility from the list."),
    ):
        async with memos_unchanged(alice.headers, "/api/v1/users/alice/settings/GENERAL"):
            r = await pages.post("/web/setting/preferences", dict(form, **bad))
            assert r.status == 400
            assert alert(section(await r.text(), "preferences")) == message

    r = await pages.post("/web/setting/preferences", form)
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=preferences#preferences"
    assert "memos_theme=dark" in r.headers["Set-Cookie"]
    assert await general_of(memos_client, alice) == {
        "locale": "zh-Hans",
        "memoVisibility": "PUBLIC",
        "theme": "default-dark",
    }
    text = await pages.get("/setting?saved=preferences")
    assert '<html lang="zh-Hans" data-theme="dark">' in text  # the pages speak the chosen language
    prefs = section(text, "preferences")
    selected = {s.attrs["name"]: s.one("option", selected="").attrs["value"] for s in prefs.all("select")}
    assert selected == form
    # The editor starts new memos with the default visibility.
    editor = parse(await pages.get("/home")).one("select", name="visibility")
    assert editor.one("option", selected="").attrs["value"] == "PUBLIC"


async def test_a_value_another_client_stored_is_kept_until_changed(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    body = {"generalSetting": {"locale": "fr", "theme": "paper", "memoVisibility": "PROTECTED"}}
    await api(memos_client, alice, "PATCH", "/api/v1/users/alice/settings/GENERAL", body)
    await pages.sign_in(alice)
    prefs = section(await pages.get("/setting"), "preferences")
    selected = {s.attrs["name"]: s.one("option", selected="").attrs["value"] for s in prefs.all("select")}
    assert selected == {"locale": "fr", "theme": "light", "memo_visibility": "PROTECTED"}
    # Saving only a new visibility keeps upstream's "paper" theme and the French locale.
    r = await pages.post("/web/setting/preferences", dict(selected, memo_visibility="PRIVATE"))
    assert r.status == 303
    assert await general_of(memos_client, alice) == {"locale": "fr", "memoVisibility": "PRIVATE", "theme": "paper"}


# -- webhooks --------------------------------------------------------------------------------------
async def hooks_of(client, user) -> list[dict]:
    return (await api(client, user, "GET", f"/api/v1/users/{user.username}/webhooks"))["webhooks"]


async def test_webhooks_created_edited_refused_and_deleted(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    assert "No webhooks yet." in section(await pages.get("/setting"), "webhooks").content()

    r = await pages.post("/web/setting/webhooks", {"display_name": "CI", "url": f" {PUBLIC_URL} "})
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=webhooks#webhooks"
    (hook,) = await hooks_of(memos_client, alice)
    assert (hook["displayName"], hook["url"]) == ("CI", PUBLIC_URL)
    hook_id = hook["name"].rsplit("/", 1)[1]
    listed = section(await pages.get("/setting"), "webhooks").one("li", id=f"webhook-{hook_id}")
    assert listed.one("input", name="url").attrs["value"] == PUBLIC_URL

    # A private address: the API's check, beside the new form's URL, with what was typed.
    for url, message in (
        ("http://127.0.0.1:8080/x", "webhook URL must not resolve to a reserved or private IP address"),
        ("ftp://1.1.1.1/x", "invalid webhook URL"),
        ("", "webhook URL is required"),
    ):
        async with memos_unchanged(alice.headers, "/api/v1/users/alice/webhooks"):
            r = await pages.post("/web/setting/webhooks", {"display_name": "Local", "url": url})
            assert r.status == 400
            new = parse(await r.text()).one("form", action="/web/setting/webhooks#webhooks")
        field = new.one("input", name="url")
        assert field.attrs["value"] == url and field.attrs["aria-describedby"] == "webhook-new-error"
        assert new.one("input", name="display_name").attrs["value"] == "Local"
        assert new.one("p", id="webhook-new-error").content().startswith(message)

    # Editing: saved, or refused beside that webhook's own URL.
    action = f"/web/setting/webhooks/{hook_id}"
    r = await pages.post(action, {"display_name": "Deploys", "url": "http://8.8.8.8/deploy"})
    assert r.status == 303
    assert [(h["displayName"], h["url"]) for h in await hooks_of(memos_client, alice)] == [
        ("Deploys", "http://8.8.8.8/deploy")
    ]
    for url in ("http://10.0.0.1/x", ""):
        async with memos_unchanged(alice.headers, "/api/v1/users/alice/webhooks"):
            r = await pages.post(action, {"display_name": "Renamed", "url": url})
            assert r.status == 400
            item = section(await r.text(), "webhooks").one("li", id=f"webhook-{hook_id}")
        assert item.one("input", name="url").attrs["value"] == url
        assert item.one("input", name="display_name").attrs["value"] == "Renamed"
        assert item.one("p", id=f"webhook-{hook_id}-error").attrs["role"] == "alert"

    r = await pages.post(f"{action}/delete", {})
    assert r.status == 303
    assert await hooks_of(memos_client, alice) == []
    r = await pages.post(f"{action}/delete", {})
    assert r.status == 404 and alert(section(await r.text(), "webhooks")) == "webhook not found"


# -- every form: a session and the page's token ----------------------------------------------------
FORMS = [
    ("/web/setting/profile", {"username": "alice", "display_name": "X", "email": "", "description": ""}),
    ("/web/setting/avatar", {"remove": "1"}),
    ("/web/setting/password", {"password": "x-Passw0rd", "password_confirm": "x-Passw0rd"}),
    ("/web/setting/tokens", {"description": "x", "expires": "0"}),
    ("/web/setting/delete-account", {"confirm": "alice"}),
    ("/web/setting/preferences", {"locale": "zh-Hans", "theme": "dark", "memo_visibility": "PUBLIC"}),
    ("/web/setting/webhooks", {"display_name": "x", "url": PUBLIC_URL}),
]


async def test_forms_need_the_pages_token_and_a_session(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    token = await pages.csrf("/setting")
    watched = (
        "/api/v1/users/alice",
        "/api/v1/users/alice/settings/GENERAL",
        "/api/v1/users/alice/webhooks",
        "/api/v1/users/alice/personalAccessTokens",
    )
    async with memos_unchanged(alice.headers, *watched):
        for path, data in FORMS:
            r = await pages.post(path, data, token="forged")
            assert r.status == 403, path
        memos_client.session.cookie_jar.clear(lambda cookie: cookie.key == "memos_refresh")  # signed out
        for path, data in FORMS:
            r = await pages.post(path, data, token=token)
            assert r.status == 302 and r.headers["Location"].startswith("/auth?redirect="), path
    await pages.sign_in(alice)
    assert "memos_pat_" not in await pages.get("/setting")


async def test_the_page_runs_the_same_statements_however_much_there_is(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    store = memos_client.app[CONTEXT].store

    async def count() -> int:
        await pages.get("/setting")  # warm: the CSRF cookie and any first-use reads
        before = store.statements
        await pages.get("/setting")
        return store.statements - before

    empty = await count()
    for i in range(6):
        await api(memos_client, alice, "POST", "/api/v1/users/alice/personalAccessTokens", {"description": f"t{i}"})
        await api(memos_client, alice, "POST", "/api/v1/users/alice/webhooks", {"url": f"https://1.1.1.{i + 1}/h"})
    text = await pages.get("/setting")
    assert len(part(text, "account-tokens").one("tbody").all("tr")) == 6
    assert len(section(text, "webhooks").all("li", class_="webhook")) == 6
    assert await count() == empty
