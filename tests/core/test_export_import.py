"""Export an account (``GET /api/v1/export``) and import into one (``POST /api/v1/import``, ``memos
import``): contents, access, the lossless round trip, re-imports, all-or-nothing failures, and the
memory bound of the streamed zip."""

from __future__ import annotations

import base64
import io
import json
import time
import tracemalloc
import zipfile
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import FormData

from memos_core.app import create_app
from memos_core.auth import tokens
from memos_core.context import CONTEXT
from memos_core.hookspecs import hookimpl
from memos_core.storage import Download, StoredObject
from memos_core.store import settings as settings_store
from memos_core.store import tables
from memos_core.store import users as users_store
from memos_core.testing import TestUser, hash_password

MiB = 1024 * 1024


class CountingStorage:
    """A backend whose reads are generated on the fly and counted: how many are open at once, and
    the most ever open together. Its saves can be made to fail after ``fail_after`` files."""

    def __init__(self) -> None:
        self.open_now = 0
        self.max_open = 0
        self.reads = 0
        self.saved: dict[str, bytes] = {}
        self.fail_after: int | None = None

    async def save(self, ctx, *, uid, filename, content_type, chunks, setting) -> StoredObject:
        if self.fail_after is not None and len(self.saved) >= self.fail_after:
            raise OSError("simulated storage failure")
        data = b"".join([c async for c in chunks])
        self.saved[uid] = data
        return StoredObject(storage_type="COUNTING", reference=uid, size=len(data))

    async def open(self, ctx, row) -> Download:
        size = int(row["size"])
        saved = self.saved.get(row["reference"])

        async def chunks(start=None, end=None):
            self.open_now += 1
            self.reads += 1
            self.max_open = max(self.max_open, self.open_now)
            try:
                if saved is not None:
                    yield saved
                    return
                for offset in range(0, size, 64 * 1024):
                    yield bytes([offset // (64 * 1024) % 251]) * min(64 * 1024, size - offset)
            finally:
                self.open_now -= 1

        return Download(chunks=chunks, size=size)

    async def delete(self, ctx, row) -> None:
        self.saved.pop(row["reference"], None)

    @hookimpl
    def memos_register_storage(self, register) -> None:
        register("COUNTING", self)


@pytest.fixture
def counting() -> CountingStorage:
    return CountingStorage()


@pytest.fixture
def memos_extra_plugins(counting):
    return [counting]


# -- helpers ---------------------------------------------------------------------------------------
async def add_user(client, username: str, role: str = "USER") -> TestUser:
    ctx = client.app[CONTEXT]
    now = int(time.time())
    async with ctx.store.connection():
        user = await users_store.create_user(
            ctx.store,
            username=username,
            role=role,
            row_status="NORMAL",
            email=f"{username}@example.com",
            nickname=username.title(),
            password_hash=hash_password("pw"),
            avatar_url="",
            description="",
            created_ts=now,
            updated_ts=now,
        )
    token, _ = tokens.issue_access_token(ctx.secret, user_id=user.id, username=username, role=role, status="NORMAL")
    return TestUser(id=user.id, username=username, role=role, password="pw", token=token)


async def memo(client, user, content, **fields) -> str:
    r = await client.post("/api/v1/memos", json={"content": content, **fields}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"].removeprefix("memos/")


async def attach(client, user, memo_uid, filename, data) -> str:
    body = {"filename": filename, "content": base64.b64encode(data).decode(), "memo": f"memos/{memo_uid}"}
    r = await client.post("/api/v1/attachments", json=body, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"].removeprefix("attachments/")


async def export_json(client, who, **params) -> dict:
    r = await client.get("/api/v1/export", params=params, headers=who.headers)
    assert r.status == 200, await r.text()
    return await r.json()


async def export_zip(client, who, **params) -> zipfile.ZipFile:
    r = await client.get("/api/v1/export", params={"format": "zip", **params}, headers=who.headers)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"] == "application/zip"
    return zipfile.ZipFile(io.BytesIO(await r.read()))


async def import_file(client, user, data: bytes, name: str = "export.zip"):
    form = FormData()
    form.add_field("file", data, filename=name, content_type="application/octet-stream")
    return await client.post("/api/v1/import", data=form, headers=user.headers)


async def count(client, table) -> int:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return int(await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(table)))


async def build_account(client, alice, bob) -> dict[str, str]:
    """A small account with everything an export carries."""
    first = await memo(
        client,
        alice,
        "# Trip\n\nPacking list #travel #todo\n- [ ] passport",
        visibility="PROTECTED",
        pinned=True,
        createTime="2021-03-04T05:06:07Z",
        updateTime="2021-03-05T00:00:00Z",
        location={"placeholder": "Lisbon", "latitude": 38.72, "longitude": -9.14},
    )
    second = await memo(
        client,
        alice,
        "Refers to the trip 😀 中文",
        visibility="PUBLIC",
        createTime="2022-01-01T00:00:00Z",
        relations=[{"relatedMemo": {"name": f"memos/{first}"}, "type": "REFERENCE"}],
    )
    r = await client.post(
        f"/api/v1/memos/{first}/comments",
        json={"content": "a comment of mine", "createTime": "2021-03-06T00:00:00Z"},
        headers=alice.headers,
    )
    assert r.status == 200
    comment = (await r.json())["name"].removeprefix("memos/")
    archived = await memo(client, alice, "old #archive", createTime="2020-01-01T00:00:00Z")
    r = await client.patch(f"/api/v1/memos/{archived}", json={"state": "ARCHIVED"}, headers=alice.headers)
    assert r.status == 200
    r = await client.post(
        f"/api/v1/memos/{first}/reactions", json={"reaction": {"reactionType": "👍"}}, headers=alice.headers
    )
    assert r.status == 200
    await attach(client, alice, first, "photo.png", b"\x89PNG\r\n\x1a\n" + b"\x00" * 300)
    await attach(client, alice, first, "notes.txt", "Grüße\n".encode())
    bobs = await memo(client, bob, "bob's own", visibility="PUBLIC")
    return {"first": first, "second": second, "comment": comment, "archived": archived, "bobs": bobs}


def comparable(doc: dict) -> dict:
    """memos.json without what the exporting server assigns: the export time."""
    return {k: v for k, v in doc.items() if k != "exportedAt"}


# -- export ----------------------------------------------------------------------------------------
async def test_export_json_holds_everything(memos_client):
    alice, bob = await add_user(memos_client, "alice"), await add_user(memos_client, "bob")
    uids = await build_account(memos_client, alice, bob)
    doc = await export_json(memos_client, alice)
    assert doc["format"] == "memos-py-export" and doc["version"] == 1
    assert [u["name"] for u in doc["users"]] == ["users/alice"]
    by_uid = {m["uid"]: m for m in doc["memos"]}
    assert set(by_uid) == {uids["first"], uids["second"], uids["comment"], uids["archived"]}  # not bob's
    first = by_uid[uids["first"]]
    assert first["createTime"] == "2021-03-04T05:06:07Z" and first["updateTime"] == "2021-03-05T00:00:00Z"
    assert first["pinned"] is True and first["visibility"] == "PROTECTED" and first["state"] == "NORMAL"
    assert first["tags"] == ["travel", "todo"]
    assert first["property"]["hasTaskList"] is True and first["property"]["title"] == "Trip"
    assert first["location"] == {"placeholder": "Lisbon", "latitude": 38.72, "longitude": -9.14}
    assert first["reactions"] == [{"reactionType": "👍", "creator": "users/alice"}]
    assert sorted(a["filename"] for a in first["attachments"]) == ["notes.txt", "photo.png"]
    for a in first["attachments"]:
        assert a["path"] == f"attachments/{a['uid']}/{a['filename']}"
    assert by_uid[uids["second"]]["relations"] == [uids["first"]]
    assert by_uid[uids["comment"]]["parent"] == uids["first"]
    assert by_uid[uids["archived"]]["state"] == "ARCHIVED"
    assert [m["createTime"] for m in doc["memos"]] == sorted(m["createTime"] for m in doc["memos"])


async def test_export_zip_contents(memos_client):
    alice, bob = await add_user(memos_client, "alice"), await add_user(memos_client, "bob")
    uids = await build_account(memos_client, alice, bob)
    zf = await export_zip(memos_client, alice)
    names = zf.namelist()
    doc = json.loads(zf.read("memos.json"))
    assert comparable(doc) == comparable(await export_json(memos_client, alice))
    md = zf.read(f"memos/2021-03-04_{uids['first']}.md").decode()
    assert md.startswith("---\n") and f'uid: "{uids["first"]}"\n' in md
    assert 'visibility: "PROTECTED"\n' in md and "pinned: true\n" in md and 'tags: ["travel", "todo"]\n' in md
    assert '"placeholder": "Lisbon"' in md and md.endswith("- [ ] passport\n")
    second = zf.read(f"memos/2022-01-01_{uids['second']}.md").decode()
    assert f'relations: ["{uids["first"]}"]' in second and "😀 中文" in second
    for a in next(m for m in doc["memos"] if m["uid"] == uids["first"])["attachments"]:
        assert a["path"] in names
    assert zf.read(next(n for n in names if n.endswith("/notes.txt"))) == "Grüße\n".encode()
    assert len([n for n in names if n.startswith("memos/")]) == 4


async def test_export_access(memos_client):
    alice, bob = await add_user(memos_client, "alice"), await add_user(memos_client, "bob")
    root = await add_user(memos_client, "root", role="ADMIN")
    await build_account(memos_client, alice, bob)
    r = await memos_client.get("/api/v1/export")
    assert r.status == 401 and (await r.json())["code"] == 16
    for user in ("users/alice", "*"):
        r = await memos_client.get("/api/v1/export", params={"user": user}, headers=bob.headers)
        assert r.status == 403 and (await r.json()) == {"code": 7, "message": "permission denied", "details": []}
    r = await memos_client.get("/api/v1/export", params={"format": "xml"}, headers=bob.headers)
    assert r.status == 400 and (await r.json())["code"] == 3
    r = await memos_client.get("/api/v1/export", params={"user": "users/nobody"}, headers=root.headers)
    assert r.status == 404
    assert (await export_json(memos_client, bob, user="users/bob"))["users"][0]["name"] == "users/bob"
    assert {m["creator"] for m in (await export_json(memos_client, root, user="users/alice"))["memos"]} == {
        "users/alice"
    }
    everyone = await export_json(memos_client, root, user="*")
    assert {m["creator"] for m in everyone["memos"]} == {"users/alice", "users/bob"}
    # A personal access token (an agent's) exports too.
    r = await memos_client.post(
        "/api/v1/users/bob/personalAccessTokens", json={"description": "agent"}, headers=bob.headers
    )
    assert r.status == 200, await r.text()
    pat = (await r.json())["token"]
    r = await memos_client.get("/api/v1/export", headers={"Authorization": f"Bearer {pat}"})
    assert r.status == 200 and [m["content"] for m in (await r.json())["memos"]] == ["bob's own"]


async def test_zip_streams_one_attachment_at_a_time(memos_client, counting):
    alice = await add_user(memos_client, "alice")
    uid = await memo(memos_client, alice, "big files")
    for i in range(5):
        await attach(memos_client, alice, uid, f"f{i}.bin", b"x")
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():  # five 4 MiB files served by the counting backend
        await ctx.store.execute(tables.attachment.update().values(storage_type="COUNTING", size=4 * MiB))
    tracemalloc.start()
    try:
        r = await memos_client.get("/api/v1/export", params={"format": "zip"}, headers=alice.headers)
        assert r.status == 200
        total = 0
        async for chunk in r.content.iter_chunked(64 * 1024):
            total += len(chunk)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert counting.reads == 5 and counting.max_open == 1
    assert peak < 8 * MiB, f"export held {peak} bytes at once for 20 MiB of attachments"
    assert total > 0


# -- import ----------------------------------------------------------------------------------------
async def test_round_trip_is_lossless_and_reimport_skips(memos_client, memos_driver, memos_new_config, aiohttp_client):
    alice, bob = await add_user(memos_client, "alice"), await add_user(memos_client, "bob")
    await build_account(memos_client, alice, bob)
    before = await export_json(memos_client, alice)
    archive = await (await memos_client.get("/api/v1/export", params={"format": "zip"}, headers=alice.headers)).read()

    other = await aiohttp_client(create_app(memos_new_config(memos_driver)))
    alice2 = await add_user(other, "alice")
    r = await import_file(other, alice2, archive)
    assert r.status == 200, await r.text()
    assert await r.json() == {
        "source": "memos-py",
        "imported": 4,
        "skipped": 0,
        "attachments": 2,
        "droppedReferences": 0,
    }
    after = await export_json(other, alice2)
    assert comparable(after) == comparable(before)
    again = await export_zip(other, alice2)
    for a in [a for m in before["memos"] for a in m["attachments"]]:
        assert again.read(a["path"])  # same uids, same files

    r = await import_file(other, alice2, archive)  # a second run duplicates nothing
    assert r.status == 200 and (await r.json())["imported"] == 0 and (await r.json())["skipped"] == 4
    assert comparable(await export_json(other, alice2)) == comparable(before)
    assert await count(other, tables.attachment) == 2

    # memos.json alone imports the memos (not the files) into a third account.
    carol = await add_user(other, "carol")
    r = await import_file(other, carol, json.dumps(before).encode(), "memos.json")
    assert r.status == 200, await r.text()
    doc = await export_json(other, carol)
    assert len(doc["memos"]) == 4 and {m["creator"] for m in doc["memos"]} == {"users/carol"}
    assert all(m["uid"] not in {b["uid"] for b in before["memos"]} for m in doc["memos"])  # uids were taken


async def test_failed_import_leaves_nothing(memos_client, counting):
    alice, bob = await add_user(memos_client, "alice"), await add_user(memos_client, "bob")
    await build_account(memos_client, alice, bob)
    doc = await export_json(memos_client, alice)
    archive = await (await memos_client.get("/api/v1/export", params={"format": "zip"}, headers=alice.headers)).read()
    carol = await add_user(memos_client, "carol")
    memos_before, files_before = await count(memos_client, tables.memo), await count(memos_client, tables.attachment)

    # An invalid visibility in the middle refuses the whole import before anything is written.
    bad = json.loads(json.dumps(doc))
    bad["memos"][2]["visibility"] = "SECRET"
    r = await import_file(memos_client, carol, json.dumps(bad).encode(), "memos.json")
    assert r.status == 400
    body = await r.json()
    assert body["code"] == 3 and "invalid visibility 'SECRET'" in body["message"]
    assert await count(memos_client, tables.memo) == memos_before

    # A storage failure after the first file: no rows, and the stored file removed again.
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "STORAGE", {"storageType": "COUNTING"})
    counting.fail_after = 1
    r = await import_file(memos_client, carol, archive)
    assert r.status == 500
    assert counting.saved == {}
    assert await count(memos_client, tables.memo) == memos_before
    assert await count(memos_client, tables.attachment) == files_before
    assert await count(memos_client, tables.import_record) == 0

    # Garbage and unknown JSON are refused with a reason.
    r = await import_file(memos_client, carol, b"PK\x03\x04 not really a zip")
    assert r.status == 400 and "not a zip file" in (await r.json())["message"]
    r = await import_file(memos_client, carol, b'{"hello": 1}', "x.json")
    assert r.status == 400 and "not a memos-py export" in (await r.json())["message"]
    r = await memos_client.post("/api/v1/import", json={"source": "ftp"}, headers=carol.headers)
    assert r.status == 400 and (await r.json())["code"] == 3

    counting.fail_after = None  # the same archive then imports whole
    r = await import_file(memos_client, carol, archive)
    assert r.status == 200, await r.text()
    assert (await r.json())["imported"] == 4 and len(counting.saved) == 2


async def test_import_drafts_tags_and_limits(memos_client):
    from memos_core.auth import Principal
    from memos_core.portability import apply
    from memos_core.portability.model import ImportedMemo, ImportRefused

    alice = await add_user(memos_client, "alice")
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        viewer = Principal(user=await users_store.get_user(ctx.store, username="alice"), method="test")
        drafts = [ImportedMemo(key="a.md", content="hello #kept", tags=["kept", "new tag"], create_time=1_600_000_000)]
        report = await apply.import_drafts(ctx, viewer, "markdown", drafts)
        assert report.imported == 1
        with pytest.raises(ImportRefused, match="too many memos"):
            old, apply.MAX_MEMOS = apply.MAX_MEMOS, 1
            try:
                await apply.import_drafts(ctx, viewer, "markdown", drafts * 2)
            finally:
                apply.MAX_MEMOS = old
    doc = await export_json(memos_client, alice)
    (m,) = doc["memos"]
    assert m["content"] == "hello #kept\n\n#new-tag" and m["tags"] == ["kept", "new-tag"]
    assert m["createTime"] == "2020-09-13T12:26:40Z"


def test_cli_export_and_import(tmp_path: Path, memos_config, monkeypatch):
    """``memos export`` writes the zip; ``memos import`` reads it into another account."""
    from memos_core import cli

    base = ["--driver", memos_config.driver, "--data", str(memos_config.data)]
    if memos_config.dsn:
        base += ["--dsn", memos_config.dsn]
    app = create_app(memos_config)

    async def seed():
        ctx = app[CONTEXT]
        await ctx.store.connect()
        await ctx.store.migrate()
        now = int(time.time())
        async with ctx.store.connection():
            for name in ("alice", "carol"):
                await users_store.create_user(
                    ctx.store,
                    username=name,
                    role="USER",
                    row_status="NORMAL",
                    email="",
                    nickname=name,
                    password_hash="x",
                    avatar_url="",
                    description="",
                    created_ts=now,
                    updated_ts=now,
                )
            alice = await users_store.get_user(ctx.store, username="alice")
            await ctx.store.execute(
                tables.memo.insert().values(
                    uid="cliMemo1",
                    creator_id=alice.id,
                    created_ts=now,
                    updated_ts=now,
                    row_status="NORMAL",
                    content="from the cli #cli",
                    visibility="PRIVATE",
                    pinned=False,
                    payload='{"tags":["cli"]}',
                )
            )
        await ctx.store.disconnect()

    import asyncio

    asyncio.run(seed())
    out = tmp_path / "alice.zip"
    assert cli.main(["export", "--user", "alice", "--output", str(out), *base]) == 0
    doc = json.loads(zipfile.ZipFile(out).read("memos.json"))
    assert [m["uid"] for m in doc["memos"]] == ["cliMemo1"]
    assert cli.main(["import", str(out), "--user", "carol", *base]) == 0
    assert cli.main(["import", str(tmp_path / "missing.zip"), "--user", "carol", *base]) == 1
    carol_out = tmp_path / "carol.json"
    assert cli.main(["export", "--user", "carol", "--format", "json", "--output", str(carol_out), *base]) == 0
    (m,) = json.loads(carol_out.read_text())["memos"]
    assert m["content"] == "from the cli #cli" and m["creator"] == "users/carol"


def test_cli_imports_from_another_memos_server(tmp_path: Path, memos_config, monkeypatch):
    """``memos import --from-server URL`` with the token from ``MEMOS_IMPORT_TOKEN`` or
    ``--token-file``: the other server's memos (there a running ``memos serve`` on SQLite) arrive
    once; a wrong token or a missing one is an error that writes nothing."""
    from fixtures import processes as procs

    from memos_core import cli

    remote_env = procs.memos_env(tmp_path, MEMOS_DRIVER="sqlite", MEMOS_DATA=str(tmp_path / "remote"))
    with procs.serve(tmp_path, remote_env) as remote:
        assert remote.request("POST", "/api/v1/users", {"username": "ann", "password": "pw-ann"}).status == 200
        r = remote.request(
            "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": "ann", "password": "pw-ann"}}
        )
        ann = {"Authorization": f"Bearer {r.json()['accessToken']}"}
        for content in ("kept elsewhere #away", "second note"):
            assert remote.request("POST", "/api/v1/memos", {"content": content}, ann).status == 200
        r = remote.request("POST", "/api/v1/users/ann/personalAccessTokens", {"description": "move"}, ann)
        pat = r.json()["token"]

        base = ["--driver", memos_config.driver, "--data", str(memos_config.data)]
        if memos_config.dsn:
            base += ["--dsn", memos_config.dsn]
        app = create_app(memos_config)

        async def seed_and_list(seed: bool) -> list[str]:
            ctx = app[CONTEXT]
            await ctx.store.connect()
            try:
                await ctx.store.migrate()
                async with ctx.store.connection():
                    if seed:
                        now = int(time.time())
                        await users_store.create_user(
                            ctx.store, username="carol", role="USER", row_status="NORMAL", email="",
                            nickname="carol", password_hash="x", avatar_url="", description="",
                            created_ts=now, updated_ts=now,
                        )  # fmt: skip
                    rows = await ctx.store.fetch_all(sa.select(tables.memo.c.content))
                    return sorted(row[0] for row in rows)
            finally:
                await ctx.store.disconnect()

        import asyncio

        assert asyncio.run(seed_and_list(True)) == []
        args = ["import", "--from-server", remote.base, "--user", "carol", *base]
        monkeypatch.delenv("MEMOS_IMPORT_TOKEN", raising=False)
        assert cli.main(args) == 1  # no token anywhere (stdin is not a terminal under pytest)
        monkeypatch.setenv("MEMOS_IMPORT_TOKEN", "not-a-token")
        assert cli.main(args) == 1
        assert asyncio.run(seed_and_list(False)) == []
        monkeypatch.setenv("MEMOS_IMPORT_TOKEN", pat)
        assert cli.main(args) == 0
        token_file = tmp_path / "token"
        token_file.write_text(pat + "\n")
        monkeypatch.delenv("MEMOS_IMPORT_TOKEN")
        assert cli.main([*args, "--token-file", str(token_file)]) == 0  # again: nothing twice
        assert asyncio.run(seed_and_list(False)) == ["kept elsewhere #away", "second note"]
        assert cli.main([*args, str(token_file)]) == 1  # a path and --from-server: refused


