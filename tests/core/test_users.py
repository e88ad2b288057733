"""UserService over HTTP: sign-up, get/list/batch-get, update, delete, and the avatar route."""

import asyncio
import base64
import json
import time

import pytest
import sqlalchemy as sa

from memos_core import hookimpl
from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store
from memos_core.store import tables
from memos_core.store import users as users_store

PNG = base64.b64encode(b"\x89PNG\r\n\x1a\nfake-image-bytes").decode()
AVATAR = f"data:image/png;base64,{PNG}"


async def signup(client, username, password="secret", **fields):
    return await client.post("/api/v1/users", json={"username": username, "password": password, **fields})


async def row(client, username):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await users_store.get_user(ctx.store, username=username)


async def set_general(client, **values):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "GENERAL", values)


class Recorder:
    def __init__(self):
        self.events = []

    @hookimpl
    def memos_on_event(self, app, event):
        self.events.append(event)


# -- sign-up ------------------------------------------------------------------------------------------
class TestSignUp:
    @pytest.fixture
    def recorder(self):
        return Recorder()

    @pytest.fixture
    def memos_extra_plugins(self, recorder):
        return [recorder]

    async def test_first_user_is_admin_then_users(self, memos_client, recorder):
        await set_general(memos_client, disallowUserRegistration=True)  # does not stop the first user
        r = await signup(memos_client, "alice", email="a@example.com", displayName="Alice", role="USER")
        assert r.status == 200
        body = await r.json()
        assert body["role"] == "ADMIN" and body["name"] == "users/alice" and body["email"] == "a@example.com"
        assert body["displayName"] == "Alice" and body["state"] == "NORMAL" and body["password"] == ""
        await set_general(memos_client)
        r = await signup(memos_client, "bob", role="ADMIN")  # a requested role is ignored
        assert r.status == 200 and (await r.json())["role"] == "USER"
        stored = await row(memos_client, "bob")
        assert stored.password_hash.startswith("$2b$10$")  # bcrypt cost 10
        assert [e.name for e in recorder.events] == ["memos.user.created", "memos.user.created"]
        assert recorder.events[1].resource["username"] == "bob"

    async def test_validate_only_and_user_id(self, memos_client, recorder):
        r = await memos_client.post(
            "/api/v1/users?validateOnly=true&userId=ignored", json={"username": "alice", "password": "pw"}
        )
        assert r.status == 200 and (await r.json())["username"] == "alice"
        assert await row(memos_client, "alice") is None and recorder.events == []
        r = await memos_client.post("/api/v1/users?userId=other", json={"username": "alice", "password": "pw"})
        assert r.status == 200 and (await r.json())["name"] == "users/alice"

    @pytest.mark.parametrize(
        "body",
        [
            {"username": "12345", "password": "pw"},
            {"username": "bad name", "password": "pw"},
            {"username": "alice\n", "password": "pw"},
            {"username": "-dash", "password": "pw"},
            {"username": "a" * 37, "password": "pw"},
            {"username": "", "password": "pw"},
            {"password": "pw"},
            {"username": "alice", "password": ""},
            {"username": "alice"},
            {"username": "alice", "password": "x" * 73},
            {"username": "alice", "password": "pw", "role": "GOD"},
            {"username": "alice", "password": "pw", "avatarUrl": "https://example.com/a.png"},
            {"username": 5, "password": "pw"},
        ],
    )
    async def test_invalid_sign_up(self, memos_client, body):
        r = await memos_client.post("/api/v1/users", json=body)
        assert r.status == 400 and (await r.json())["code"] == 3
        ctx = memos_client.app[CONTEXT]
        async with ctx.store.connection():
            assert await users_store.count_users(ctx.store) == 0

    async def test_duplicate_and_toggles(self, memos_client, memos_users):
        admin = await memos_users("root", role="ADMIN")
        r = await signup(memos_client, "root")
        assert r.status == 409 and (await r.json())["code"] == 6
        await set_general(memos_client, disallowUserRegistration=True)
        r = await signup(memos_client, "carol")
        assert r.status == 403
        await set_general(memos_client, disallowPasswordAuth=True)
        r = await signup(memos_client, "carol")
        assert r.status == 403
        assert await row(memos_client, "carol") is None
        # Admins bypass the toggles and may pick the role.
        await set_general(memos_client, disallowUserRegistration=True, disallowPasswordAuth=True)
        r = await memos_client.post(
            "/api/v1/users", json={"username": "dave", "password": "pw", "role": "ADMIN"}, headers=admin.headers
        )
        assert r.status == 200 and (await r.json())["role"] == "ADMIN"
        r = await memos_client.post("/api/v1/users", json={"username": "erin", "password": "pw"}, headers=admin.headers)
        assert r.status == 200 and (await r.json())["role"] == "USER"
        # A new user can sign in with the password they chose.
        await set_general(memos_client)
        r = await memos_client.post(
            "/api/v1/auth/signin", json={"passwordCredentials": {"username": "erin", "password": "pw"}}
        )
        assert r.status == 200

    async def test_invalid_json(self, memos_client):
        r = await memos_client.post("/api/v1/users", data=b"[1,2", headers={"Content-Type": "application/json"})
        assert r.status == 400
        r = await memos_client.post("/api/v1/users", json=["alice"])
        assert r.status == 400


