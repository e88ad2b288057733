"""memos-semantic on every driver, through the HTTP API and MCP: memos found by meaning, the hybrid
of words and meaning, the caller's access rules in both, and vectors kept in step with every write
(edits, deletes, rows written behind the app's back, a restart)."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from typing import Any

import sqlalchemy as sa
from memos_semantic import SEMANTIC, model, vectors

from memos_core.app import create_app
from memos_core.context import CONTEXT
from memos_core.store import tables

GARDEN = "planted tomatoes in the backyard"
OTHERS = [
    "call the dentist to move my appointment",
    "finished reading a novel about space travel",
    "quarterly tax forms are due next week",
    "new running shoes feel great on long runs",
]


async def create(client, user, content: str, **fields: Any) -> dict[str, Any]:
    r = await client.post("/api/v1/memos", json={"content": content, **fields}, headers=user.headers)
    body = await r.json()
    assert r.status == 200, body
    return body


async def search(client, user, text: str, mode: str = "semantic", status: int = 200, **params: Any) -> dict:
    headers = user.headers if user is not None else {}
    r = await client.get("/api/v1/memos", params={"search": text, "searchMode": mode, **params}, headers=headers)
    body = await r.json()
    assert r.status == status, body
    return body


async def found(client, user, text: str, mode: str = "semantic", **params: Any) -> list[str]:
    return [m["content"] for m in (await search(client, user, text, mode, **params))["memos"]]


async def eventually(check: Callable[[], Any], timeout: float = 30.0) -> Any:
    """Await ``check()`` until it is truthy: the worker embeds in the background."""
    deadline = time.monotonic() + timeout
    while True:
        value = await check()
        if value or time.monotonic() > deadline:
            assert value, "the condition did not hold in time"
            return value
        await asyncio.sleep(0.05)


async def embedded(client, user, text: str, expected: str, mode: str = "semantic", **params: Any) -> list[str]:
    """Wait until ``expected`` is the first result for ``text``; the results."""

    async def first() -> list[str]:
        results = await found(client, user, text, mode, **params)
        return results if results[:1] == [expected] else []

    return await eventually(first)


async def all_embedded(client, count: int) -> None:
    """Wait until ``count`` memos have vectors."""

    async def check() -> bool:
        return len(await vector_rows(client)) == count

    await eventually(check)


async def vector_rows(client) -> dict[int, str]:
    """The plugin's vector rows: ``{memo_id: content_hash}``."""
    store = client.app[CONTEXT].store
    async with store.connection():
        rows = await store.fetch_all(sa.select(vectors.vector.c.memo_id, vectors.vector.c.content_hash))
    return {r[0]: r[1] for r in rows}


async def raw_write(client, statement: Any) -> None:
    """A write behind the app's back (no event), as an import, copy-db or upstream Memos would make."""
    store = client.app[CONTEXT].store
    async with store.connection(), store.transaction():
        await store.execute(statement)


def raw_memo(user, uid: str, content: str, **columns: Any) -> Any:
    now = int(time.time())
    values = {"created_ts": now, "updated_ts": now, "row_status": "NORMAL", "visibility": "PRIVATE", **columns}
    return tables.memo.insert().values(
        uid=uid, creator_id=user.id, content=content, pinned=False, payload="{}", **values
    )


async def test_what_did_i_say_about_the_garden_finds_the_tomatoes(memos_client, memos_users):
    alice = await memos_users("alice")
    for content in [*OTHERS[:2], GARDEN, *OTHERS[2:]]:
        await create(memos_client, alice, content)
    question = "what did I say about the garden"
    assert (await embedded(memos_client, alice, question, GARDEN))[0] == GARDEN
    # No memo has those words: the full-text ranking finds nothing, the hybrid finds it by meaning.
    assert await found(memos_client, alice, question, "text") == []
    assert (await found(memos_client, alice, question, "hybrid"))[0] == GARDEN
    body = await search(memos_client, alice, question)
    # The snippet marks the query's words where the memo has any (here only "the").
    assert body["memos"][0]["searchSnippet"] == "planted tomatoes in <mark>the</mark> backyard"


