"""Databases of Memos v0.22 to v0.27 are upgraded at start-up and served as upstream v0.28 serves them.

Each test builds a database of one release (``fixtures.upstream_versions``) on the driver under
test, starts the app on it and reads every row back through the HTTP API.
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3

import pytest
import sqlalchemy as sa
from aiohttp import web
from fixtures import upstream_versions as old

from memos_core.app import create_app
from memos_core.plugins import load_plugins
from memos_core.store import SCHEMA_VERSION, SchemaError, Store

Memo = old.Memo


async def _store(config) -> Store:
    store = Store(load_plugins(config).driver)
    await store.connect()
    return store


def _without_backup(config):
    """The config with the automatic pre-upgrade backup off (it has tests of its own; a server
    database needs a backup command here). Builds without that option have no backup to skip."""
    if "skip_backup" in {f.name for f in dataclasses.fields(config)}:
        return dataclasses.replace(config, skip_backup=True)
    return config


@pytest.fixture(params=old.VERSIONS)
def version(request) -> str:
    return request.param


@pytest.fixture
async def memos_config(memos_config, version):
    """The driver's fresh database, holding release ``version``'s schema and rows."""
    store = await _store(memos_config)
    try:
        await old.build(store, version)
    finally:
        await store.disconnect()
    return _without_backup(memos_config)


async def _sign_in(client, who: dict) -> dict[str, str]:
    body = {"passwordCredentials": {"username": who["username"], "password": who["password"]}}
    r = await client.post("/api/v1/auth/signin", json=body)
    assert r.status == 200, await r.text()
    return {"Authorization": f"Bearer {(await r.json())['accessToken']}"}


async def _get(client, path: str, headers: dict[str, str] | None = None, **params) -> dict:
    r = await client.get(path, headers=headers, params=params)
    assert r.status == 200, (path, await r.text())
    return await r.json()


async def test_upgrade_serves_every_row(memos_client, memos_config, version):
    steven = await _sign_in(memos_client, old.ADMIN)
    alice = await _sign_in(memos_client, old.USER)

    store = await _store(memos_config)
    try:
        async with store.connection():
            assert (await store.get_basic()) == {"secretKey": old.SECRET_KEY, "schemaVersion": SCHEMA_VERSION}
    finally:
        await store.disconnect()

    # Users: the HOST of releases before 0.26 is an ADMIN.
    users = {u["username"]: u for u in (await _get(memos_client, "/api/v1/users", steven))["users"]}
    assert {n: (u["role"], u["displayName"], u["description"]) for n, u in users.items()} == {
        "steven": ("ADMIN", "Steven", "I am Steven"),
        "alice": ("USER", "Alice", "I am Alice"),
    }
    assert users["steven"]["createTime"] == "2023-11-14T22:13:20Z"
    profile = await _get(memos_client, "/api/v1/instance/profile")
    assert profile["admin"]["name"] == "users/steven"

    # Memos: the pin moved from memo_organizer, the tags into payload.tags.
    listed = (await _get(memos_client, "/api/v1/memos", steven))["memos"]
    assert [m["name"] for m in listed] == [f"memos/{Memo.REFERENCING}", f"memos/{Memo.PINNED}"]
    pinned = await _get(memos_client, f"/api/v1/memos/{Memo.PINNED}", steven)
    assert pinned["pinned"] is True and pinned["visibility"] == "PUBLIC"
    assert pinned["content"] == old.PINNED_CONTENT
    assert pinned["tags"] == ["work/launch", "work"]
    assert pinned["property"]["hasLink"] is True
    assert pinned["createTime"] == "2023-11-14T22:15:00Z"
    assert (await _get(memos_client, "/api/v1/memos", filter='tag in ["work"]'))["memos"][0]["name"] == pinned["name"]
    # Reactions: shortcodes of releases before 0.23 are emoji.
    assert [(r["reactionType"], r["creator"]) for r in pinned["reactions"]] == [
        (emoji, f"users/{'alice' if creator == 2 else 'steven'}") for creator, _, emoji in old.REACTIONS
    ]
    # Relations and comments.
    relations = {(r["memo"]["name"], r["relatedMemo"]["name"], r["type"]) for r in pinned["relations"]}
    assert relations == {
        (f"memos/{Memo.COMMENT}", pinned["name"], "COMMENT"),
        (f"memos/{Memo.REFERENCING}", pinned["name"], "REFERENCE"),
    }
    comments = (await _get(memos_client, f"/api/v1/memos/{Memo.PINNED}/comments"))["memos"]
    assert [c["name"] for c in comments] == [f"memos/{Memo.COMMENT}"]
    # Visibility and state survive.
    r = await memos_client.get(f"/api/v1/memos/{Memo.PRIVATE}", headers=steven)
    assert r.status in (403, 404)
    assert (await _get(memos_client, f"/api/v1/memos/{Memo.PRIVATE}", alice))["content"] == "my secret"
    archived = await _get(memos_client, "/api/v1/memos", steven, state="ARCHIVED")
    assert [m["name"] for m in archived["memos"]] == [f"memos/{Memo.ARCHIVED}"]

    # Attachments (resources before 0.26), their bytes included.
    assert [a["name"] for a in pinned["attachments"]] == ["attachments/AttachInDb0000000000001"]
    mine = (await _get(memos_client, "/api/v1/attachments", steven))["attachments"]
    assert [(a["filename"], a["type"], int(a["size"])) for a in mine] == [
        ("diagram.png", "image/png", len(old.ATTACHMENT_BLOB))
    ]
    r = await memos_client.get("/file/attachments/AttachInDb0000000000001/diagram.png")
    assert r.status == 200 and await r.read() == old.ATTACHMENT_BLOB
    hers = (await _get(memos_client, "/api/v1/attachments", alice))["attachments"]
    assert [(a["filename"], a.get("externalLink", "")) for a in hers] == [("notes.txt", "")]

    # Instance settings: an instance without a storage setting kept its attachments in the database.
    storage = (await _get(memos_client, "/api/v1/instance/settings/STORAGE", steven))["storageSetting"]
    assert storage["storageType"] == ("LOCAL" if version == "0.27" else "DATABASE")
    related = (await _get(memos_client, "/api/v1/instance/settings/MEMO_RELATED", steven))["memoRelatedSetting"]
    assert related["contentLengthLimit"] == 16384
    general = (await _get(memos_client, "/api/v1/instance/settings/GENERAL", steven))["generalSetting"]
    assert general["customProfile"]["title"] == "Team notes"

    # Identity providers: a uid for those made before 0.27.
    idps = (await _get(memos_client, "/api/v1/identity-providers", steven))["identityProviders"]
    uid = "corp-sso" if version == "0.27" else "00000001"
    assert [(i["name"], i["title"], i["type"]) for i in idps] == [(f"identity-providers/{uid}", "Corp SSO", "OAUTH2")]
    assert idps[0]["config"]["oauth2Config"]["clientId"] == "memos"

    # The inbox: a comment notice that named an activity names the memos.
    notes = (await _get(memos_client, "/api/v1/users/steven/notifications", steven))["notifications"]
    assert len(notes) == 1
    note = notes[0]
    assert (note["sender"], note["status"], note["type"]) == ("users/alice", "UNREAD", "MEMO_COMMENT")
    assert note["memoComment"]["memo"] == f"memos/{Memo.COMMENT}"
    assert note["memoComment"]["relatedMemo"] == f"memos/{Memo.PINNED}"

    # Webhooks: kept (upstream's 0.25 dropped the table; memos-py moves the rows into the setting).
    hooks = (await _get(memos_client, "/api/v1/users/steven/webhooks", steven))["webhooks"]
    assert [(h["name"], h["displayName"], h["url"]) for h in hooks] == [
        ("users/steven/webhooks/0000000000000003", "ci", old.WEBHOOK_URL)
    ]

    # Share links (0.27 on).
    if version == "0.27":
        shared = await _get(memos_client, "/api/v1/shares/Sh4reT0kenAbCdEfGhJkLm")
        assert shared["name"] == f"memos/{Memo.REFERENCING}"

    # The upgraded database takes new rows with fresh ids.
    r = await memos_client.post("/api/v1/memos", json={"content": "after the upgrade #new"}, headers=alice)
    assert r.status == 200, await r.text()
    r = await memos_client.post(
        f"/api/v1/memos/{Memo.PINNED}/reactions",
        json={"reaction": {"contentId": f"memos/{Memo.PINNED}", "reactionType": "👀"}},
        headers=alice,
    )
    assert r.status == 200, await r.text()


async def test_the_hook_before_an_upgrade_runs_once_with_the_old_version(memos_config, version):
    store = await _store(memos_config)
    seen: list[str] = []

    async def before(current: str) -> None:
        seen.append(current)

    store.on_before_migration = before
    try:
        await store.migrate()
        await store.migrate()  # already current: not called again
        async with store.connection():
            assert (await store.get_basic())["schemaVersion"] == SCHEMA_VERSION
    finally:
        await store.disconnect()
    expected = "0.22.0" if version == "0.22" else old.schema_version(store.dialect, version)
    assert seen == [expected]


async def test_an_interrupted_upgrade_resumes_at_the_failed_step(memos_config, version, monkeypatch):
    from memos_core.store import migrations

    steps = migrations.STEPS
    # A step after several others on every release: the ones before it stay applied.
    fails_at, stops_at = ("0.28.1", "0.27.5") if version == "0.27" else ("0.27.3", "0.27.2")
    breaking = next(s for s in steps if s.version == fails_at)

    async def fail(store) -> None:
        raise RuntimeError("power cut")

    monkeypatch.setattr(
        migrations, "STEPS", tuple(migrations.Step(s.version, s.what, run=fail) if s is breaking else s for s in steps)
    )
    store = await _store(memos_config)
    try:
        with pytest.raises(SchemaError, match=re.escape(f"upgrading to schema version {fails_at}")):
            await store.migrate()
        async with store.connection():
            stopped = (await store.get_basic())["schemaVersion"]
        assert stopped == stops_at
        monkeypatch.setattr(migrations, "STEPS", steps)
        await store.migrate()
        async with store.connection():
            assert (await store.get_basic())["schemaVersion"] == SCHEMA_VERSION
    finally:
        await store.disconnect()


@pytest.mark.parametrize(
    ("recorded", "expect"),
    [("0.21.0", "too old to upgrade"), (None, "(none)"), ("0.29.0", "newer than 0.28.1")],
)
async def test_unupgradable_versions_are_refused_and_left_alone(memos_driver, memos_new_config, recorded, expect):
    """0.21 as Memos 0.21 recorded it (``migration_history``), no version at all, or a newer one."""
    config = memos_new_config(memos_driver)
    store = await _store(config)
    try:
        await old.build(store, "0.22")
        async with store.connection():
            await store.execute(sa.text("DELETE FROM migration_history"))
            if recorded == "0.29.0":
                await store.execute(
                    sa.text("UPDATE system_setting SET value = :v WHERE name = 'BASIC'").bindparams(
                        v=json.dumps({"secretKey": old.SECRET_KEY, "schemaVersion": recorded})
                    ),
                )
            elif recorded:
                await store.execute(
                    sa.text("INSERT INTO migration_history (version) VALUES (:v)").bindparams(v=recorded)
                )
        runner = web.AppRunner(create_app(_without_backup(config)))
        with pytest.raises(SchemaError, match=re.escape(expect)):
            await runner.setup()
        async with store.connection():
            assert await store.driver.table_exists(store, "resource")  # nothing was upgraded
            assert not await store.driver.table_exists(store, "attachment")
    finally:
        await store.disconnect()


async def test_a_memos_0_22_sqlite_database_is_backed_up_then_upgraded_and_served(
    aiohttp_client, memos_new_config, caplog
):
    """The whole path a self-hoster takes: their v0.22 file, a start with the defaults (no
    skip), a copy of the untouched file under ``{data}/backups``, then every memo served."""
    config = memos_new_config("sqlite")
    store = await _store(config)
    try:
        await old.build(store, "0.22")
    finally:
        await store.disconnect()

    client = await aiohttp_client(create_app(config))
    backups = sorted((config.data_dir / "backups").glob("*.db"))
    assert len(backups) == 1 and "0.22" in backups[0].name
    assert str(backups[0]) in caplog.text  # the server says where the copy is

    with sqlite3.connect(backups[0]) as copy:  # the copy is the file as it was before the upgrade
        tables = {name for (name,) in copy.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert "resource" in tables and "attachment" not in tables
        assert copy.execute("SELECT count(*) FROM memo").fetchone()[0] > 0

    steven = await _sign_in(client, old.ADMIN)
    pinned = await _get(client, f"/api/v1/memos/{Memo.PINNED}", steven)
    assert pinned["content"] == old.PINNED_CONTENT and pinned["pinned"] is True
    assert [a["name"] for a in pinned["attachments"]] == ["attachments/AttachInDb0000000000001"]
