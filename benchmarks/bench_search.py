"""Full-text search (``GET /api/v1/memos?search=…``) at 100,000 memos: latency and query plans.

Seeds upstream's benchmark data set straight through the store (``_common.BulkSeeder``: rows written
behind the index's back, as copy-db would), times the catch-up that indexes them, then sends
sequential search requests through the in-process aiohttp test client (middleware, handler, service,
store) as the benchmark user and reports p50/p99 per search, with the database's plan of the search
statement (``EXPLAIN QUERY PLAN`` on SQLite, ``EXPLAIN ANALYZE`` on PostgreSQL).

Memo ``i``'s content is "Memo i about #topic{i % 20} and #area/{i % 7}. Some more text …": ``topic7``
matches 5% of the memos, ``realistic`` all of them, a number one memo.

    .venv/bin/python benchmarks/bench_search.py [--memos 100000] [--requests 200]
        [--postgres-dsn postgresql://user:password@host:port/db] [--no-sqlite]
"""

from __future__ import annotations

import argparse
import importlib
import importlib.metadata
import os
import statistics
import sys
import time

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(__file__))

from _common import BulkSeeder, bench_user, in_process, on_each_database

from memos_core.app import SEARCH_CATCH_UP
from memos_core.config import Config
from memos_core.services import search as search_service
from memos_core.store import search as search_store

SEARCHES = ("topic7", "realistic", "31337", "topic7 area", "zzznothing")
#: Optional plugins a development venv has, whose background work (embedding every memo) would
#: share the CPU with the searches measured here.
OPTIONAL = ("semantic",)


def _dialect(name: str):
    return importlib.import_module(f"sqlalchemy.dialects.{name}").dialect()


async def explain(ctx, words: str, page_size: int) -> list[str]:
    """The plan of the statement that ranks a search's first window in the index (what a search
    runs before it looks up the page's memo rows)."""
    store = ctx.store
    terms = search_store.parse_terms(words)
    found = search_store.window(store.dialect, terms)
    k = max(search_service.WINDOW_MIN, (page_size + 1) * search_service.WINDOW_FACTOR)
    q = found.ranked(k)
    sql = str(q.compile(dialect=_dialect(store.dialect), compile_kwargs={"literal_binds": True}))
    prefix = "EXPLAIN QUERY PLAN " if store.dialect == "sqlite" else "EXPLAIN ANALYZE "
    async with store.connection():
        rows = await store.fetch_all(sa.text((prefix + sql).replace(":", r"\:")))
    return [" | ".join(str(v) for v in r._mapping.values()) for r in rows]


async def run(label: str, config: Config, args: argparse.Namespace) -> None:
    async with in_process(config) as (client, ctx):
        await ctx.app[SEARCH_CATCH_UP].task  # the start-up catch-up on the empty database
        pat = await bench_user(client)
        headers = {"Authorization": f"Bearer {pat}"}
        seeder = BulkSeeder(user_id=1)
        seeded = await seeder.grow(ctx, args.memos)
        t = time.perf_counter()
        async with ctx.store.connection():
            indexed = await search_store.catch_up(ctx.store)
        build = time.perf_counter() - t
        print(
            f"\n== {label}: {args.memos} memos seeded in {seeded:.1f}s; catch-up indexed {indexed} rows in {build:.1f}s"
        )
        for words in SEARCHES:
            times = []
            found = 0
            for i in range(args.requests + 5):
                t = time.perf_counter()
                r = await client.get("/api/v1/memos", params={"search": words, "pageSize": "10"}, headers=headers)
                body = await r.json()
                assert r.status == 200, body
                if i >= 5:
                    times.append((time.perf_counter() - t) * 1000)
                found = len(body["memos"])
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(f"search {words!r:16} p50 {statistics.median(times):7.2f} ms  p99 {p99:7.2f} ms  ({found} on page 1)")
            for line in await explain(ctx, words, 10):
                print(f"    {line}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memos", type=int, default=100_000)
    p.add_argument("--requests", type=int, default=200)
    p.add_argument("--postgres-dsn", default=os.environ.get("MEMOS_BENCH_POSTGRES_DSN", ""))
    p.add_argument("--no-sqlite", action="store_true")
    args = p.parse_args()
    on_each_database(run, args, args.postgres_dsn, response_cache_mb=0, disable_plugins=OPTIONAL)


if __name__ == "__main__":
    main()
