"""Bearer credentials that must not work: forged or stale access JWTs, and PATs and refresh tokens
past their expiry, checked against a clock that moves (not only against a stored date in 2020).

The bad JWTs are built here with PyJWT from the claims upstream's access tokens carry (``iss``
``memos``, ``aud`` ``user.access-token``, ``kid`` ``v1``, ``type`` ``access``, HS256 with the instance
secret), so each case differs from a token the server accepts in exactly one respect; the first
test proves the builder makes a token the server does accept.
"""

from __future__ import annotations

import re
import time
import warnings

import jwt
import pytest

from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store

PROTECTED = "/api/v1/memos"  # CreateMemo: not in the public method list
PAT_URL = "/api/v1/users/alice/personalAccessTokens"
COOKIE_RE = re.compile(r"^memos_refresh=([A-Za-z0-9_.-]+);")
DAY = 86400


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def access_token(secret, user_id: int, *, header=None, algorithm="HS256", drop=(), **claims) -> str:
    """An access JWT as the server issues it, with ``claims`` overriding and ``drop`` removing claims."""
    now = int(time.time())
    values = {
        "type": "access",
        "role": "USER",
        "status": "NORMAL",
        "username": "alice",
        "iss": "memos",
        "aud": ["user.access-token"],
        "sub": str(user_id),
        "iat": now,
        "exp": now + 900,
    }
    values.update(claims)
    for name in drop:
        values.pop(name)
    with warnings.catch_warnings():  # HS512 wants a longer key than the instance secret: fine here
        warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
        return jwt.encode(values, secret, algorithm=algorithm, headers={"kid": "v1"} if header is None else header)


async def create_memo(client, headers):
    return await client.post(PROTECTED, json={"content": "written with a bad token?"}, headers=headers)


async def memo_count(client, user) -> int:
    r = await client.get("/api/v1/memos?pageSize=100", headers=user.headers)
    assert r.status == 200
    return len((await r.json())["memos"])


class Clock:
    """Moves ``time.time`` of the whole server process (the test's own process) by an offset."""

    def __init__(self, monkeypatch) -> None:
        self.offset = 0.0
        real = time.time
        monkeypatch.setattr(time, "time", lambda: real() + self.offset)


@pytest.fixture
def clock(monkeypatch) -> Clock:
    return Clock(monkeypatch)


# -- access JWTs -----------------------------------------------------------------------------------
async def test_the_builder_makes_an_accepted_token(memos_client, memos_users):
    alice = await memos_users("alice")
    token = access_token(memos_client.app[CONTEXT].secret, alice.id)
    r = await create_memo(memos_client, bearer(token))
    assert r.status == 200, await r.text()
    assert (await r.json())["creator"] == "users/alice"


BAD_ACCESS_TOKENS = {
    "expired": lambda secret, uid: access_token(secret, uid, iat=int(time.time()) - 3600, exp=int(time.time()) - 60),
    "signed with another key": lambda secret, uid: access_token("another-instance-secret-0123456789", uid),
    "signature of another payload": lambda secret, uid: _swap_payload(
        access_token(secret, uid), access_token(secret, uid, role="ADMIN")
    ),
    "alg none": lambda secret, uid: access_token(None, uid, algorithm="none"),
    "alg HS512": lambda secret, uid: access_token(secret, uid, algorithm="HS512"),
    "refresh audience": lambda secret, uid: access_token(secret, uid, aud=["user.refresh-token"]),
    "foreign audience": lambda secret, uid: access_token(secret, uid, aud=["someone-else"]),
    "no audience": lambda secret, uid: access_token(secret, uid, drop=("aud",)),
    "foreign issuer": lambda secret, uid: access_token(secret, uid, iss="not-memos"),
    "no issuer": lambda secret, uid: access_token(secret, uid, drop=("iss",)),
    "type refresh": lambda secret, uid: access_token(secret, uid, type="refresh"),
    "no type": lambda secret, uid: access_token(secret, uid, drop=("type",)),
    "other kid": lambda secret, uid: access_token(secret, uid, header={"kid": "v2"}),
    "no kid": lambda secret, uid: access_token(secret, uid, header={}),
    "no exp": lambda secret, uid: access_token(secret, uid, drop=("exp",)),
    "no sub": lambda secret, uid: access_token(secret, uid, drop=("sub",)),
    "sub not a number": lambda secret, uid: access_token(secret, uid, sub="alice"),
    "sub of no user": lambda secret, uid: access_token(secret, uid + 1000),
}


def _swap_payload(signed: str, other: str) -> str:
    """``signed``'s header and signature around ``other``'s payload: a tampered token."""
    head, _, sig = signed.split(".")
    return ".".join((head, other.split(".")[1], sig))


@pytest.mark.parametrize("case", list(BAD_ACCESS_TOKENS))
async def test_bad_access_token_is_401_and_writes_nothing(memos_client, memos_users, case):
    alice = await memos_users("alice")
    token = BAD_ACCESS_TOKENS[case](memos_client.app[CONTEXT].secret, alice.id)
    r = await create_memo(memos_client, bearer(token))
    assert r.status == 401, await r.text()
    body = await r.json()
    assert set(body) == {"code", "message", "details"}
    assert body["code"] == 16 and body["message"] and body["details"] == []
    assert await memo_count(memos_client, alice) == 0


