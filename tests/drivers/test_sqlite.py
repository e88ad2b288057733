"""The SQLite driver and the store's schema handling, seen through the app and the database file."""

import asyncio
import json
import re
import sqlite3
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp import web
from fixtures import processes as procs
from fixtures import upstream_db as upstream

from memos_core import CONTEXT, Config
from memos_core.app import create_app
from memos_core.plugins import load_plugins
from memos_core.store import SCHEMA_VERSION, SchemaError, Store
from memos_core.store import settings as settings_store

pytestmark = pytest.mark.drivers("sqlite")  # the database file, pragmas and SQLite's own schema


def schema_of(path: Path) -> dict[str, tuple]:
    """Tables and indexes with their columns as SQLite reports them (order-insensitive)."""
    conn = sqlite3.connect(path)
    try:
        out = {}
        names = conn.execute(
            "SELECT type, name, tbl_name FROM sqlite_master WHERE name NOT LIKE 'sqlite_%' AND " + NOT_PLUGIN
        ).fetchall()
        for kind, name, table in names:
            if kind == "table":
                cols = conn.execute(f"PRAGMA table_info('{name}')").fetchall()
                out[name] = ("table", tuple(sorted((c[1], c[2].upper(), c[3], c[4], c[5]) for c in cols)))
            else:
                cols = conn.execute(f"PRAGMA index_info('{name}')").fetchall()
                out[name] = (kind, table, tuple(c[2] for c in cols))
        for table in [n for _, n, _ in names if _ == "table"]:
            uniques = [
                tuple(c[2] for c in conn.execute(f"PRAGMA index_info('{ix[1]}')"))
                for ix in conn.execute(f"PRAGMA index_list('{table}')")
                if ix[2]
            ]
            out[f"{table} unique"] = tuple(sorted(uniques))
        return out
    finally:
        conn.close()


#: Plugins keep their own tables beside the Memos ones; the Memos schema is what must not change.
NOT_PLUGIN = "name NOT LIKE 'memos!_py!_%' ESCAPE '!' AND tbl_name NOT LIKE 'memos!_py!_%' ESCAPE '!'"


def sqlite_master(path: Path) -> list[tuple]:
    conn = sqlite3.connect(path)
    try:
        return sorted(
            conn.execute("SELECT type, name, tbl_name, sql FROM sqlite_master WHERE " + NOT_PLUGIN).fetchall(), key=str
        )
    finally:
        conn.close()


def basic_of(path: Path) -> dict:
    conn = sqlite3.connect(path)
    try:
        return json.loads(conn.execute("SELECT value FROM system_setting WHERE name = 'BASIC'").fetchone()[0])
    finally:
        conn.close()


def set_schema_version(path: Path, version: str | None) -> None:
    conn = sqlite3.connect(path)
    basic = basic_of(path)
    if version is None:
        basic.pop("schemaVersion")
    else:
        basic["schemaVersion"] = version
    conn.execute("UPDATE system_setting SET value = ? WHERE name = 'BASIC'", (json.dumps(basic),))
    conn.commit()
    conn.close()


async def start(aiohttp_client, path: Path):
    return await aiohttp_client(create_app(Config(dsn=str(path))))


# -- a new database --------------------------------------------------------------------------------
async def test_new_database_gets_the_schema_version_and_a_secret(memos_client, tmp_path):
    path = tmp_path / "memos_prod.db"
    assert path.exists()
    basic = basic_of(path)
    assert basic["schemaVersion"] == SCHEMA_VERSION == "0.28.1"
    assert len(basic["secretKey"]) == 36  # a UUIDv4, as upstream stores it
    tables = {name for name, (kind, *_) in schema_of(path).items() if kind == "table"}
    assert tables == {
        "system_setting",
        "user",
        "user_setting",
        "memo",
        "memo_relation",
        "attachment",
        "idp",
        "inbox",
        "reaction",
        "memo_share",
        "user_identity",
    }


async def test_new_schema_matches_upstream_column_for_column(memos_client, tmp_path):
    theirs = upstream.build(tmp_path / "upstream.db")
    assert schema_of(tmp_path / "memos_prod.db") == schema_of(theirs)


async def test_demo_mode_uses_the_demo_file(aiohttp_client, tmp_path):
    await aiohttp_client(create_app(Config(data=str(tmp_path), mode="demo")))
    assert (tmp_path / "memos_demo.db").exists() and not (tmp_path / "memos_prod.db").exists()


