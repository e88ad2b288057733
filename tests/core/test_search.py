"""Full-text search (ListMemos ``search``, a memos-py extension) on every driver: ranking, safe
highlighted snippets, CJK and emoji, visibility, and an index kept in step with every write."""

from __future__ import annotations

import asyncio
import dataclasses
import time

import pytest

from memos_core import cli
from memos_core.app import SEARCH_CATCH_UP, create_app
from memos_core.context import CONTEXT
from memos_core.store import search as search_store
from memos_core.store import tables


@pytest.fixture
def memos_config(memos_config):
    """Tests here compare answers before and after changing how a search runs: no answer may come
    from the response cache."""
    return dataclasses.replace(memos_config, response_cache_mb=0)


async def create(client, user, content, **fields):
    r = await client.post("/api/v1/memos", json={"content": content, **fields}, headers=user.headers)
    body = await r.json()
    assert r.status == 200, body
    return body


async def search(client, user, words, status=200, **params):
    headers = user.headers if user is not None else {}
    r = await client.get("/api/v1/memos", params={"search": words, **params}, headers=headers)
    body = await r.json()
    assert r.status == status, body
    return body


def contents(body):
    return [m["content"] for m in body["memos"]]


async def in_step(client) -> bool:
    """Whether the index matched the memo table exactly (the catch-up had nothing to fix)."""
    store = client.app[CONTEXT].store
    async with store.connection():
        return await search_store.catch_up(store) == 0


async def raw_insert(client, user, content):
    """A memo row written behind the index's back, as copy-db, restore or upstream Memos would."""
    store = client.app[CONTEXT].store
    now = int(time.time())
    async with store.connection():
        await store.execute(
            tables.memo.insert().values(
                uid=f"raw{now}",
                creator_id=user.id,
                created_ts=now,
                updated_ts=now,
                row_status="NORMAL",
                content=content,
                visibility="PUBLIC",
                pinned=False,
                payload="{}",
            )
        )


async def test_ranked_by_relevance_then_newest(memos_client, memos_users):
    alice = await memos_users("alice")
    await create(memos_client, alice, "apple apple apple cherry")
    await create(memos_client, alice, "apple banana")  # newer, but one mention only
    await create(memos_client, alice, "banana split")
    body = await search(memos_client, alice, "apple")
    assert contents(body) == ["apple apple apple cherry", "apple banana"]
    assert contents(await search(memos_client, alice, "APPLE cherry")) == ["apple apple apple cherry"]
    assert contents(await search(memos_client, alice, "durian")) == []
    # Word search finds whole words only; content.contains keeps its substring meaning.
    assert contents(await search(memos_client, alice, "ban")) == []
    r = await memos_client.get("/api/v1/memos", params={"filter": 'content.contains("ban")'}, headers=alice.headers)
    assert sorted(contents(await r.json())) == ["apple banana", "banana split"]


async def test_pages_and_filter(memos_client, memos_users):
    alice = await memos_users("alice")
    for i in range(5):
        await create(memos_client, alice, "kiwi " * (i + 1) + f"memo{i}", pinned=i % 2 == 0)
    first = await search(memos_client, alice, "kiwi", pageSize=2)
    assert len(first["memos"]) == 2 and first["nextPageToken"]
    second = await search(memos_client, alice, "kiwi", pageSize=2, pageToken=first["nextPageToken"])
    third = await search(memos_client, alice, "kiwi", pageSize=2, pageToken=second["nextPageToken"])
    assert third["nextPageToken"] == ""
    found = contents(first) + contents(second) + contents(third)
    assert found == ["kiwi " * (i + 1) + f"memo{i}" for i in reversed(range(5))]
    pinned = await search(memos_client, alice, "kiwi", filter="pinned")
    assert {m["content"] for m in pinned["memos"]} == {"kiwi " * (i + 1) + f"memo{i}" for i in (0, 2, 4)}


