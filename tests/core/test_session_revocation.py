"""Changing a password ends the user's other sign-in sessions; an admin's password reset, archive,
role change or delete ends all of them. Sessions are refresh tokens stored in the database, so the
end is seen by every instance on it. Personal access tokens are not sessions and survive."""

import aiohttp
import pytest

from memos_core.app import create_app
from memos_core.auth import tokens
from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store

CLEARED = "memos_refresh=; Path=/; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax"


class Browser:
    """One signed-in client with a cookie jar of its own: the refresh cookie it was given goes back
    with each of its requests, to whichever app (``on``) it talks to, as a browser's would."""

    def __init__(self, client):
        self.client = client
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.access = ""

    async def request(self, method, path, *, on=None, bearer=None, **kwargs):
        headers = dict(kwargs.pop("headers", {}))
        token = self.access if bearer is None else bearer
        if token:
            headers["Authorization"] = f"Bearer {token}"
        url = (on or self.client).make_url(path)
        return await self.session.request(method, url, headers=headers, **kwargs)

    async def signin(self, username, password, *, on=None):
        body = {"passwordCredentials": {"username": username, "password": password}}
        r = await self.request("POST", "/api/v1/auth/signin", json=body, on=on)
        assert r.status == 200, await r.text()
        self.access = (await r.json())["accessToken"]
        return self

    async def refresh(self, *, on=None):
        r = await self.request("POST", "/api/v1/auth/refresh", json={}, on=on, bearer="")
        if r.status == 200:
            self.access = (await r.json())["accessToken"]
        return r

    def cookie(self):
        return self.session.cookie_jar.filter_cookies(self.client.make_url("/")).get("memos_refresh")


@pytest.fixture
async def browser(memos_client):
    """Factory: ``await browser("alice", password)``, a new signed-in session of that user."""
    opened = []

    async def make(username, password, *, client=None):
        b = Browser(client or memos_client)
        opened.append(b)
        return await b.signin(username, password)

    yield make
    for b in opened:
        await b.session.close()


async def assert_alive(b, *, on=None):
    r = await b.refresh(on=on)
    assert r.status == 200, await r.text()
    me = await b.request("GET", "/api/v1/auth/me", on=on)  # the new access token works
    assert me.status == 200


async def assert_ended(b, *, on=None):
    r = await b.refresh(on=on)
    assert r.status == 401
    body = await r.json()
    assert set(body) == {"code", "message", "details"} and body["code"] == 16 and body["details"] == []
    assert r.headers["Set-Cookie"] == CLEARED and r.headers["Grpc-Metadata-Set-Cookie"] == CLEARED
    assert b.cookie() is None or b.cookie().value == ""  # the client dropped it


def bearer(b):
    return {"Authorization": f"Bearer {b.access}"}


async def set_password(client, username, password, headers, **kwargs):
    return await client.patch(
        f"/api/v1/users/{username}?updateMask=password", json={"password": password}, headers=headers, **kwargs
    )


async def session_count(client, user_id):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        value = await settings_store.get_user_setting(ctx.store, user_id, "REFRESH_TOKENS")
    return len((value or {}).get("refreshTokens", []))


# -- the user's own password change ---------------------------------------------------------------
async def test_own_password_change_ends_the_other_sessions(memos_client, memos_users, browser):
    alice = await memos_users("alice")
    await memos_users("bob")
    mine, other, third = [await browser("alice", alice.password) for _ in range(3)]
    bobs = await browser("bob", "bob-password")
    r = await mine.request("PATCH", "/api/v1/users/alice?updateMask=password", json={"password": "n3w-secret"})
    assert r.status == 200
    await assert_ended(other)
    await assert_ended(third)
    await assert_alive(mine)
    await assert_alive(mine)  # and keeps rotating
    await assert_alive(bobs)  # another user's sessions are not touched
    assert await session_count(memos_client, alice.id) == 1
    # The new password signs in; the old one does not.
    await browser("alice", "n3w-secret")
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": alice.password}}
    )
    assert r.status == 400


async def test_access_token_alone_names_its_session(memos_client, memos_users, browser):
    """An API client that keeps the refresh token to itself: the access token's session survives."""
    alice = await memos_users("alice")
    mine, other = await browser("alice", alice.password), await browser("alice", alice.password)
    memos_client.session.cookie_jar.clear()
    r = await set_password(memos_client, "alice", "n3w-secret", {"Authorization": f"Bearer {mine.access}"})
    assert r.status == 200
    await assert_ended(other)
    await assert_alive(mine)