async def test_restart_keeps_schema_and_secret(aiohttp_client, tmp_path):
    path = tmp_path / "m.db"
    client = await start(aiohttp_client, path)
    await client.close()
    before, master = basic_of(path), sqlite_master(path)
    await start(aiohttp_client, path)
    assert basic_of(path) == before and sqlite_master(path) == master


# -- connections -----------------------------------------------------------------------------------
async def test_app_connections_use_wal_full_sync_and_busy_timeout(memos_client):
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        assert (await store.fetch_val(sa.text("PRAGMA journal_mode"))).lower() == "wal"
        assert await store.fetch_val(sa.text("PRAGMA synchronous")) == 2  # FULL
        assert await store.fetch_val(sa.text("PRAGMA busy_timeout")) == 10_000
        assert await store.fetch_val(sa.text("PRAGMA foreign_keys")) == 0  # as upstream: not enforced


async def test_literal_percent_in_sql_runs(memos_client):
    """``contains()`` renders ``LIKE '%' || ? || '%'``; the driver must not choke on the ``%``."""
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        await settings_store.set_user_setting(store, 7, "NOTE", {"text": "100%_done"})
        await settings_store.set_user_setting(store, 8, "NOTE", {"text": "100 done"})
        found = await settings_store.find_user_settings_containing(store, "NOTE", "100%_")
    assert found == [(7, {"text": "100%_done"})]


async def test_two_stores_on_one_file_serialise_read_then_write(memos_client, tmp_path):
    """Two processes' worth of stores on one file: BEGIN IMMEDIATE + busy timeout make concurrent
    read-modify-write transactions wait for each other instead of failing or losing updates."""
    config = Config(data=str(tmp_path))
    stores = [memos_client.app[CONTEXT].store, Store(load_plugins(config).driver)]
    await stores[1].connect()
    t = sa.table("system_setting", sa.column("name"), sa.column("value"))
    async with stores[0].connection():
        await settings_store.set_instance_setting(stores[0], "COUNTER", {"n": 0})

    async def bump(store):
        async with store.connection(), store.transaction():
            value = json.loads(await store.fetch_val(sa.select(t.c.value).where(t.c.name == "COUNTER")))
            await asyncio.sleep(0.001)
            await settings_store.set_instance_setting(store, "COUNTER", {"n": value["n"] + 1})

    try:
        await asyncio.gather(*(bump(stores[i % 2]) for i in range(20)))
    finally:
        await stores[1].disconnect()
    async with stores[0].connection():
        assert await settings_store.get_instance_setting(stores[0], "COUNTER") == {"n": 20}


async def test_whole_queued_transactions_commit_together_each_with_its_own_outcome(memos_client, tmp_path):
    """Transactions whose statements were all queued (``execute_later``) reach COMMIT together and
    are committed in groups, one ``COMMIT`` each; one that fails is refused alone and the rest of
    its group still commits."""
    config = Config(data=str(tmp_path))
    plugins = load_plugins(config)
    statements: list[str] = []
    plugins.driver.add_connection_setup(lambda conn: conn.set_trace_callback(statements.append))
    store = Store(plugins.driver)
    await store.connect()
    t = sa.table("system_setting", sa.column("name"), sa.column("value"), sa.column("description"))

    async def write(i: int) -> str:
        name = "taken" if i % 5 == 0 else f"group-{i}"
        try:
            async with store.connection(), store.transaction():
                await store.execute_later(t.insert().values(name=name, value=str(i), description=""))
                await store.execute_later(t.insert().values(name=f"{name}-second", value=str(i), description=""))
        except sqlite3.IntegrityError:
            return "refused"
        return "committed"

    try:
        outcomes = await asyncio.gather(*(write(i) for i in range(40)))
        async with store.connection():
            rows = await store.fetch_all(sa.select(t.c.name, t.c.value).where(t.c.name.like("group-%")))
            taken = await store.fetch_all(sa.select(t.c.name).where(t.c.name.like("taken%")))
    finally:
        await store.disconnect()
    assert outcomes.count("refused") == 7 and outcomes.count("committed") == 33
    assert len(rows) == 64 and all(r["value"] == r["name"].split("-")[1] for r in rows)
    assert sorted(r["name"] for r in taken) == ["taken", "taken-second"]  # one winner, both rows
    commits = statements.count("COMMIT")
    assert 1 <= commits < 33, commits  # fewer COMMITs than committed transactions


