"""Shared pieces of the benchmarks: seeding (through the API or straight into the store), server
processes and their CPU and memory as /proc reports them, and a small Python load generator.

The benchmark scripts run as ``python benchmarks/<name>.py``, so this folder is on ``sys.path`` and
they import this module as ``_common``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.metadata
import os
import socket
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from memos_core.app import create_app
from memos_core.config import Config
from memos_core.context import CONTEXT, Context
from memos_core.services import memos as memo_service
from memos_core.store import memos as memo_store
from memos_core.store import tables

BENCH_USER = "bench"
BENCH_PASSWORD = "bench-password"


# -- processes -------------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User plus system CPU time of process ``pid`` so far (``None`` where /proc is unavailable)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")  # utime, stime


def process_tree(root: int) -> list[int]:
    """``root`` and every live descendant (a server's worker processes), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            ppid = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, IndexError, ValueError):
            continue
        children.setdefault(ppid, []).append(int(entry.name))
    out, pending = [], [root]
    while pending:
        pid = pending.pop()
        out.append(pid)
        pending.extend(children.get(pid, []))
    return out


def tree_cpu_seconds(pids: list[int]) -> dict[int, float]:
    """CPU seconds of each of ``pids`` still alive."""
    out = {}
    for pid in pids:
        value = cpu_seconds(pid)
        if value is not None:
            out[pid] = value
    return out


def rss_mb(pid: int) -> float | None:
    """Resident set size of ``pid`` in MiB (VmRSS), ``None`` when the process is gone."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# -- a Python load generator (bench_list_memos.py, bench_web.py) -----------------------------------


def measure(pid: int, url: str, headers: dict, seconds: float, concurrency: int) -> tuple[float, int, float | None]:
    """Requests/s, errors and the server's CPU milliseconds per request for one closed-loop run."""
    before = cpu_seconds(pid)
    started = time.perf_counter()
    rps, errors = asyncio.run(load(url, headers, seconds, concurrency))
    elapsed = time.perf_counter() - started
    after = cpu_seconds(pid)
    requests = rps * elapsed
    cpu_ms = (after - before) * 1000 / requests if before is not None and after is not None and requests else None
    return rps, errors, cpu_ms


async def wait_ready(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as s:
        while time.monotonic() < deadline:
            try:
                async with s.get(url) as r:
                    if r.status < 500:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


async def load(url: str, headers: dict, seconds: float, concurrency: int) -> tuple[float, int]:
    """Closed-loop load: `concurrency` workers issue requests back to back for `seconds`."""
    done = 0
    errors = 0
    stop = time.perf_counter() + seconds
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as s:

        async def worker():
            nonlocal done, errors
            while time.perf_counter() < stop:
                async with s.get(url, headers=headers) as r:
                    await r.read()
                    if r.status == 200:
                        done += 1
                    else:
                        errors += 1

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        elapsed = time.perf_counter() - t0
    return done / elapsed, errors


# -- seeding ---------------------------------------------------------------------------------------


@contextlib.asynccontextmanager
async def in_process(config: Config) -> AsyncIterator[tuple[TestClient, Context]]:
    """The application on ``config``'s database behind an in-process test client."""
    async with TestClient(TestServer(create_app(config))) as client:
        yield client, client.app[CONTEXT]


async def bench_user(client: TestClient) -> str:
    """Sign up the benchmark user (the first user, so the instance's host) and return a new PAT."""
    r = await client.post("/api/v1/users", json={"username": BENCH_USER, "password": BENCH_PASSWORD})
    assert r.status == 200, await r.text()
    r = await client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": BENCH_USER, "password": BENCH_PASSWORD}}
    )
    assert r.status == 200, await r.text()
    token = (await r.json())["accessToken"]
    h = {"Authorization": f"Bearer {token}"}
    r = await client.post(f"/api/v1/users/{BENCH_USER}/personalAccessTokens", json={"description": "bench"}, headers=h)
    assert r.status == 200, await r.text()
    return (await r.json())["token"]


def memo_content(i: int) -> str:
    return f"Memo {i} about #topic{i % 20} and #area/{i % 7}. Some more text to make it realistic."


async def seed(config: Config, n: int) -> tuple[str, dict]:
    """Create the data set through the API; return a PAT and the measured statements per request."""
    async with in_process(config) as (client, _ctx):
        pat = await bench_user(client)
        h = {"Authorization": f"Bearer {pat}"}

        names: list[str] = []
        t0 = time.perf_counter()
        for i in range(n):
            body = {"content": memo_content(i), "visibility": "PUBLIC" if i % 4 == 0 else "PRIVATE"}
            r = await client.post("/api/v1/memos", json=body, headers=h)
            assert r.status == 200, await r.text()
            names.append((await r.json())["name"])
        for i, name in enumerate(names):
            if i % 5 == 0:
                r = await client.post(
                    f"/api/v1/{name}/reactions",
                    json={"reaction": {"contentId": name, "reactionType": "👍"}},
                    headers=h,
                )
                assert r.status == 200, await r.text()
            if i % 4 == 0 and i + 1 < len(names):
                r = await client.patch(
                    f"/api/v1/{name}/relations",
                    json={"name": name, "relations": [{"relatedMemo": {"name": names[i + 1]}, "type": "REFERENCE"}]},
                    headers=h,
                )
                assert r.status == 200, await r.text()
            if i % 6 == 0:
                r = await client.post(
                    f"/api/v1/{name}/comments", json={"content": f"comment on {i}", "visibility": "PUBLIC"}, headers=h
                )
                assert r.status == 200, await r.text()
        print(f"seeded {n} memos in {time.perf_counter() - t0:.1f}s", flush=True)
        stmts = await statement_counts(client, h, sizes=(10, 50, 200, 1000), anonymous_sizes=(10, 200))
    return pat, stmts


async def statement_counts(
    client: TestClient, headers: dict, sizes: tuple[int, ...], anonymous_sizes: tuple[int, ...] = ()
) -> dict[str, int]:
    """SQL statements the store runs for one ListMemos, by page size (the store counts them)."""
    store = client.app[CONTEXT].store

    async def count(path: str, h: dict) -> int:
        before = store.statements
        r = await client.get(path, headers=h)
        assert r.status == 200, await r.text()
        await r.read()
        return store.statements - before

    out = {}
    for size in sizes:
        out[f"signed-in pageSize={size}"] = await count(f"/api/v1/memos?pageSize={size}", headers)
    for size in anonymous_sizes:
        out[f"anonymous pageSize={size}"] = await count(f"/api/v1/memos?pageSize={size}", {})
    return out


@dataclass
class BulkSeeder:
    """Upstream's benchmark data set written straight into the store, grown in steps.

    Memo ``i`` (from 0): PUBLIC when ``i % 4 == 0``, else PRIVATE; a 👍 reaction by the owner when
    ``i % 5 == 0``; a REFERENCE from memo ``i`` to memo ``i + 1`` when ``i % 4 == 0``; a PUBLIC comment
    when ``i % 6 == 0``. That is what :func:`seed` creates through the API, at a fraction of the time:
    ids are allocated here, timestamps one second apart, and each payload comes from the markdown
    hook through the code CreateMemo uses (tags like ``topic3`` and ``area/5``).
    """

    user_id: int
    memos: int = 0  # memos (not comments) seeded so far
    t0: int = field(default_factory=lambda: int(time.time()) - 400_000)
    _payloads: dict[str, str] = field(default_factory=dict)
    _ids: dict[int, tuple[int, str]] = field(default_factory=dict)  # memo index -> (id, uid), last few

    async def _payload(self, ctx: Context, key: str, content: str) -> str:
        if key not in self._payloads:
            self._payloads[key] = memo_store.dumps(await memo_service.derive_payload(ctx, content, None))
        return self._payloads[key]

    async def grow(self, ctx: Context, total: int) -> float:
        """Add memos until ``total`` have been seeded; returns the seconds it took."""
        t = time.perf_counter()
        store = ctx.store
        m, rel, rx = tables.memo, tables.memo_relation, tables.reaction
        # One write transaction from reading the highest id to the last insert: the server under
        # test may still be finishing creates that the load generator sent.
        async with store.connection(), store.transaction():
            next_id = (await store.fetch_val(sa.select(sa.func.max(m.c.id)))) or 0
            memo_rows: list[dict[str, Any]] = []
            relations: list[dict[str, Any]] = []
            reactions: list[dict[str, Any]] = []
            for i in range(self.memos, total):
                next_id += 1
                uid = memo_service.new_uid()
                created = self.t0 + next_id
                content = memo_content(i)
                memo_rows.append(self._row(next_id, uid, created, content, "PUBLIC" if i % 4 == 0 else "PRIVATE"))
                memo_rows[-1]["payload"] = await self._payload(ctx, f"{i % 20}/{i % 7}", content)
                self._ids[i] = (next_id, uid)
                self._ids.pop(i - 2, None)
                if i % 5 == 0:
                    reactions.append(
                        {
                            "created_ts": created,
                            "creator_id": self.user_id,
                            "content_id": f"memos/{uid}",
                            "reaction_type": "👍",
                        }
                    )
                if (i - 1) % 4 == 0 and i - 1 in self._ids:  # memo i-1 references its newer neighbour
                    relations.append({"memo_id": self._ids[i - 1][0], "related_memo_id": next_id, "type": "REFERENCE"})
                if i % 6 == 0:
                    parent = next_id
                    next_id += 1
                    comment = f"comment on {i}"
                    memo_rows.append(self._row(next_id, memo_service.new_uid(), created, comment, "PUBLIC"))
                    memo_rows[-1]["payload"] = await self._payload(ctx, "comment", comment)
                    relations.append({"memo_id": next_id, "related_memo_id": parent, "type": "COMMENT"})
            for table, rows in ((m, memo_rows), (rel, relations), (rx, reactions)):
                for k in range(0, len(rows), 500):
                    await store.execute(table.insert().values(rows[k : k + 500]))
            await store.driver.reset_sequences(store, [m])
        async with store.connection():
            if store.dialect != "sqlite":  # autovacuum would have analyzed tables this size by now
                await store.driver.execute_ddl(store, ["ANALYZE"])
        self.memos = max(self.memos, total)
        return time.perf_counter() - t

    def _row(self, id_: int, uid: str, created: int, content: str, visibility: str) -> dict[str, Any]:
        return {
            "id": id_,
            "uid": uid,
            "creator_id": self.user_id,
            "created_ts": created,
            "updated_ts": created,
            "row_status": "NORMAL",
            "content": content,
            "visibility": visibility,
            "pinned": False,
        }


def on_each_database(
    run: Callable[[str, Config, Any], Awaitable[None]], args: Any, postgres_dsn: str, **config: Any
) -> None:
    """``run(label, config, args)`` on SQLite (unless ``args.no_sqlite``) and, with ``postgres_dsn``
    (a server), on a fresh PostgreSQL database created for it and dropped afterwards; ``config``
    holds further :class:`Config` fields for both."""
    if not getattr(args, "no_sqlite", False):
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run("SQLite", Config(data=tmp, **config), args))
    if not postgres_dsn:
        return
    (ep,) = [e for e in importlib.metadata.entry_points(group="memos.drivers") if e.name == "postgres"]
    driver = ep.load()
    name = f"memos_bench_{uuid.uuid4().hex[:12]}"
    dsn = asyncio.run(driver.create_test_database(postgres_dsn, name))
    try:
        with tempfile.TemporaryDirectory() as tmp:
            asyncio.run(run("PostgreSQL", Config(data=tmp, driver="postgres", dsn=dsn, **config), args))
    finally:
        asyncio.run(driver.drop_test_database(postgres_dsn, name))
