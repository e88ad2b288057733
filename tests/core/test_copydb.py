"""`memos copy-db`: an instance moves between databases with nothing lost."""

import asyncio
import subprocess
import sys

import pytest
from aiohttp.test_utils import TestClient, TestServer

from memos_core.app import create_app
from memos_core.copydb import CopyError, run


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
