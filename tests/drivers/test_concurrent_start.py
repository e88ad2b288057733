"""Several processes starting on one new database create the schema and the secret exactly once."""

import asyncio

from memos_core.plugins import load_plugins
from memos_core.store import Store


async def test_concurrent_migrations_agree_on_one_schema_and_secret(memos_config):
    stores = [Store(load_plugins(memos_config).driver) for _ in range(4)]
    for store in stores:
        await store.connect()
    try:
        await asyncio.gather(*(store.migrate() for store in stores))
        secrets = set()
        for store in stores:
            async with store.connection():
                basic = await store.get_basic()
            assert basic["schemaVersion"] == "0.28.1"
            secrets.add(basic["secretKey"])
        assert len(secrets) == 1
        # A second round (a restart) changes nothing.
        await asyncio.gather(*(store.migrate() for store in stores))
        async with stores[0].connection():
            assert (await stores[0].get_basic())["secretKey"] in secrets
    finally:
        for store in stores:
            await store.disconnect()
