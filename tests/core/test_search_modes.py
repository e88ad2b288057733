"""Search modes registered by plugins (``memos_register_search_modes``): chosen with ListMemos'
``searchMode``, ranked by the plugin, and held to the caller's access rules by the core."""

from __future__ import annotations

from typing import Any

import pytest
import sqlalchemy as sa

from memos_core import hookimpl, tables, text_ranked_ids


class Reversed:
    """Ranks eligible memos by id, newest first, then names every other memo in the database (the
    core must drop those the caller may not see)."""

    label = "Newest"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def rank(self, ctx, *, query, eligible, limit, offset):
        self.calls.append({"query": query, "limit": limit, "offset": offset})
        m = tables.memo
        ids = [r[0] for r in await ctx.store.fetch_all(sa.select(m.c.id).where(*eligible).order_by(m.c.id.desc()))]
        everything = [r[0] for r in await ctx.store.fetch_all(sa.select(m.c.id))]
        return (ids + [i for i in everything if i not in ids])[offset : offset + limit]


class Hybrid:
    label = "Words, then newest"

    async def rank(self, ctx, *, query, eligible, limit, offset):
        return await text_ranked_ids(ctx, query, eligible, limit, offset)


MODE = Reversed()


class ModePlugin:
    @hookimpl
    def memos_register_search_modes(self, register):
        register("newest", MODE)
        register("hybrid", Hybrid())


@pytest.fixture
def memos_extra_plugins():
    MODE.calls.clear()
    return [ModePlugin()]


async def _create(client, user, content, visibility="PRIVATE"):
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": visibility}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


async def test_a_registered_mode_ranks_and_the_core_keeps_access_rules(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    secret = await _create(memos_client, bob, "bob's garden secret")
    older = await _create(memos_client, alice, "the garden in spring")
    newer = await _create(memos_client, alice, "tomatoes in the backyard <b>")
    r = await memos_client.get(
        "/api/v1/memos", params={"search": "garden", "searchMode": "newest", "pageSize": "5"}, headers=alice.headers
    )
    assert r.status == 200, await r.text()
    body = await r.json()
    names = [m["name"] for m in body["memos"]]
    assert names == [newer, older] and secret not in names
    assert body["memos"][1]["searchSnippet"] == "the <mark>garden</mark> in spring"
    assert body["memos"][0]["searchSnippet"] == "tomatoes in the backyard &lt;b&gt;"  # no match: escaped start
    assert MODE.calls == [{"query": "garden", "limit": 6, "offset": 0}]


async def test_pages_of_a_mode_follow_its_ranking(memos_client, memos_users):
    alice = await memos_users("alice")
    made = [await _create(memos_client, alice, f"note {i}") for i in range(3)]
    params = {"search": "note", "searchMode": "newest", "pageSize": "2"}
    first = await (await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)).json()
    assert [m["name"] for m in first["memos"]] == made[:0:-1] and first["nextPageToken"]
    params["pageToken"] = first["nextPageToken"]
    second = await (await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)).json()
    assert [m["name"] for m in second["memos"]] == made[:1] and second["nextPageToken"] == ""


async def test_a_mode_can_build_on_the_text_ranking(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await _create(memos_client, bob, "weather weather")
    one = await _create(memos_client, alice, "weather today", "PUBLIC")
    two = await _create(memos_client, alice, "weather weather weather report")
    await _create(memos_client, alice, "nothing here")
    r = await memos_client.get(
        "/api/v1/memos", params={"search": "weather", "searchMode": "hybrid"}, headers=alice.headers
    )
    text = await memos_client.get("/api/v1/memos", params={"search": "weather"}, headers=alice.headers)
    names = [m["name"] for m in (await r.json())["memos"]]
    assert sorted(names) == sorted([one, two]) and names == [m["name"] for m in (await text.json())["memos"]]


@pytest.mark.parametrize("mode", ["semantic", "TEXT", ""])
async def test_an_unknown_mode_is_refused_with_the_choices(memos_client, memos_users, mode):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/memos", params={"search": "x", "searchMode": mode}, headers=alice.headers)
    if mode == "":
        assert r.status == 200  # an empty parameter is the default, as for other query parameters
        return
    body = await r.json()
    assert r.status == 400 and body["code"] == 3
    assert body["message"] == "searchMode must be one of: text, hybrid, newest"


async def test_text_is_the_default_and_can_be_named(memos_client, memos_users):
    alice = await memos_users("alice")
    await _create(memos_client, alice, "alpha beta")
    for params in ({"search": "beta"}, {"search": "beta", "searchMode": "text"}):
        body = await (await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)).json()
        assert [m["searchSnippet"] for m in body["memos"]] == ["alpha <mark>beta</mark>"]
    assert MODE.calls == []