async def test_paraphrases_rank_their_memo_first(memos_client, memos_users):
    alice = await memos_users("alice")
    for content in [GARDEN, *OTHERS]:
        await create(memos_client, alice, content)
    await all_embedded(memos_client, 5)
    await embedded(memos_client, alice, "jogging gear", OTHERS[3])
    assert (await found(memos_client, alice, "teeth checkup"))[0] == OTHERS[0]
    assert (await found(memos_client, alice, "a book about astronauts"))[0] == OTHERS[1]


async def test_pages_follow_one_ranking(memos_client, memos_users):
    alice = await memos_users("alice")
    for content in [GARDEN, *OTHERS, "watered the vegetable beds", "pruned the apple trees in the orchard"]:
        await create(memos_client, alice, content)
    query = "gardening chores"
    everything = await eventually(lambda: _all_embedded(memos_client, alice, query, 7))
    for mode in ("semantic", "hybrid"):
        seen: list[str] = []
        token = ""
        while True:
            params = {"pageSize": "2", **({"pageToken": token} if token else {})}
            body = await search(memos_client, alice, query, mode, **params)
            seen += [m["content"] for m in body["memos"]]
            token = body["nextPageToken"]
            if not token:
                break
        expected = everything if mode == "semantic" else await found(memos_client, alice, query, mode, pageSize="50")
        assert seen == expected and len(set(seen)) == len(seen)
    assert everything[0] in (GARDEN, "watered the vegetable beds", "pruned the apple trees in the orchard")


async def _all_embedded(client, user, query: str, count: int) -> list[str]:
    """The semantic results for ``query`` once ``count`` memos are embedded (else nothing)."""
    store = client.app[CONTEXT].store
    async with store.connection():
        rows = await store.fetch_val(sa.select(sa.func.count()).select_from(vectors.vector))
    return await found(client, user, query, pageSize="50") if rows == count else []


async def test_hybrid_puts_words_and_meaning_first_and_keeps_either(memos_client, memos_users):
    alice = await memos_users("alice")
    both = await create(memos_client, alice, "fixed the flat tire on my bicycle")
    words_only = await create(memos_client, alice, "the word bicycle appears in this tax note")
    meaning_only = await create(memos_client, alice, "repaired a puncture on my bike")
    await create(memos_client, alice, "baked sourdough bread this morning")
    await all_embedded(memos_client, 4)
    await embedded(memos_client, alice, "bicycle tire", both["content"])
    hybrid = await found(memos_client, alice, "bicycle tire", "hybrid")
    text = await found(memos_client, alice, "bicycle", "text")
    assert hybrid[0] == both["content"]
    assert words_only["content"] in text and meaning_only["content"] not in text
    hybrid = await found(memos_client, alice, "bicycle", "hybrid")
    assert {both["content"], words_only["content"], meaning_only["content"]} <= set(hybrid)


