"""`memos copy-db`: an instance moves between databases with nothing lost, or fails saying why."""

import asyncio
import base64
import dataclasses
import os
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from fixtures import oauth_provider as oauth
from memos_webhook import WEBHOOK

from memos_core import Config
from memos_core.app import create_app
from memos_core.copydb import CopyError, open_store, run
from memos_core.store import tables

provider = oauth.provider  # the fake OAuth2 provider fixture
REDIRECT = "https://memos.example.com/auth/callback"


@pytest.fixture
def memos_config(memos_config):
    """Webhooks here post to a receiver on 127.0.0.1."""
    return dataclasses.replace(memos_config, allow_private_webhooks=True)


async def seed(client, users):
    alice = await users("alice", role="ADMIN")
    bob = await users("bob")
    r = await client.post(
        "/api/v1/memos?memoId=first",
        json={
            "content": "Hello #travel/2027 café 🍎",
            "visibility": "PUBLIC",
            "pinned": True,
            "location": {"placeholder": "Paris", "latitude": 48.85, "longitude": 2.35},
        },
        headers=alice.headers,
    )
    assert r.status == 200, await r.text()
    r = await client.post(
        "/api/v1/memos?memoId=second", json={"content": "- [ ] todo", "visibility": "PRIVATE"}, headers=alice.headers
    )
    assert r.status == 200
    r = await client.post(
        "/api/v1/memos/first/comments", json={"content": "nice @alice", "visibility": "PUBLIC"}, headers=bob.headers
    )
    assert r.status == 200
    r = await client.post(
        "/api/v1/memos/first/reactions",
        json={"reaction": {"contentId": "memos/first", "reactionType": "👍"}},
        headers=bob.headers,
    )
    assert r.status == 200
    r = await client.patch(
        "/api/v1/memos/second/relations",
        json={"relations": [{"relatedMemo": {"name": "memos/first"}, "type": "REFERENCE"}]},
        headers=alice.headers,
    )
    assert r.status == 200
    r = await client.post(
        "/api/v1/users/alice/personalAccessTokens", json={"description": "cli"}, headers=alice.headers
    )
    assert r.status == 200
    return alice, (await r.json())["token"]


async def snapshot(app, pat):
    """What clients see: the API answers that must be identical after a move."""
    h = {"Authorization": f"Bearer {pat}"}
    async with TestClient(TestServer(app)) as c:
        out = {}
        for path in (
            "/api/v1/memos?pageSize=100",
            "/api/v1/memos/first",
            "/api/v1/memos/second",
            "/api/v1/memos/first/comments",
            "/api/v1/memos/second/relations",
            "/api/v1/users/alice",
            "/api/v1/users/bob",
            "/api/v1/auth/me",
            "/api/v1/instance/profile",
        ):
            r = await c.get(path, headers=h)
            assert r.status == 200, (path, await r.text())
            out[path] = await r.json()
        return out


async def test_copy_to_sqlite_and_back_keeps_everything(memos_client, memos_users, memos_config, memos_new_config):
    _, pat = await seed(memos_client, memos_users)
    before = await snapshot(create_app(memos_config), pat)

    middle = memos_new_config("sqlite")
    reports = await run(memos_config, middle)
    counts = {r.name: r.rows for r in reports}
    assert counts["memo"] == 3 and counts["user"] == 2 and counts["reaction"] == 1 and counts["memo_relation"] == 2

    back = memos_new_config(memos_config.driver)
    await run(middle, back)

    assert await snapshot(create_app(middle), pat) == before
    after = await snapshot(create_app(back), pat)
    assert after == before

    # ids continue after the copied ones: a new memo gets a fresh id, no clash.
    async with TestClient(TestServer(create_app(back))) as c:
        r = await c.post(
            "/api/v1/memos", json={"content": "after the move"}, headers={"Authorization": f"Bearer {pat}"}
        )
        assert r.status == 200, await r.text()


async def test_copy_refuses_a_target_with_data(memos_client, memos_users, memos_config, memos_new_config):
    await seed(memos_client, memos_users)
    other = memos_new_config("sqlite")
    await run(memos_config, other)
    with pytest.raises(CopyError, match="not empty"):
        await run(memos_config, other)


