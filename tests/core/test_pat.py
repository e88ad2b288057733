"""Personal access tokens over HTTP: create/list/delete, bearer use, expiry, lastUsedAt."""

import hashlib
import re

import pytest

from memos_core.context import CONTEXT
from memos_core.services import auth as auth_service
from memos_core.store import settings as settings_store
from memos_core.store import users as users_store

URL = "/api/v1/users/alice/personalAccessTokens"


async def stored(client, user_id):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await settings_store.get_user_setting(ctx.store, user_id, "PERSONAL_ACCESS_TOKENS")


async def write(client, user_id, value):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_user_setting(ctx.store, user_id, "PERSONAL_ACCESS_TOKENS", value)


def bearer(token):
    return {"Authorization": f"Bearer {token}"}


async def test_create_list_use_delete(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post(
        URL, json={"parent": "users/alice", "description": "ci", "expiresInDays": 7}, headers=alice.headers
    )
    assert r.status == 200
    body = await r.json()
    token = body["token"]
    assert re.fullmatch(r"memos_pat_[0-9A-Za-z]{32}", token)
    pat = body["personalAccessToken"]
    assert set(pat) == {"name", "description", "createdAt", "expiresAt", "lastUsedAt"}
    assert pat["expiresAt"].endswith("Z") and pat["lastUsedAt"] is None  # unset Timestamp: null
    assert re.fullmatch(r"users/alice/personalAccessTokens/[0-9a-f-]{36}", pat["name"])
    assert pat["description"] == "ci" and pat["createdAt"].endswith("Z")
    # Stored as a SHA-256 of the whole token, never in plaintext.
    [entry] = (await stored(memos_client, alice.id))["tokens"]
    assert entry["tokenHash"] == hashlib.sha256(token.encode()).hexdigest()
    assert token not in str(entry)
    assert pat["name"].endswith(entry["tokenId"])
    # The token authenticates.
    r = await memos_client.get("/api/v1/auth/me", headers=bearer(token))
    assert r.status == 200 and (await r.json())["user"]["username"] == "alice"
    # Listing shows metadata only.
    r = await memos_client.get(URL, headers=alice.headers)
    listed = await r.json()
    assert listed["totalSize"] == 1 and listed["nextPageToken"] == ""
    [item] = listed["personalAccessTokens"]
    assert item["name"] == pat["name"] and "lastUsedAt" in item
    assert token not in str(listed) and "tokenHash" not in str(listed)
    # Delete it; it stops working; deleting again (or an unknown id) still succeeds.
    token_id = pat["name"].rsplit("/", 1)[1]
    r = await memos_client.delete(f"{URL}/{token_id}", headers=alice.headers)
    assert r.status == 200 and await r.json() == {}
    assert (await memos_client.get("/api/v1/auth/me", headers=bearer(token))).status == 401
    r = await memos_client.delete(f"{URL}/{token_id}", headers=alice.headers)
    assert r.status == 200
    r = await memos_client.get(URL, headers=alice.headers)
    assert (await r.json())["personalAccessTokens"] == []


async def test_token_without_expiry(memos_client, memos_users):
    alice = await memos_users("alice")
    for days in (0, -3):
        r = await memos_client.post(URL, json={"expiresInDays": days}, headers=alice.headers)
        pat = (await r.json())["personalAccessToken"]
        assert pat["expiresAt"] is None and pat["lastUsedAt"] is None and pat["description"] == ""
    r = await memos_client.post(URL, json={"expires_in_days": "2"}, headers=alice.headers)
    assert r.status == 200 and (await r.json())["personalAccessToken"]["expiresAt"].endswith("Z")


@pytest.mark.parametrize(
    "body",
    [
        {"expiresInDays": "soon"},
        {"expiresInDays": 1.5},
        {"expiresInDays": 10**12},
        {"description": 3},
        {"expiresInDays": 40000},
    ],
)
async def test_create_rejects_bad_input(memos_client, memos_users, body):
    alice = await memos_users("alice")
    r = await memos_client.post(URL, json=body, headers=alice.headers)
    assert r.status == 400
    assert await stored(memos_client, alice.id) is None


async def test_permissions(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    r = await memos_client.post(URL, json={}, headers=alice.headers)
    token_id = (await r.json())["personalAccessToken"]["name"].rsplit("/", 1)[1]
    assert (await memos_client.get(URL)).status == 401
    for headers, status in (({}, 401), (bob.headers, 403), (admin.headers, 403)):  # create and delete: owner only
        async with memos_unchanged(alice.headers, URL):
            assert (await memos_client.post(URL, json={}, headers=headers)).status == status
            assert (await memos_client.delete(f"{URL}/{token_id}", headers=headers)).status == status
    assert (await memos_client.get(URL, headers=bob.headers)).status == 403
    r = await memos_client.get(URL, headers=admin.headers)  # admins may list
    assert r.status == 200 and len((await r.json())["personalAccessTokens"]) == 1
    assert len((await stored(memos_client, alice.id))["tokens"]) == 1
    assert (await memos_client.get("/api/v1/users/ghost/personalAccessTokens", headers=admin.headers)).status == 404


async def test_expired_and_unknown_tokens(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post(URL, json={"expiresInDays": 1}, headers=alice.headers)
    token = (await r.json())["token"]
    value = await stored(memos_client, alice.id)
    value["tokens"][0]["expiresAt"] = "2020-01-01T00:00:00Z"
    await write(memos_client, alice.id, value)
    r = await memos_client.get("/api/v1/auth/me", headers=bearer(token))
    assert r.status == 401
    r = await memos_client.get(URL, headers=bearer(token))
    assert r.status == 401 and (await r.json())["code"] == 16
    r = await memos_client.get(URL, headers=bearer("memos_pat_" + "x" * 32))
    assert r.status == 401


async def test_archived_owner_token_is_rejected(memos_client, memos_users):
    alice = await memos_users("alice")
    token = (await (await memos_client.post(URL, json={}, headers=alice.headers)).json())["token"]
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await users_store.update_user(ctx.store, alice.id, row_status="ARCHIVED")
    assert (await memos_client.get(URL, headers=bearer(token))).status == 401


async def test_last_used_is_written_at_most_once_a_minute(memos_client, memos_users):
    alice = await memos_users("alice")
    token = (await (await memos_client.post(URL, json={}, headers=alice.headers)).json())["token"]
    ctx = memos_client.app[CONTEXT]
    assert (await memos_client.get(URL, headers=bearer(token))).status == 200
    first = (await stored(memos_client, alice.id))["tokens"][0]["lastUsedAt"]
    assert first.endswith("Z")
    before = ctx.store.statements
    assert (await memos_client.get(URL, headers=bearer(token))).status == 200
    writes_free = ctx.store.statements - before
    # A minute later the next use writes again.
    value = await stored(memos_client, alice.id)
    value["tokens"][0]["lastUsedAt"] = "2020-01-01T00:00:00Z"
    await write(memos_client, alice.id, value)
    before = ctx.store.statements
    assert (await memos_client.get(URL, headers=bearer(token))).status == 200
    assert ctx.store.statements - before > writes_free
    assert (await stored(memos_client, alice.id))["tokens"][0]["lastUsedAt"] != "2020-01-01T00:00:00Z"


def test_touch_interval_rule():
    assert auth_service.pat_needs_touch({}, 1000)
    assert not auth_service.pat_needs_touch({"lastUsedAt": "1970-01-01T00:16:00Z"}, 1000)  # 960: 40 s ago
    assert auth_service.pat_needs_touch({"lastUsedAt": "1970-01-01T00:15:00Z"}, 1000)  # 900: 100 s ago
