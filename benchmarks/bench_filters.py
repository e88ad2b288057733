"""ListMemos with CEL filters at 100,000 memos: latency through the API and the query plan of each filter.

Seeds the data straight through the store (bulk inserts, not HTTP calls): several users, mixed
visibility, a few archived and pinned memos, comments, references and reactions. Contents come from a
few hundred distinct templates (headings, paragraphs, task lists, code, links, tags including nested
``a/b`` ones), and every distinct content gets its payload from the markdown hook
(``memos_extract_payload``, through the same code CreateMemo uses), so tag and property data are what
the server itself would have stored.

Then, signed in with a personal access token, it sends sequential ``GET /api/v1/memos?filter=…``
requests through the in-process aiohttp test client (the real middleware, handler, service and store)
and reports p50/p99 latency per filter. For each filter it captures the memo list statement the service
runs, compiles it as the backend does, and prints the database's plan for it (``EXPLAIN QUERY PLAN`` on
SQLite, ``EXPLAIN`` on PostgreSQL), with a one-line verdict on whether the memo table is scanned. On
PostgreSQL the statement runs as a prepared statement, so the plan shown is the one it settles on after
five executions (possibly a generic plan), and the first execution's plan as well when that differs.

SQLite always; PostgreSQL too when ``--postgres-dsn`` (or ``MEMOS_BENCH_POSTGRES_DSN``) names a server
and a ``postgres`` driver is installed. A throw-away database is created on that server and dropped.

    .venv/bin/python benchmarks/bench_filters.py [--memos 100000] [--requests 300] [--page-size 10]
        [--postgres-dsn postgresql://user:password@host:port/db] [--index "CREATE INDEX …"] [--sql]

``--index`` runs extra DDL on the benchmark databases after seeding (to try an index; the real schema
is upstream's and stays unchanged). ``--data DIR`` keeps the SQLite database in DIR and reuses it
(indexes added with ``--index`` stay in it).
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import os
import random
import statistics
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import quote

import bcrypt
import sqlalchemy as sa
from aiohttp.test_utils import TestClient, TestServer

from memos_core.app import create_app
from memos_core.config import Config
from memos_core.context import CONTEXT, Context
from memos_core.services import memos as memo_service
from memos_core.store import memos as memo_store
from memos_core.store import tables
from memos_core.store import users as user_store

VIEWER = "bench"
PASSWORD = "bench-password"
OTHER_USERS = ("alice", "bob", "carol", "dave")
RARE_WORD = "zeppelin"
COMMON_WORD = "meeting"
RARE_TAG = "quokka"

SCENARIOS: list[tuple[str, str]] = [
    ("no filter (baseline)", ""),
    ("content, rare word", f'content.contains("{RARE_WORD}")'),
    ("content, common word", f'content.contains("{COMMON_WORD}")'),
    ("tag, rare", f'tag in ["{RARE_TAG}"]'),
    ("tag, common", 'tag in ["work"]'),
    ("tag, nested parent", 'tag in ["project"]'),
    ("combined", f'tag in ["work"] && content.contains("{COMMON_WORD}") && visibility == "PUBLIC"'),
]

# -- content ---------------------------------------------------------------------------------------

VOCABULARY = (
    "the a of and to in for on with at by from about after before over under again then once here there when "
    "where why how all both each few more most other some such only own same so than too very just now also "
    "plan review draft notes idea list week month year today tomorrow morning evening lunch dinner coffee "
    "team client project report budget deadline release bug fix test deploy server database query index cache "
    "book chapter author read write learn study course lesson garden walk run bike trip train flight hotel "
    "city river mountain beach weather rain sun snow music album song movie show episode friend family call "
    "email message phone price order invoice payment bank tax receipt doctor health sleep water habit goal "
    "progress update summary decision question answer problem solution design sketch prototype feedback "
    "launch metrics growth users support ticket roadmap quarter sprint standup retro offsite workshop"
)
WORDS = VOCABULARY.split()
TAGS: list[tuple[str, float]] = [
    ("work", 0.22),
    ("work/meetings", 0.08),
    ("project/alpha", 0.05),
    ("project/beta", 0.04),
    ("project/gamma/docs", 0.02),
    ("idea", 0.08),
    ("book", 0.05),
    ("reading/fiction", 0.03),
    ("travel/japan", 0.03),
    ("health", 0.04),
    ("recipe", 0.03),
    ("todo", 0.06),
    ("journal", 0.07),
    ("日记", 0.01),
]
COMMENTS = (
    "Agreed.",
    "Let's discuss this at the next meeting.",
    "Done ✅",
    "Thanks, see the notes above.",
    "Can we move this to next week?",
    "+1, looks good to me",
)


def sentence(rng: random.Random, words: int) -> str:
    text = " ".join(rng.choice(WORDS) for _ in range(words))
    return text[0].upper() + text[1:] + "."


def make_template(rng: random.Random) -> str:
    """One memo body: some markdown blocks, sometimes the common word, a few tags."""
    blocks: list[str] = []
    if rng.random() < 0.2:
        blocks.append("# " + sentence(rng, rng.randint(2, 6))[:-1])
    tags = [t for t, p in TAGS if rng.random() < p]
    # Work notes mention meetings more often than the rest (so the combined filter is not independent).
    meeting = rng.random() < (0.55 if any(t.startswith("work") for t in tags) else 0.2)
    for _ in range(rng.choice((1, 1, 1, 2, 2, 3, 5))):
        words = sentence(rng, rng.randint(6, 40)).split()
        if meeting and rng.random() < 0.6:
            words.insert(rng.randrange(len(words)), rng.choice((COMMON_WORD, "Meeting", "meetings")))
            meeting = False
        blocks.append(" ".join(words))
    if meeting:
        blocks.append(f"Follow-up {COMMON_WORD} on {rng.choice(('Monday', 'Friday', 'the 3rd'))}.")
    if rng.random() < 0.15:
        blocks.append("\n".join(f"- [{rng.choice(' x')}] {sentence(rng, rng.randint(2, 6))}" for _ in range(3)))
    if rng.random() < 0.1:
        blocks.append("```python\nprint(" + json.dumps(sentence(rng, 4)) + ")\n```")
    if rng.random() < 0.1:
        blocks.append(f"See [{rng.choice(WORDS)}](https://example.com/{rng.randrange(10**6)}).")
    if tags:
        line = " ".join("#" + t for t in tags)
        if rng.random() < 0.5:
            blocks.append(line)
        else:
            blocks[-1] += " " + line
    return "\n\n".join(blocks)


def new_uid(rng: random.Random) -> str:
    alphabet = "23456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
    return "".join(rng.choice(alphabet) for _ in range(22))


# -- seeding ---------------------------------------------------------------------------------------


async def seed(ctx: Context, n: int, templates: int, rng: random.Random) -> dict[str, Any]:
    """Insert users, ``n`` memos and what hangs off them; returns counts for the report."""
    store = ctx.store
    m, rel, rx = tables.memo, tables.memo_relation, tables.reaction
    now = int(time.time())
    async with store.connection():
        user_ids = []
        for name in (VIEWER, *OTHER_USERS):
            password = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
            user = await user_store.create_user(
                store,
                username=name,
                role="ADMIN" if name == VIEWER else "USER",
                row_status="NORMAL",
                email=f"{name}@example.com",
                nickname=name.title(),
                password_hash=password,
                avatar_url="",
                description="",
                created_ts=now - 4 * 365 * 86400,
                updated_ts=now - 4 * 365 * 86400,
            )
            user_ids.append(user.id)

        bodies = [make_template(rng) for _ in range(templates)]
        payloads: dict[str, str] = {}

        async def payload_of(content: str) -> str:
            if content not in payloads:
                payloads[content] = memo_store.dumps(await memo_service.derive_payload(ctx, content, None))
            return payloads[content]

        start = now - 3 * 365 * 86400
        step = (now - start) / n
        memo_rows: list[dict[str, Any]] = []
        relations: list[dict[str, Any]] = []
        reactions: list[dict[str, Any]] = []
        counts = {"comments": 0, "references": 0, "reactions": 0}
        for i in range(1, n + 1):
            is_comment = i > 100 and rng.random() < 0.08
            if is_comment:
                content = rng.choice(COMMENTS)
                parent = rng.randrange(max(1, i - 2000), i)
                relations.append({"memo_id": i, "related_memo_id": parent, "type": "COMMENT"})
                counts["comments"] += 1
                visibility = rng.choices(("PUBLIC", "PROTECTED", "PRIVATE"), (6, 2, 2))[0]
            else:
                content = rng.choice(bodies)
                if i % 9973 == 7:  # fewer matches than a page: the list must look at every row
                    content += f"\n\nSpotted a {RARE_WORD} over the harbour."
                if i % 12007 == 11:
                    content += f" #{RARE_TAG}"
                visibility = rng.choices(("PUBLIC", "PROTECTED", "PRIVATE"), (3, 2, 5))[0]
                if i > 1 and rng.random() < 0.03:
                    relations.append({"memo_id": i, "related_memo_id": rng.randrange(1, i), "type": "REFERENCE"})
                    counts["references"] += 1
            created = int(start + i * step) + rng.randrange(0, 600)
            memo_rows.append(
                {
                    "id": i,
                    "uid": new_uid(rng),
                    "creator_id": user_ids[0] if rng.random() < 0.4 else rng.choice(user_ids[1:]),
                    "created_ts": created,
                    "updated_ts": created + (rng.randrange(0, 30 * 86400) if rng.random() < 0.3 else 0),
                    "row_status": "ARCHIVED" if rng.random() < 0.02 else "NORMAL",
                    "content": content,
                    "visibility": visibility,
                    "pinned": rng.random() < 0.002,
                    "payload": await payload_of(content),
                }
            )
            if rng.random() < 0.05:
                reactions.append(
                    {
                        "created_ts": created + 60,
                        "creator_id": rng.choice(user_ids),
                        "content_id": f"memos/{memo_rows[-1]['uid']}",
                        "reaction_type": rng.choice(("👍", "❤️", "🎉")),
                    }
                )
                counts["reactions"] += 1

        async with store.transaction():
            for table, rows in ((m, memo_rows), (rel, relations), (rx, reactions)):
                for k in range(0, len(rows), 500):
                    await store.execute(table.insert().values(rows[k : k + 500]))
            await store.driver.reset_sequences(store, [m])
        counts["distinct contents"] = len(payloads)
    return counts


# -- plans -----------------------------------------------------------------------------------------


class Capture:
    """Records the statement ``store.list_memos`` runs (the one ListMemos builds), once armed."""

    def __init__(self) -> None:
        self.armed = False
        self.query: Any = None
        self._orig = memo_store.list_memos

    def install(self) -> None:
        orig = self._orig

        async def list_memos(store, where, order_by, limit, offset):
            if not self.armed:
                return await orig(store, where, order_by, limit, offset)
            self.armed = False
            real = store.fetch_all

            async def fetch_all(query, values=None):
                if self.query is None:
                    self.query = query
                return await real(query, values)

            store.fetch_all = fetch_all
            try:
                return await orig(store, where, order_by, limit, offset)
            finally:
                del store.fetch_all

        memo_store.list_memos = list_memos

    def uninstall(self) -> None:
        memo_store.list_memos = self._orig


def sql_literal(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    return "'" + str(value).replace("'", "''") + "'"


async def explain(ctx: Context, query: Any) -> tuple[str, list[str], list[str] | None, int]:
    """For a captured statement: (SQL as run, plan, first-execution plan if different, rows matching
    the filter without LIMIT).

    On PostgreSQL the statement runs as a prepared statement (asyncpg), which may switch to a generic
    plan after five executions; the plan shown is the one it settles on, the first one too if it differs.
    """
    store = ctx.store
    count_q = sa.select(sa.func.count()).select_from(query.limit(None).offset(None).order_by(None).subquery())
    first = None
    async with store.connection() as conn:
        backend = conn._connection  # the backend connection: compile exactly as it does for running
        sql, args = backend._compile(query)[:2]
        matches = await store.fetch_val(count_q)
        raw = conn.raw_connection
        if store.dialect == "sqlite":
            async with raw.execute("EXPLAIN QUERY PLAN " + sql, args) as cursor:
                rows = await cursor.fetchall()
            depth: dict[int, int] = {0: -1}
            lines = []
            for node, parent, _, detail in rows:
                depth[node] = depth.get(parent, -1) + 1
                lines.append("  " * depth[node] + detail)
        else:
            first = [r[0] for r in await raw.fetch("EXPLAIN " + sql, *args)]
            values = ", ".join(map(sql_literal, args))
            await raw.execute("PREPARE memos_bench_list AS " + sql)
            try:
                for _ in range(6):
                    await raw.execute(f"EXECUTE memos_bench_list({values})")
                lines = [r[0] for r in await raw.fetch(f"EXPLAIN EXECUTE memos_bench_list({values})")]
            finally:
                await raw.execute("DEALLOCATE memos_bench_list")
            if lines == first:
                first = None
    return sql, lines, first, matches


def verdict(dialect: str, plan: list[str]) -> str:
    text = [line.strip() for line in plan]
    if dialect == "sqlite":
        main = [t for t in text if t.startswith(("SCAN memo", "SEARCH memo"))]
        if any(t == "SCAN memo" for t in main):
            what = "full scan of memo"
        elif any(t.startswith("SCAN memo USING") for t in main):
            what = "index-order scan of memo"
        elif main:
            what = "index search on memo"
        else:
            what = "?"
        if any("TEMP B-TREE FOR ORDER BY" in t for t in text):
            what += " + sort"
        return what
    if any("Seq Scan on memo " in t or t.endswith("Seq Scan on memo") for t in text):
        what = "full scan of memo"
    elif any(t.startswith("->  Bitmap Heap Scan on memo ") or t.startswith("Bitmap Heap Scan on memo ") for t in text):
        what = "index search on memo (bitmap)"
    elif any(" on memo " in t and "Index" in t for t in text):
        what = "index-order scan of memo"
    else:
        what = "?"
    if any("Incremental Sort" in t for t in text):
        what += " + incremental sort (ties only)"
    elif any(t.startswith("->  Sort ") or t.startswith("Sort ") for t in text):
        what += " + sort"
    return what


# -- measuring -------------------------------------------------------------------------------------


def pct(values: list[float], q: int) -> float:
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def run(label: str, config: Config, args: argparse.Namespace, fresh: bool) -> tuple[list[str], list[dict]]:
    app = create_app(config)
    results: list[dict[str, Any]] = []
    async with TestClient(TestServer(app)) as client:
        ctx: Context = client.app[CONTEXT]
        store = ctx.store
        async with store.connection():
            existing = await store.fetch_val(sa.select(sa.func.count()).select_from(tables.memo))
        if fresh or not existing:
            t0 = time.perf_counter()
            counts = await seed(ctx, args.memos, args.templates, random.Random(args.seed))
            took = time.perf_counter() - t0
            note = f"seeded {args.memos} memos in {took:.1f}s ({', '.join(f'{v} {k}' for k, v in counts.items())})"
        else:
            note = f"reusing {existing} memos"
        print(f"[{label}] {note}", flush=True)
        notes = [note]
        async with store.connection():
            for ddl in args.index:
                await store.driver.execute_ddl(store, [ddl])
                notes.append(ddl)
            if store.dialect != "sqlite":  # autovacuum would have analyzed a table this size by now
                await store.driver.execute_ddl(store, ["ANALYZE"])

        r = await client.post(
            "/api/v1/auth/signin", json={"passwordCredentials": {"username": VIEWER, "password": PASSWORD}}
        )
        assert r.status == 200, await r.text()
        h = {"Authorization": f"Bearer {(await r.json())['accessToken']}"}
        r = await client.post(f"/api/v1/users/{VIEWER}/personalAccessTokens", json={"description": "bench"}, headers=h)
        assert r.status == 200, await r.text()
        headers = {"Authorization": f"Bearer {(await r.json())['token']}"}

        capture = Capture()
        capture.install()
        try:
            for name, expression in SCENARIOS:
                url = f"/api/v1/memos?pageSize={args.page_size}"
                if args.order_by:
                    url += "&orderBy=" + quote(args.order_by)
                if expression:
                    url += "&filter=" + quote(expression)
                capture.armed, capture.query = True, None
                r = await client.get(url, headers=headers)
                assert r.status == 200, await r.text()
                page = len((await r.json())["memos"])
                sql, plan, first_plan, matches = await explain(ctx, capture.query)

                for _ in range(args.warmup):
                    async with client.get(url, headers=headers) as r:
                        await r.read()
                times: list[float] = []
                deadline = time.perf_counter() + args.max_seconds
                while len(times) < args.requests and time.perf_counter() < deadline:
                    t0 = time.perf_counter()
                    async with client.get(url, headers=headers) as r:
                        await r.read()
                        assert r.status == 200
                    times.append((time.perf_counter() - t0) * 1000)
                results.append(
                    {
                        "name": name,
                        "filter": expression,
                        "matches": matches,
                        "page": page,
                        "n": len(times),
                        "p50": pct(times, 50),
                        "p99": pct(times, 99),
                        "plan": plan,
                        "first_plan": first_plan,
                        "sql": sql,
                        "verdict": verdict(store.dialect, plan),
                    }
                )
                print(f"[{label}] {name}: p50 {results[-1]['p50']:.1f} ms over {len(times)} requests", flush=True)
        finally:
            capture.uninstall()
    return notes, results


def report(label: str, args: argparse.Namespace, notes: list[str], results: list[dict[str, Any]]) -> None:
    order = f", orderBy={args.order_by!r}" if args.order_by else ""
    print(f"\n== {label}: ListMemos, {args.memos} memos, signed in, pageSize={args.page_size}{order} ==")
    for note in notes:
        print(f"({note})")
    head = f"{'scenario':24} {'matches':>8} {'page':>5} {'requests':>8} {'p50 ms':>9} {'p99 ms':>9}  plan"
    print(head)
    print("-" * len(head) + "-" * 24)
    for r in results:
        figures = f"{r['matches']:8d} {r['page']:5d} {r['n']:8d} {r['p50']:9.1f} {r['p99']:9.1f}"
        print(f"{r['name']:24} {figures}  {r['verdict']}")
    for r in results:
        print(f"\n-- {r['name']}: {r['filter'] or '(no filter)'}")
        if args.sql:
            print("   " + " ".join(r["sql"].split()))
        if r["first_plan"]:
            print("   first execution:")
            for line in r["first_plan"]:
                print("   " + line)
            print("   prepared, after six executions (as the timed requests run):")
        for line in r["plan"]:
            print("   " + line)


def postgres_driver():
    for ep in importlib.metadata.entry_points(group="memos.drivers"):
        if ep.name == "postgres":
            return ep.load()
    return None


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memos", type=int, default=100_000)
    p.add_argument("--templates", type=int, default=300, help="distinct content templates")
    p.add_argument("--requests", type=int, default=300, help="sequential requests per filter")
    p.add_argument("--max-seconds", type=float, default=90.0, help="stop a filter's requests after this long")
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--page-size", type=int, default=10)
    p.add_argument("--order-by", default="", help='e.g. "pinned desc, create_time desc" (the web UI\'s)')
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--index", action="append", default=[], help="extra DDL to run after seeding (repeatable)")
    p.add_argument("--data", help="keep the SQLite database in this folder (reused when it holds memos)")
    p.add_argument("--postgres-dsn", default=os.environ.get("MEMOS_BENCH_POSTGRES_DSN", ""))
    p.add_argument("--no-sqlite", action="store_true", help="only PostgreSQL")
    p.add_argument("--sql", action="store_true", help="print each statement's SQL too")
    args = p.parse_args()

    reports: list[tuple[str, tuple[list[str], list[dict]]]] = []
    if not args.no_sqlite:
        with tempfile.TemporaryDirectory() as tmp:
            data = Path(args.data) if args.data else Path(tmp)
            fresh = not (data / "memos_prod.db").exists()
            reports.append(("SQLite", asyncio.run(run("SQLite", Config(data=str(data)), args, fresh))))

    if args.postgres_dsn:
        driver = postgres_driver()
        if driver is None:
            print("\n(no 'postgres' entry point in memos.drivers: PostgreSQL skipped)")
        else:
            name = f"memos_bench_{uuid.uuid4().hex[:12]}"
            dsn = asyncio.run(driver.create_test_database(args.postgres_dsn, name))
            try:
                with tempfile.TemporaryDirectory() as tmp:
                    config = Config(data=tmp, driver="postgres", dsn=dsn)
                    reports.append(("PostgreSQL", asyncio.run(run("PostgreSQL", config, args, True))))
            finally:
                asyncio.run(driver.drop_test_database(args.postgres_dsn, name))

    for label, (notes, results) in reports:
        report(label, args, notes, results)


if __name__ == "__main__":
    main()
