"""Shortcuts: saved filters in the SHORTCUTS user setting, owner only."""

from __future__ import annotations

import asyncio
import json
import uuid

import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables

BASE = "/api/v1/users/{}/shortcuts"


async def create(client, user, title="Work", filter='tag in ["work"]', **params):
    query = "&".join(f"{k}={v}" for k, v in params.items())
    r = await client.post(
        BASE.format(user.username) + (f"?{query}" if query else ""),
        json={"title": title, "filter": filter},
        headers=user.headers,
    )
    return r.status, await r.json()


async def stored(client, user_id):
    ctx = client.app[CONTEXT]
    us = tables.user_setting
    async with ctx.store.connection():
        raw = await ctx.store.fetch_val(sa.select(us.c.value).where(us.c.user_id == user_id, us.c.key == "SHORTCUTS"))
    return json.loads(raw) if raw else None


async def test_create_get_list_in_insertion_order(memos_client, memos_users):
    alice = await memos_users("alice")
    status, first = await create(memos_client, alice, "Work", 'tag in ["work"]')
    assert status == 200, first
    prefix = "users/alice/shortcuts/"
    assert first["name"].startswith(prefix)
    sid = first["name"].removeprefix(prefix)
    assert uuid.UUID(sid).version == 4
    assert first == {"name": first["name"], "title": "Work", "filter": 'tag in ["work"]'}
    _, second = await create(memos_client, alice, "Pinned", "pinned")
    _, third = await create(memos_client, alice, "Alpha", 'visibility == "PUBLIC"')

    r = await memos_client.get(BASE.format("alice"), headers=alice.headers)
    assert r.status == 200
    assert await r.json() == {"shortcuts": [first, second, third]}

    r = await memos_client.get(f"/api/v1/{first['name']}", headers=alice.headers)
    assert r.status == 200
    assert await r.json() == first

    value = await stored(memos_client, alice.id)
    assert value == {"shortcuts": [{"id": sid, "title": "Work", "filter": 'tag in ["work"]'}, *value["shortcuts"][1:]]}
    assert [s["title"] for s in value["shortcuts"]] == ["Work", "Pinned", "Alpha"]