async def test_another_users_private_or_archived_memo_never_appears(memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    await create(memos_client, bob, "bob planted tomatoes in his backyard", visibility="PRIVATE")
    await create(memos_client, bob, "bob's garden club meets on tuesday", visibility="PROTECTED")
    archived = await create(memos_client, bob, "bob's vegetable garden notes", visibility="PUBLIC")
    r = await memos_client.patch(f"/api/v1/{archived['name']}", json={"state": "ARCHIVED"}, headers=bob.headers)
    assert r.status == 200
    await create(memos_client, alice, "alice weeded the flower garden", visibility="PUBLIC")
    await create(memos_client, alice, "alice's taxes are done", visibility="PRIVATE")
    question = "garden tomatoes backyard"
    await all_embedded(memos_client, 5)
    # Bob's own searches see all four of his (so every one is embedded) ...
    await embedded(memos_client, bob, question, "bob planted tomatoes in his backyard")
    await embedded(memos_client, bob, question, "bob's vegetable garden notes", state="ARCHIVED")
    for mode in ("semantic", "hybrid"):
        seen = await search(memos_client, alice, question, mode, pageSize="3")
        names = [m["content"] for m in seen["memos"]]
        assert "bob planted tomatoes in his backyard" not in names
        assert "bob's vegetable garden notes" not in names
        assert set(names) <= {
            "alice weeded the flower garden",
            "bob's garden club meets on tuesday",
            "alice's taxes are done",
        }
        assert "alice weeded the flower garden" in names and "bob's garden club meets on tuesday" in names
        assert seen["nextPageToken"] == ""  # hidden memos do not even make another page
        assert all("tomatoes" not in m["searchSnippet"] for m in seen["memos"])
        assert await found(memos_client, alice, question, mode, state="ARCHIVED") == []
        assert await found(memos_client, None, question, mode) == ["alice weeded the flower garden"]
        assert await found(memos_client, bob, question, mode, state="ARCHIVED") == ["bob's vegetable garden notes"]


async def test_comments_only_when_asked_and_only_under_visible_memos(memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    parent = await create(memos_client, bob, "a private plan", visibility="PRIVATE")
    r = await memos_client.post(
        f"/api/v1/{parent['name']}/comments", json={"content": GARDEN, "visibility": "PUBLIC"}, headers=bob.headers
    )
    assert r.status == 200, await r.json()
    await embedded(memos_client, bob, "the garden", GARDEN, includeComments="true")
    assert GARDEN not in await found(memos_client, bob, "the garden")
    assert await found(memos_client, alice, "the garden", includeComments="true") == []


async def test_an_edit_re_embeds_and_a_delete_drops_the_vector(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create(memos_client, alice, "fixed the flat tire on my bicycle")
    await create(memos_client, alice, "baked sourdough bread this morning")
    await embedded(memos_client, alice, "fixing my bike", "fixed the flat tire on my bicycle")
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}", json={"content": "sorted the recycling bins"}, headers=alice.headers
    )
    assert r.status == 200
    # Edited again within the same second: the event names the memo, its content decides.
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}", json={"content": "went swimming at the lake"}, headers=alice.headers
    )
    assert r.status == 200
    await embedded(memos_client, alice, "a swim in open water", "went swimming at the lake")
    rows = await vector_rows(memos_client)
    assert vectors.content_hash("went swimming at the lake") in rows.values()
    assert vectors.content_hash("fixed the flat tire on my bicycle") not in rows.values()
    assert vectors.content_hash("sorted the recycling bins") not in rows.values()

    r = await memos_client.delete(f"/api/v1/{memo['name']}", headers=alice.headers)
    assert r.status == 200
    await eventually(lambda: _rows_are(memos_client, {vectors.content_hash("baked sourdough bread this morning")}))


async def test_an_edit_while_the_memo_is_embedded_is_embedded_again(memos_client, memos_users, monkeypatch):
    """The worker writes a vector only for content that is still current when it writes."""
    alice = await memos_users("alice")
    store = memos_client.app[CONTEXT].store
    embed = model.embed
    edited: list[str] = []

    async def embed_then_edit(texts: list[str]) -> Any:
        vectors_ = await embed(texts)
        if "fixed the flat tire on my bicycle" in texts and not edited:
            # Behind the worker's back, keeping the timestamp: only the content tells.
            edited.append("went swimming at the lake")
            async with store.connection(), store.transaction():
                await store.execute(
                    tables.memo.update()
                    .where(tables.memo.c.content == "fixed the flat tire on my bicycle")
                    .values(content="went swimming at the lake")
                )
        return vectors_

    monkeypatch.setattr(model, "embed", embed_then_edit)
    await create(memos_client, alice, "fixed the flat tire on my bicycle")
    await eventually(lambda: _rows_are(memos_client, {vectors.content_hash("went swimming at the lake")}))
    assert edited
    await embedded(memos_client, alice, "a swim in open water", "went swimming at the lake")


async def _rows_are(client, hashes: set[str]) -> bool:
    return set((await vector_rows(client)).values()) == hashes