@pytest.mark.drivers("sqlite")
def test_cli_copy_db(tmp_path, memos_new_config):
    source = memos_new_config("sqlite")

    async def make():
        app = create_app(source)
        async with TestClient(TestServer(app)) as c:
            r = await c.post("/api/v1/users", json={"username": "alice", "password": "pw"})
            assert r.status == 200

    asyncio.run(make())
    target = tmp_path / "copy.db"
    cmd = [
        sys.executable,
        "-m",
        "memos_core.cli",
        "copy-db",
        "--from-driver",
        "sqlite",
        "--from-data",
        source.data,
        "--to-driver",
        "sqlite",
        "--to-dsn",
        str(target),
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "verified" in done.stdout and "user" in done.stdout
    again = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert again.returncode == 1 and "not empty" in again.stderr


# -- the command, on every driver ------------------------------------------------------------------
def side_args(side: str, config: Config) -> list[str]:
    args = [f"--{side}-driver", config.driver]
    if config.dsn:
        args += [f"--{side}-dsn", config.dsn]
    if config.data:
        args += [f"--{side}-data", config.data]
    return args


async def copy_db(source: Config, target: Config) -> subprocess.CompletedProcess:
    """``memos copy-db`` in its own process, as an operator runs it."""
    cmd = [sys.executable, "-m", "memos_core.cli", "copy-db", *side_args("from", source), *side_args("to", target)]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=180, env=env)


def sqlite_file(config: Config) -> str:
    return config.dsn or str(Path(config.data) / "memos_prod.db")


@pytest.fixture
async def receiver(aiohttp_server):
    """Records the webhook posts it gets."""
    got: list[dict] = []

    async def hook(request: web.Request) -> web.Response:
        got.append(await request.json())
        return web.json_response({"code": 0})

    app = web.Application()
    app.router.add_post("/hook", hook)
    server = await aiohttp_server(app)
    return str(server.make_url("/hook")), got


async def sso(client, idp: str, claims: dict, fake) -> dict:
    credentials = {"idpName": idp, "code": fake.code_for(claims), "redirectUri": REDIRECT}
    r = await client.post("/api/v1/auth/signin", json={"ssoCredentials": credentials})
    client.session.cookie_jar.clear()
    assert r.status == 200, await r.text()
    return await r.json()


async def seed_everything(client, users, fake, hook_url: str) -> dict:
    """An instance with every kind of record, made through the API as its users would."""
    alice = await users("alice", role="ADMIN")
    h = alice.headers
    out: dict = {"alice": alice}
    for uid, visibility in (("first", "PUBLIC"), ("second", "PRIVATE"), ("third", "PROTECTED")):
        r = await client.post(f"/api/v1/memos?memoId={uid}", json={"content": uid, "visibility": visibility}, headers=h)
        assert r.status == 200, await r.text()
    # Attachments: one in the database, one as a LOCAL file under the data folder.
    r = await client.patch(
        "/api/v1/instance/settings/STORAGE", json={"storageSetting": {"storageType": "DATABASE"}}, headers=h
    )
    assert r.status == 200, await r.text()
    blobs = {"in-db.bin": os.urandom(3000)}
    body = {"filename": "in-db.bin", "content": base64.b64encode(blobs["in-db.bin"]).decode(), "memo": "memos/first"}
    r = await client.post("/api/v1/attachments", json=body, headers=h)
    assert r.status == 200, await r.text()
    r = await client.patch(
        "/api/v1/instance/settings/STORAGE", json={"storageSetting": {"storageType": "LOCAL"}}, headers=h
    )
    assert r.status == 200, await r.text()
    blobs["on-disk.txt"] = b"kept in the data folder"
    body = {"filename": "on-disk.txt", "content": base64.b64encode(blobs["on-disk.txt"]).decode()}
    r = await client.post("/api/v1/attachments", json=body, headers=h)
    assert r.status == 200, await r.text()
    r = await client.get("/api/v1/attachments", headers=h)
    out["attachments"] = {a["filename"]: a for a in (await r.json())["attachments"]}
    out["blobs"] = blobs
    # A share link of the PRIVATE memo.
    r = await client.post("/api/v1/memos/second/shares", json={}, headers=h)
    assert r.status == 200, await r.text()
    out["share"] = (await r.json())["name"].rsplit("/", 1)[1]
    # A webhook, a personal access token, a password session.
    r = await client.post("/api/v1/users/alice/webhooks", json={"url": hook_url, "displayName": "ci"}, headers=h)
    assert r.status == 200, await r.text()
    r = await client.post("/api/v1/users/alice/personalAccessTokens", json={"description": "cli"}, headers=h)
    assert r.status == 200
    out["pat"] = (await r.json())["token"]
    client.session.cookie_jar.clear()
    r = await client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": alice.password}}
    )
    assert r.status == 200
    out["refresh"] = r.cookies["memos_refresh"].value
    client.session.cookie_jar.clear()
    # An identity provider and a user who signed in through it (a linked identity).
    out["idp"] = await oauth.make_idp(client, alice, fake)
    out["octo"] = (await sso(client, out["idp"], {"login": "octocat", "name": "Octo"}, fake))["user"]
    return out