async def test_racing_first_sign_ups_make_one_admin(memos_client):
    results = await asyncio.gather(*(signup(memos_client, f"user{i}") for i in range(6)))
    assert [r.status for r in results] == [200] * 6
    roles = [(await r.json())["role"] for r in results]
    assert roles.count("ADMIN") == 1 and roles.count("USER") == 5


# -- read -----------------------------------------------------------------------------------------
async def test_get_user_hides_email_from_others(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await users_store.update_user(ctx.store, alice.id, avatar_url=AVATAR, description="hi")
    r = await memos_client.get("/api/v1/users/alice")
    assert r.status == 200
    body = await r.json()
    assert list(body) == [
        "name",
        "role",
        "username",
        "email",
        "displayName",
        "avatarUrl",
        "description",
        "password",
        "state",
        "createTime",
        "updateTime",
    ]
    assert body["email"] == "" and body["avatarUrl"] == "/file/users/alice/avatar" and body["description"] == "hi"
    assert (await (await memos_client.get("/api/v1/users/alice", headers=bob.headers)).json())["email"] == ""
    for viewer in (alice, admin):
        r = await memos_client.get("/api/v1/users/alice", headers=viewer.headers)
        assert (await r.json())["email"] == "alice@example.com"
    r = await memos_client.get("/api/v1/users/ALICE")
    assert r.status == 404 and (await r.json())["code"] == 5
    r = await memos_client.get("/api/v1/users/1")  # numeric ids are usernames, not ids
    assert r.status == 404


async def test_list_users(memos_client, memos_users):
    alice = await memos_users("alice", created_ts=100)
    await memos_users("bob", created_ts=300, row_status="ARCHIVED")
    admin = await memos_users("root", role="ADMIN", created_ts=200)
    r = await memos_client.get("/api/v1/users")
    assert r.status == 401
    r = await memos_client.get("/api/v1/users", headers=alice.headers)
    assert r.status == 403
    r = await memos_client.get("/api/v1/users", headers=admin.headers)
    body = await r.json()
    assert [u["username"] for u in body["users"]] == ["bob", "root", "alice"]
    assert body["totalSize"] == 3 and body["nextPageToken"] == ""
    assert body["users"][0]["email"] == "bob@example.com"  # admins see emails
    for expr in ('username == "alice"', "username=='alice'"):
        r = await memos_client.get("/api/v1/users", params={"filter": expr}, headers=admin.headers)
        assert [u["username"] for u in (await r.json())["users"]] == ["alice"]
    for expr in ('username != "alice"', 'email == "x"', "username == alice", 'username == "a" && true'):
        r = await memos_client.get("/api/v1/users", params={"filter": expr}, headers=admin.headers)
        assert r.status == 400, expr


async def test_batch_get_users(memos_client, memos_users):
    await memos_users("alice")
    await memos_users("bob", row_status="ARCHIVED")
    await memos_users("carol")
    r = await memos_client.post(
        "/api/v1/users:batchGet", json={"usernames": [" carol ", "alice", "", "  ", "carol", "bob", "ghost"]}
    )
    assert r.status == 200
    users = (await r.json())["users"]
    assert [u["username"] for u in users] == ["carol", "alice"]
    assert all(u["email"] == "" for u in users)
    r = await memos_client.post("/api/v1/users:batchGet", json={"usernames": [f"u{i}" for i in range(101)]})
    assert r.status == 400
    r = await memos_client.post("/api/v1/users:batchGet", json={"usernames": ["a"] * 150})  # 1 after dedupe
    assert r.status == 200
    for bad in ({"usernames": "alice"}, {"usernames": [1]}):
        r = await memos_client.post("/api/v1/users:batchGet", json=bad)
        assert r.status == 400
    r = await memos_client.post("/api/v1/users:batchGet", json={})
    assert r.status == 200 and await r.json() == {"users": []}


# -- update ---------------------------------------------------------------------------------------
async def patch(client, username, body, mask=None, headers=None):
    url = f"/api/v1/users/{username}" + (f"?updateMask={mask}" if mask is not None else "")
    return await client.patch(url, json=body, headers=headers)


async def test_update_own_profile(memos_client, memos_users):
    alice = await memos_users("alice", updated_ts=1000)
    r = await patch(
        memos_client,
        "alice",
        {"displayName": "Al", "email": "new@example.com", "description": "d", "avatarUrl": AVATAR},
        "display_name,email,description,avatar_url",
        alice.headers,
    )
    assert r.status == 200
    body = await r.json()
    assert body["displayName"] == "Al" and body["email"] == "new@example.com" and body["description"] == "d"
    assert body["avatarUrl"] == "/file/users/alice/avatar"
    stored = await row(memos_client, "alice")
    assert stored.avatar_url == AVATAR and stored.updated_ts >= int(time.time()) - 5
    # camelCase masks and a mask derived from the body (name and times are skipped) work too.
    r = await patch(memos_client, "alice", {"displayName": "A2"}, "displayName", alice.headers)
    assert (await r.json())["displayName"] == "A2"
    r = await patch(
        memos_client, "alice", {"name": "users/alice", "description": "z", "createTime": "x"}, None, alice.headers
    )
    assert r.status == 200 and (await r.json())["description"] == "z"
    # Clearing the avatar is allowed.
    r = await patch(memos_client, "alice", {"avatarUrl": ""}, "avatar_url", alice.headers)
    assert (await r.json())["avatarUrl"] == ""


async def test_update_password(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await patch(memos_client, "alice", {"password": "n3w"}, "password", alice.headers)
    assert r.status == 200 and (await r.json())["password"] == ""
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": "n3w"}}
    )
    assert r.status == 200
    r = await patch(memos_client, "alice", {"password": ""}, "password", alice.headers)
    assert r.status == 400


@pytest.mark.parametrize(
    ("body", "mask", "status"),
    [
        ({"displayName": "x"}, "", 400),  # empty mask
        ({}, None, 400),  # nothing to derive a mask from
        ({"displayName": "x"}, "display_name,nickname", 400),  # unknown path
        ({"bogus": 1}, None, 400),  # unknown body key when deriving
        ({"username": "1234"}, "username", 400),
        ({"username": "bad/name"}, "username", 400),
        ({"avatarUrl": "data:text/html;base64,PGI+"}, "avatar_url", 400),
        ({"avatarUrl": "data:image/png;base64,@@@"}, "avatar_url", 400),
        ({"avatarUrl": "https://example.com/x.png"}, "avatar_url", 400),
        ({"email": 5}, "email", 400),
        ({"role": "ADMIN"}, "role", 403),  # users cannot change roles
        ({"state": "ARCHIVED"}, "state", 403),
        # A failing path means no other path of the same request is written.
        ({"displayName": "changed", "avatarUrl": "nope"}, "display_name,avatar_url", 400),
    ],
)
async def test_update_rejections_change_nothing(memos_client, memos_users, body, mask, status):
    alice = await memos_users("alice", updated_ts=1000)
    before = await row(memos_client, "alice")
    r = await patch(memos_client, "alice", body, mask, alice.headers)
    assert r.status == status
    assert await row(memos_client, "alice") == before


async def test_update_invalid_json(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.patch(
        "/api/v1/users/alice?updateMask=email", data=b"{", headers={**alice.headers, "Content-Type": "application/json"}
    )
    assert r.status == 400


async def test_update_permissions(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    change = {"displayName": "x", "email": "taken@example.com", "password": "owned"}
    for headers, status in (({}, 401), (bob.headers, 403)):
        async with memos_unchanged(alice.headers, "/api/v1/users/alice", "/api/v1/auth/me"):
            r = await patch(memos_client, "alice", change, "display_name,email,password", headers)
            assert r.status == status
            r = await patch(memos_client, "alice", {"role": "ADMIN"}, "role", headers)
            assert r.status == status
    # The password did not change either: the old one still signs in.
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": alice.password}}
    )
    assert r.status == 200
    memos_client.session.cookie_jar.clear()
    r = await patch(memos_client, "ghost", {"displayName": "x"}, "display_name", admin.headers)
    assert r.status == 404
    # Admins change other users, including role and state...
    r = await patch(memos_client, "alice", {"role": "ADMIN", "displayName": "Boss"}, "role,display_name", admin.headers)
    assert r.status == 200 and (await r.json())["role"] == "ADMIN"
    r = await patch(memos_client, "bob", {"state": "ARCHIVED"}, "state", admin.headers)
    assert r.status == 200 and (await r.json())["state"] == "ARCHIVED"
    r = await memos_client.get("/api/v1/auth/me", headers=bob.headers)
    assert r.status == 401  # an archived user's tokens stop working
    r = await patch(memos_client, "bob", {"state": 1}, "state", admin.headers)  # numeric enum
    assert (await r.json())["state"] == "NORMAL"
    # ...but nobody changes their own role.
    async with memos_unchanged(admin.headers, "/api/v1/users/root"):
        r = await patch(memos_client, "root", {"role": "USER"}, "role", admin.headers)
        assert r.status == 403 and (await row(memos_client, "root")).role == "ADMIN"
    r = await patch(memos_client, "alice", {"role": "ROLE_UNSPECIFIED"}, "role", admin.headers)
    assert r.status == 400


async def test_change_toggles_bind_admins(memos_client, memos_users, memos_unchanged):
    admin = await memos_users("root", role="ADMIN")
    alice = await memos_users("alice")
    await set_general(memos_client, disallowChangeUsername=True, disallowChangeNickname=True)
    async with memos_unchanged(alice.headers, "/api/v1/users/alice"):
        r = await patch(memos_client, "alice", {"username": "alice2"}, "username", admin.headers)
        assert r.status == 403
    assert (await memos_client.get("/api/v1/users/alice2")).status == 404
    async with memos_unchanged(admin.headers, "/api/v1/users/root"):
        r = await patch(memos_client, "root", {"displayName": "R"}, "display_name", admin.headers)
        assert r.status == 403
    r = await patch(memos_client, "root", {"description": "ok"}, "description", admin.headers)
    assert r.status == 200


async def test_rename(memos_client, memos_users):
    alice = await memos_users("alice")
    await memos_users("bob")
    r = await patch(memos_client, "alice", {"username": "bob"}, "username", alice.headers)
    assert r.status == 409 and (await r.json())["code"] == 6
    r = await patch(memos_client, "alice", {"username": "alice"}, "username", alice.headers)  # unchanged: fine
    assert r.status == 200
    r = await patch(memos_client, "alice", {"username": "alicia"}, "username", alice.headers)
    assert r.status == 200 and (await r.json())["name"] == "users/alicia"
    assert (await memos_client.get("/api/v1/users/alice")).status == 404
    assert (await memos_client.get("/api/v1/users/alicia")).status == 200


# -- delete ---------------------------------------------------------------------------------------
async def seed_memo(store, uid, creator_id, parent_id=None):
    now = int(time.time())
    memo_id = await store.execute(
        tables.memo.insert().values(
            uid=uid,
            creator_id=creator_id,
            created_ts=now,
            updated_ts=now,
            row_status="NORMAL",
            content=uid,
            visibility="PUBLIC",
            pinned=False,
            payload="{}",
        )
    )
    if parent_id is not None:
        await store.execute(
            tables.memo_relation.insert().values(memo_id=memo_id, related_memo_id=parent_id, type="COMMENT")
        )
    return memo_id


async def count(store, table, *where):
    return await store.fetch_val(sa.select(sa.func.count()).select_from(table).where(*where))


async def test_delete_user_removes_everything_under_them(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    ctx = memos_client.app[CONTEXT]
    store = ctx.store
    now = int(time.time())
    async with store.connection():
        a1 = await seed_memo(store, "a1", alice.id)
        c1 = await seed_memo(store, "c1", bob.id, a1)  # bob's comment under alice's memo
        c2 = await seed_memo(store, "c2", bob.id, c1)  # ...and a reply under it
        b1 = await seed_memo(store, "b1", bob.id)
        await store.execute(tables.memo_relation.insert().values(memo_id=b1, related_memo_id=a1, type="REFERENCE"))
        for creator, content in (
            (bob.id, "memos/a1"),
            (bob.id, "memos/c2"),
            (alice.id, "memos/b1"),
            (bob.id, "memos/b1"),
        ):
            await store.execute(
                tables.reaction.insert().values(
                    created_ts=now, creator_id=creator, content_id=content, reaction_type="👍"
                )
            )
        for uid, creator, memo in (("at1", alice.id, None), ("at2", bob.id, c1), ("at3", bob.id, b1)):
            await store.execute(
                tables.attachment.insert().values(
                    uid=uid,
                    creator_id=creator,
                    created_ts=now,
                    updated_ts=now,
                    filename="f",
                    type="text/plain",
                    size=0,
                    memo_id=memo,
                    storage_type="DATABASE",
                    reference="",
                    payload="{}",
                )
            )
        for uid, memo, creator in (("s1", a1, alice.id), ("s2", b1, alice.id), ("s3", b1, bob.id)):
            await store.execute(
                tables.memo_share.insert().values(uid=uid, memo_id=memo, creator_id=creator, created_ts=now)
            )
        for sender, receiver, message in (
            (bob.id, alice.id, {"type": "MEMO_COMMENT", "memoComment": {"memoId": c1, "relatedMemoId": a1}}),
            (admin.id, bob.id, {"type": "MEMO_MENTION", "memoMention": {"memoId": c2}}),
            (admin.id, bob.id, {"type": "MEMO_MENTION", "memoMention": {"memoId": b1}}),
        ):
            await store.execute(
                tables.inbox.insert().values(
                    created_ts=now, sender_id=sender, receiver_id=receiver, status="UNREAD", message=json.dumps(message)
                )
            )
        await settings_store.set_user_setting(store, alice.id, "GENERAL", {"locale": "fr"})
        await settings_store.set_user_setting(store, bob.id, "GENERAL", {"locale": "de"})
        await store.execute(
            tables.user_identity.insert().values(
                user_id=alice.id, provider="x", extern_uid="1", created_ts=now, updated_ts=now
            )
        )

    alice_view = ("/api/v1/users/alice", "/api/v1/memos/a1", "/api/v1/memos/a1/comments", "/api/v1/memos/a1/reactions")
    for headers, status in (({}, 401), (bob.headers, 403)):
        async with memos_unchanged(alice.headers, *alice_view, "/api/v1/users/alice/settings/GENERAL"):
            r = await memos_client.delete("/api/v1/users/alice", headers=headers)
            assert r.status == status
    r = await memos_client.delete("/api/v1/users/alice", headers=admin.headers)
    assert r.status == 200 and await r.json() == {}
    assert "Set-Cookie" not in r.headers  # not a self-delete

    async with store.connection():
        memo = tables.memo
        assert [m["uid"] for m in await store.fetch_all(sa.select(memo.c.uid))] == ["b1"]
        assert await count(store, tables.memo_relation) == 0
        reactions = await store.fetch_all(sa.select(tables.reaction.c.content_id, tables.reaction.c.creator_id))
        assert [(x["content_id"], x["creator_id"]) for x in reactions] == [("memos/b1", bob.id)]
        assert [x["uid"] for x in await store.fetch_all(sa.select(tables.attachment.c.uid))] == ["at3"]
        assert [x["uid"] for x in await store.fetch_all(sa.select(tables.memo_share.c.uid))] == ["s3"]
        inbox = await store.fetch_all(sa.select(tables.inbox.c.message))
        assert [json.loads(x["message"])["memoMention"]["memoId"] for x in inbox] == [b1]
        assert await count(store, tables.user_setting, tables.user_setting.c.user_id == alice.id) == 0
        assert await count(store, tables.user_setting, tables.user_setting.c.user_id == bob.id) == 1
        assert await count(store, tables.user_identity) == 0
        assert await users_store.get_user(store, id=alice.id) is None
        assert await users_store.get_user(store, id=bob.id) is not None
    r = await memos_client.delete("/api/v1/users/alice", headers=admin.headers)
    assert r.status == 404


async def test_self_delete_clears_cookie(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.delete("/api/v1/users/alice", headers=alice.headers)
    assert r.status == 200
    assert r.headers["Set-Cookie"].startswith("memos_refresh=; ")
    assert "Expires=Thu, 01 Jan 1970 00:00:00 GMT" in r.headers["Grpc-Metadata-Set-Cookie"]
    assert await row(memos_client, "alice") is None


# -- avatar ---------------------------------------------------------------------------------------
async def test_avatar_route(memos_client, memos_users):
    alice = await memos_users("alice")
    await memos_users("bob")
    r = await memos_client.get("/file/users/alice/avatar")
    assert r.status == 404  # no avatar
    r = await memos_client.get("/file/users/ghost/avatar")
    assert r.status == 404
    await patch(memos_client, "alice", {"avatarUrl": AVATAR}, "avatar_url", alice.headers)
    r = await memos_client.get("/file/users/alice/avatar")
    assert r.status == 200
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert await r.read() == base64.b64decode(PNG)
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await users_store.update_user(ctx.store, alice.id, avatar_url="data:image/svg+xml;base64,PHN2Zz4=")
        bob = await users_store.get_user(ctx.store, username="bob")
        await users_store.update_user(ctx.store, bob.id, avatar_url="https://idp.example/bob.png")
    assert (await memos_client.get("/file/users/alice/avatar")).status == 400
    assert (await memos_client.get("/file/users/bob/avatar")).status == 404
    assert (await (await memos_client.get("/api/v1/users/bob")).json())["avatarUrl"] == "https://idp.example/bob.png"