async def walk(client, user, words, **params) -> list[str]:
    """Every page of a search, in order."""
    names, token = [], ""
    while True:
        body = await search(client, user, words, pageSize=3, pageToken=token, **params)
        names += [m["name"] for m in body["memos"]]
        token = body["nextPageToken"]
        if not token:
            return names


@pytest.mark.parametrize("words", ["apple", "tart 🍎", "pie"])
async def test_ranking_a_window_first_gives_the_full_rankings_pages(memos_client, memos_users, monkeypatch, words):
    """The search ranks a small window of best matches in the index before joining memo rows; the
    pages are those of ranking every match, also when the caller may see few of the best ones (the
    window grows) or ties of equal relevance straddle its edge."""
    from memos_core.services import search as search_service

    alice, bob = await memos_users("alice"), await memos_users("bob")
    for i in range(9):  # bob's private memos rank best: the first windows hold nothing alice sees
        await create(memos_client, bob, "apple " * 4 + f"tart 🍎 pie{i}", visibility="PRIVATE")
    for i in range(7):
        await create(memos_client, alice, "apple " * (i % 3 + 1) + "tart 🍎 pie", visibility="PROTECTED")
    await create(memos_client, bob, "apple apple tart 🍎 pie public", visibility="PUBLIC")
    monkeypatch.setattr(search_service, "WINDOW_MIN", 2)
    monkeypatch.setattr(search_service, "WINDOW_FACTOR", 1)
    monkeypatch.setattr(search_service, "WINDOW_GROWTH", 2)
    windowed = {who: await walk(memos_client, user, words) for who, user in (("alice", alice), ("bob", bob))}
    windowed["anonymous"] = await walk(memos_client, None, words)
    monkeypatch.setattr(search_service, "WINDOW_MAX", 0)  # no window: the full statement alone
    assert windowed == {
        "alice": await walk(memos_client, alice, words),
        "bob": await walk(memos_client, bob, words),
        "anonymous": await walk(memos_client, None, words),
    }
    # alice: her 7 and bob's public one; bob: also his own private ones where "pie0".. is no "pie"
    assert len(windowed["alice"]) == 8 and len(windowed["anonymous"]) == 1
    assert len(windowed["bob"]) == (8 if words == "pie" else 17)


async def test_beyond_the_rank_limit_the_newest_matches_are_ranked_and_older_ones_follow(
    memos_client, memos_users, monkeypatch
):
    """A word in more memos than ``RANK_LIMIT``: the newest that many matches come best first, the
    older ones after them newest first, whoever may see them; ranking a window first changes nothing."""
    from memos_core.services import search as search_service

    alice, bob = await memos_users("alice"), await memos_users("bob")
    for i in range(8):  # memos without the word, so that it tells memos apart on every database
        await create(memos_client, bob, f"banana split {i}", visibility="PRIVATE")
    counts = [5, 5, 1, 2, 4, 3]  # oldest first; every memo has the same number of words
    for i, n in enumerate(counts):
        await create(memos_client, alice, "apple " * n + "word " * (5 - n) + f"x{i}", visibility="PUBLIC")
    by_count = {n: f"x{i}" for i, n in enumerate(counts)}
    uncapped = [c.rsplit(" ", 1)[1] for c in contents(await search(memos_client, alice, "apple", pageSize=10))]
    assert uncapped == ["x1", "x0", by_count[4], by_count[3], by_count[2], by_count[1]]

    monkeypatch.setattr(search_store, "RANK_LIMIT", 4)  # x2..x5 are ranked, x1 and x0 follow
    expected = ["x4", "x5", "x3", "x2", "x1", "x0"]
    for user in (alice, bob, None):
        found = [c.rsplit(" ", 1)[1] for c in contents(await search(memos_client, user, "apple", pageSize=10))]
        assert found == expected
    monkeypatch.setattr(search_service, "WINDOW_MIN", 2)
    monkeypatch.setattr(search_service, "WINDOW_FACTOR", 1)
    monkeypatch.setattr(search_service, "WINDOW_GROWTH", 2)
    windowed = {who: await walk(memos_client, user, "apple") for who, user in (("alice", alice), ("anon", None))}
    monkeypatch.setattr(search_service, "WINDOW_MAX", 0)  # no window: the full statement alone
    assert windowed == {
        "alice": await walk(memos_client, alice, "apple"),
        "anon": await walk(memos_client, None, "apple"),
    }
    assert len(windowed["alice"]) == 6