async def api_view(app: web.Application, headers: dict) -> dict:
    """The answers that must be the same on both sides of a move."""
    async with TestClient(TestServer(app)) as c:
        out = {}
        for path in (
            "/api/v1/memos?pageSize=100",
            "/api/v1/attachments",
            "/api/v1/memos/second/shares",
            "/api/v1/users/alice/webhooks",
            "/api/v1/users/alice/personalAccessTokens",
            "/api/v1/identity-providers",
            "/api/v1/identity-providers/fake",
            "/api/v1/users",
            "/api/v1/instance/settings/STORAGE",
        ):
            r = await c.get(path, headers=headers)
            assert r.status == 200, (path, await r.text())
            out[path] = await r.json()
        return out


async def test_cli_copies_attachments_idps_shares_webhooks_and_tokens_that_work(
    memos_client, memos_users, memos_config, memos_new_config, provider, receiver
):
    hook_url, posts = receiver
    seeded = await seed_everything(memos_client, memos_users, provider, hook_url)
    pat = {"Authorization": f"Bearer {seeded['pat']}"}
    before = await api_view(create_app(memos_config), pat)

    target = memos_new_config(memos_config.driver)
    done = await copy_db(memos_config, target)
    assert done.returncode == 0, done.stderr
    assert "copied and verified" in done.stdout
    counts = dict(line.split()[:2] for line in done.stdout.splitlines() if line.endswith(" rows"))
    assert counts["attachment"] == "2" and counts["idp"] == "1" and counts["memo_share"] == "1"
    assert counts["user_identity"] == "1" and counts["user"] == "2"

    # The new instance on the target database; LOCAL files stay in the data folder, so it uses that.
    served = dataclasses.replace(
        target,
        data=memos_config.data,
        dsn=sqlite_file(target) if target.driver == "sqlite" else target.dsn,
        allow_private_webhooks=True,
    )
    app = create_app(served)
    assert await api_view(app, pat) == before
    async with TestClient(TestServer(app)) as c:
        # The PAT and the password session authenticate (same secret, same stored tokens).
        r = await c.get("/api/v1/auth/me", headers=pat)
        assert r.status == 200 and (await r.json())["user"]["username"] == "alice"
        r = await c.post("/api/v1/auth/refresh", json={}, headers={"Cookie": f"memos_refresh={seeded['refresh']}"})
        assert r.status == 200, await r.text()
        c.session.cookie_jar.clear()
        # The share link opens the PRIVATE memo for anyone holding it.
        r = await c.get(f"/api/v1/shares/{seeded['share']}")
        assert r.status == 200, await r.text()
        assert (await r.json())["content"] == "second"
        # Both attachments serve their bytes.
        for filename, data in seeded["blobs"].items():
            uid = seeded["attachments"][filename]["name"].removeprefix("attachments/")
            r = await c.get(f"/file/attachments/{uid}/{filename}", headers=pat)
            assert r.status == 200 and await r.read() == data, filename
        # The identity provider signs the same linked user in again (its client secret came along).
        again = await sso(c, seeded["idp"], {"login": "octocat", "name": "Octo"}, provider)
        assert again["user"]["name"] == seeded["octo"]["name"]
        # The webhook fires for a memo written on the new instance.
        r = await c.post("/api/v1/memos", json={"content": "after the move"}, headers=pat)
        assert r.status == 200, await r.text()
        await app[WEBHOOK].dispatcher.drain()
        assert [p["activityType"] for p in posts if p["memo"]["content"] == "after the move"] == ["memos.memo.created"]
        r = await c.get("/api/v1/users", headers=pat)
        assert len((await r.json())["users"]) == 2  # the SSO sign-in made nobody new


