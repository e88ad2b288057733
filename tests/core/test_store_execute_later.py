"""``Store.execute_later``: writes whose result nobody needs, batched where the driver can (SQLite
sends them with the transaction's next statement or its COMMIT), with the meaning of ``execute``
on every driver: in order, atomic with their transaction, and rolled back with it on failure."""

import pytest
import sqlalchemy as sa

from memos_core import CONTEXT
from memos_core.store import tables

t = tables.system_setting


def _row(name: str, value: str) -> sa.Insert:
    return t.insert().values(name=name, value=value, description="")


async def _values(store, prefix: str) -> dict[str, str]:
    rows = await store.fetch_all(sa.select(t.c.name, t.c.value).where(t.c.name.like(prefix + "%")))
    return {r["name"]: r["value"] for r in rows}


async def test_later_writes_run_in_order_before_the_next_statement_and_commit_with_it(memos_client):
    store = memos_client.app[CONTEXT].store
    async with store.connection(), store.transaction():
        await store.execute_later(_row("later-a", "1"))
        await store.execute_later(t.update().where(t.c.name == "later-a").values(value="2"))
        # A read in the same transaction sees them: they run first, in the order issued.
        assert await store.fetch_val(sa.select(t.c.value).where(t.c.name == "later-a")) == "2"
        await store.execute_later(_row("later-b", "3"))  # only the COMMIT follows it
    async with store.connection():  # another connection: what was committed
        assert await _values(store, "later-") == {"later-a": "2", "later-b": "3"}


async def test_a_failing_later_write_rolls_its_whole_transaction_back(memos_client):
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        with pytest.raises(Exception) as failure:
            async with store.transaction():
                await store.execute(_row("undone-first", "1"))
                await store.execute_later(_row("undone-dup", "1"))
                await store.execute_later(_row("undone-dup", "2"))  # a unique violation
        assert store.is_unique_violation(failure.value)
        assert await _values(store, "undone-") == {}
        # The connection goes on working.
        async with store.transaction():
            await store.execute_later(_row("undone-after", "ok"))
    async with store.connection():
        assert await _values(store, "undone-") == {"undone-after": "ok"}


async def test_a_later_write_outside_a_transaction_runs_at_once(memos_client):
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        await store.execute_later(_row("now-a", "1"))
        async with store.connection():
            assert await _values(store, "now-") == {"now-a": "1"}


async def test_a_transaction_that_runs_nothing_commits_and_rolls_back_cleanly(memos_client):
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        async with store.transaction():
            pass
        with pytest.raises(RuntimeError):
            async with store.transaction():
                raise RuntimeError("nothing ran")
        async with store.transaction():
            await store.execute(_row("empty-then", "1"))
        assert await _values(store, "empty-") == {"empty-then": "1"}