async def test_gateway_cookie_names_the_session(memos_client, memos_users, browser):
    """The refresh cookie in ``Grpc-Metadata-Cookie`` counts like a real one, with any valid credential."""
    alice = await memos_users("alice")
    mine, other = await browser("alice", alice.password), await browser("alice", alice.password)
    memos_client.session.cookie_jar.clear()
    headers = {**alice.headers, "Grpc-Metadata-Cookie": f"memos_refresh={mine.cookie().value}"}
    assert (await set_password(memos_client, "alice", "n3w-secret", headers)).status == 200
    await assert_ended(other)
    await assert_alive(mine)


async def test_change_without_a_known_session_ends_them_all(memos_client, memos_users, browser):
    """An access token issued without a session id (the fixture's, like upstream's), or one whose
    session has rotated since, names no live session: every session ends."""
    alice = await memos_users("alice")
    a, b = await browser("alice", alice.password), await browser("alice", alice.password)
    memos_client.session.cookie_jar.clear()
    assert (await set_password(memos_client, "alice", "n3w-secret", alice.headers)).status == 200
    await assert_ended(a)
    await assert_ended(b)

    c = await browser("alice", "n3w-secret")
    stale = c.access
    await assert_alive(c)  # rotates: the stale access token's session id is gone
    memos_client.session.cookie_jar.clear()
    r = await set_password(memos_client, "alice", "n3w-secret-2", {"Authorization": f"Bearer {stale}"})
    assert r.status == 200
    await assert_ended(c)
    assert await session_count(memos_client, alice.id) == 0


async def test_a_forged_or_foreign_cookie_keeps_nothing(memos_client, memos_users, browser):
    alice = await memos_users("alice")
    await memos_users("bob")
    a = await browser("alice", alice.password)
    bobs = await browser("bob", "bob-password")
    memos_client.session.cookie_jar.clear()
    for cookie in ("garbage", bobs.cookie().value):  # not alice's: ignored, alice's sessions all end
        headers = {**alice.headers, "Cookie": f"memos_refresh={cookie}"}
        assert (await set_password(memos_client, "alice", "n3w-secret", headers)).status == 200
        memos_client.session.cookie_jar.clear()
    await assert_ended(a)
    await assert_alive(bobs)


async def test_personal_access_tokens_survive_a_password_change(memos_client, memos_users, browser):
    alice = await memos_users("alice")
    mine, other = await browser("alice", alice.password), await browser("alice", alice.password)
    r = await mine.request("POST", "/api/v1/users/alice/personalAccessTokens", json={"description": "ci"})
    assert r.status == 200
    pat = {"Authorization": f"Bearer {(await r.json())['token']}"}
    memos_client.session.cookie_jar.clear()
    # Made with the PAT (no session named): the sessions end, the PAT goes on working.
    assert (await set_password(memos_client, "alice", "n3w-secret", pat)).status == 200
    await assert_ended(mine)
    await assert_ended(other)
    r = await memos_client.get("/api/v1/auth/me", headers=pat)
    assert r.status == 200 and (await r.json())["user"]["username"] == "alice"
    # Made with the PAT from a browser holding a session: that session is kept.
    again, other = await browser("alice", "n3w-secret"), await browser("alice", "n3w-secret")
    r = await again.request("PATCH", "/api/v1/users/alice?updateMask=password", json={"password": "x2"}, bearer="")
    assert r.status == 401  # the cookie alone authenticates no API call
    r = await again.request(
        "PATCH", "/api/v1/users/alice?updateMask=password", json={"password": "x2"}, bearer=pat["Authorization"][7:]
    )
    assert r.status == 200
    await assert_ended(other)
    await assert_alive(again)
    assert (await memos_client.get("/api/v1/auth/me", headers=pat)).status == 200


async def test_refused_or_harmless_updates_keep_the_sessions(memos_client, memos_users, browser):
    alice = await memos_users("alice")
    admin = await memos_users("root", role="ADMIN")
    mine, other = await browser("alice", alice.password), await browser("alice", alice.password)
    assert (await set_password(memos_client, "alice", "", bearer(mine))).status == 400
    assert (await set_password(memos_client, "alice", "x" * 73, bearer(mine))).status == 400
    r = await mine.request("PATCH", "/api/v1/users/alice?updateMask=role", json={"role": "ADMIN"})
    assert r.status == 403
    for body, mask in (({"displayName": "Al"}, "display_name"), ({"role": "USER"}, "role"), ({"state": 1}, "state")):
        r = await memos_client.patch(f"/api/v1/users/alice?updateMask={mask}", json=body, headers=admin.headers)
        assert r.status == 200, body
    await assert_alive(mine)
    await assert_alive(other)