async def test_archiving_keeps_the_vector_and_the_archived_memo_is_found_in_its_state(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create(memos_client, alice, GARDEN)
    await embedded(memos_client, alice, "the garden", GARDEN)
    before = await vector_rows(memos_client)
    r = await memos_client.patch(f"/api/v1/{memo['name']}", json={"state": "ARCHIVED"}, headers=alice.headers)
    assert r.status == 200
    assert await found(memos_client, alice, "the garden") == []
    assert await found(memos_client, alice, "the garden", state="ARCHIVED") == [GARDEN]
    assert await vector_rows(memos_client) == before


async def test_rows_written_behind_the_apps_back_are_caught_up_while_it_runs(memos_client, memos_users):
    alice = await memos_users("alice")
    await create(memos_client, alice, "baked sourdough bread this morning")
    # An id far from the others: on MySQL the NumPy search packs vectors in chunks of ids, this is another.
    await raw_write(memos_client, raw_memo(alice, "rawgarden", GARDEN, id=5000))
    await embedded(memos_client, alice, "the garden", GARDEN)  # no event: the worker's poll found it


async def test_a_restart_catches_up_what_changed_while_it_was_down(
    memos_client, memos_users, memos_config, aiohttp_client
):
    alice = await memos_users("alice")
    await create(memos_client, alice, "baked sourdough bread this morning")
    kept = await create(memos_client, alice, "fixed the flat tire on my bicycle")
    await embedded(memos_client, alice, "fixing my bike", "fixed the flat tire on my bicycle")
    await memos_client.close()  # the instance stops

    # Meanwhile, behind any instance's back: a new memo, and an edit that keeps the timestamp.
    store = memos_client.app[CONTEXT].store
    await store.connect()
    try:
        async with store.connection(), store.transaction():
            await store.execute(raw_memo(alice, "rawgarden", GARDEN))
            await store.execute(
                tables.memo.update()
                .where(tables.memo.c.uid == kept["name"].removeprefix("memos/"))
                .values(content="went swimming at the lake")
            )
            # And vectors of another model (an upgrade changed it): they cannot be compared.
            await store.execute(vectors.vector.update().values(model="another-model-64"))
    finally:
        await store.disconnect()

    restarted = await aiohttp_client(create_app(memos_config))
    await embedded(restarted, alice, "what did I say about the garden", GARDEN)
    await embedded(restarted, alice, "a swim in open water", "went swimming at the lake")
    rows = await vector_rows(restarted)
    assert vectors.content_hash("fixed the flat tire on my bicycle") not in rows.values()

    async def one_model() -> bool:
        store = restarted.app[CONTEXT].store
        async with store.connection():
            models = {r[0] for r in await store.fetch_all(sa.select(vectors.vector.c.model))}
        return models == {model.MODEL} and len(await vector_rows(restarted)) == 3

    await eventually(one_model)


async def test_two_instances_on_one_database_keep_one_current_vector_per_memo(
    memos_client, memos_users, memos_config, aiohttp_client
):
    alice = await memos_users("alice")
    other = await aiohttp_client(create_app(memos_config))  # a second instance, its own worker
    contents = [GARDEN, *OTHERS]
    memos = [await create(memos_client if i % 2 else other, alice, c) for i, c in enumerate(contents)]
    r = await memos_client.patch(
        f"/api/v1/{memos[0]['name']}", json={"content": "baked sourdough bread"}, headers=alice.headers
    )
    assert r.status == 200
    expected = {vectors.content_hash(c) for c in ["baked sourdough bread", *contents[1:]]}
    await eventually(lambda: _rows_are(memos_client, expected))
    for client in (memos_client, other):
        assert (await found(client, alice, "making bread"))[0] == "baked sourdough bread"


async def test_unknown_mode_and_bad_searches_are_refused(memos_client, memos_users):
    alice = await memos_users("alice")
    await create(memos_client, alice, GARDEN)
    body = await search(memos_client, alice, "garden", "meaning", status=400)
    assert body["code"] == 3 and "semantic" in body["message"] and "hybrid" in body["message"]
    for mode in ("semantic", "hybrid"):
        body = await search(memos_client, alice, "   ", mode, status=400)
        assert body["code"] == 3 and body["details"] == []
    await search(memos_client, alice, "%%% ###")  # only symbols: an answer, whatever it ranks


async def test_the_modes_have_short_labels(memos_client):
    labels = memos_client.app[CONTEXT].search_modes.labels()
    assert labels["semantic"] == "Meaning" and labels["hybrid"] == "Words + meaning"


async def test_the_database_gets_its_own_vector_search_or_the_numpy_one(memos_client, memos_users):
    """Whatever the backend, it ranks alike (the NumPy fallback is the reference)."""
    alice = await memos_users("alice")
    for content in [GARDEN, *OTHERS]:
        await create(memos_client, alice, content)
    native = await eventually(lambda: _all_embedded(memos_client, alice, "the garden and my teeth", 5))
    state = memos_client.app[SEMANTIC]
    assert state.backend == await _expected_backend(memos_client)
    backend, state.backend = state.backend, vectors.NUMPY
    try:
        assert await found(memos_client, alice, "the garden and my teeth", pageSize="50") == native
    finally:
        state.backend = backend


async def _expected_backend(client) -> str:
    """sqlite-vec where this Python's sqlite3 loads extensions, pgvector where the server has it."""
    store = client.app[CONTEXT].store
    if store.dialect == "sqlite":
        return vectors.SQLITE_VEC if vectors.sqlite_vec_loadable() else vectors.NUMPY
    if store.dialect == "postgresql":
        # Installed on the server, and in this database already or creatable by this role.
        q = sa.text(
            "SELECT count(*) FROM pg_available_extension_versions v WHERE v.name = 'vector' AND ("
            "v.installed OR v.trusted OR (SELECT rolsuper FROM pg_roles WHERE rolname = current_user))"
        )
        async with store.connection():
            return vectors.PGVECTOR if await store.fetch_val(q) else vectors.NUMPY
    return vectors.NUMPY


# -- MCP ---------------------------------------------------------------------------------------------
class Mcp:
    """A minimal MCP session over the test client."""

    def __init__(self, client, user) -> None:
        self.client = client
        self.headers = {"Accept": "application/json, text/event-stream", **user.headers}

    async def start(self) -> Mcp:
        params = {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "0"}}
        r = await self.client.post(
            "/mcp", json={"jsonrpc": "2.0", "id": 0, "method": "initialize", "params": params}, headers=self.headers
        )
        assert r.status == 200, await r.text()
        self.headers["Mcp-Session-Id"] = r.headers["Mcp-Session-Id"]
        self.headers["MCP-Protocol-Version"] = (await r.json())["result"]["protocolVersion"]
        r = await self.client.post(
            "/mcp", json={"jsonrpc": "2.0", "method": "notifications/initialized"}, headers=self.headers
        )
        assert r.status == 202
        return self

    async def result(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        body = {"jsonrpc": "2.0", "id": 1, "method": method, "params": params or {}}
        r = await self.client.post("/mcp", json=body, headers=self.headers)
        assert r.status == 200, await r.text()
        return (await r.json())["result"]

    async def search(self, **arguments: Any) -> Any:
        result = await self.result("tools/call", {"name": "search_memos", "arguments": arguments})
        text = result["content"][0]["text"]
        return text if result.get("isError") else json.loads(text)


async def test_mcp_search_memos_takes_a_mode(memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    for content in [GARDEN, *OTHERS]:
        await create(memos_client, alice, content)
    await create(memos_client, bob, "bob planted tomatoes in his backyard", visibility="PRIVATE")
    await all_embedded(memos_client, 6)
    await embedded(memos_client, alice, "what did I say about the garden", GARDEN)

    session = await Mcp(memos_client, alice).start()
    memos = await session.search(query="what did I say about the garden", mode="semantic")
    assert memos[0]["content"] == GARDEN and all("bob" not in m["content"] for m in memos)
    assert (await session.search(query="garden", mode="hybrid"))[0]["content"] == GARDEN
    # The default stays the substring match clients had: "the garden" is in no memo.
    assert await session.search(query="what did I say about the garden") == []
    assert await session.search(query="what did I say about the garden", mode="text") == []
    assert "mode must be one of: text, words, hybrid, semantic" in await session.search(query="garden", mode="meaning")

    (tool,) = [t for t in (await session.result("tools/list"))["tools"] if t["name"] == "search_memos"]
    mode = tool["inputSchema"]["properties"]["mode"]
    assert mode["enum"] == ["text", "words", "hybrid", "semantic"] and "Meaning" in mode["description"]
