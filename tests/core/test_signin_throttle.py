"""The failed sign-in throttle keeps its counts in the database (``memos_py_signin_failure``), so every
app serving one database throttles against one shared budget."""

import asyncio
import dataclasses
import time

import pytest
import sqlalchemy as sa

from memos_core import ratelimit
from memos_core.app import create_app
from memos_core.context import CONTEXT
from memos_core.plugins import load_plugins
from memos_core.services import auth as auth_service
from memos_core.store import Store, tables
from memos_core.store import signin_failures as failures_store

WINDOW = 15 * 60


async def signin(client, username, password, **headers):
    client.session.cookie_jar.clear()
    r = await client.post(
        "/api/v1/auth/signin",
        json={"passwordCredentials": {"username": username, "password": password}},
        headers=headers,
    )
    client.session.cookie_jar.clear()
    return r


@pytest.fixture
async def second_client(aiohttp_client, memos_client, memos_config):
    """Another app on the same database, as a second process behind a load balancer would be
    (``memos_client`` is started first, so the schema exists)."""
    return await aiohttp_client(create_app(memos_config))


@pytest.fixture
def proxied(aiohttp_client, memos_client, memos_config):
    """Factory: another app on the same database that trusts ``trusted`` (by default the test
    client's peer, 127.0.0.1) as reverse proxies."""

    async def make(trusted: str = "127.0.0.1"):
        return await aiohttp_client(create_app(dataclasses.replace(memos_config, trusted_proxies=trusted)))

    return make


@pytest.fixture
def no_burn(monkeypatch):
    async def no_burn():  # unknown users cost a cost-10 bcrypt each; not what these tests are about
        pass

    monkeypatch.setattr(auth_service, "burn_verification", no_burn)


async def rows(store) -> list[tuple[str, int]]:
    t = tables.signin_failure
    async with store.connection():
        result = await store.fetch_all(sa.select(t.c.subject, t.c.failed_at_ms).order_by(t.c.id))
    return [(r[0], r[1]) for r in result]


async def test_username_budget_is_shared_between_apps(memos_client, second_client, memos_users):
    alice = await memos_users("alice")
    a, b = memos_client, second_client
    for client in (a, a, a, b, b):  # 3 + 2 failures: the budget of 5 is spent across both apps
        assert (await signin(client, "alice", "wrong")).status == 400
    for client in (a, b):
        r = await signin(client, "alice", alice.password)  # the right password, refused on both
        assert r.status == 429
        body = await r.json()
        assert body["code"] == 8 and body["details"] == []
        assert body["message"] == "too many failed sign-in attempts, try again later"
        assert 0 < int(r.headers["Retry-After"]) <= WINDOW
    # Once the window has passed (on both apps' clocks), the account signs in again.
    for client in (a, b):
        auth_service.throttle_of(client.app[CONTEXT]).clock = lambda: time.time() + WINDOW + 1
    assert (await signin(b, "alice", alice.password)).status == 200


async def test_success_on_one_app_resets_the_username_for_the_other(memos_client, second_client, memos_users):
    alice = await memos_users("alice")
    a, b = memos_client, second_client
    for _ in range(4):
        assert (await signin(a, "alice", "wrong")).status == 400
    assert (await signin(b, "alice", alice.password)).status == 200
    for _ in range(4):
        assert (await signin(b, "alice", "wrong")).status == 400
    assert (await signin(a, "alice", alice.password)).status == 200


async def test_ip_budget_is_shared_between_apps(proxied, memos_users, no_burn):
    await memos_users("alice")
    a, b = await proxied(), await proxied()
    ip = {"X-Forwarded-For": "192.0.2.9"}
    for i in range(20):
        assert (await signin(a if i % 2 else b, f"user{i}", "x", **ip)).status == 400
    for client in (a, b):
        assert (await signin(client, "alice", "alice-password", **ip)).status == 429
    assert (await signin(b, "alice", "alice-password", **{"X-Forwarded-For": "192.0.2.10"})).status == 200


async def test_retry_after_counts_from_the_limit_th_latest_failure(memos_client):
    store = memos_client.app[CONTEXT].store
    now = [1000.0]
    throttle = auth_service.SignInThrottle(clock=lambda: now[0])
    async with store.connection():
        for _ in range(4):
            await throttle.record_failure(store, "alice", None)
            now[0] += 10
        assert await throttle.retry_after(store, "alice", "192.0.2.1") == 0  # 4 of 5
        await throttle.record_failure(store, "alice", None)  # the 5th, at 1040
        now[0] = 1100.0
        assert await throttle.retry_after(store, "alice", "192.0.2.1") == 1000 + WINDOW - 1100
        await throttle.record_failure(store, "alice", None)  # a 6th (a race between processes), at 1100
        assert await throttle.retry_after(store, "alice", None) == 1010 + WINDOW - 1100
        assert await throttle.retry_after(store, "bob", None) == 0
        now[0] = 1010.0 + WINDOW - 0.5  # the limit-th latest (1010) is half a second from leaving
        assert await throttle.retry_after(store, "alice", None) == 1
        now[0] = 1010.0 + WINDOW  # it has left: 4 failures in the window
        assert await throttle.retry_after(store, "alice", None) == 0
        assert await throttle.retry_after(store, "alice", None) == 0


