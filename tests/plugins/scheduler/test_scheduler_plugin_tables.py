"""``memos_core.ensure_plugin_schema``: plugin-owned tables created, versioned and migrated apart
from the Memos schema, safely when several processes start at once."""

from __future__ import annotations

import asyncio
import json

import pytest
import sqlalchemy as sa

from memos_core import PluginSchemaError, Store, ensure_plugin_schema
from memos_core.plugins import load_plugins
from memos_core.store.plugin_tables import create_statements, recorded_version


def notes_v1() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "memos_py_test_note",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Index("idx_memos_py_test_note_body", "body"),
    )
    return md


def notes_v2() -> sa.MetaData:
    md = sa.MetaData()
    sa.Table(
        "memos_py_test_note",
        md,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("body", sa.String(200), nullable=False),
        sa.Column("pinned", sa.Integer, nullable=False, server_default="0"),
        sa.Index("idx_memos_py_test_note_body", "body"),
    )
    sa.Table("memos_py_test_tag", md, sa.Column("note_id", sa.Integer), sa.Column("tag", sa.String(64)))
    return md


MIGRATIONS_V2 = {2: ["ALTER TABLE memos_py_test_note ADD COLUMN pinned INTEGER NOT NULL DEFAULT 0"]}


@pytest.fixture
async def make_store(memos_driver, memos_new_config):
    """Stores on one fresh database, as separate app processes would have (each with its own lock and pool)."""
    config = memos_new_config(memos_driver)
    stores: list[Store] = []

    async def make() -> Store:
        store = Store(load_plugins(config).driver)
        await store.connect()
        stores.append(store)
        return store

    yield make
    for store in stores:
        await store.disconnect()


async def columns(store: Store, table: str) -> list[str]:
    if store.dialect == "sqlite":
        query = sa.text(f"SELECT name FROM pragma_table_info('{table}') ORDER BY cid")
    else:
        schema = "current_schema()" if store.dialect == "postgresql" else "DATABASE()"
        query = sa.text(
            "SELECT column_name AS name FROM information_schema.columns "
            f"WHERE table_schema = {schema} AND table_name = :t ORDER BY ordinal_position"
        ).bindparams(t=table)
    async with store.connection():
        rows = await store.fetch_all(query)
    return [r["name"] for r in rows]


async def test_creates_tables_records_version_and_is_idempotent(make_store):
    store = await make_store()
    assert await ensure_plugin_schema(store, "notes", 1, notes_v1()) == 0
    async with store.connection():
        assert await recorded_version(store, "notes") == 1
        assert await store.driver.table_exists(store, "memos_py_test_note")
        # The index exists: a second CREATE INDEX of that name fails.
        with pytest.raises(Exception):  # noqa: B017 - the error type differs per driver
            async with store.transaction():
                await store.driver.execute_ddl(
                    store, ["CREATE INDEX idx_memos_py_test_note_body ON memos_py_test_note (body)"]
                )
        await store.execute(sa.text("INSERT INTO memos_py_test_note (id, body) VALUES (1, 'kept')"))

    for _ in range(2):
        assert await ensure_plugin_schema(store, "notes", 1, notes_v1()) == 1
    async with store.connection():
        assert await store.fetch_val(sa.text("SELECT body FROM memos_py_test_note WHERE id = 1")) == "kept"
        rows = await store.fetch_all(sa.text("SELECT plugin, version FROM memos_py_plugin_schema"))
    assert [(r["plugin"], r["version"]) for r in rows] == [("notes", 1)]


async def test_version_is_kept_apart_from_the_memos_schema(memos_client):
    from memos_core import CONTEXT

    store = memos_client.app[CONTEXT].store
    async with store.connection():
        before = await store.get_basic()
        await ensure_plugin_schema(store, "notes", 1, notes_v1())
        after = await store.get_basic()
        other = await recorded_version(store, "never-installed")
    assert after == before and "notes" not in json.dumps(after)
    assert other is None


