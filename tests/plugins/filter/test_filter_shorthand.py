"""The ``tag:NAME`` / ``content:WORD`` shorthands (a memos-py extension) over ``GET /api/v1/memos``:
the calls an assistant that keeps its memory in Memos makes, with the answers CEL gives for the same
question; quoted values, several terms (AND), visibility kept, and a clear 400 for a malformed one."""

from __future__ import annotations

import pytest


async def create(client, user, content, **fields) -> str:
    r = await client.post("/api/v1/memos", json={"content": content, **fields}, headers=user.headers)
    body = await r.json()
    assert r.status == 200, body
    return body["name"]


@pytest.fixture
async def memory(memos_client, memos_users):
    """An assistant's memories (alice) beside someone else's private ones (bob)."""
    alice, bob = await memos_users("alice"), await memos_users("bob")
    names = {
        "chat1": await create(memos_client, alice, "#conversation the user asked about the weather"),
        "chat2": await create(memos_client, alice, "#conversation they like sunny day walks"),
        "pref": await create(memos_client, alice, "#preference prefers tea over coffee", visibility="PUBLIC"),
        "fact": await create(memos_client, alice, "#fact/home the garden has tomatoes"),
        "quote": await create(memos_client, alice, 'she said "hi" \\ bye #conversation'),
        "bob": await create(memos_client, bob, "#conversation weather talk, private", visibility="PRIVATE"),
    }
    return alice, bob, {name: key for key, name in names.items()}


async def listed(client, user, filter_: str, **params) -> list[str]:
    r = await client.get("/api/v1/memos", params={"filter": filter_, **params}, headers=user.headers)
    body = await r.json()
    assert r.status == 200, body
    return [m["name"] for m in body["memos"]]


@pytest.mark.parametrize(
    ("shorthand", "cel", "expected"),
    [
        ("tag:conversation", 'tag in ["conversation"]', {"chat1", "chat2", "quote"}),
        ("content:weather", 'content.contains("weather")', {"chat1"}),
        ("tag:#preference", 'tag in ["preference"]', {"pref"}),
        ("tag:fact", 'tag in ["fact"]', {"fact"}),
        ('content:"sunny day"', 'content.contains("sunny day")', {"chat2"}),
        ("content:'sunny day' tag:conversation", 'content.contains("sunny day") && tag in ["conversation"]', {"chat2"}),
        (
            "  tag:conversation   content:the  ",
            'tag in ["conversation"] && content.contains("the")',
            {"chat1", "chat2"},
        ),
        ('content:"\\"hi\\" \\\\"', 'content.contains("\\"hi\\" \\\\")', {"quote"}),
        ("content:garden tag:conversation", 'content.contains("garden") && tag in ["conversation"]', set()),
        ('content:"\\") || true || (\\""', 'content.contains("\\") || true || (\\"")', set()),  # a value, never CEL
    ],
)
async def test_shorthand_answers_as_cel_does(memos_client, memory, shorthand, cel, expected):
    alice, bob, names = memory
    got = await listed(memos_client, alice, shorthand, pageSize=10)
    assert {names[n] for n in got} == expected
    assert got == await listed(memos_client, alice, cel, pageSize=10)
    # another viewer gets CEL's answer too: their own memos and what alice made visible, no more
    assert await listed(memos_client, bob, shorthand, pageSize=10) == await listed(memos_client, bob, cel, pageSize=10)


async def test_the_assistants_calls(memos_client, memory):
    alice, bob, names = memory
    assert [names[n] for n in await listed(memos_client, alice, "tag:conversation", pageSize=10)] == [
        "quote",
        "chat2",
        "chat1",
    ]
    assert [names[n] for n in await listed(memos_client, alice, "content:weather")] == ["chat1"]
    # another user's private memory never answers, nor does anonymous access see private ones
    assert [names[n] for n in await listed(memos_client, bob, "content:weather")] == ["bob"]
    r = await memos_client.get("/api/v1/memos", params={"filter": "tag:preference"})
    assert [m["content"] for m in (await r.json())["memos"]] == ["#preference prefers tea over coffee"]
    # The third call: everything the assistant stored, in one export (alice's own only).
    r = await memos_client.get("/api/v1/export", headers=alice.headers)
    assert r.status == 200 and r.content_type == "application/json"
    exported = {m["content"] for m in (await r.json())["memos"]}
    assert len(exported) == 5 and "#conversation weather talk, private" not in exported
    assert "#conversation the user asked about the weather" in exported


@pytest.mark.parametrize(
    ("filter_", "words"),
    [
        ("tag:", "tag: needs a value"),
        ("tag:#", "tag: needs a value"),
        ("foo:bar", "unknown shorthand 'foo:'"),
        ("tag:work && pinned", "expected another term"),
        ('content:"open', "is never closed"),
        ('content:"a"b', "expected a space after the content: term"),
    ],
)
async def test_a_malformed_shorthand_is_a_400_saying_how_to_write_it(memos_client, memos_users, filter_, words):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/memos", params={"filter": filter_}, headers=alice.headers)
    body = await r.json()
    assert r.status == 400 and body["code"] == 3, body
    assert words in body["message"] and "tag:NAME or content:WORD" in body["message"]


async def test_what_is_neither_shorthand_nor_cel_is_still_a_cel_400(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/memos", params={"filter": "weather"}, headers=alice.headers)
    body = await r.json()
    assert r.status == 400 and "unknown identifier 'weather'" in body["message"]
