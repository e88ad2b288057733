"""``GET /api/v1/memos?filter=`` end to end: real plugins (markdown extracts the payload, filter compiles)."""

from __future__ import annotations

import pytest


async def create(client, user, content, **fields):
    r = await client.post("/api/v1/memos", json={"content": content, **fields}, headers=user.headers)
    body = await r.json()
    assert r.status == 200, body
    return body["name"]


@pytest.fixture
async def seeded(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    names = {
        "meeting": await create(memos_client, alice, "#work Meeting notes", visibility="PUBLIC"),
        "project": await create(memos_client, alice, "#work/project see [docs](https://example.com)"),
        "todo": await create(memos_client, alice, "- [ ] buy milk #todo", visibility="PUBLIC"),
        "old": await create(
            memos_client, alice, "an old memo `code`", visibility="PROTECTED", createTime="2024-01-02T00:00:00Z"
        ),
        "bob": await create(memos_client, bob, "#日本語 #🍎 hello", visibility="PUBLIC"),
        "bob_private": await create(memos_client, bob, "#work secret", visibility="PRIVATE"),
    }
    return alice, {name: key for key, name in names.items()}


async def listed(client, user, filter_: str) -> set[str]:
    r = await client.get("/api/v1/memos", params={"filter": filter_, "pageSize": 100}, headers=user.headers)
    body = await r.json()
    assert r.status == 200, body
    return {m["name"] for m in body["memos"]}


@pytest.mark.parametrize(
    ("filter_", "expected"),
    [
        ('tag in ["work"]', {"meeting", "project"}),
        ('"work" in tags', {"meeting"}),
        ('creator == "users/bob"', {"bob"}),
        ('creator == "users/alice" && visibility == "PUBLIC"', {"meeting", "todo"}),
        ("has_task_list && has_incomplete_tasks", {"todo"}),
        ("has_link", {"project"}),
        ("has_code", {"old"}),
        ('"日本語" in tags && tags.exists(t, t.startsWith("🍎"))', {"bob"}),
        ('content.contains("MEETING")', {"meeting"}),
        ("created_ts < now() - 86400", {"old"}),
        ('created_ts > now() - 3600 && !(tag in ["work"])', {"todo", "bob"}),
        ("size(tags) == 0", {"old"}),
        ("false", set()),
    ],
)
async def test_list_memos_filter(memos_client, seeded, filter_, expected):
    alice, key_of = seeded
    assert {key_of[name] for name in await listed(memos_client, alice, filter_)} == expected


@pytest.mark.parametrize(
    ("filter_", "words"),
    [
        ('tag == "work"', "invalid filter: tag supports only"),
        ('creator_id == "1"', "invalid filter: creator_id is an integer, not a string at position 15"),
        ('visibility in ["PUBLIC"', "invalid filter: unexpected end of input"),
    ],
)
async def test_bad_filter_is_400(memos_client, seeded, filter_, words):
    alice, _ = seeded
    r = await memos_client.get("/api/v1/memos", params={"filter": filter_}, headers=alice.headers)
    body = await r.json()
    assert r.status == 400, body
    assert body["code"] == 3
    assert words in body["message"]