async def test_empty_list(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get(BASE.format("alice"), headers=alice.headers)
    assert r.status == 200
    assert await r.json() == {"shortcuts": []}


async def test_validate_only_writes_nothing(memos_client, memos_users):
    alice = await memos_users("alice")
    status, body = await create(memos_client, alice, validateOnly="true")
    assert status == 200
    assert body["title"] == "Work" and body["name"].startswith("users/alice/shortcuts/")
    assert await stored(memos_client, alice.id) is None
    # validateOnly still validates.
    status, body = await create(memos_client, alice, filter="tag ==", validateOnly="true")
    assert status == 400


async def test_bad_input_is_400_and_writes_nothing(memos_client, memos_users):
    alice = await memos_users("alice")
    for title, filter in [("", "pinned"), ("   ", "pinned"), ("T", ""), ("T", "  "), ("T", "tag =="), ("T", "nope")]:
        status, body = await create(memos_client, alice, title, filter)
        assert status == 400, (title, filter, body)
        assert body["code"] == 3 and body["message"] and body["details"] == []
    # The filter engine's own message reaches the client.
    status, body = await create(memos_client, alice, "T", 'tag == "x"')
    assert status == 400 and "filter" in body["message"]
    r = await memos_client.post(BASE.format("alice"), json={"title": 5, "filter": "pinned"}, headers=alice.headers)
    assert r.status == 400
    assert await stored(memos_client, alice.id) is None


async def test_update(memos_client, memos_users):
    alice = await memos_users("alice")
    _, sc = await create(memos_client, alice)
    url = f"/api/v1/{sc['name']}"

    r = await memos_client.patch(
        url + "?updateMask=title", json={"title": "Job", "filter": "pinned"}, headers=alice.headers
    )
    assert r.status == 200
    assert await r.json() == {**sc, "title": "Job"}  # filter not in the mask: unchanged

    r = await memos_client.patch(url + "?updateMask=filter,bogus", json={"filter": "pinned"}, headers=alice.headers)
    assert r.status == 200
    assert await r.json() == {**sc, "title": "Job", "filter": "pinned"}

    # No mask: derived from the body's fields, as the REST gateway does.
    r = await memos_client.patch(url, json={"name": sc["name"], "title": "Derived"}, headers=alice.headers)
    assert r.status == 200
    assert (await r.json())["title"] == "Derived"

    for query, body in [
        ("?updateMask=", {"title": "X"}),
        ("", {}),
        ("?updateMask=filter", {"filter": "tag =="}),
        ("?updateMask=filter", {"filter": ""}),
        ("?updateMask=title", {"title": ""}),
    ]:
        r = await memos_client.patch(url + query, json=body, headers=alice.headers)
        assert r.status == 400, (query, body)
    r = await memos_client.get(url, headers=alice.headers)
    assert await r.json() == {**sc, "title": "Derived", "filter": "pinned"}

    r = await memos_client.patch(
        BASE.format("alice") + f"/{uuid.uuid4()}?updateMask=title", json={"title": "X"}, headers=alice.headers
    )
    assert r.status == 404


async def test_delete(memos_client, memos_users):
    alice = await memos_users("alice")
    _, a = await create(memos_client, alice, "A")
    _, b = await create(memos_client, alice, "B")
    r = await memos_client.delete(f"/api/v1/{a['name']}", headers=alice.headers)
    assert r.status == 200 and await r.json() == {}
    r = await memos_client.get(BASE.format("alice"), headers=alice.headers)
    assert await r.json() == {"shortcuts": [b]}
    r = await memos_client.delete(f"/api/v1/{a['name']}", headers=alice.headers)
    assert r.status == 404
    r = await memos_client.get(f"/api/v1/{a['name']}", headers=alice.headers)
    assert r.status == 404


async def test_owner_only(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    _, sc = await create(memos_client, alice)
    url = f"/api/v1/{sc['name']}"
    for h, status in ((bob.headers, 403), (admin.headers, 403), ({}, 401)):
        assert (await memos_client.get(BASE.format("alice"), headers=h)).status == status
        assert (await memos_client.get(url, headers=h)).status == status
        async with memos_unchanged(alice.headers, BASE.format("alice"), url):
            r = await memos_client.post(BASE.format("alice"), json={"title": "x", "filter": "pinned"}, headers=h)
            assert r.status == status
            r = await memos_client.patch(
                url + "?updateMask=title,filter", json={"title": "x", "filter": "pinned"}, headers=h
            )
            assert r.status == status
            assert (await memos_client.delete(url, headers=h)).status == status
    r = await memos_client.get(BASE.format("alice"), headers=alice.headers)
    assert await r.json() == {"shortcuts": [sc]}


async def test_unknown_user(memos_client, memos_users):
    alice = await memos_users("alice")
    h = alice.headers
    assert (await memos_client.get(BASE.format("ghost"), headers=h)).status == 404
    r = await memos_client.post(BASE.format("ghost"), json={"title": "x", "filter": "pinned"}, headers=h)
    assert r.status == 404
    url = BASE.format("ghost") + f"/{uuid.uuid4()}"
    assert (await memos_client.get(url, headers=h)).status == 400
    assert (await memos_client.patch(url + "?updateMask=title", json={"title": "x"}, headers=h)).status == 400
    assert (await memos_client.delete(url, headers=h)).status == 400


async def test_concurrent_creates_keep_every_shortcut(memos_client, memos_users):
    alice = await memos_users("alice")
    results = await asyncio.gather(*(create(memos_client, alice, f"S{i}", "pinned") for i in range(20)))
    assert all(status == 200 for status, _ in results)
    r = await memos_client.get(BASE.format("alice"), headers=alice.headers)
    listed = (await r.json())["shortcuts"]
    assert sorted(s["title"] for s in listed) == sorted(f"S{i}" for i in range(20))
    assert len({s["name"] for s in listed}) == 20


async def test_shortcut_filter_drives_list_memos(memos_client, memos_users):
    """A shortcut is a saved ListMemos filter the client passes verbatim."""
    alice = await memos_users("alice")
    for uid, content in [("m1", "#work one"), ("m2", "#home two"), ("m3", "#work three")]:
        r = await memos_client.post(f"/api/v1/memos?memoId={uid}", json={"content": content}, headers=alice.headers)
        assert r.status == 200
    _, sc = await create(memos_client, alice, "Work", 'tag in ["work"]')
    r = await memos_client.get("/api/v1/memos", params={"filter": sc["filter"]}, headers=alice.headers)
    assert [m["name"] for m in (await r.json())["memos"]] == ["memos/m3", "memos/m1"]
