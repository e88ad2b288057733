"""`memos backup` / `memos restore`, and the backup the server takes (or asks for) before a migration."""

import asyncio
import dataclasses
import json
import logging
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer
from fixtures.processes import stop_process
from test_copydb import api_view, receiver, seed, seed_everything, snapshot, sqlite_file
from test_copydb import provider as provider

from memos_core import Config
from memos_core.app import create_app
from memos_core.backup import KEEP_AUTOMATIC, backup
from memos_core.copydb import open_store
from memos_core.store import SCHEMA_VERSION, SchemaError, migrations, tables
from memos_core.testing import drivers_under_test

__all__ = ["provider", "receiver"]  # fixtures used here


@pytest.fixture
def memos_config(memos_config):
    """Webhooks here post to a receiver on 127.0.0.1."""
    return dataclasses.replace(memos_config, allow_private_webhooks=True)


def source_args(config: Config) -> list[str]:
    args = ["--driver", config.driver, "--data", config.data]
    return args + (["--dsn", config.dsn] if config.dsn else [])


def target_args(config: Config) -> list[str]:
    args = ["--to-driver", config.driver, "--to-data", config.data]
    return args + (["--to-dsn", config.dsn] if config.dsn else [])


async def memos_cli(*args: str) -> subprocess.CompletedProcess:
    """``memos …`` in its own process, as an operator runs it (not on a terminal: plain lines)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    cmd = [sys.executable, "-m", "memos_core.cli", *args]
    return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=180, env=env)


def served(config: Config) -> Config:
    """The config a new instance on a restored database starts with."""
    dsn = sqlite_file(config) if config.driver == "sqlite" else config.dsn
    return dataclasses.replace(config, dsn=dsn, allow_private_webhooks=True)


async def test_backup_while_serving_restores_on_every_driver(
    memos_client, memos_users, memos_config, memos_new_config, tmp_path
):
    alice, pat = await seed(memos_client, memos_users)
    before = await snapshot(create_app(memos_config), pat)

    in_flight = []

    async def write_meanwhile(table: str, done: int, total: int) -> None:
        # Once the snapshot is taken (the first table is being copied), the server keeps writing.
        if not in_flight:
            for i in range(3):
                r = await memos_client.post(
                    "/api/v1/memos", json={"content": f"written during the backup {i}"}, headers=alice.headers
                )
                assert r.status == 200, await r.text()
                in_flight.append((await r.json())["name"])

    file = tmp_path / "snap.memos-backup"
    manifest = await backup(memos_config, file, progress=write_meanwhile)
    assert len(in_flight) == 3
    assert manifest.rows["memo"] == 3 and manifest.schema_version == SCHEMA_VERSION  # the snapshot's rows
    r = await memos_client.get("/api/v1/memos?pageSize=100", headers=alice.headers)
    assert len((await r.json())["memos"]) == 5  # the live instance has the writes made meanwhile

    for driver in drivers_under_test():
        target = memos_new_config(driver)
        done = await memos_cli("restore", str(file), *target_args(target))
        assert done.returncode == 0, (driver, done.stderr)
        assert "verified row for row" in done.stdout and "memo" in done.stdout
        assert await snapshot(create_app(served(target)), pat) == before, driver


async def test_backup_and_restore_with_attachments(
    memos_client, memos_users, memos_config, memos_new_config, provider, receiver, tmp_path
):
    hook_url, _ = receiver
    seeded = await seed_everything(memos_client, memos_users, provider, hook_url)
    pat = {"Authorization": f"Bearer {seeded['pat']}"}
    before = await api_view(create_app(dataclasses.replace(memos_config, allow_private_webhooks=True)), pat)

    file = tmp_path / "with-files.db"
    done = await memos_cli("backup", str(file), *source_args(memos_config), "--attachments")
    assert done.returncode == 0, done.stderr
    assert "attachment files" in done.stdout and "1 attachment files" in done.stdout
    assert "\r" not in done.stdout  # no terminal, no bar: plain lines

    target = memos_new_config(memos_config.driver)  # a new data folder: the files must come from the backup
    assert not any(Path(target.data).iterdir())
    done = await memos_cli("restore", str(file), *target_args(target), "--attachments")
    assert done.returncode == 0, done.stderr
    assert "1 attachment files written" in done.stdout

    app = create_app(served(target))
    assert await api_view(app, pat) == before
    async with TestClient(TestServer(app)) as c:
        for filename, data in seeded["blobs"].items():
            uid = seeded["attachments"][filename]["name"].removeprefix("attachments/")
            r = await c.get(f"/file/attachments/{uid}/{filename}", headers=pat)
            assert r.status == 200 and await r.read() == data, filename

    # Without --attachments the rows come back and the command says the files did not.
    bare = memos_new_config(memos_config.driver)
    done = await memos_cli("restore", str(file), *target_args(bare))
    assert done.returncode == 0, done.stderr
    assert "1 attachment files, not restored (pass --attachments)" in done.stdout


async def test_backup_fails_when_an_attachment_file_is_missing(memos_client, memos_users, memos_config, tmp_path):
    seeded_user = await memos_users("alice", role="ADMIN")
    body = {"filename": "gone.txt", "content": "Z29uZQ=="}
    r = await memos_client.patch(
        "/api/v1/instance/settings/STORAGE",
        json={"storageSetting": {"storageType": "LOCAL"}},
        headers=seeded_user.headers,
    )
    assert r.status == 200, await r.text()
    r = await memos_client.post("/api/v1/attachments", json=body, headers=seeded_user.headers)
    assert r.status == 200, await r.text()
    gone = list(Path(memos_config.data).rglob("*gone.txt"))
    assert len(gone) == 1
    gone[0].unlink()
    file = tmp_path / "b.db"
    done = await memos_cli("backup", str(file), *source_args(memos_config), "--attachments")
    assert done.returncode == 1 and "gone.txt" in done.stderr, done.stderr
    assert not file.exists() and not list(tmp_path.glob("b.db*"))  # no half-made backup left


async def test_restore_refuses_a_non_empty_target(memos_client, memos_users, memos_config, tmp_path):
    await seed(memos_client, memos_users)
    file = tmp_path / "b.db"
    done = await memos_cli("backup", str(file), *source_args(memos_config))
    assert done.returncode == 0, done.stderr
    done = await memos_cli("restore", str(file), *target_args(memos_config))
    assert done.returncode == 1 and "not empty" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    again = await memos_cli("backup", str(file), *source_args(memos_config))
    assert again.returncode == 1 and "already exists" in again.stderr  # a backup is never overwritten


async def target_memo_count(config: Config) -> int:
    store = open_store(config)
    await store.connect()
    try:
        async with store.connection():
            if not await store.driver.table_exists(store, "memo"):
                return 0
            return int(await store.fetch_val(sa.select(sa.func.count()).select_from(tables.memo)))
    finally:
        await store.disconnect()


async def test_a_damaged_backup_is_refused(memos_client, memos_users, memos_config, memos_new_config, tmp_path):
    await seed(memos_client, memos_users)
    good = tmp_path / "good.db"
    await backup(memos_config, good)
    target = memos_new_config(memos_config.driver)

    altered = tmp_path / "altered.db"
    altered.write_bytes(good.read_bytes())
    with sqlite3.connect(altered) as db:
        db.execute("UPDATE memo SET content = 'tampered' WHERE uid = 'second'")
    dropped = tmp_path / "dropped.db"
    dropped.write_bytes(good.read_bytes())
    with sqlite3.connect(dropped) as db:
        db.execute("DELETE FROM reaction")
    garbled = tmp_path / "garbled.db"
    raw = bytearray(good.read_bytes())
    raw[4096 : 4096 * 3] = os.urandom(4096 * 2)
    garbled.write_bytes(bytes(raw))
    truncated = tmp_path / "truncated.db"
    truncated.write_bytes(good.read_bytes()[:50])
    plain = tmp_path / "plain.db"
    with sqlite3.connect(plain) as db:
        db.execute("CREATE TABLE memo (id INTEGER)")

    for bad, why in (
        (altered, "table memo"),
        (dropped, "table reaction"),
        (garbled, ""),
        (truncated, ""),
        (plain, "not a memos backup"),
    ):
        done = await memos_cli("restore", str(bad), *target_args(target))
        assert done.returncode == 1, (bad.name, done.stdout)
        assert done.stderr.startswith("memos: restore failed: ") and why in done.stderr, (bad.name, done.stderr)
        assert "Traceback" not in done.stderr
        assert await target_memo_count(target) == 0, bad.name  # nothing restored

    done = await memos_cli("restore", str(good), *target_args(target))
    assert done.returncode == 0, done.stderr
    assert await target_memo_count(target) == 3


# -- before a migration ---------------------------------------------------------------------------
async def set_schema_version(config: Config, version: str) -> None:
    store = open_store(config)
    await store.connect()
    try:
        async with store.connection():
            if not await store.driver.table_exists(store, "memo"):
                await store.migrate()
            basic = await store.get_basic()
            await store._write_basic({**basic, "schemaVersion": version})
    finally:
        await store.disconnect()


async def schema_version(config: Config) -> str:
    store = open_store(config)
    await store.connect()
    try:
        async with store.connection():
            return (await store.get_basic())["schemaVersion"]
    finally:
        await store.disconnect()


@pytest.fixture
def no_upgrade_steps(monkeypatch):
    """An older version number on the latest tables: the upgrade has no step left to run but the
    version to write, so these tests see only what happens around it."""
    monkeypatch.setattr(migrations, "pending", lambda dialect, current: [])


async def start(config: Config) -> None:
    """Start an instance on ``config`` (the schema check or upgrade runs then) and stop it."""
    async with TestServer(create_app(config)):
        pass


@pytest.mark.drivers("sqlite")
async def test_sqlite_is_backed_up_before_a_migration_and_old_backups_pruned(memos_config, no_upgrade_steps, caplog):
    caplog.set_level(logging.WARNING, logger="memos_core.backup")
    folder = Path(memos_config.data) / "backups"
    made = []
    for i in range(KEEP_AUTOMATIC + 2):
        old = f"0.27.{i}"
        await set_schema_version(memos_config, old)
        await start(memos_config)
        assert await schema_version(memos_config) == SCHEMA_VERSION
        newest = max(folder.iterdir())
        assert newest.name.startswith(f"memos_prod-{old}-") and newest.suffix == ".db"
        assert str(newest) in caplog.text  # the server says where
        with sqlite3.connect(newest) as db:  # the copy is the database as it was before the upgrade
            (raw,) = db.execute("SELECT value FROM system_setting WHERE name = 'BASIC'").fetchone()
        assert json.loads(raw)["schemaVersion"] == old
        made.append(newest.name)
        assert sorted(p.name for p in folder.iterdir()) == made[-KEEP_AUTOMATIC:]

    # A start at the current version migrates nothing and backs nothing up.
    await start(memos_config)
    assert sorted(p.name for p in folder.iterdir()) == made[-KEEP_AUTOMATIC:]
    # --skip-backup: no copy.
    await set_schema_version(memos_config, "0.27.9")
    await start(dataclasses.replace(memos_config, skip_backup=True))
    assert sorted(p.name for p in folder.iterdir()) == made[-KEEP_AUTOMATIC:]
    assert await schema_version(memos_config) == SCHEMA_VERSION


@pytest.mark.drivers("postgres", "mysql")
async def test_server_database_migrates_only_after_a_backup_or_with_skip_backup(
    memos_config, no_upgrade_steps, tmp_path
):
    await set_schema_version(memos_config, "0.27.0")
    with pytest.raises(SchemaError) as refused:
        await start(memos_config)
    assert "memos backup" in str(refused.value) and "--skip-backup" in str(refused.value)
    assert await schema_version(memos_config) == "0.27.0"  # nothing migrated

    # A backup of another version does not count; one of this version does.
    await set_schema_version(memos_config, "0.26.0")
    await backup(memos_config, tmp_path / "old.db")
    await set_schema_version(memos_config, "0.27.0")
    with pytest.raises(SchemaError, match="memos backup"):
        await start(memos_config)
    await backup(memos_config, tmp_path / "current.db")
    await start(memos_config)
    assert await schema_version(memos_config) == SCHEMA_VERSION

    # The next migration needs a new backup; --skip-backup goes without.
    await set_schema_version(memos_config, "0.27.0")
    await start(dataclasses.replace(memos_config, skip_backup=True))
    assert await schema_version(memos_config) == SCHEMA_VERSION


#: ``memos serve`` with the upgrade steps emptied, as no_upgrade_steps does in-process.
SERVE = (
    "import sys; from memos_core.store import migrations; migrations.pending = lambda d, c: []; "
    "from memos_core.cli import main; sys.exit(main(sys.argv[1:]))"
)


@pytest.mark.drivers("postgres", "mysql")
async def test_serve_refuses_then_skip_backup_flag_and_variable(memos_config):
    args = ["serve", "--driver", memos_config.driver, "--dsn", memos_config.dsn, "--data", memos_config.data]
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    await set_schema_version(memos_config, "0.27.0")
    cmd = [sys.executable, "-c", SERVE, *args, "--port", "0"]
    done = await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=120, env=env)
    assert done.returncode == 1, done.stderr
    assert "memos backup" in done.stderr and "--skip-backup" in done.stderr and "MEMOS_SKIP_BACKUP=1" in done.stderr
    assert await schema_version(memos_config) == "0.27.0"

    for extra, more_env in ((["--skip-backup"], {}), ([], {"MEMOS_SKIP_BACKUP": "1"})):
        await set_schema_version(memos_config, "0.27.0")
        proc = subprocess.Popen(
            [*cmd, *extra], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env={**env, **more_env}
        )
        try:
            line = await asyncio.to_thread(proc.stdout.readline)
            while line and "without a backup first" not in line:
                line = await asyncio.to_thread(proc.stdout.readline)
            assert "without a backup first" in line, (extra, more_env)
            for _ in range(100):  # the upgrade commits right after that warning
                if await schema_version(memos_config) == SCHEMA_VERSION:
                    break
                await asyncio.sleep(0.1)
            assert await schema_version(memos_config) == SCHEMA_VERSION
        finally:
            stop_process(proc)
            proc.stdout.close()
