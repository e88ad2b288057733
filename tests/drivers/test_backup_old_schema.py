"""``memos backup`` of a database an older Memos (0.22 to 0.27) left, before memos-py upgrades it.

Its tables differ from memos-py's, so they are copied as they are; the recorded backup then lets a
PostgreSQL or MySQL server upgrade, and without it the server refuses to.
"""

from __future__ import annotations

import asyncio
import collections
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web
from fixtures import upstream_versions as old

from memos_core import Config
from memos_core.app import create_app
from memos_core.copydb import open_store
from memos_core.store import SCHEMA_VERSION, SchemaError


@pytest.fixture(params=["0.22", "0.26"])
def version(request) -> str:
    return request.param


@pytest.fixture
async def dialect(memos_config, version) -> str:
    """Build release ``version``'s database on the driver under test; its SQL dialect."""
    store = open_store(memos_config)
    await store.connect()
    try:
        await old.build(store, version)
    finally:
        await store.disconnect()
    return store.dialect


def expected_rows(dialect: str, version: str) -> dict[str, int]:
    """Every table the release created, with the rows the fixture put in it (0 for the empty ones)."""
    created = [s for s in old.ddl(dialect, version) if s.lstrip().upper().startswith("CREATE TABLE")]
    counts = collections.Counter(table for table, _ in old.rows(dialect, version))
    return {old._table_name(s): counts[old._table_name(s)] for s in created}


def recorded_version(dialect: str, version: str) -> str:
    return "0.22.0" if version == "0.22" else old.schema_version(dialect, version)


async def memos_cli(*args: str) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if not k.startswith("MEMOS_")}
    cmd = [sys.executable, "-m", "memos_core.cli", *args]
    return await asyncio.to_thread(subprocess.run, cmd, capture_output=True, text=True, timeout=180, env=env)


def source_args(config: Config) -> list[str]:
    return ["--driver", config.driver, "--data", config.data, *(["--dsn", config.dsn] if config.dsn else [])]


async def sign_in(client, who: dict) -> dict[str, str]:
    body = {"passwordCredentials": {"username": who["username"], "password": who["password"]}}
    r = await client.post("/api/v1/auth/signin", json=body)
    assert r.status == 200, await r.text()
    return {"Authorization": f"Bearer {(await r.json())['accessToken']}"}


async def test_backup_of_an_old_schema_holds_every_table_then_the_server_upgrades(
    memos_config, memos_new_config, version, dialect, aiohttp_client, tmp_path
):
    local = Path(memos_config.data) / "assets" / "notes.txt"  # the LOCAL attachment's file
    local.parent.mkdir(parents=True)
    local.write_bytes(b"twelve bytes")
    file = tmp_path / "before-upgrade.db"
    done = await memos_cli("backup", str(file), *source_args(memos_config), "--attachments")
    assert done.returncode == 0, done.stderr
    schema = recorded_version(dialect, version)
    assert f"backed up schema {schema} " in done.stdout and "verified" in done.stdout

    expected = expected_rows(dialect, version)
    with sqlite3.connect(file) as db:
        names = {n for (n,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        assert names == {*expected, "memos_backup_manifest", "memos_backup_file"}
        assert ("resource" in names) == (version == "0.22") and ("memo_organizer" in names) == (version == "0.22")
        for table, n in expected.items():
            assert db.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] == n, table
        # Values as the release kept them: timestamps as epoch seconds (MySQL's TIMESTAMP too),
        # binary as bytes, every column of the old table.
        users = db.execute("SELECT username, role, created_ts FROM user ORDER BY id").fetchall()
        assert users == [("steven", "HOST" if version == "0.22" else "ADMIN", old.T0), ("alice", "USER", old.T0 + 60)]
        files = "resource" if version == "0.22" else "attachment"
        assert db.execute(f"SELECT blob FROM {files} WHERE filename = 'diagram.png'").fetchone()[0] == (
            old.ATTACHMENT_BLOB
        )
        (config,) = db.execute("SELECT config FROM idp").fetchone()  # JSONB / JSON as its text
        assert json.loads(config) == old.IDP_CONFIG
        content = db.execute("SELECT content FROM memo WHERE uid = ?", (old.Memo.PINNED,)).fetchone()[0]
        assert content == old.PINNED_CONTENT
        (raw,) = db.execute("SELECT value FROM memos_backup_manifest").fetchone()
        kept = db.execute("SELECT reference, data FROM memos_backup_file").fetchall()
    assert kept == [("assets/notes.txt", b"twelve bytes")]  # --attachments reads the old table too
    manifest = json.loads(raw)
    assert manifest["schema_version"] == schema and manifest["rows"] == expected
    assert set(manifest["digests"]) == set(expected) and manifest["files"] == 1

    # memos restore takes only the current schema, and says what the file is for.
    target = memos_new_config(memos_config.driver)
    args = ["--to-driver", target.driver, "--to-data", target.data, *(["--to-dsn", target.dsn] if target.dsn else [])]
    refused = await memos_cli("restore", str(file), *args)
    assert refused.returncode == 1, refused.stdout
    assert f"older Memos schema {schema}" in refused.stderr and f"only schema {SCHEMA_VERSION}" in refused.stderr

    # The server, without --skip-backup, now upgrades and serves the old rows.
    assert not memos_config.skip_backup
    client = await aiohttp_client(create_app(memos_config))
    steven = await sign_in(client, old.ADMIN)
    r = await client.get(f"/api/v1/memos/{old.Memo.PINNED}", headers=steven)
    assert r.status == 200, await r.text()
    pinned = await r.json()
    assert pinned["content"] == old.PINNED_CONTENT and pinned["pinned"] is True
    assert [a["name"] for a in pinned["attachments"]] == ["attachments/AttachInDb0000000000001"]


@pytest.mark.drivers("postgres", "mysql")
async def test_without_the_backup_the_server_refuses_to_upgrade_an_old_schema(memos_config, version, dialect):
    runner = web.AppRunner(create_app(memos_config))
    with pytest.raises(SchemaError) as refused:
        await runner.setup()
    assert "memos backup" in str(refused.value) and recorded_version(dialect, version) in str(refused.value)
    store = open_store(memos_config)
    await store.connect()
    try:
        async with store.connection():  # nothing was upgraded
            assert await store.schema_version() == recorded_version(dialect, version)
            assert await store.driver.table_exists(store, "memo_organizer") == (version == "0.22")
    finally:
        await store.disconnect()