async def test_migrates_an_older_version_then_adds_new_tables(make_store):
    store = await make_store()
    await ensure_plugin_schema(store, "notes", 1, notes_v1())
    async with store.connection():
        await store.execute(sa.text("INSERT INTO memos_py_test_note (id, body) VALUES (1, 'old')"))

    assert await ensure_plugin_schema(store, "notes", 2, notes_v2(), MIGRATIONS_V2) == 1
    assert await columns(store, "memos_py_test_note") == ["id", "body", "pinned"]
    assert await columns(store, "memos_py_test_tag") == ["note_id", "tag"]
    async with store.connection():
        assert await recorded_version(store, "notes") == 2
        row = await store.fetch_one(sa.text("SELECT body, pinned FROM memos_py_test_note"))
    assert (row["body"], row["pinned"]) == ("old", 0)


async def test_fresh_install_uses_metadata_not_migrations(make_store):
    store = await make_store()
    assert await ensure_plugin_schema(store, "notes", 2, notes_v2(), {2: ["THIS IS NOT SQL"]}) == 0
    assert await columns(store, "memos_py_test_note") == ["id", "body", "pinned"]


async def test_refuses_downgrades_and_missing_steps(make_store):
    store = await make_store()
    await ensure_plugin_schema(store, "notes", 1, notes_v1())
    with pytest.raises(PluginSchemaError, match="no migration to schema version 2"):
        await ensure_plugin_schema(store, "notes", 3, notes_v2(), {3: []})
    await ensure_plugin_schema(store, "notes", 2, notes_v2(), MIGRATIONS_V2)
    with pytest.raises(PluginSchemaError, match="newer than 1"):
        await ensure_plugin_schema(store, "notes", 1, notes_v1())
    with pytest.raises(ValueError, match="start at 1"):
        await ensure_plugin_schema(store, "notes", 0, notes_v1())


@pytest.mark.drivers("sqlite", "postgres")  # MySQL commits each DDL statement: no atomic upgrade there
async def test_a_failed_migration_leaves_the_old_version(make_store):
    store = await make_store()
    await ensure_plugin_schema(store, "notes", 1, notes_v1())
    with pytest.raises(Exception, match=r"(?i)syntax"):
        await ensure_plugin_schema(store, "notes", 2, notes_v2(), {2: [*MIGRATIONS_V2[2], "ALTER TABLE broken SQL"]})
    async with store.connection():
        assert await recorded_version(store, "notes") == 1
        assert not await store.driver.table_exists(store, "memos_py_test_tag")
    assert await columns(store, "memos_py_test_note") == ["id", "body"]  # the first step was rolled back too


async def test_processes_starting_at_once_create_and_migrate_once(make_store):
    stores = [await make_store() for _ in range(4)]
    found = await asyncio.gather(*(ensure_plugin_schema(s, "notes", 1, notes_v1()) for s in stores))
    assert sorted(found) == [0, 1, 1, 1]  # exactly one created the tables
    found = await asyncio.gather(*(ensure_plugin_schema(s, "notes", 2, notes_v2(), MIGRATIONS_V2) for s in stores))
    assert sorted(found) == [1, 2, 2, 2]  # exactly one migrated (a second ALTER would have failed)
    assert await columns(stores[0], "memos_py_test_note") == ["id", "body", "pinned"]


@pytest.mark.parametrize("dialect", ["sqlite", "postgresql", "mysql"])
def test_create_statements_compile_for_each_dialect(dialect):
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    d = {"sqlite": sqlite, "postgresql": postgresql, "mysql": mysql}[dialect].dialect()
    statements = create_statements(notes_v2(), d)
    assert len(statements) == 3
    assert all("IF NOT EXISTS" in s for s in statements)
    assert statements[0].startswith("CREATE TABLE IF NOT EXISTS memos_py_test_note")
    assert statements[1].startswith("CREATE INDEX IF NOT EXISTS idx_memos_py_test_note_body")
