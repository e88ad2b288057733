"""MemoService over HTTP: create, get, list, update, delete, and bad input."""

from __future__ import annotations

import base64
import json
import re

import pytest
import sqlalchemy as sa

from memos_core import hookimpl
from memos_core.context import CONTEXT, Event
from memos_core.errors import invalid
from memos_core.store import tables

ATT = {"type": "text/plain", "size": 0, "storage_type": "DATABASE", "reference": ""}


class FakeMarkdown:
    """Stands in for the markdown plugin: deterministic tags/property/snippet, and records events."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def memos_extract_payload(self, content):
        tags = list(dict.fromkeys(re.findall(r"#([^\s#.,]+)", content)))
        prop = {"hasLink": "](" in content, "hasCode": "`" in content, "title": ""}
        return {"tags": tags, "property": prop}

    @hookimpl
    def memos_generate_snippet(self, content):
        return content[:20]

    @hookimpl
    def memos_compile_filter(self, expression, scope, context):
        if expression.strip() == "pinned":
            return tables.memo.c.pinned.is_(True)
        raise invalid(f"bad filter: {expression}")

    @hookimpl
    def memos_on_event(self, app, event):
        self.events.append(event)


@pytest.fixture
def fake():
    return FakeMarkdown()


@pytest.fixture
def memos_extra_plugins(fake):
    return [fake]


async def create(client, user, content="hello", status=200, query="", **fields):
    r = await client.post(f"/api/v1/memos{query}", json={"content": content, **fields}, headers=user.headers)
    body = await r.json()
    assert r.status == status, body
    return body


async def count_memos(client) -> int:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(tables.memo))


async def test_create_and_get_shape(memos_client, memos_users, fake):
    alice = await memos_users("alice")
    memo = await create(
        memos_client,
        alice,
        "See [x](http://a) `c` #work #工作",
        visibility="PUBLIC",
        pinned=True,
        location={"placeholder": "Paris", "latitude": 48.8, "longitude": 2.3},
        createTime="2024-01-02T03:04:05Z",
    )
    assert re.fullmatch(r"memos/[2-9A-HJ-NP-Za-km-z]{22}", memo["name"])
    assert memo["state"] == "NORMAL"
    assert memo["creator"] == "users/alice"
    assert memo["createTime"] == "2024-01-02T03:04:05Z"
    assert memo["updateTime"].endswith("Z")
    assert memo["visibility"] == "PUBLIC" and memo["pinned"] is True
    assert memo["tags"] == ["work", "工作"]
    assert memo["property"] == {
        "hasLink": True,
        "hasTaskList": False,
        "hasCode": True,
        "hasIncompleteTasks": False,
        "title": "",
    }
    assert memo["attachments"] == [] and memo["relations"] == [] and memo["reactions"] == []
    assert "parent" not in memo
    assert memo["snippet"] == "See [x](http://a) `c"
    assert memo["location"] == {"placeholder": "Paris", "latitude": 48.8, "longitude": 2.3}
    assert [e.name for e in fake.events] == ["memos.memo.created"]
    assert fake.events[0].resource == memo and fake.events[0].actor.username == "alice"

    r = await memos_client.get(f"/api/v1/{memo['name']}")
    assert r.status == 200
    assert await r.json() == memo

    # payload is stored as protojson with raw unicode (for LIKE-based tag filters)
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        raw = await ctx.store.fetch_val(sa.select(tables.memo.c.payload))
    assert '"工作"' in raw
    assert json.loads(raw)["property"] == {"hasLink": True, "hasCode": True}


async def test_create_defaults_and_ids(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create(memos_client, alice, "x", query="?memoId=my-memo-1")
    assert memo["name"] == "memos/my-memo-1"
    assert memo["visibility"] == "PRIVATE" and memo["pinned"] is False
    assert "location" not in memo
    assert (await create(memos_client, alice, visibility="VISIBILITY_UNSPECIFIED"))["visibility"] == "PRIVATE"
    assert (await create(memos_client, alice, visibility="NONSENSE"))["visibility"] == "PRIVATE"
    assert (await create(memos_client, alice, visibility=2))["visibility"] == "PROTECTED"
    body = await create(memos_client, alice, status=409, query="?memoId=my-memo-1")
    assert body["code"] == 6
    body = await create(memos_client, alice, status=400, query="?memoId=bad_id!")
    assert body["code"] == 3
    assert await count_memos(memos_client) == 4


async def test_content_length_limit_in_bytes(memos_client, memos_users):
    alice = await memos_users("alice")
    await create(memos_client, alice, "a" * 8192)
    body = await create(memos_client, alice, "é" * 4097, status=400)  # 8194 bytes
    assert body == {"code": 3, "message": "content too long", "details": []}
    assert await count_memos(memos_client) == 1


async def test_create_requires_auth(memos_client):
    r = await memos_client.post("/api/v1/memos", json={"content": "x"})
    assert r.status == 401
    assert await count_memos(memos_client) == 0


async def test_list_paging_and_order(memos_client, memos_users):
    alice = await memos_users("alice")
    for i in range(5):
        await create(memos_client, alice, f"m{i}", query=f"?memoId=m{i}", createTime=f"2024-01-0{i + 1}T00:00:00Z")
    await memos_client.patch("/api/v1/memos/m1?updateMask=pinned", json={"pinned": True}, headers=alice.headers)

    async def names(**params):
        r = await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)
        body = await r.json()
        assert r.status == 200, body
        return [m["name"].removeprefix("memos/") for m in body["memos"]], body["nextPageToken"]

    assert await names() == (["m4", "m3", "m2", "m1", "m0"], "")
    assert await names(orderBy="pinned desc, create_time desc") == (["m1", "m4", "m3", "m2", "m0"], "")
    assert (await names(orderBy="create_time asc"))[0] == ["m0", "m1", "m2", "m3", "m4"]
    assert (await names(orderBy="name asc, update_time desc"))[0] == ["m0", "m1", "m2", "m3", "m4"]
    page, token = await names(pageSize=2)
    assert page == ["m4", "m3"] and token == base64.b64encode(b"\x08\x02\x10\x02").decode()
    page, token = await names(pageSize=50, pageToken=token)  # the token's limit wins
    assert page == ["m2", "m1"]
    page, token = await names(pageToken=token)
    assert page == ["m0"] and token == ""
    assert (await names(filter="pinned"))[0] == ["m1"]
    assert (await names(filter="  "))[0] == ["m4", "m3", "m2", "m1", "m0"]


async def test_list_default_page_size(memos_client, memos_users):
    alice = await memos_users("alice")
    for _ in range(11):
        await create(memos_client, alice, visibility="PUBLIC")
    r = await memos_client.get("/api/v1/memos?pageSize=0")
    body = await r.json()
    assert len(body["memos"]) == 10 and body["nextPageToken"] == "CAoQCg=="


@pytest.mark.parametrize(
    "query",
    [
        "orderBy=bogus",
        "orderBy=create_time sideways",
        "orderBy=create_time desc extra",
        "pageToken=%25%25%25",
        "pageToken=GAE=",
        "state=DELETED",
        "filter=nope",
        "pageSize=abc",
    ],
)
async def test_list_bad_input(memos_client, memos_users, query):
    alice = await memos_users("alice")
    r = await memos_client.get(f"/api/v1/memos?{query}", headers=alice.headers)
    assert r.status == 400
    assert (await r.json())["code"] == 3


async def test_filter_without_plugin_is_400(memos_client, memos_users):
    # a server without any filter plugin answers 400 rather than ignoring the filter
    pm = memos_client.app[CONTEXT].plugins.pm
    for impl in pm.hook.memos_compile_filter.get_hookimpls():
        pm.unregister(impl.plugin)
    r = await memos_client.get("/api/v1/memos?filter=pinned")
    assert r.status == 400
    assert await r.json() == {"code": 3, "message": "filter is not supported", "details": []}
    r = await memos_client.get("/api/v1/memos?filter=")
    assert r.status == 200


async def test_update(memos_client, memos_users, fake):
    alice = await memos_users("alice")
    memo = await create(memos_client, alice, "old #a", updateTime="2024-01-01T00:00:00Z")
    url = f"/api/v1/{memo['name']}"
    r = await memos_client.patch(
        url + "?updateMask=content,visibility,unknown_path",
        json={"content": "new #b", "visibility": "PUBLIC", "pinned": True},
        headers=alice.headers,
    )
    updated = await r.json()
    assert r.status == 200, updated
    assert updated["content"] == "new #b" and updated["tags"] == ["b"] and updated["visibility"] == "PUBLIC"
    assert updated["pinned"] is False  # not in the mask
    assert updated["updateTime"] == "2024-01-01T00:00:00Z"  # moves only with update_time in the mask
    assert fake.events[-1].name == "memos.memo.updated" and fake.events[-1].resource == updated

    r = await memos_client.patch(
        url + "?updateMask=update_time,create_time,state,location",
        json={"updateTime": "2025-05-05T05:05:05Z", "state": "ARCHIVED", "location": {"latitude": 1}},
        headers=alice.headers,
    )
    updated = await r.json()
    assert updated["updateTime"] == "2025-05-05T05:05:05Z"
    assert updated["createTime"] == "1970-01-01T00:00:00Z"
    assert updated["state"] == "ARCHIVED"
    assert updated["location"] == {"placeholder": "", "latitude": 1, "longitude": 0}

    r = await memos_client.patch(url + "?updateMask=location,state", json={"state": "NORMAL"}, headers=alice.headers)
    updated = await r.json()
    assert "location" not in updated and updated["state"] == "NORMAL"
    assert updated["tags"] == ["b"]  # location changes keep the derived payload


@pytest.mark.parametrize(
    ("mask", "body", "message"),
    [
        ("", {"content": "x"}, "update mask is required"),
        (None, {}, "update mask is required"),  # no mask and nothing in the body to derive one from
        ("display_time", {"content": "x"}, None),
        ("content", {"content": "é" * 5000}, "content too long"),
        ("state", {"state": "GONE"}, None),
        ("pinned", {"pinned": "yes"}, None),
        ("create_time", {"createTime": "yesterday"}, None),
        ("relations", {"relations": [{"relatedMemo": {"name": "memos/a/b"}}]}, None),
    ],
)
async def test_update_bad_input_changes_nothing(memos_client, memos_users, mask, body, message):
    alice = await memos_users("alice")
    memo = await create(memos_client, alice, "keep")
    url = f"/api/v1/{memo['name']}" + ("" if mask is None else f"?updateMask={mask}")
    r = await memos_client.patch(url, json=body, headers=alice.headers)
    err = await r.json()
    assert r.status == 400 and err["code"] == 3
    if message:
        assert err["message"] == message
    r = await memos_client.get(f"/api/v1/{memo['name']}", headers=alice.headers)
    assert await r.json() == memo


async def test_update_and_delete_permissions(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    memo = await create(memos_client, alice, visibility="PUBLIC")
    url = f"/api/v1/{memo['name']}"
    update = url + "?updateMask=content,pinned,visibility"
    change = {"content": "x", "pinned": True, "visibility": "PRIVATE"}
    for headers, status in (({}, 401), (bob.headers, 403)):
        async with memos_unchanged(alice.headers, url):
            r = await memos_client.patch(update, json=change, headers=headers)
            assert r.status == status
        async with memos_unchanged(alice.headers, url):
            assert (await memos_client.delete(url, headers=headers)).status == status
    r = await memos_client.patch(url + "?updateMask=content", json={"content": "by admin"}, headers=admin.headers)
    assert r.status == 200 and (await r.json())["content"] == "by admin"
    assert (await memos_client.delete(url, headers=admin.headers)).status == 200
    assert (await memos_client.delete(url, headers=admin.headers)).status == 404
    r = await memos_client.patch("/api/v1/memos/missing?updateMask=content", json={}, headers=alice.headers)
    assert r.status == 404


async def test_delete_cascades(memos_client, memos_users, fake):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await create(memos_client, alice, "parent", visibility="PUBLIC", query="?memoId=parent")
    other = await create(memos_client, alice, "other", visibility="PUBLIC", query="?memoId=other")
    r = await memos_client.post(
        "/api/v1/memos/parent/comments?commentId=c1", json={"content": "c", "visibility": "PUBLIC"}, headers=bob.headers
    )
    assert r.status == 200
    r = await memos_client.post(
        "/api/v1/memos/c1/comments?commentId=c2", json={"content": "cc", "visibility": "PUBLIC"}, headers=alice.headers
    )
    assert r.status == 200
    for name in ("parent", "c1", "c2"):
        r = await memos_client.post(
            f"/api/v1/memos/{name}/reactions", json={"reaction": {"reactionType": "👍"}}, headers=bob.headers
        )
        assert r.status == 200
    r = await memos_client.patch(
        "/api/v1/memos/other/relations",
        json={"relations": [{"relatedMemo": {"name": "memos/parent"}, "type": "REFERENCE"}]},
        headers=alice.headers,
    )
    assert r.status == 200
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await ctx.store.execute(
            tables.memo_share.insert().values(uid="tok", memo_id=1, creator_id=alice.id, created_ts=0)
        )
        await ctx.store.execute(
            tables.attachment.insert().values(
                uid="att1", creator_id=bob.id, created_ts=0, updated_ts=0, filename="f", memo_id=3, payload="{}", **ATT
            )
        )
        assert await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(tables.inbox)) == 2

    snapshot = await (await memos_client.get("/api/v1/memos/parent", headers=alice.headers)).json()
    r = await memos_client.delete("/api/v1/memos/parent", headers=alice.headers)
    assert r.status == 200 and await r.json() == {}
    assert fake.events[-1].name == "memos.memo.deleted" and fake.events[-1].resource == snapshot

    async with ctx.store.connection():
        left = {
            t.name: await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(t))
            for t in (
                tables.memo,
                tables.memo_relation,
                tables.reaction,
                tables.memo_share,
                tables.attachment,
                tables.inbox,
            )
        }
    assert left == {"memo": 1, "memo_relation": 0, "reaction": 0, "memo_share": 0, "attachment": 0, "inbox": 0}
    r = await memos_client.get(f"/api/v1/{other['name']}", headers=alice.headers)
    assert (await r.json())["relations"] == []


@pytest.mark.parametrize("path", ["/api/v1/memos/bad_id!", "/api/v1/memos/-x", "/api/v1/memos/" + "a" * 37])
async def test_malformed_names(memos_client, memos_users, path):
    alice = await memos_users("alice")
    for method in ("get", "delete"):
        r = await getattr(memos_client, method)(path, headers=alice.headers)
        assert r.status == 400 and (await r.json())["code"] == 3
    r = await memos_client.patch(path + "?updateMask=content", json={"content": "x"}, headers=alice.headers)
    assert r.status == 400


async def test_unknown_paths_and_bad_json(memos_client, memos_users):
    alice = await memos_users("alice")
    assert (await memos_client.get("/api/v1/memos/a/b", headers=alice.headers)).status == 404
    assert (await memos_client.get("/api/v1/memos/", headers=alice.headers)).status == 404
    for body in ("{not json", "[1, 2]"):
        r = await memos_client.post("/api/v1/memos", data=body, headers=alice.headers)
        assert r.status == 400 and (await r.json())["code"] == 3
    r = await memos_client.post("/api/v1/memos", json={"content": 5}, headers=alice.headers)
    assert r.status == 400
    r = await memos_client.post("/api/v1/memos", json={"content": "x", "location": "here"}, headers=alice.headers)
    assert r.status == 400
    assert await count_memos(memos_client) == 0


async def test_list_statement_count_is_constant(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    ctx = memos_client.app[CONTEXT]
    for i in range(60):
        await create(memos_client, alice, f"memo {i}", query=f"?memoId=n{i}", visibility="PUBLIC")
    async with ctx.store.connection():
        for i in range(60):
            await ctx.store.execute(
                tables.reaction.insert().values(
                    creator_id=bob.id, content_id=f"memos/n{i}", reaction_type="👍", created_ts=0
                )
            )
            await ctx.store.execute(
                tables.memo_relation.insert().values(memo_id=i + 1, related_memo_id=(i + 1) % 60 + 1, type="REFERENCE")
            )
            await ctx.store.execute(
                tables.attachment.insert().values(
                    uid=f"a{i}",
                    creator_id=alice.id,
                    created_ts=0,
                    updated_ts=0,
                    filename="f",
                    memo_id=i + 1,
                    payload="{}",
                    **ATT,
                )
            )

    async def statements(size):
        before = ctx.store.statements
        r = await memos_client.get(f"/api/v1/memos?pageSize={size}", headers=bob.headers)
        body = await r.json()
        assert len(body["memos"]) == size
        assert all(m["reactions"] and m["relations"] and m["attachments"] for m in body["memos"])
        return ctx.store.statements - before

    assert await statements(5) == await statements(50) <= 4  # principal, page, embeds (one UNION ALL)
    first = (await (await memos_client.get("/api/v1/memos?pageSize=1", headers=bob.headers)).json())["memos"][0]
    assert first["attachments"][0]["name"] == "attachments/a59"
    assert first["attachments"][0]["memo"] == "memos/n59"
    assert first["attachments"][0]["size"] == "0"
    assert first["reactions"][0]["creator"] == "users/bob"
    assert {r["type"] for r in first["relations"]} == {"REFERENCE"}
    assert all(r["memo"]["snippet"] == "" for r in first["relations"])  # list responses skip relation snippets
