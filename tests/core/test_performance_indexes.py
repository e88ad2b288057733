"""memos-py's own indexes beside the Memos schema exist on every driver after start-up, also on a
database that already had the Memos schema (they are created if absent)."""

from __future__ import annotations

import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables

INDEX_NAMES = {
    "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index'",
    "postgresql": "SELECT indexname FROM pg_indexes WHERE schemaname = current_schema()",
    "mysql": "SELECT DISTINCT index_name FROM information_schema.statistics WHERE table_schema = DATABASE()",
}


async def _index_names(store) -> set[str]:
    async with store.connection():
        return {row[0] for row in await store.fetch_all(sa.text(INDEX_NAMES[store.dialect]))}


async def test_every_performance_index_exists(memos_client):
    store = memos_client.app[CONTEXT].store
    names = await _index_names(store)
    wanted = {index.name for index in tables.PERFORMANCE_INDEXES}
    assert {"memos_py_idx_reaction_content_id", "memos_py_idx_attachment_memo_id"} <= wanted
    assert wanted <= names, f"missing: {sorted(wanted - names)}"


async def test_dropped_indexes_come_back_at_the_next_start(memos_client, aiohttp_client, memos_config):
    from memos_core.app import create_app

    store = memos_client.app[CONTEXT].store
    async with store.connection():
        for index in tables.PERFORMANCE_INDEXES:
            on = f" ON `{index.table.name}`" if store.dialect == "mysql" else ""
            await store.driver.execute_ddl(store, [f"DROP INDEX {index.name}{on}"])
    assert not {i.name for i in tables.PERFORMANCE_INDEXES} & await _index_names(store)

    second = await aiohttp_client(create_app(memos_config))
    names = await _index_names(second.app[CONTEXT].store)
    assert {i.name for i in tables.PERFORMANCE_INDEXES} <= names