async def test_constant_statements_per_sign_in(memos_client):
    store = memos_client.app[CONTEXT].store
    throttle = auth_service.SignInThrottle()
    async with store.connection():
        for _ in range(30):
            await throttle.record_failure(store, "alice", "192.0.2.1")
        for call, expected in (
            (throttle.retry_after(store, "alice", "192.0.2.1"), 1),  # one SELECT for both keys
            (throttle.record_failure(store, "alice", "192.0.2.1"), 2),  # INSERT, bounded prune
            (throttle.reset_username(store, "alice"), 1),  # DELETE
            (throttle.retry_after(store, None, ""), 0),
        ):
            before = store.statements
            await call
            assert store.statements - before == expected


async def test_expired_failures_are_pruned_in_bounded_batches(memos_client, monkeypatch):
    store = memos_client.app[CONTEXT].store
    # Rows live for the longest window any limit on the table uses (memos_core.ratelimit), so a
    # failure outlives the throttle's own window until then.
    kept = max(WINDOW, ratelimit.HORIZON)
    now = [5000.0]
    throttle = auth_service.SignInThrottle(clock=lambda: now[0])
    async with store.connection():
        for i in range(3):
            await throttle.record_failure(store, f"u{i}", "192.0.2.1")  # 6 rows at t=5000
        now[0] += kept - 1
        await throttle.record_failure(store, "fresh", None)  # nothing has expired yet
        assert len(await rows(store)) == 7
        now[0] += 1  # the first six are exactly that old now: prunable
        monkeypatch.setattr(failures_store, "PRUNE_BATCH", 4)
        await throttle.record_failure(store, "newer", None)
        assert len(await rows(store)) == 6 - 4 + 2
        await throttle.record_failure(store, "newest", None)
        left = await rows(store)
        assert [ms for _, ms in left] == [(5000 + kept - 1) * 1000] + [(5000 + kept) * 1000] * 2
        assert {key for key, _ in left} == {failures_store.subject("user", u) for u in ("fresh", "newer", "newest")}


async def test_keys_are_fixed_length_digests(memos_client, proxied, no_burn):
    store = memos_client.app[CONTEXT].store
    long_name = "x" * 5000
    assert (await signin(await proxied(), long_name, "pw", **{"X-Forwarded-For": "2001:db8::1"})).status == 400
    stored = {key for key, _ in await rows(store)}
    assert stored == {failures_store.subject("user", long_name), failures_store.subject("ip", "2001:db8::1")}
    assert all(len(key) == 64 for key in stored)


async def _indexes(store) -> set[str]:
    queries = {
        "sqlite": "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'memos_py_signin_failure'",
        "postgresql": "SELECT indexname FROM pg_indexes WHERE tablename = 'memos_py_signin_failure'",
        "mysql": "SELECT DISTINCT index_name FROM information_schema.statistics "
        "WHERE table_schema = DATABASE() AND table_name = 'memos_py_signin_failure'",
    }
    return {r[0] for r in await store.fetch_all(sa.text(queries[store.driver.name]))} & {
        "memos_py_idx_signin_failure_subject",
        "memos_py_idx_signin_failure_failed_at",
    }


async def test_table_created_once_by_concurrent_start_ups(memos_config):
    stores = [Store(load_plugins(memos_config).driver) for _ in range(3)]
    for store in stores:
        await store.connect()
    try:
        await asyncio.gather(*(store.migrate() for store in stores))
        await asyncio.gather(*(store.migrate() for store in stores))  # a restart changes nothing
        async with stores[0].connection():
            assert await stores[0].driver.table_exists(stores[0], "memos_py_signin_failure")
            assert len(await _indexes(stores[0])) == 2
        throttle = auth_service.SignInThrottle()
        for store in stores:
            async with store.connection():
                await throttle.record_failure(store, "alice", None)
        async with stores[-1].connection():
            assert await throttle.retry_after(stores[-1], "alice", None) == 0
            await throttle.record_failure(stores[-1], "alice", None)
            await throttle.record_failure(stores[-1], "alice", None)
        async with stores[0].connection():
            assert await throttle.retry_after(stores[0], "alice", None) > 0
    finally:
        for store in stores:
            await store.disconnect()
