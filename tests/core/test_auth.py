"""AuthService over HTTP: sign-in, cookies, refresh rotation, sign-out, /auth/me and the throttle."""

import dataclasses
import re

import jwt
import pytest

from memos_core import hookimpl
from memos_core.app import create_app
from memos_core.context import CONTEXT
from memos_core.errors import invalid
from memos_core.services import auth as auth_service
from memos_core.store import settings as settings_store
from memos_core.store import users as users_store

IPHONE_UA = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.0 Mobile/15E148 Safari/604.1"
)
COOKIE_RE = re.compile(
    r"^memos_refresh=([A-Za-z0-9_.-]+); Path=/; HttpOnly; "
    r"Expires=(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d\d \w{3} \d{4} \d\d:\d\d:\d\d GMT; SameSite=Lax$"
)
CLEARED = "memos_refresh=; Path=/; HttpOnly; Expires=Thu, 01 Jan 1970 00:00:00 GMT; SameSite=Lax"


async def signin(client, username, password, **headers):
    """Sign in with a clean cookie jar; returns the response and the refresh cookie value (if any)."""
    client.session.cookie_jar.clear()
    r = await client.post(
        "/api/v1/auth/signin",
        json={"passwordCredentials": {"username": username, "password": password}},
        headers=headers,
    )
    client.session.cookie_jar.clear()  # tests pass cookies explicitly
    m = COOKIE_RE.match(r.headers.get("Set-Cookie", ""))
    return r, (m.group(1) if m else None)


def refresh_cookie(token):
    return {"Cookie": f"memos_refresh={token}"}


async def stored(client, user_id, key):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await settings_store.get_user_setting(ctx.store, user_id, key)


@pytest.fixture
async def proxied_client(aiohttp_client, memos_client, memos_config):
    """An app on the same database that trusts the test client's peer (127.0.0.1) as its reverse proxy."""
    return await aiohttp_client(create_app(dataclasses.replace(memos_config, trusted_proxies=("127.0.0.1",))))


async def set_general(client, **values):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "GENERAL", values)


async def test_signin_returns_user_tokens_and_cookie(memos_client, memos_users):
    alice = await memos_users("alice")
    r, cookie = await signin(
        memos_client, "alice", alice.password, **{"User-Agent": IPHONE_UA, "X-Forwarded-For": "203.0.113.7, 10.0.0.1"}
    )
    assert r.status == 200
    body = await r.json()
    assert set(body) == {"user", "accessToken", "accessTokenExpiresAt"}
    assert body["user"]["name"] == "users/alice" and body["user"]["email"] == "alice@example.com"
    assert body["user"]["password"] == ""
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$", body["accessTokenExpiresAt"])
    # A real Set-Cookie and the gateway's copy, identical.
    assert cookie is not None
    assert r.headers["Grpc-Metadata-Set-Cookie"] == r.headers["Set-Cookie"]
    assert "Secure" not in r.headers["Set-Cookie"]
    # The access token works.
    me = await memos_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status == 200 and (await me.json())["user"]["username"] == "alice"
    # The refresh token is recorded in upstream's shape. The forwarded address is not believed: the
    # peer (127.0.0.1) is no trusted proxy, so it is the client.
    claims = jwt.decode(cookie, options={"verify_signature": False})
    value = await stored(memos_client, alice.id, "REFRESH_TOKENS")
    [entry] = value["refreshTokens"]
    assert entry["tokenId"] == claims["tid"]
    assert set(entry) <= {"tokenId", "expiresAt", "createdAt", "clientInfo", "description"}
    assert entry["expiresAt"].endswith("Z") and entry["createdAt"].endswith("Z")
    assert entry["clientInfo"] == {
        "userAgent": IPHONE_UA,
        "ipAddress": "127.0.0.1",
        "deviceType": "mobile",
        "os": "iOS",
        "browser": "Safari 17.0",
    }


async def test_client_ip_falls_back_to_x_real_ip(memos_client, proxied_client, memos_users):
    alice = await memos_users("alice")
    r, _ = await signin(proxied_client, "alice", alice.password, **{"X-Real-IP": "198.51.100.2"})
    assert r.status == 200
    [entry] = (await stored(memos_client, alice.id, "REFRESH_TOKENS"))["refreshTokens"]
    assert entry["clientInfo"]["ipAddress"] == "198.51.100.2"


@pytest.mark.parametrize(
    "headers",
    [{"X-Forwarded-Proto": "https"}, {"Forwarded": "for=1.2.3.4;proto=https"}, {"Origin": "https://memos.example"}],
)
async def test_cookie_is_secure_behind_https(memos_client, memos_users, headers):
    alice = await memos_users("alice")
    r, _ = await signin(memos_client, "alice", alice.password, **headers)
    assert r.headers["Set-Cookie"].endswith("; SameSite=Lax; Secure")
    assert r.headers["Grpc-Metadata-Set-Cookie"] == r.headers["Set-Cookie"]