@pytest.mark.parametrize("kind", ["refresh token", "personal access token hash"])
async def test_other_credentials_are_not_access_tokens(memos_client, memos_users, kind):
    """A genuine refresh JWT from sign-in, or the stored hash of a PAT, is no access token."""
    alice = await memos_users("alice")
    memos_client.session.cookie_jar.clear()
    if kind == "refresh token":
        r = await memos_client.post(
            "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": alice.password}}
        )
        token = COOKIE_RE.match(r.headers["Set-Cookie"]).group(1)
        memos_client.session.cookie_jar.clear()
        assert jwt.decode(token, options={"verify_signature": False})["type"] == "refresh"
    else:
        r = await memos_client.post(PAT_URL, json={}, headers=alice.headers)
        assert r.status == 200
        ctx = memos_client.app[CONTEXT]
        async with ctx.store.connection():
            value = await settings_store.get_user_setting(ctx.store, alice.id, "PERSONAL_ACCESS_TOKENS")
        token = value["tokens"][0]["tokenHash"]
    r = await create_memo(memos_client, bearer(token))
    assert r.status == 401 and (await r.json())["code"] == 16
    assert await memo_count(memos_client, alice) == 0


async def test_server_issued_access_token_expires_after_fifteen_minutes(memos_client, memos_users, clock):
    """Sign in with the clock moved back: the real access token is past its ``exp`` only when it
    should be (PyJWT checks ``exp`` against the real time)."""
    alice = await memos_users("alice")

    async def token_issued(ago: int) -> str:
        clock.offset = -ago
        r = await memos_client.post(
            "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": alice.password}}
        )
        memos_client.session.cookie_jar.clear()
        assert r.status == 200
        clock.offset = 0
        return (await r.json())["accessToken"]

    fresh = await token_issued(15 * 60 - 30)
    stale = await token_issued(15 * 60 + 5)
    assert (await memos_client.get(PAT_URL, headers=bearer(fresh))).status == 200
    r = await memos_client.get(PAT_URL, headers=bearer(stale))
    assert r.status == 401 and (await r.json())["code"] == 16


# -- personal access tokens ------------------------------------------------------------------------
async def test_pat_stops_working_when_its_expiry_passes(memos_client, memos_users, clock):
    alice = await memos_users("alice")
    r = await memos_client.post(PAT_URL, json={"expiresInDays": 1}, headers=alice.headers)
    assert r.status == 200
    token = (await r.json())["token"]
    never = (await (await memos_client.post(PAT_URL, json={}, headers=alice.headers)).json())["token"]

    clock.offset = DAY - 60  # a minute before the expiry
    assert (await memos_client.get(PAT_URL, headers=bearer(token))).status == 200
    clock.offset = DAY + 60  # a minute after it
    r = await memos_client.get(PAT_URL, headers=bearer(token))
    assert r.status == 401 and (await r.json())["code"] == 16
    assert (await create_memo(memos_client, bearer(token))).status == 401
    # A token created without an expiry still works years later.
    clock.offset = 10 * 365 * DAY
    assert (await memos_client.get(PAT_URL, headers=bearer(never))).status == 200
    clock.offset = 0
    assert await memo_count(memos_client, alice) == 0


# -- refresh tokens --------------------------------------------------------------------------------
async def signin_cookie(client, user) -> str:
    client.session.cookie_jar.clear()
    r = await client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": user.username, "password": user.password}}
    )
    client.session.cookie_jar.clear()
    assert r.status == 200
    return COOKIE_RE.match(r.headers["Set-Cookie"]).group(1)


async def refresh(client, cookie: str):
    r = await client.post("/api/v1/auth/refresh", json={}, headers={"Cookie": f"memos_refresh={cookie}"})
    client.session.cookie_jar.clear()
    return r


async def test_refresh_is_refused_once_the_session_expired(memos_client, memos_users, clock):
    """Thirty days on, the recorded session has expired, though the JWT itself is still unexpired for
    PyJWT (it reads the real time): the server's own check against its clock refuses it."""
    alice = await memos_users("alice")
    early = await signin_cookie(memos_client, alice)
    late = await signin_cookie(memos_client, alice)

    clock.offset = 30 * DAY - 60
    r = await refresh(memos_client, early)
    assert r.status == 200, await r.text()
    clock.offset = 30 * DAY + 60
    r = await refresh(memos_client, late)
    assert r.status == 401 and (await r.json())["code"] == 16


async def test_refresh_jwt_past_its_exp_is_refused(memos_client, memos_users, clock):
    """A refresh JWT issued 30 days and a minute ago is expired by its own ``exp`` claim, even when
    the stored session says it is still live."""
    alice = await memos_users("alice")
    clock.offset = -(30 * DAY + 60)
    cookie = await signin_cookie(memos_client, alice)
    clock.offset = 0
    assert jwt.decode(cookie, options={"verify_signature": False})["exp"] < time.time()
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        value = await settings_store.get_user_setting(ctx.store, alice.id, "REFRESH_TOKENS")
        value["refreshTokens"][0]["expiresAt"] = "2999-01-01T00:00:00Z"
        await settings_store.set_user_setting(ctx.store, alice.id, "REFRESH_TOKENS", value)
    r = await refresh(memos_client, cookie)
    assert r.status == 401 and (await r.json())["code"] == 16
