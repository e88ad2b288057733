"""Semantic search (memos-semantic) at 10,000 memos: recall@10 on paraphrased queries, and latency.

Thirty labelled memos, each with a query that says the same thing in other words ("what did I say
about the garden" for "planted tomatoes in the backyard"), are hidden among generated filler memos
(everyday notes on many topics, some near the labelled ones). The rows are written straight into
the store, as an import would; the benchmark times the worker's catch-up that embeds them, then
asks every query through the in-process aiohttp test client (middleware, handler, service, store)
in each mode, ``text``, ``semantic`` and ``hybrid``, with ``pageSize=10``, and reports:

* recall@10: the share of queries whose labelled memo is on the first page;
* p50 / p99 latency of a search request per mode (every query, several rounds);
* which vector search the database got (sqlite-vec, pgvector or the NumPy fallback).

    .venv/bin/python benchmarks/bench_semantic.py [--memos 10000] [--rounds 5]
        [--postgres-dsn postgresql://user:password@host:port/db] [--no-sqlite] [--backend auto|numpy]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import statistics
import sys
import time
import uuid

import sqlalchemy as sa

sys.path.insert(0, os.path.dirname(__file__))

from _common import bench_user, in_process, on_each_database
from memos_semantic import SEMANTIC, vectors

from memos_core.app import SEARCH_CATCH_UP
from memos_core.config import Config
from memos_core.store import search as search_store
from memos_core.store import tables

#: (labelled memo, paraphrased query): the query shares (almost) no words with its memo.
LABELLED = [
    ("planted tomatoes in the backyard", "what did I say about the garden"),
    ("fixed the flat tire on my bicycle", "bike repair"),
    ("baked sourdough bread this morning", "making a loaf at home"),
    ("call the dentist to move my appointment", "reschedule teeth cleaning"),
    ("quarterly tax forms are due next week", "deadline for paying the government"),
    ("new running shoes feel great on long runs", "jogging sneakers"),
    ("finished reading a novel about space travel", "science fiction book I completed"),
    ("flight to Lisbon leaves at 7am on Saturday", "when is my plane to Portugal"),
    ("the cat threw up on the rug again", "pet was sick on the carpet"),
    ("renew passport before it expires in March", "travel document renewal"),
    ("mom's birthday dinner at the Italian restaurant", "celebrating my mother"),
    ("car needs an oil change and new brake pads", "vehicle maintenance"),
    ("learned to make dumplings from scratch", "cooking Chinese food"),
    ("electricity bill was much higher this month", "power costs went up"),
    ("started taking guitar lessons on Tuesdays", "music class schedule"),
    ("the basement flooded after the heavy rain", "water damage downstairs during the storm"),
    ("promised to help Sam move apartments on Sunday", "helping a friend relocate"),
    ("doctor said to cut back on salt and sugar", "diet advice from my physician"),
    ("booked a cabin by the lake for the summer vacation", "holiday lodging reservation"),
    ("password for the wifi router is on the fridge", "where did I write the internet login"),
    ("kids' school pickup moves to 3:30 starting Monday", "children collection time changed"),
    ("adopted a puppy from the shelter", "got a new dog"),
    ("the printer is out of toner again", "printing supplies ran out"),
    ("meditation for ten minutes helps me sleep", "relaxation before bed"),
    ("bought a winter coat on sale", "cheap jacket for the cold"),
    ("team retrospective: deploys are too slow", "meeting feedback about release speed"),
    ("grandpa's stories about the war", "my grandfather's memories"),
    ("the roof is leaking above the bedroom", "ceiling drips when it rains"),
    ("signed up for a marathon in October", "registering for a long race"),
    ("allergic reaction to peanuts at the party", "nut allergy incident"),
]

# Filler: everyday notes from many topics, some near the labelled ones (plants, cars, travel, food …).
_OPENERS = ["", "", "Note: ", "Reminder: ", "Today ", "Yesterday ", "TODO ", "Idea: ", "Monday: ", "Later: "]
_TOPICS = [
    ("reviewed the pull request for", ["the billing service", "the login page", "the search index", "the API client"]),
    ("met with", ["the design team", "our accountant", "the landlord", "a recruiter", "the new intern"]),
    ("bought", ["groceries", "a desk lamp", "printer paper", "coffee beans", "a birthday card", "batteries"]),
    ("watered", ["the houseplants", "the ferns on the balcony", "the herbs on the windowsill"]),
    ("cleaned", ["the kitchen", "the garage", "the windows", "the fridge", "the bathroom"]),
    ("wrote notes about", ["the quarterly plan", "the product roadmap", "the hiring process", "the budget"]),
    ("listened to", ["a podcast on history", "an album by a jazz trio", "an audiobook", "the radio"]),
    ("watched", ["a documentary about oceans", "a comedy film", "the football match", "a cooking show"]),
    ("paid", ["the phone bill", "the rent", "the insurance premium", "the parking fine"]),
    ("scheduled", ["a haircut", "a call with the bank", "the team offsite", "a code review"]),
    ("fixed", ["a bug in the export", "the leaking tap", "the broken shelf", "the flaky test"]),
    ("walked", ["to the park", "along the river", "to the library", "around the old town"]),
    ("cooked", ["lentil soup", "a vegetable curry", "pancakes", "roast chicken", "fried rice"]),
    ("emailed", ["the school", "the plumber", "a client about the invoice", "the support team"]),
    ("read", ["an article about climate", "the user manual", "a chapter of a biography", "the news"]),
    ("planned", ["the weekend trip", "the sprint", "a picnic", "the move to the new office"]),
    ("washed", ["the car", "the dog", "the curtains", "the winter clothes"]),
    ("ordered", ["new headphones", "a replacement charger", "pizza", "a bookshelf"]),
]
_TAILS = ["", "", "", " again", " before lunch", " after work", " with Alex", " for next week", " — done", " (finally)"]


def filler(i: int, rng: random.Random) -> str:
    verb, objects = _TOPICS[rng.randrange(len(_TOPICS))]
    text = f"{rng.choice(_OPENERS)}{verb} {rng.choice(objects)}{rng.choice(_TAILS)}"
    return f"{text} #{rng.choice(['home', 'work', 'misc', 'family', 'errands'])} ({i})"


async def seed(ctx, user_id: int, total: int) -> dict[str, str]:
    """``total`` memos written behind the app's back; the labelled ones spread among them. Returns
    {labelled content: uid}."""
    rng = random.Random(15)
    positions = dict(zip(rng.sample(range(total), len(LABELLED)), LABELLED, strict=True))
    now = int(time.time()) - total
    rows, labelled = [], {}
    for i in range(total):
        content = positions[i][0] if i in positions else filler(i, rng)
        uid = uuid.uuid4().hex[:22]
        if i in positions:
            labelled[content] = uid
        rows.append(
            {
                "uid": uid,
                "creator_id": user_id,
                "created_ts": now + i,
                "updated_ts": now + i,
                "row_status": "NORMAL",
                "content": content,
                "visibility": "PRIVATE" if i % 3 else "PUBLIC",
                "pinned": False,
                "payload": "{}",
            }
        )
    store = ctx.store
    async with store.connection(), store.transaction():
        for k in range(0, len(rows), 500):
            await store.execute(tables.memo.insert().values(rows[k : k + 500]))
    return labelled


async def embedded_count(store) -> int:
    async with store.connection():
        return int(await store.fetch_val(sa.select(sa.func.count()).select_from(vectors.vector)) or 0)


async def run(label: str, config: Config, args: argparse.Namespace) -> None:
    os.environ["MEMOS_SEMANTIC_BACKEND"] = args.backend
    async with in_process(config) as (client, ctx):
        await ctx.app[SEARCH_CATCH_UP].task  # the start-up catch-up on the empty database
        pat = await bench_user(client)
        headers = {"Authorization": f"Bearer {pat}"}
        t = time.perf_counter()
        labelled = await seed(ctx, 1, args.memos)
        seeded = time.perf_counter() - t
        async with ctx.store.connection():
            await search_store.catch_up(ctx.store)
            if ctx.store.dialect != "sqlite":
                await ctx.store.driver.execute_ddl(ctx.store, ["ANALYZE"])
        state = ctx.app[SEMANTIC]
        t = time.perf_counter()
        state.worker.wake()
        while await embedded_count(ctx.store) < args.memos:
            await asyncio.sleep(0.1)
        embed_s = time.perf_counter() - t
        print(
            f"\n== {label}: {args.memos} memos seeded in {seeded:.1f}s; the worker embedded them in {embed_s:.1f}s; "
            f"vector search: {state.backend}"
        )
        for mode in ("text", "semantic", "hybrid"):
            hits, times, missed = 0, [], []
            for rnd in range(args.rounds + 1):
                for content, query in LABELLED:
                    params = {"search": query, "searchMode": mode, "pageSize": "10"}
                    t = time.perf_counter()
                    r = await client.get("/api/v1/memos", params=params, headers=headers)
                    body = await r.json()
                    assert r.status == 200, body
                    if rnd == 0:  # a warm-up round, which also gives the recall
                        hit = any(m["name"] == f"memos/{labelled[content]}" for m in body["memos"])
                        hits += hit
                        missed += [] if hit else [query]
                    else:
                        times.append((time.perf_counter() - t) * 1000)
            times.sort()
            p99 = times[min(len(times) - 1, int(len(times) * 0.99))]
            print(
                f"{mode:9} recall@10 {hits}/{len(LABELLED)} = {hits / len(LABELLED):4.0%}   "
                f"p50 {statistics.median(times):7.2f} ms  p99 {p99:7.2f} ms"
            )
            if mode == "semantic" and missed:
                print(f"          missed: {'; '.join(missed)}")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--memos", type=int, default=10_000)
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--postgres-dsn", default=os.environ.get("MEMOS_BENCH_POSTGRES_DSN", ""))
    p.add_argument("--no-sqlite", action="store_true")
    p.add_argument("--backend", choices=("auto", "numpy"), default="auto", help="numpy: force the fallback")
    args = p.parse_args()
    on_each_database(run, args, args.postgres_dsn, response_cache_mb=0)


if __name__ == "__main__":
    main()
