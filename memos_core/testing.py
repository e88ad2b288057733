"""pytest plugin for memos-py and its plugin authors (entry point ``pytest11: memos``).

Fixtures:

* ``memos_driver``: the database driver of this test run. Every test that uses ``memos_config`` (and
  so ``memos_app``/``memos_client``) runs once per driver under test: SQLite always, PostgreSQL when
  ``MEMOS_TEST_POSTGRES_DSN`` is set, MySQL/MariaDB when ``MEMOS_TEST_MYSQL_DSN`` is set, or exactly
  the comma-separated ``MEMOS_TEST_DRIVERS`` (a named driver without its DSN is a usage error, never
  a skip). Mark a test ``@pytest.mark.drivers("sqlite")`` to limit it to some drivers.
* ``memos_config``: a :class:`~memos_core.Config` on a fresh database of that driver (a new SQLite
  file in ``tmp_path``, or a new database on the server, dropped after the test).
* ``memos_new_config``: a factory for more fresh databases, ``memos_new_config("sqlite")``.
* ``memos_extra_plugins``: override to register throwaway plugin objects for a test.
* ``memos_app`` / ``memos_client``: the application and an aiohttp test client for it.
* ``memos_users``: a factory, ``await memos_users("alice", role="ADMIN")``, that creates a user
  straight in the store and returns a :class:`TestUser` with a ready ``Authorization`` header.
* ``memos_unchanged``: ``async with memos_unchanged(owner.headers, "/api/v1/memos/x", ...):`` reads
  the paths over HTTP before and after the block and fails if any answer differs: a refused write
  must leave what it aimed at as it was.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import dataclasses
import importlib.metadata
import os
import time
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any

import bcrypt
import pytest

from .auth import tokens
from .config import Config
from .context import CONTEXT
from .store import users as users_store


@dataclasses.dataclass
class TestUser:
    __test__ = False  # not a test class

    id: int
    username: str
    role: str
    password: str
    token: str

    @property
    def name(self) -> str:
        return f"users/{self.username}"

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


def hash_password(password: str, *, rounds: int = 4) -> str:
    """bcrypt at a low cost: fast fixtures, still verifiable by the real sign-in code."""
    return bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds)).decode()


#: Server drivers and the variable naming the server they test against.
SERVER_DSN_VARIABLES = {"postgres": "MEMOS_TEST_POSTGRES_DSN", "mysql": "MEMOS_TEST_MYSQL_DSN"}


def drivers_under_test() -> list[str]:
    requested = os.environ.get("MEMOS_TEST_DRIVERS", "")
    if requested.strip():
        names = [n.strip() for n in requested.split(",") if n.strip()]
    else:
        names = ["sqlite"] + [d for d, var in SERVER_DSN_VARIABLES.items() if os.environ.get(var)]
    for name in names:
        var = SERVER_DSN_VARIABLES.get(name)
        if var and not os.environ.get(var):
            raise pytest.UsageError(
                f"MEMOS_TEST_DRIVERS names {name} but {var} is not set (scripts/db-servers.sh start)"
            )
    return names


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "drivers(*names): run this test only on the named database drivers")


def pytest_generate_tests(metafunc) -> None:
    if "memos_driver" not in metafunc.fixturenames:
        return
    names = drivers_under_test()
    marker = metafunc.definition.get_closest_marker("drivers")
    if marker is not None:
        names = [n for n in names if n in marker.args]
    metafunc.parametrize("memos_driver", names, indirect=True)


@pytest.fixture
def memos_driver(request) -> str:
    return getattr(request, "param", "sqlite")


def _driver_class(name: str):
    for ep in importlib.metadata.entry_points(group="memos.drivers"):
        if ep.name == name:
            return ep.load()
    raise pytest.UsageError(f"no memos.drivers entry point named {name!r} is installed")


def _run_sync(coro: Any) -> Any:
    """``asyncio.run``, also when called from an async test (then on a worker thread's own loop)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(coro)
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, coro).result()


