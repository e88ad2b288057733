"""Concurrent writers through the HTTP API: no "database is locked", no lost or duplicated rows."""

from __future__ import annotations

import asyncio

import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables


async def count(client, table, *where) -> int:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(table).where(*where))


async def test_fifty_concurrent_creates(memos_client, memos_users):
    alice = await memos_users("alice")

    async def create(i: int):
        r = await memos_client.post(
            "/api/v1/memos", json={"content": f"memo {i} #tag{i}", "visibility": "PUBLIC"}, headers=alice.headers
        )
        return r.status, await r.json()

    results = await asyncio.gather(*(create(i) for i in range(50)))
    assert [status for status, _ in results] == [200] * 50, [body for status, body in results if status != 200]
    assert len({body["name"] for _, body in results}) == 50
    assert await count(memos_client, tables.memo) == 50
    r = await memos_client.get("/api/v1/memos?pageSize=100")
    assert len((await r.json())["memos"]) == 50


async def test_concurrent_same_memo_id_yields_one_winner(memos_client, memos_users):
    alice = await memos_users("alice")

    async def create():
        r = await memos_client.post("/api/v1/memos?memoId=same", json={"content": "x"}, headers=alice.headers)
        return r.status

    statuses = await asyncio.gather(*(create() for _ in range(10)))
    assert sorted(statuses) == [200] + [409] * 9
    assert await count(memos_client, tables.memo) == 1


async def test_concurrent_creates_each_get_their_own_outcome(memos_client, memos_users):
    """Creates sent together may be committed together (SQLite commits them in groups): a refused
    one is refused alone, whatever else was committed beside it."""
    alice = await memos_users("alice")

    async def create(i: int):
        query = "?memoId=taken" if i % 3 == 0 else ""
        r = await memos_client.post(f"/api/v1/memos{query}", json={"content": f"memo {i}"}, headers=alice.headers)
        return i, r.status, await r.json()

    results = await asyncio.gather(*(create(i) for i in range(30)))
    taken = [status for i, status, _ in results if i % 3 == 0]
    others = [(status, body) for i, status, body in results if i % 3]
    assert sorted(taken) == [200] + [409] * 9
    assert all(status == 200 for status, _ in others), others
    assert await count(memos_client, tables.memo) == 21
    r = await memos_client.get("/api/v1/memos?pageSize=100", headers=alice.headers)
    listed = {m["content"] for m in (await r.json())["memos"]}
    assert {body["content"] for _, body in others} <= listed and len(listed) == 21


async def test_mixed_read_then_write_work(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    seeds = []
    for i in range(10):
        r = await memos_client.post(
            f"/api/v1/memos?memoId=seed{i}",
            json={"content": f"seed {i}", "visibility": "PUBLIC"},
            headers=alice.headers,
        )
        assert r.status == 200
        seeds.append(f"seed{i}")

    async def create(i):
        return await memos_client.post("/api/v1/memos", json={"content": f"new {i}"}, headers=bob.headers)

    async def update(uid, i):
        return await memos_client.patch(
            f"/api/v1/memos/{uid}?updateMask=content,pinned",
            json={"content": f"edited {i} #e", "pinned": True},
            headers=alice.headers,
        )

    async def react(uid, user):
        body = {"reaction": {"contentId": f"memos/{uid}", "reactionType": "👍"}}
        return await memos_client.post(f"/api/v1/memos/{uid}/reactions", json=body, headers=user.headers)

    async def comment(uid):
        return await memos_client.post(
            f"/api/v1/memos/{uid}/comments", json={"content": "c", "visibility": "PUBLIC"}, headers=bob.headers
        )

    async def relate(uid, target):
        body = {"relations": [{"relatedMemo": {"name": f"memos/{target}"}}]}
        return await memos_client.patch(f"/api/v1/memos/{uid}/relations", json=body, headers=alice.headers)

    jobs = []
    for i, uid in enumerate(seeds):
        jobs += [create(i), update(uid, i), react(uid, bob), react(uid, bob), react(uid, alice), comment(uid)]
        jobs.append(relate(uid, seeds[(i + 1) % len(seeds)]))
        jobs.append(memos_client.get("/api/v1/memos?pageSize=20"))
    responses = await asyncio.gather(*jobs)
    bad = [(r.status, await r.json()) for r in responses if r.status != 200]
    assert bad == []

    assert await count(memos_client, tables.memo) == 10 + 10 + 10  # seeds, bob's memos, comments
    assert await count(memos_client, tables.reaction) == 20  # bob's duplicate upserts collapsed
    assert await count(memos_client, tables.memo_relation, tables.memo_relation.c.type == "REFERENCE") == 10
    assert await count(memos_client, tables.memo_relation, tables.memo_relation.c.type == "COMMENT") == 10
    assert await count(memos_client, tables.memo, tables.memo.c.pinned.is_(True)) == 10
    r = await memos_client.get("/api/v1/memos/seed3", headers=alice.headers)
    got = await r.json()
    assert got["content"] == "edited 3 #e" and got["tags"] == ["e"] and len(got["reactions"]) == 2