# Per driver: a trigger on the target's memo table that either refuses the memo "second" or
# quietly alters its content, and how to remove it again.
TRIGGERS = {
    "sqlite": {
        "refuse": [
            "CREATE TRIGGER copy_breaker BEFORE INSERT ON memo WHEN NEW.uid = 'second' "
            "BEGIN SELECT RAISE(ABORT, 'refused by the test trigger'); END"
        ],
        "alter": [
            "CREATE TRIGGER copy_breaker AFTER INSERT ON memo WHEN NEW.uid = 'second' "
            "BEGIN UPDATE memo SET content = 'altered' WHERE id = NEW.id; END"
        ],
        "drop": ["DROP TRIGGER copy_breaker"],
    },
    "postgres": {
        "refuse": [
            "CREATE FUNCTION copy_breaker() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.uid = 'second' THEN RAISE EXCEPTION 'refused by the test trigger'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER copy_breaker BEFORE INSERT ON memo FOR EACH ROW EXECUTE FUNCTION copy_breaker()",
        ],
        "alter": [
            "CREATE FUNCTION copy_breaker() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN "
            "IF NEW.uid = 'second' THEN NEW.content := 'altered'; END IF; RETURN NEW; END $$",
            "CREATE TRIGGER copy_breaker BEFORE INSERT ON memo FOR EACH ROW EXECUTE FUNCTION copy_breaker()",
        ],
        "drop": ["DROP TRIGGER copy_breaker ON memo", "DROP FUNCTION copy_breaker()"],
    },
    "mysql": {
        "refuse": [
            "CREATE TRIGGER copy_breaker BEFORE INSERT ON memo FOR EACH ROW BEGIN "
            "IF NEW.uid = 'second' THEN SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'refused by the test trigger'; "
            "END IF; END"
        ],
        "alter": [
            "CREATE TRIGGER copy_breaker BEFORE INSERT ON memo FOR EACH ROW BEGIN "
            "IF NEW.uid = 'second' THEN SET NEW.content = 'altered'; END IF; END"
        ],
        "drop": ["DROP TRIGGER copy_breaker"],
    },
}


async def target_ddl(config: Config, statements: list[str], *, migrate: bool = False) -> None:
    store = open_store(config)
    await store.connect()
    try:
        if migrate:
            await store.migrate()
        async with store.connection(), store.transaction():
            await store.driver.execute_ddl(store, statements)
    finally:
        await store.disconnect()


async def target_memos(config: Config) -> list[tuple[str, str]]:
    store = open_store(config)
    await store.connect()
    try:
        async with store.connection():
            rows = await store.fetch_all(sa.select(tables.memo.c.uid, tables.memo.c.content).order_by(tables.memo.c.id))
    finally:
        await store.disconnect()
    return [(r["uid"], r["content"]) for r in rows]


async def seed_memos(client, users) -> None:
    alice = await users("alice")
    for uid in ("first", "second", "third"):
        r = await client.post(f"/api/v1/memos?memoId={uid}", json={"content": uid}, headers=alice.headers)
        assert r.status == 200


async def test_cli_fails_naming_the_row_when_the_target_refuses_a_write(
    memos_client, memos_users, memos_config, memos_new_config
):
    await seed_memos(memos_client, memos_users)
    target = memos_new_config(memos_config.driver)
    await target_ddl(target, TRIGGERS[target.driver]["refuse"], migrate=True)

    done = await copy_db(memos_config, target)
    assert done.returncode == 1, done.stdout
    message = done.stderr.strip()
    assert message.startswith("memos: copy-db failed: table memo: writing the row id=2 "), message
    assert "refused by the test trigger" in message and "nothing was copied" in message
    assert "Traceback" not in done.stderr and "verified" not in done.stdout
    # Everything was rolled back, the first memo included: once the cause is gone, the copy runs.
    assert await target_memos(target) == []
    await target_ddl(target, TRIGGERS[target.driver]["drop"])
    done = await copy_db(memos_config, target)
    assert done.returncode == 0, done.stderr
    assert await target_memos(target) == [("first", "first"), ("second", "second"), ("third", "third")]


async def test_cli_fails_when_the_copy_differs_from_the_source(
    memos_client, memos_users, memos_config, memos_new_config
):
    await seed_memos(memos_client, memos_users)
    target = memos_new_config(memos_config.driver)
    await target_ddl(target, TRIGGERS[target.driver]["alter"], migrate=True)

    done = await copy_db(memos_config, target)
    assert done.returncode == 1, done.stdout
    message = done.stderr.strip()
    assert message.startswith("memos: copy-db failed: table memo, column content: 'second' != 'altered'"), message
    assert "do not use it" in message and "verified" not in done.stdout