#: Server databases a test created, dropped once all its fixtures are torn down (see below).
_DATABASES_TO_DROP = pytest.StashKey[list]()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_teardown(item):
    """Drop the test's server databases after every fixture's teardown, whatever order the test
    asked for its fixtures in: an app started through ``aiohttp_client`` before the database
    fixture would otherwise still be cleaning up (its background workers finishing a round)
    against a database already dropped, and its pool would wait for connections the drop killed."""
    try:
        return (yield)
    finally:
        for driver_cls, base_dsn, name in reversed(item.stash.get(_DATABASES_TO_DROP, [])):
            _run_sync(driver_cls.drop_test_database(base_dsn, name))


@pytest.fixture
def memos_new_config(tmp_path_factory, request):
    """Factory: ``memos_new_config(driver)`` gives a Config on another fresh, empty database."""

    def make(driver: str) -> Config:
        data = tmp_path_factory.mktemp("memos-data")
        if driver == "sqlite":
            return Config(data=str(data), driver="sqlite")
        base_dsn = os.environ.get(SERVER_DSN_VARIABLES.get(driver, ""), "")
        if not base_dsn:
            raise pytest.UsageError(f"no server DSN for driver {driver!r} (scripts/db-servers.sh start)")
        driver_cls = _driver_class(driver)
        name = f"memos_test_{uuid.uuid4().hex[:12]}"
        dsn = _run_sync(driver_cls.create_test_database(base_dsn, name))
        request.node.stash.setdefault(_DATABASES_TO_DROP, []).append((driver_cls, base_dsn, name))
        return Config(data=str(data), driver=driver, dsn=dsn)

    return make


@pytest.fixture
def memos_config(tmp_path, memos_driver, memos_new_config) -> Config:
    if memos_driver == "sqlite":
        return Config(data=str(tmp_path), driver="sqlite")
    return memos_new_config(memos_driver)


@pytest.fixture
def memos_extra_plugins() -> list[Any]:
    return []


@pytest.fixture
def memos_app(memos_config, memos_extra_plugins):
    from .app import create_app

    return create_app(memos_config, extra_plugins=memos_extra_plugins)


@pytest.fixture
async def memos_client(aiohttp_client, memos_app):
    return await aiohttp_client(memos_app)


@pytest.fixture
def memos_users(memos_client):
    """Factory creating users directly in the store, with an access token each."""
    ctx = memos_client.app[CONTEXT]

    async def make(username: str, *, role: str = "USER", password: str | None = None, **columns: Any) -> TestUser:
        password = password or f"{username}-password"
        now = int(time.time())
        async with ctx.store.connection():
            user = await users_store.create_user(
                ctx.store,
                username=username,
                role=role,
                row_status=columns.pop("row_status", "NORMAL"),
                email=columns.pop("email", f"{username}@example.com"),
                nickname=columns.pop("nickname", username.title()),
                password_hash=hash_password(password),
                avatar_url="",
                description="",
                created_ts=columns.pop("created_ts", now),
                updated_ts=columns.pop("updated_ts", now),
            )
        token, _ = tokens.issue_access_token(
            ctx.secret, user_id=user.id, username=user.username, role=user.role, status=user.row_status
        )
        return TestUser(id=user.id, username=user.username, role=user.role, password=password, token=token)

    return make


@pytest.fixture
def memos_unchanged(memos_client) -> Callable[..., contextlib.AbstractAsyncContextManager[None]]:
    """Context manager factory: GET each path with ``headers`` (its owner's, say) before and after the
    block and assert every answer is the same. A path must read back (200) beforehand, or the
    comparison would prove nothing."""

    async def read(headers: dict[str, str], paths: tuple[str, ...]) -> dict[str, tuple[int, Any]]:
        answers = {}
        for path in paths:
            r = await memos_client.get(path, headers=headers)
            answers[path] = (r.status, await r.json())
        return answers

    @contextlib.asynccontextmanager
    async def unchanged(headers: dict[str, str], *paths: str) -> AsyncIterator[None]:
        assert paths, "name what must stay unchanged"
        before = await read(headers, paths)
        unreadable = {p: a for p, a in before.items() if a[0] != 200}
        assert not unreadable, f"cannot read back before the write: {unreadable}"
        yield
        after = await read(headers, paths)
        changed = {p: (before[p], after[p]) for p in paths if after[p] != before[p]}
        assert not changed, f"a refused write changed (before, after): {changed}"

    return unchanged