async def test_snippet_marks_matches_and_escapes_everything_else(memos_client, memos_users):
    alice = await memos_users("alice")
    await create(memos_client, alice, '<script>alert("x")</script> needle & <b onclick=1>bold</b>')
    (memo,) = (await search(memos_client, alice, "needle"))["memos"]
    assert memo["searchSnippet"] == (
        "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; <mark>needle</mark> &amp; &lt;b onclick=1&gt;bold&lt;/b&gt;"
    )
    (memo,) = (await search(memos_client, alice, "script"))["memos"]
    assert memo["searchSnippet"].startswith("&lt;<mark>script</mark>&gt;alert(")
    assert "<script" not in memo["searchSnippet"] and "<b" not in memo["searchSnippet"]
    # A long memo: the snippet is an excerpt around the first match.
    await create(memos_client, alice, "filler " * 60 + "target word " + "tail " * 60)
    (memo,) = (await search(memos_client, alice, "target"))["memos"]
    snippet = memo["searchSnippet"]
    assert snippet.startswith("…") and snippet.endswith("…") and "<mark>target</mark> word" in snippet
    assert len(snippet) < 250


async def test_cjk_and_emoji(memos_client, memos_users):
    alice = await memos_users("alice")
    await create(memos_client, alice, "今日は日本語の勉強をしました")
    await create(memos_client, alice, "東京タワーに行った")
    await create(memos_client, alice, "party tonight 🎉 with cake")
    await create(memos_client, alice, "quiet evening 🌙")
    (memo,) = (await search(memos_client, alice, "日本語"))["memos"]
    assert memo["searchSnippet"] == "今日は<mark>日本語</mark>の勉強をしました"
    assert contents(await search(memos_client, alice, "東京")) == ["東京タワーに行った"]
    (memo,) = (await search(memos_client, alice, "🎉"))["memos"]
    assert memo["content"] == "party tonight 🎉 with cake"
    assert "<mark>🎉</mark>" in memo["searchSnippet"]
    assert contents(await search(memos_client, alice, "party 🌙")) == []
    assert contents(await search(memos_client, alice, "中国語")) == []


