"""What the core gives plugins that add routes: Memos-shaped errors and routes that hold no database connection."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from aiohttp import web

from memos_core import ApiError, Code, error_middleware, error_response, hookimpl, no_db_connection

WAITERS = 25  # more than the PostgreSQL and MySQL drivers' default pool size (10)


class RoutesPlugin:
    def __init__(self) -> None:
        self.release = asyncio.Event()
        self.waiting = 0

    @hookimpl
    def memos_register_routes(self, app: web.Application) -> None:
        @no_db_connection
        async def long_poll(request: web.Request) -> web.Response:
            self.waiting += 1
            await self.release.wait()
            return web.Response(text="done")

        async def refuse(request: web.Request) -> web.Response:
            return error_response(Code.FAILED_PRECONDITION, "not now")

        async def raises(request: web.Request) -> web.Response:
            raise ApiError(Code.NOT_FOUND, "no such thing")

        sub = web.Application(middlewares=[error_middleware])
        sub.router.add_get("/raises", raises)
        app.router.add_get("/test-plugin/long-poll", long_poll)
        app.router.add_get("/test-plugin/refuse", refuse)
        app.add_subapp("/test-plugin/sub", sub)


@pytest.fixture
def plugin() -> RoutesPlugin:
    return RoutesPlugin()


@pytest.fixture
def memos_extra_plugins(plugin) -> list[Any]:
    return [plugin]


async def test_plugin_errors_have_the_memos_shape(memos_client):
    r = await memos_client.get("/test-plugin/refuse")
    assert r.status == 400
    assert await r.json() == {"code": 9, "message": "not now", "details": []}
    r = await memos_client.get("/test-plugin/sub/raises")
    assert r.status == 404
    assert await r.json() == {"code": 5, "message": "no such thing", "details": []}
    r = await memos_client.get("/test-plugin/sub/unknown")
    assert r.status == 404 and (await r.json())["code"] == 5


@pytest.mark.drivers("postgres", "mysql")  # SQLite's pool is not bounded, so it cannot run dry
async def test_waiting_routes_do_not_drain_the_connection_pool(memos_client, plugin):
    """Many requests parked in a no_db_connection route leave the pool to everyone else."""
    parked = [asyncio.create_task(memos_client.get("/test-plugin/long-poll")) for _ in range(WAITERS)]
    try:
        for _ in range(500):
            if plugin.waiting == WAITERS:
                break
            await asyncio.sleep(0.01)
        assert plugin.waiting == WAITERS
        r = await asyncio.wait_for(memos_client.get("/api/v1/instance/profile"), timeout=10)
        assert r.status == 200
    finally:
        plugin.release.set()
        for response in await asyncio.gather(*parked):
            assert response.status == 200
            response.release()