@pytest.mark.parametrize(
    "body",
    [
        {"passwordCredentials": {"username": "alice", "password": "wrong"}},
        {"passwordCredentials": {"username": "nobody", "password": "whatever"}},
        {"passwordCredentials": {"username": "Alice", "password": "alice-password"}},  # case-sensitive
        {"passwordCredentials": {"username": "alice", "password": ""}},
    ],
)
async def test_signin_unmatched(memos_client, memos_users, body):
    await memos_users("alice")
    r = await memos_client.post("/api/v1/auth/signin", json=body)
    assert r.status == 400
    assert await r.json() == {"code": 3, "message": "unmatched username and password", "details": []}
    assert "Set-Cookie" not in r.headers


async def test_signin_bad_requests(memos_client, memos_users):
    await memos_users("alice")
    for body, status, code in [
        ({}, 400, 3),
        ({"passwordCredentials": "alice"}, 400, 3),
        ({"passwordCredentials": {"username": 1, "password": "x"}}, 400, 3),
        (
            {
                "passwordCredentials": {"username": "alice", "password": "x"},
                "ssoCredentials": {"idpName": "identity-providers/x", "code": "c", "redirectUri": "r"},
            },
            400,
            3,
        ),
        ({"ssoCredentials": {"idpName": "identity-providers/x", "code": "c", "redirectUri": "r"}}, 400, 3),
    ]:
        r = await memos_client.post("/api/v1/auth/signin", json=body)
        assert r.status == status, body
        assert (await r.json())["code"] == code
    r = await memos_client.post("/api/v1/auth/signin", data=b"{not json", headers={"Content-Type": "application/json"})
    assert r.status == 400 and (await r.json())["code"] == 3
    # snake_case credentials are accepted like camelCase.
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"password_credentials": {"username": "alice", "password": "alice-password"}}
    )
    assert r.status == 200


async def test_signin_archived_user_is_forbidden(memos_client, memos_users):
    bob = await memos_users("bob", row_status="ARCHIVED")
    r, cookie = await signin(memos_client, "bob", bob.password)
    assert r.status == 403 and (await r.json())["code"] == 7
    assert cookie is None


async def test_disallow_password_auth_blocks_users_not_admins(memos_client, memos_users):
    admin = await memos_users("root", role="ADMIN")
    bob = await memos_users("bob")
    await set_general(memos_client, disallowPasswordAuth=True)
    r, _ = await signin(memos_client, "bob", bob.password)
    assert r.status == 403
    r, _ = await signin(memos_client, "root", admin.password)
    assert r.status == 200


async def test_refresh_rotates_the_token(memos_client, memos_users):
    alice = await memos_users("alice")
    _, old = await signin(memos_client, "alice", alice.password)
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(old))
    assert r.status == 200
    body = await r.json()
    assert set(body) == {"accessToken", "expiresAt"}
    new = COOKIE_RE.match(r.headers["Set-Cookie"]).group(1)
    assert new != old and r.headers["Grpc-Metadata-Set-Cookie"] == r.headers["Set-Cookie"]
    memos_client.session.cookie_jar.clear()
    me = await memos_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {body['accessToken']}"})
    assert me.status == 200
    # The old refresh token is gone, the new one is the only one stored.
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(old))
    assert r.status == 401 and (await r.json())["code"] == 16
    tids = [e["tokenId"] for e in (await stored(memos_client, alice.id, "REFRESH_TOKENS"))["refreshTokens"]]
    assert tids == [jwt.decode(new, options={"verify_signature": False})["tid"]]
    # The gateway spelling of the cookie works too.
    r = await memos_client.post(
        "/api/v1/auth/refresh", json={}, headers={"Grpc-Metadata-Cookie": f"other=1; memos_refresh={new}"}
    )
    assert r.status == 200


async def test_refresh_rejects_missing_invalid_and_stale_tokens(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/auth/refresh", json={})
    assert r.status == 401
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie("garbage"))
    assert r.status == 401
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(alice.token))  # access JWT
    assert r.status == 401
    # A refresh JWT signed correctly but never recorded.
    ctx = memos_client.app[CONTEXT]
    forged, _, _ = auth_service.tokens.issue_refresh_token(ctx.secret, user_id=alice.id)
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(forged))
    assert r.status == 401
    # A recorded token whose stored expiry has passed.
    _, cookie = await signin(memos_client, "alice", alice.password)
    value = await stored(memos_client, alice.id, "REFRESH_TOKENS")
    value["refreshTokens"][0]["expiresAt"] = "2020-01-01T00:00:00Z"
    async with ctx.store.connection():
        await settings_store.set_user_setting(ctx.store, alice.id, "REFRESH_TOKENS", value)
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(cookie))
    assert r.status == 401


async def test_refresh_rejects_archived_user(memos_client, memos_users):
    alice = await memos_users("alice")
    _, cookie = await signin(memos_client, "alice", alice.password)
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await users_store.update_user(ctx.store, alice.id, row_status="ARCHIVED")
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(cookie))
    assert r.status == 401