async def test_another_users_private_memo_never_appears(memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    await create(memos_client, bob, "zebra secret plans", visibility="PRIVATE")
    await create(memos_client, bob, "zebra for members", visibility="PROTECTED")
    await create(memos_client, alice, "zebra for everyone", visibility="PUBLIC")
    archived = await create(memos_client, bob, "zebra archived", visibility="PUBLIC")
    r = await memos_client.patch(f"/api/v1/{archived['name']}", json={"state": "ARCHIVED"}, headers=bob.headers)
    assert r.status == 200
    seen = await search(memos_client, alice, "zebra", pageSize=2)
    assert sorted(contents(seen)) == ["zebra for everyone", "zebra for members"]
    assert seen["nextPageToken"] == ""  # the hidden ones do not even make a next page
    assert all("secret" not in m["searchSnippet"] for m in seen["memos"])
    assert contents(await search(memos_client, alice, "secret")) == []
    assert contents(await search(memos_client, alice, "zebra", state="ARCHIVED")) == []
    assert contents(await search(memos_client, None, "zebra")) == ["zebra for everyone"]
    assert len((await search(memos_client, bob, "zebra"))["memos"]) == 3
    assert contents(await search(memos_client, bob, "zebra", state="ARCHIVED")) == ["zebra archived"]

    # Comments only when asked, and never one under a memo the caller may not see.
    parent = await create(memos_client, bob, "private parent", visibility="PRIVATE")
    r = await memos_client.post(
        f"/api/v1/{parent['name']}/comments",
        json={"content": "zebra comment", "visibility": "PUBLIC"},
        headers=bob.headers,
    )
    assert r.status == 200, await r.json()
    assert "zebra comment" not in contents(await search(memos_client, bob, "zebra"))
    mine = await search(memos_client, bob, "comment", includeComments="true")
    assert contents(mine) == ["zebra comment"] and mine["memos"][0]["parent"] == parent["name"]
    assert contents(await search(memos_client, alice, "comment", includeComments="true")) == []
    assert contents(await search(memos_client, None, "comment", includeComments="true")) == []


async def test_index_follows_updates_archive_and_deletes(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create(memos_client, alice, "alpha version")
    other = await create(memos_client, alice, "gamma ray")
    r = await memos_client.patch(f"/api/v1/{memo['name']}", json={"content": "beta version"}, headers=alice.headers)
    assert r.status == 200
    assert contents(await search(memos_client, alice, "alpha")) == []
    assert contents(await search(memos_client, alice, "beta")) == ["beta version"]
    r = await memos_client.patch(f"/api/v1/{memo['name']}", json={"state": "ARCHIVED"}, headers=alice.headers)
    assert r.status == 200
    assert contents(await search(memos_client, alice, "version")) == []
    assert contents(await search(memos_client, alice, "version", state="ARCHIVED")) == ["beta version"]
    r = await memos_client.delete(f"/api/v1/{other['name']}", headers=alice.headers)
    assert r.status == 200
    assert contents(await search(memos_client, alice, "gamma")) == []
    assert await in_step(memos_client)


async def test_a_failed_index_write_undoes_the_memo(memos_client, memos_users, monkeypatch):
    alice = await memos_users("alice")

    async def crash(store, key):
        raise RuntimeError("crash between the memo row and its index entry")

    monkeypatch.setattr(search_store, "index_memos", crash)
    monkeypatch.setattr(search_store, "index_memo_uid", crash)  # a new memo's entry, by uid
    r = await memos_client.post("/api/v1/memos", json={"content": "lost words"}, headers=alice.headers)
    assert r.status == 500
    monkeypatch.undo()
    r = await memos_client.get("/api/v1/memos", headers=alice.headers)
    assert (await r.json())["memos"] == []
    assert await in_step(memos_client)


@pytest.mark.parametrize("words", ["", "   ", "x" * 300, " ".join(["w"] * 20)])
async def test_bad_search_is_refused(memos_client, memos_users, words):
    alice = await memos_users("alice")
    await create(memos_client, alice, "kept")
    body = await search(memos_client, alice, words, status=400)
    assert body["code"] == 3 and body["message"] and body["details"] == []


async def test_reindex_command_finds_rows_written_behind_the_index(memos_client, memos_users, memos_config):
    alice = await memos_users("alice")
    await create(memos_client, alice, "indexed giraffe")
    await raw_insert(memos_client, alice, "hidden giraffe")
    assert contents(await search(memos_client, alice, "giraffe")) == ["indexed giraffe"]
    args = ["reindex", "--driver", memos_config.driver, "--data", memos_config.data]
    if memos_config.dsn:
        args += ["--dsn", memos_config.dsn]
    assert await asyncio.to_thread(cli.main, args) == 0
    assert sorted(contents(await search(memos_client, alice, "giraffe"))) == ["hidden giraffe", "indexed giraffe"]
    assert await in_step(memos_client)


async def test_start_up_catches_up_in_the_background(memos_client, memos_users, memos_config, aiohttp_client):
    alice = await memos_users("alice")
    await create(memos_client, alice, "indexed okapi")
    await raw_insert(memos_client, alice, "hidden okapi")
    assert contents(await search(memos_client, alice, "okapi")) == ["indexed okapi"]
    restarted = create_app(memos_config)
    client = await aiohttp_client(restarted)
    await restarted[SEARCH_CATCH_UP].task
    assert sorted(contents(await search(client, alice, "okapi"))) == ["hidden okapi", "indexed okapi"]
    assert await in_step(client)