async def test_an_admin_moves_notes_from_another_memos_server_through_the_api(
    memos_client, memos_users, memos_new_config, memos_driver, aiohttp_client
):
    """``POST /api/v1/import`` with another server's URL and token: its user's memos arrive once;
    a server on a loopback address is allowed for an admin only (no probing of the network)."""
    from memos_core.app import create_app

    other = await aiohttp_client(create_app(memos_new_config(memos_driver)))
    r = await other.post("/api/v1/users", json={"username": "away", "password": "away-pw-1"})
    assert r.status == 200, await r.text()
    r = await other.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "away", "password": "away-pw-1"}}
    )
    token = (await r.json())["accessToken"]
    for text in ("from the other side #moved", "second one"):
        r = await other.post("/api/v1/memos", json={"content": text}, headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200, await r.text()
    body = {"source": "memos", "url": str(other.make_url("/")).rstrip("/"), "token": token}

    user, admin = await memos_users("plain"), await memos_users("boss", role="ADMIN")
    r = await memos_client.post("/api/v1/import", json=body, headers=user.headers)
    assert r.status == 400 and (await r.json())["code"] == 3  # loopback: refused for a plain user
    assert (await (await memos_client.get("/api/v1/memos", headers=user.headers)).json())["memos"] == []

    r = await memos_client.post("/api/v1/import", json=body, headers=admin.headers)
    assert r.status == 200, await r.text()
    assert (await r.json())["imported"] == 2
    r = await memos_client.post("/api/v1/import", json=body, headers=admin.headers)
    assert (await r.json())["imported"] == 0  # again: nothing twice
    listed = (await (await memos_client.get("/api/v1/memos", headers=admin.headers)).json())["memos"]
    assert sorted(m["content"] for m in listed) == ["from the other side #moved", "second one"]
    assert all(m["creator"] == "users/boss" for m in listed)


def _keep_takeout() -> bytes:
    """A small Google Keep Takeout: a pinned checklist with labels, an archived note with a photo."""

    def note(**fields) -> str:
        base = {"isTrashed": False, "isPinned": False, "isArchived": False, "title": "", "textContent": ""}
        base |= {"createdTimestampUsec": 1690000000000000, "userEditedTimestampUsec": 1700000000000000}
        return json.dumps(base | fields, ensure_ascii=False)

    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(
            "Takeout/Keep/Groceries.json",
            note(
                title="Groceries",
                listContent=[{"text": "牛乳", "isChecked": False}, {"text": "bread", "isChecked": True}],
                labels=[{"name": "home"}],
                isPinned=True,
            ),
        )
        zf.writestr(
            "Takeout/Keep/Trip.json",
            note(
                textContent="Kyoto in spring 🌸",
                isArchived=True,
                attachments=[{"filePath": "trip.jpg", "mimetype": "image/jpeg"}],
            ),
        )
        zf.writestr("Takeout/Keep/trip.jpg", b"\xff\xd8\xff\xe0 a photo")
    return buf.getvalue()


async def test_notes_move_from_keep_through_an_export_to_an_instance_on_another_database(
    memos_client, memos_driver, memos_new_config, aiohttp_client
):
    """The path a user takes: Google Keep into memos-py, export, import the export into a fresh
    instance on another database (another driver when the run has one), the same notes there."""
    from memos_core.testing import drivers_under_test

    alice = await add_user(memos_client, "alice")
    r = await import_file(memos_client, alice, _keep_takeout(), "takeout.zip")
    assert r.status == 200, await r.text()
    assert (await r.json())["imported"] == 2 and (await r.json())["source"] == "keep"
    before = await export_json(memos_client, alice)
    by_content = {m["content"].splitlines()[0]: m for m in before["memos"]}
    groceries, trip = by_content["# Groceries"], by_content["Kyoto in spring 🌸"]
    assert groceries["pinned"] is True and "- [ ] 牛乳" in groceries["content"] and "home" in groceries["tags"]
    assert trip["state"] == "ARCHIVED" and [a["filename"] for a in trip["attachments"]] == ["trip.jpg"]
    assert groceries["createTime"] == "2023-07-22T04:26:40Z"
    archive = await (await memos_client.get("/api/v1/export", params={"format": "zip"}, headers=alice.headers)).read()

    others = [d for d in drivers_under_test() if d != memos_driver]
    other = await aiohttp_client(create_app(memos_new_config(others[0] if others else memos_driver)))
    alice2 = await add_user(other, "alice")
    r = await import_file(other, alice2, archive)
    assert r.status == 200, await r.text()
    assert comparable(await export_json(other, alice2)) == comparable(before)
    again = await export_zip(other, alice2)
    assert again.read(trip["attachments"][0]["path"]) == b"\xff\xd8\xff\xe0 a photo"


async def test_a_hostile_export_zip_is_refused_whole(memos_client):
    """A memos-py export is opened like every imported archive: a name escaping the folder or an
    entry that inflates far beyond its size is refused, and nothing of it is written."""
    alice = await add_user(memos_client, "alice")
    doc = {"format": "memos-py-export", "version": 1, "users": [], "memos": [{"uid": "m1", "content": "hello"}]}

    def archive(extra: dict[str, bytes]) -> bytes:
        buf = io.BytesIO()
        with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
            zf.writestr("memos.json", json.dumps(doc))
            for name, data in extra.items():
                zf.writestr(name, data)
        return buf.getvalue()

    for extra in ({"../../escape.txt": b"x"}, {"attachments/bomb.bin": b"\0" * (64 * 1024 * 1024)}):
        r = await import_file(memos_client, alice, archive(extra))
        body = await r.json()
        assert r.status == 400 and body["code"] == 3, body
        assert await count(memos_client, tables.memo) == 0
    r = await import_file(memos_client, alice, archive({}))  # the same export without them imports
    assert r.status == 200 and (await r.json())["imported"] == 1


async def test_a_markdown_notes_images_still_show_after_import(memos_client, memos_users):
    """A note's relative image link is rewritten to its attachment's address, which serves the file;
    re-importing the same archive adds nothing."""
    alice = await memos_users("alice")
    png = b"\x89PNG\r\n\x1a\n" + b"\1" * 64
    archive = io.BytesIO()
    with zipfile.ZipFile(archive, "w") as zf:
        zf.writestr("garden.md", "Tomatoes ![first fruit](photos/tomato%201.png) #garden\n")
        zf.writestr("photos/tomato 1.png", png)
    r = await import_file(memos_client, alice, archive.getvalue(), name="notes.zip")
    assert r.status == 200, await r.text()
    (memo,) = (await (await memos_client.get("/api/v1/memos", headers=alice.headers)).json())["memos"]
    (attachment,) = memo["attachments"]
    address = f"/file/{attachment['name']}/tomato%201.png"
    assert memo["content"] == f"Tomatoes ![first fruit]({address}) #garden\n"
    r = await memos_client.get(address, headers=alice.headers)
    assert r.status == 200 and await r.read() == png
    r = await import_file(memos_client, alice, archive.getvalue(), name="notes.zip")
    assert r.status == 200 and (await r.json())["imported"] == 0


async def test_commands_start_the_app_without_its_background_work(memos_config):
    """``memos export``/``import`` start the app to use its services and plugins' resources, but
    no workers or jobs: mail, scheduled jobs, embeddings and the index catch-up are the servers'."""
    from memos_email import EMAIL
    from memos_scheduler import SCHEDULER
    from memos_semantic import SEMANTIC
    from memos_webhook import WEBHOOK

    from memos_core.app import SEARCH_CATCH_UP, started

    async with started(memos_config) as ctx:
        app = ctx.app
        assert not ctx.serving and app[SEARCH_CATCH_UP].task is None
        assert app[EMAIL].worker is None and app[SCHEDULER].scheduler is None and app[SEMANTIC].worker is None
        assert app[WEBHOOK].dispatcher is not None  # what an import writes still reaches webhooks
        assert await ctx.store.schema_version()  # the database is open and migrated