async def test_short_reads_run_on_the_loop_and_long_ones_leave_it_free(tmp_path):
    """Reads run on the event loop's thread until they take too long; then they finish on their
    connection's thread, with the same answer, and the loop goes on serving meanwhile."""
    import threading

    config = Config(data=str(tmp_path))
    plugins = load_plugins(config)
    threads: list[str] = []
    plugins.driver.add_connection_setup(
        lambda conn: conn.create_function("where_am_i", 0, lambda: threads.append(threading.current_thread().name))
    )
    store = Store(plugins.driver)
    await store.connect()
    count = (
        "SELECT count(*) FROM"
        " (WITH RECURSIVE c(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM c WHERE x < {n}) SELECT x FROM c)"
    )
    try:
        async with store.connection():
            await store.fetch_val(sa.text("SELECT where_am_i()"))
            assert threads == [threading.current_thread().name]  # the loop's own thread

            ticks = 0

            async def tick() -> None:
                nonlocal ticks
                while True:
                    await asyncio.sleep(0)
                    ticks += 1

            ticker = asyncio.ensure_future(tick())
            try:
                assert await store.fetch_val(sa.text(count.format(n=1_000_000))) == 1_000_000
            finally:
                ticker.cancel()
            assert ticks > 10, "the loop was held for the whole of a long read"
            assert await store.fetch_val(sa.text(count.format(n=10))) == 10

        # A long read whose caller is cancelled goes on on its connection's thread, and the
        # connection goes back to the pool: the next read on it must not run beside it.
        async def long_read() -> None:
            async with store.connection():
                await store.fetch_val(sa.text(count.format(n=3_000_000)))

        reader = asyncio.ensure_future(long_read())
        await asyncio.sleep(0.05)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
        threads.clear()
        async with store.connection():
            assert await store.fetch_val(sa.text("SELECT where_am_i() IS NULL")) == 1
        assert threads and threads != [threading.current_thread().name]
    finally:
        await store.disconnect()


async def test_ddl_opening_a_transaction_is_part_of_it(memos_client):
    """DDL as a transaction's first statement runs after its BEGIN, and is rolled back with it."""
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        with pytest.raises(RuntimeError):
            async with store.transaction():
                await store.driver.execute_ddl(store, ["CREATE TABLE memos_py_ddl_probe (id INTEGER)"])
                raise RuntimeError("undo")
        assert not await store.driver.table_exists(store, "memos_py_ddl_probe")
        async with store.transaction():
            await store.driver.execute_ddl(store, ["CREATE TABLE memos_py_ddl_probe (id INTEGER)"])
        assert await store.driver.table_exists(store, "memos_py_ddl_probe")


# -- schema versions -------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("version", "expect"),
    [
        ("0.29.0", "newer than 0.28.1"),
        ("0.21.0", "too old"),
        (None, "(none)"),
        ("", "(none)"),
    ],
)
async def test_unservable_schema_version_is_refused(tmp_path, version, expect):
    path = upstream.build(tmp_path / "m.db")
    set_schema_version(path, version)
    master = sqlite_master(path)
    runner = web.AppRunner(create_app(Config(dsn=str(path))))
    with pytest.raises(SchemaError, match=re.escape(expect)):
        await runner.setup()  # start-up: what `memos serve` and every test client run first
    assert sqlite_master(path) == master


def test_memos_serve_refuses_a_newer_database(tmp_path):
    path = upstream.build(tmp_path / "m.db")
    set_schema_version(path, "0.29.0")
    r = procs.run_memos("serve", "--port", str(procs.free_port()), "--dsn", str(path), env=procs.memos_env(tmp_path))
    assert r.returncode == 1
    assert "schema version 0.29.0" in r.stderr and "cannot downgrade" in r.stderr
    assert "Traceback" not in r.stderr


# -- an upstream database --------------------------------------------------------------------------
async def test_upstream_database_opens_unchanged(aiohttp_client, tmp_path):
    path = upstream.build(tmp_path / "m.db")
    master = sqlite_master(path)
    client = await start(aiohttp_client, path)
    r = await client.get("/api/v1/instance/settings/MEMO_RELATED")
    assert (await r.json())["memoRelatedSetting"] == {
        "contentLengthLimit": 16384,
        "enableDoubleClickEdit": False,
        "reactions": ["👍", "🔥", "🎉"],
    }
    assert client.app[CONTEXT].secret == upstream.SECRET_KEY
    await client.close()
    assert sqlite_master(path) == master
    assert basic_of(path) == {"secretKey": upstream.SECRET_KEY, "schemaVersion": "0.28.1"}