# -- an admin acting on a user --------------------------------------------------------------------
@pytest.mark.parametrize(
    ("mask", "body"),
    [("password", {"password": "reset-by-admin"}), ("role", {"role": "ADMIN"}), ("state", {"state": "ARCHIVED"})],
)
async def test_admin_change_ends_all_of_the_user_s_sessions(memos_client, memos_users, browser, mask, body):
    alice = await memos_users("alice")
    admin = await memos_users("root", role="ADMIN")
    a, b = await browser("alice", alice.password), await browser("alice", alice.password)
    admins = await browser("root", admin.password)
    r = await admins.request("PATCH", f"/api/v1/users/alice?updateMask={mask}", json=body)
    assert r.status == 200
    await assert_ended(a)
    await assert_ended(b)
    await assert_alive(admins)
    assert await session_count(memos_client, alice.id) == 0
    if mask == "state":  # restoring the user does not bring the sessions back
        r = await admins.request("PATCH", "/api/v1/users/alice?updateMask=state", json={"state": "NORMAL"})
        assert r.status == 200
        await assert_ended(a)


async def test_deleting_a_user_ends_their_sessions(memos_client, memos_users, browser):
    alice = await memos_users("alice")
    admin = await memos_users("root", role="ADMIN")
    a = await browser("alice", alice.password)
    assert (await memos_client.delete("/api/v1/users/alice", headers=admin.headers)).status == 200
    r = await a.refresh()
    assert r.status == 401 and (await r.json())["code"] == 16
    assert r.headers["Set-Cookie"] == CLEARED
    assert await session_count(memos_client, alice.id) == 0


# -- refresh with a dead cookie -------------------------------------------------------------------
async def test_refresh_with_an_unknown_token_is_401_and_clears_the_cookie(memos_client, memos_users):
    alice = await memos_users("alice")
    ctx = memos_client.app[CONTEXT]
    never_stored, _, _ = tokens.issue_refresh_token(ctx.secret, user_id=alice.id)
    for headers in ({}, {"Cookie": "memos_refresh=garbage"}, {"Cookie": f"memos_refresh={never_stored}"}):
        memos_client.session.cookie_jar.clear()
        r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=headers)
        assert r.status == 401, headers
        body = await r.json()
        assert body["code"] == 16 and body["details"] == [] and body["message"]
        assert r.headers["Set-Cookie"] == CLEARED and r.headers["Grpc-Metadata-Set-Cookie"] == CLEARED
    # A malformed body is a client error, not a dead session: the cookie is left alone.
    headers = {"Content-Type": "application/json", "Cookie": f"memos_refresh={never_stored}"}
    r = await memos_client.post("/api/v1/auth/refresh", data=b"{nope", headers=headers)
    assert r.status == 400 and "Set-Cookie" not in r.headers


# -- several instances on one database ------------------------------------------------------------
@pytest.fixture
async def instance_b(aiohttp_client, memos_client, memos_config):
    """A second app on the same database, as a second process behind a load balancer would be."""
    return await aiohttp_client(create_app(memos_config))


async def test_a_session_ended_on_one_instance_is_refused_on_another(memos_client, instance_b, memos_users, browser):
    alice = await memos_users("alice")
    await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    a, b = memos_client, instance_b
    mine = await browser("alice", alice.password, client=b)
    other = await browser("alice", alice.password, client=b)
    await assert_alive(other, on=b)
    r = await mine.request("PATCH", "/api/v1/users/alice?updateMask=password", json={"password": "n3w"}, on=a)
    assert r.status == 200
    await assert_ended(other, on=b)
    await assert_alive(mine, on=b)
    await assert_alive(mine, on=a)
    # An admin's archive through B is seen by A at once.
    bobs = await browser("bob", "bob-password", client=a)
    await assert_alive(bobs, on=a)
    r = await b.patch("/api/v1/users/bob?updateMask=state", json={"state": "ARCHIVED"}, headers=admin.headers)
    assert r.status == 200
    r = await b.patch("/api/v1/users/bob?updateMask=state", json={"state": "NORMAL"}, headers=admin.headers)
    assert r.status == 200
    await assert_ended(bobs, on=a)