async def test_signout_revokes_and_clears(memos_client, memos_users):
    alice = await memos_users("alice")
    _, keep = await signin(memos_client, "alice", alice.password)
    _, cookie = await signin(memos_client, "alice", alice.password)
    r = await memos_client.post("/api/v1/auth/signout", headers=refresh_cookie(cookie))
    assert r.status == 200 and await r.json() == {}
    assert r.headers["Set-Cookie"] == CLEARED and r.headers["Grpc-Metadata-Set-Cookie"] == CLEARED
    memos_client.session.cookie_jar.clear()
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(cookie))
    assert r.status == 401 and r.headers["Set-Cookie"] == CLEARED
    memos_client.session.cookie_jar.clear()  # the test jar keeps the cleared cookie and would send it
    # Only that session was revoked.
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers=refresh_cookie(keep))
    assert r.status == 200
    # Without any credential sign-out still answers {} and clears the cookie.
    memos_client.session.cookie_jar.clear()
    r = await memos_client.post("/api/v1/auth/signout")
    assert r.status == 200 and await r.json() == {} and r.headers["Set-Cookie"] == CLEARED
    r = await memos_client.post("/api/v1/auth/signout", headers=refresh_cookie("garbage"))
    assert r.status == 200


async def test_me(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/auth/me", headers=alice.headers)
    assert r.status == 200
    user = (await r.json())["user"]
    assert user["email"] == "alice@example.com" and user["role"] == "USER"
    for headers in ({}, {"Authorization": "Bearer nonsense"}, {"Authorization": "Basic abc"}):
        r = await memos_client.get("/api/v1/auth/me", headers=headers)
        assert r.status == 401, headers
        assert (await r.json())["code"] == 16
        assert r.headers["Set-Cookie"] == CLEARED


async def test_access_token_of_archived_user_is_rejected(memos_client, memos_users):
    alice = await memos_users("alice", row_status="ARCHIVED")
    r = await memos_client.get("/api/v1/auth/me", headers=alice.headers)
    assert r.status == 401


async def test_throttle_by_username(memos_client, memos_users):
    alice = await memos_users("alice")
    await memos_users("bob")
    ctx = memos_client.app[CONTEXT]
    throttle = auth_service.throttle_of(ctx)
    now = [1000.0]
    throttle.clock = lambda: now[0]
    for _ in range(5):
        r, _ = await signin(memos_client, "alice", "wrong")
        assert r.status == 400
    r, cookie = await signin(memos_client, "alice", alice.password)  # right password, still refused
    assert r.status == 429 and cookie is None
    assert (await r.json())["code"] == 8
    assert 0 < int(r.headers["Retry-After"]) <= 15 * 60
    r, _ = await signin(memos_client, "bob", "bob-password")  # another account is unaffected
    assert r.status == 200
    now[0] += 15 * 60 + 1
    r, _ = await signin(memos_client, "alice", alice.password)
    assert r.status == 200


async def test_throttle_success_resets_username_counter(memos_client, memos_users):
    alice = await memos_users("alice")
    for _ in range(4):
        assert (await signin(memos_client, "alice", "wrong"))[0].status == 400
    assert (await signin(memos_client, "alice", alice.password))[0].status == 200
    for _ in range(4):
        assert (await signin(memos_client, "alice", "wrong"))[0].status == 400
    assert (await signin(memos_client, "alice", alice.password))[0].status == 200


async def test_throttle_by_ip(memos_client, proxied_client, memos_users, monkeypatch):
    await memos_users("alice")

    async def no_burn():  # unknown users cost a cost-10 bcrypt each; not what this test is about
        pass

    monkeypatch.setattr(auth_service, "burn_verification", no_burn)
    for i in range(20):
        r, _ = await signin(proxied_client, f"user{i}", "x", **{"X-Forwarded-For": "192.0.2.9"})
        assert r.status == 400
    r, _ = await signin(proxied_client, "alice", "alice-password", **{"X-Forwarded-For": "192.0.2.9"})
    assert r.status == 429
    r, _ = await signin(proxied_client, "alice", "alice-password", **{"X-Forwarded-For": "192.0.2.10"})
    assert r.status == 200


class TokenSignIn:
    """A throwaway plugin providing a sign-in method of its own."""

    @hookimpl
    def memos_register_auth_providers(self, register):
        async def provider(app, credentials):
            ctx = app[CONTEXT]
            if credentials.get("code") != "letmein":
                raise invalid("bad code")
            return await users_store.get_user(ctx.store, username=credentials.get("username"))

        register("ssoCredentials", provider)


class TestPluginProvider:
    """Sign-in methods are pluggable: a plugin's provider handles its credential key."""

    @pytest.fixture
    def memos_extra_plugins(self):
        return [TokenSignIn()]

    async def test_plugin_sign_in_provider(self, memos_client, memos_users):
        await memos_users("alice")
        body = {"ssoCredentials": {"username": "alice", "code": "nope"}}
        r = await memos_client.post("/api/v1/auth/signin", json=body)
        assert r.status == 400 and (await r.json())["message"] == "bad code"
        body["ssoCredentials"]["code"] = "letmein"
        r = await memos_client.post("/api/v1/auth/signin", json=body)
        assert r.status == 200
        assert (await r.json())["user"]["username"] == "alice"
        assert COOKIE_RE.match(r.headers["Set-Cookie"])
