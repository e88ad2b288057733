"""A transaction whose connection dies under it hands the connection back to the pool.

``databases`` raises out of a failed ROLLBACK/COMMIT before releasing the connection; a server
restart or a killed session would then shrink the pool by one connection each time, until every
request hung waiting for one. The store's transaction releases it either way."""

from __future__ import annotations

import asyncio

import pytest
import sqlalchemy as sa

from memos_core import Config
from memos_core.app import create_app
from memos_core.context import CONTEXT
from memos_core.store import users as users_store

KILL_OWN_SESSION = {
    "postgresql": "SELECT pg_terminate_backend(pg_backend_pid())",
    "mysql": "KILL CONNECTION_ID()",
}


@pytest.mark.drivers("postgres", "mysql")
async def test_killed_sessions_do_not_drain_the_pool(aiohttp_client, memos_config):
    dsn = memos_config.dsn + ("&" if "?" in memos_config.dsn else "?") + "max_size=2"
    config = Config(data=memos_config.data, driver=memos_config.driver, dsn=dsn)
    client = await aiohttp_client(create_app(config))
    store = client.app[CONTEXT].store

    async def killed_transaction() -> None:
        async with store.transaction():
            await store.execute(sa.text(KILL_OWN_SESSION[store.dialect]))

    for _ in range(5):  # more than the pool holds, each in its own task as requests are
        with pytest.raises(Exception):  # noqa: B017 - each driver words the lost connection its own way
            await asyncio.wait_for(asyncio.create_task(killed_transaction()), 10)

    # Both pooled connections are still there to serve (a leak would make this wait forever).
    async def count() -> int:
        async with store.connection():
            return await users_store.count_users(store)

    assert await asyncio.wait_for(asyncio.gather(count(), count(), count()), 10) == [0, 0, 0]
    r = await asyncio.wait_for(client.get("/api/v1/instance/profile"), 10)
    assert r.status == 200
