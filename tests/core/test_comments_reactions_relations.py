"""Comments, reactions and relations."""

from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from memos_core import hookimpl
from memos_core.context import CONTEXT, Event
from memos_core.store import tables


class Recorder:
    def __init__(self) -> None:
        self.events: list[Event] = []

    @hookimpl
    def memos_on_event(self, app, event):
        self.events.append(event)


@pytest.fixture
def recorder():
    return Recorder()


@pytest.fixture
def memos_extra_plugins(recorder):
    return [recorder]


async def memo(client, user, uid, visibility="PUBLIC", content=None):
    r = await client.post(
        f"/api/v1/memos?memoId={uid}", json={"content": content or uid, "visibility": visibility}, headers=user.headers
    )
    assert r.status == 200, await r.json()
    return await r.json()


async def rows(client, table, *where):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return list(await ctx.store.fetch_all(sa.select(table).where(*where)))


# -- comments --------------------------------------------------------------------------------------
async def test_comment_create_and_list(memos_client, memos_users, recorder):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    parent = await memo(memos_client, alice, "parent")
    r = await memos_client.post(
        "/api/v1/memos/parent/comments?commentId=c1", json={"content": "first"}, headers=bob.headers
    )
    c1 = await r.json()
    assert r.status == 200, c1
    assert c1["name"] == "memos/c1" and c1["parent"] == "memos/parent" and c1["visibility"] == "PRIVATE"
    assert c1["creator"] == "users/bob"
    assert [(x["memo"]["name"], x["relatedMemo"]["name"], x["type"]) for x in c1["relations"]] == [
        ("memos/c1", "memos/parent", "COMMENT")
    ]
    r = await memos_client.get("/api/v1/memos/c1", headers=bob.headers)
    assert await r.json() == c1  # the answer to the create is the comment as it is read back
    assert [e.name for e in recorder.events[-2:]] == ["memos.memo.created", "memos.memo.comment.created"]
    assert recorder.events[-1].resource == c1
    assert recorder.events[-1].extra["parent"]["name"] == parent["name"]
    # a PRIVATE comment sends no inbox notice; a visible one does
    assert await rows(memos_client, tables.inbox) == []
    r = await memos_client.post(
        "/api/v1/memos/parent/comments?commentId=c2",
        json={"content": "second", "visibility": "PUBLIC"},
        headers=bob.headers,
    )
    assert r.status == 200
    inbox = await rows(memos_client, tables.inbox)
    assert len(inbox) == 1 and inbox[0]["receiver_id"] == alice.id and inbox[0]["sender_id"] == bob.id
    assert json.loads(inbox[0]["message"])["type"] == "MEMO_COMMENT"

    # the parent shows its comments as COMMENT relations; ListMemos never lists comments
    r = await memos_client.get("/api/v1/memos/parent", headers=bob.headers)
    assert {(x["memo"]["name"], x["type"]) for x in (await r.json())["relations"]} == {
        ("memos/c1", "COMMENT"),
        ("memos/c2", "COMMENT"),
    }
    r = await memos_client.get("/api/v1/memos", headers=bob.headers)
    assert [m["name"] for m in (await r.json())["memos"]] == ["memos/parent"]

    r = await memos_client.get("/api/v1/memos/parent/comments", headers=bob.headers)
    body = await r.json()
    assert [m["name"] for m in body["memos"]] == ["memos/c2", "memos/c1"]  # newest first (id tiebreak)
    assert body["nextPageToken"] == "" and body["totalSize"] == 0
    r = await memos_client.get("/api/v1/memos/parent/comments?pageSize=1", headers=bob.headers)
    body = await r.json()
    assert [m["name"] for m in body["memos"]] == ["memos/c2"] and body["nextPageToken"]
    r = await memos_client.get(f"/api/v1/memos/parent/comments?pageToken={body['nextPageToken']}", headers=bob.headers)
    assert [m["name"] for m in (await r.json())["memos"]] == ["memos/c1"]


async def test_comment_errors(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos/missing/comments", json={"content": "x"}, headers=alice.headers)
    assert r.status == 404
    r = await memos_client.get("/api/v1/memos/missing/comments")
    assert r.status == 404
    r = await memos_client.get("/api/v1/memos/bad_id!/comments")
    assert r.status == 400
    await memo(memos_client, alice, "p")
    r = await memos_client.post("/api/v1/memos/p/comments?commentId=p", json={"content": "dup"}, headers=alice.headers)
    assert r.status == 409
    r = await memos_client.post("/api/v1/memos/p/comments", json={"content": "é" * 5000}, headers=alice.headers)
    assert r.status == 400
    assert len(await rows(memos_client, tables.memo)) == 1
    assert await rows(memos_client, tables.memo_relation) == []


# -- reactions -------------------------------------------------------------------------------------
async def test_reactions(memos_client, memos_users, recorder, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    await memo(memos_client, alice, "m1")
    body = {"reaction": {"contentId": "memos/m1", "reactionType": "🎉"}}
    r = await memos_client.post("/api/v1/memos/m1/reactions", json=body, headers=bob.headers)
    first = await r.json()
    assert r.status == 200, first
    assert first["name"].startswith("memos/m1/reactions/")
    assert first["creator"] == "users/bob" and first["contentId"] == "memos/m1" and first["reactionType"] == "🎉"
    assert first["createTime"].endswith("Z")
    # idempotent: the same creator, memo and type give back the same reaction
    r = await memos_client.post("/api/v1/memos/m1/reactions", json=body, headers=bob.headers)
    assert r.status == 200 and await r.json() == first
    assert len(await rows(memos_client, tables.reaction)) == 1
    # contentId may be left out: the path names the memo
    r = await memos_client.post(
        "/api/v1/memos/m1/reactions", json={"reaction": {"reactionType": "👍"}}, headers=alice.headers
    )
    second = await r.json()
    assert r.status == 200 and second["contentId"] == "memos/m1"

    r = await memos_client.get("/api/v1/memos/m1/reactions")
    listed = await r.json()
    assert listed == {"reactions": [first, second], "nextPageToken": "", "totalSize": 2}
    r = await memos_client.get("/api/v1/memos/m1")
    assert (await r.json())["reactions"] == [first, second]

    rid = first["name"].rsplit("/", 1)[1]
    async with memos_unchanged(bob.headers, "/api/v1/memos/m1/reactions", "/api/v1/memos/m1"):
        assert (await memos_client.delete(f"/api/v1/memos/m1/reactions/{rid}")).status == 401
        assert (await memos_client.delete(f"/api/v1/memos/m1/reactions/{rid}", headers=alice.headers)).status == 403
        assert (await memos_client.delete(f"/api/v1/memos/other/reactions/{rid}", headers=bob.headers)).status == 404
        assert (await memos_client.delete("/api/v1/memos/m1/reactions/999", headers=bob.headers)).status == 404
        assert (await memos_client.delete("/api/v1/memos/m1/reactions/abc", headers=bob.headers)).status == 400
    r = await memos_client.delete(f"/api/v1/memos/m1/reactions/{rid}", headers=bob.headers)
    assert r.status == 200 and await r.json() == {}
    sid = second["name"].rsplit("/", 1)[1]
    assert (await memos_client.delete(f"/api/v1/memos/m1/reactions/{sid}", headers=admin.headers)).status == 200
    assert await rows(memos_client, tables.reaction) == []
    assert "memos.reaction.deleted" in [e.name for e in recorder.events]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"reaction": "👍"},
        {"reaction": {"contentId": "memos/m1"}},
        {"reaction": {"contentId": "memos/m1", "reactionType": "  "}},
        {"reaction": {"contentId": "memos/", "reactionType": "👍"}},
        {"reaction": {"contentId": "memos/a/b", "reactionType": "👍"}},
        {"reaction": {"contentId": "users/x", "reactionType": "👍"}},
    ],
)
async def test_reaction_bad_input(memos_client, memos_users, body):
    alice = await memos_users("alice")
    await memo(memos_client, alice, "m1")
    r = await memos_client.post("/api/v1/memos/m1/reactions", json=body, headers=alice.headers)
    assert r.status == 400 and (await r.json())["code"] == 3
    assert await rows(memos_client, tables.reaction) == []


async def test_reaction_on_missing_memo(memos_client, memos_users):
    alice = await memos_users("alice")
    body = {"reaction": {"contentId": "memos/nope", "reactionType": "👍"}}
    r = await memos_client.post("/api/v1/memos/nope/reactions", json=body, headers=alice.headers)
    assert r.status == 404
    assert (await memos_client.get("/api/v1/memos/nope/reactions")).status == 404


# -- relations -------------------------------------------------------------------------------------
async def test_set_and_list_relations(memos_client, memos_users, recorder):
    alice = await memos_users("alice")
    for uid in ("a", "b", "c"):
        await memo(memos_client, alice, uid, content=f"content of {uid}")
    before = (await (await memos_client.get("/api/v1/memos/a")).json())["updateTime"]
    body = {
        "name": "memos/a",
        "relations": [
            {"memo": {"name": "memos/a"}, "relatedMemo": {"name": "memos/b"}, "type": "REFERENCE"},
            {"relatedMemo": {"name": "memos/c"}},  # unspecified type means REFERENCE
            {"relatedMemo": {"name": "memos/a"}, "type": "REFERENCE"},  # self-reference: skipped
            {"relatedMemo": {"name": "memos/b"}, "type": "COMMENT"},  # COMMENT entries: skipped
        ],
    }
    r = await memos_client.patch("/api/v1/memos/a/relations", json=body, headers=alice.headers)
    assert r.status == 200 and await r.json() == {}
    assert recorder.events[-1].name == "memos.memo.updated"
    stored = await rows(memos_client, tables.memo_relation)
    assert sorted((x["memo_id"], x["related_memo_id"], x["type"]) for x in stored) == [
        (1, 2, "REFERENCE"),
        (1, 3, "REFERENCE"),
    ]
    r = await memos_client.get("/api/v1/memos/a/relations")
    listed = await r.json()
    assert listed["nextPageToken"] == ""
    assert {
        (x["memo"]["name"], x["memo"]["snippet"], x["relatedMemo"]["name"], x["relatedMemo"]["snippet"], x["type"])
        for x in listed["relations"]
    } == {
        ("memos/a", "content of a", "memos/b", "content of b", "REFERENCE"),
        ("memos/a", "content of a", "memos/c", "content of c", "REFERENCE"),
    }
    # incoming relations show on the target too
    r = await memos_client.get("/api/v1/memos/b/relations")
    assert [x["memo"]["name"] for x in (await r.json())["relations"]] == ["memos/a"]
    r = await memos_client.get("/api/v1/memos/a")
    got = await r.json()
    assert len(got["relations"]) == 2 and got["relations"][0]["relatedMemo"]["snippet"]
    assert got["updateTime"] >= before

    # replacing keeps only the new set
    body = {"relations": [{"relatedMemo": {"name": "memos/c"}}]}
    r = await memos_client.patch("/api/v1/memos/a/relations", json=body, headers=alice.headers)
    assert r.status == 200
    stored = await rows(memos_client, tables.memo_relation)
    assert [(x["memo_id"], x["related_memo_id"]) for x in stored] == [(1, 3)]

    # UpdateMemo with the relations path has the same semantics
    r = await memos_client.patch(
        "/api/v1/memos/a?updateMask=relations",
        json={"relations": [{"relatedMemo": {"name": "memos/b"}}]},
        headers=alice.headers,
    )
    assert r.status == 200
    assert [x["relatedMemo"]["name"] for x in (await r.json())["relations"]] == ["memos/b"]


@pytest.mark.parametrize(
    ("relations", "status"),
    [
        ([{"relatedMemo": {"name": "memos/missing"}}], 404),
        ([{"relatedMemo": {"name": "memos/"}}], 400),
        ([{"relatedMemo": {"name": "memos/a/b"}}], 400),
        ([{"relatedMemo": {"name": "memos/bad_id!"}}], 400),
        ([{"relatedMemo": {}}], 400),
        ("memos/b", 400),
    ],
)
async def test_set_relations_bad_input_writes_nothing(memos_client, memos_users, relations, status):
    alice = await memos_users("alice")
    await memo(memos_client, alice, "a")
    await memo(memos_client, alice, "b")
    r = await memos_client.patch(
        "/api/v1/memos/a/relations", json={"relations": [{"relatedMemo": {"name": "memos/b"}}]}, headers=alice.headers
    )
    assert r.status == 200
    r = await memos_client.patch("/api/v1/memos/a/relations", json={"relations": relations}, headers=alice.headers)
    assert r.status == status
    stored = await rows(memos_client, tables.memo_relation)
    assert [(x["memo_id"], x["related_memo_id"]) for x in stored] == [(1, 2)]
    # CreateMemo with a bad relation creates nothing either
    r = await memos_client.post(
        "/api/v1/memos?memoId=new", json={"content": "x", "relations": relations}, headers=alice.headers
    )
    assert r.status == status
    assert len(await rows(memos_client, tables.memo)) == 2


async def test_create_with_relations(memos_client, memos_users):
    alice = await memos_users("alice")
    await memo(memos_client, alice, "target", content="the target")
    r = await memos_client.post(
        "/api/v1/memos?memoId=src",
        json={"content": "src", "relations": [{"relatedMemo": {"name": "memos/target"}, "type": "REFERENCE"}]},
        headers=alice.headers,
    )
    created = await r.json()
    assert r.status == 200, created
    assert created["relations"] == [
        {
            "memo": {"name": "memos/src", "snippet": "src"},
            "relatedMemo": {"name": "memos/target", "snippet": "the target"},
            "type": "REFERENCE",
        }
    ]


async def test_refused_comment_and_relation_writes_change_nothing(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    for uid in ("a", "b", "c"):
        await memo(memos_client, alice, uid)
    await memo(memos_client, alice, "secret", visibility="PRIVATE")
    r = await memos_client.patch(
        "/api/v1/memos/a/relations", json={"relations": [{"relatedMemo": {"name": "memos/b"}}]}, headers=alice.headers
    )
    assert r.status == 200
    r = await memos_client.post("/api/v1/memos/a/comments", json={"content": "mine"}, headers=alice.headers)
    assert r.status == 200
    owner_view = ("/api/v1/memos/a", "/api/v1/memos/a/relations", "/api/v1/memos/a/comments", "/api/v1/memos/b")
    replace = {"relations": [{"relatedMemo": {"name": "memos/c"}}]}
    for headers, status in (({}, 401), (bob.headers, 403)):
        async with memos_unchanged(alice.headers, *owner_view, "/api/v1/memos/c/relations"):
            r = await memos_client.patch("/api/v1/memos/a/relations", json=replace, headers=headers)
            assert r.status == status
            r = await memos_client.patch("/api/v1/memos/a/relations", json={"relations": []}, headers=headers)
            assert r.status == status
            r = await memos_client.patch("/api/v1/memos/a?updateMask=relations", json=replace, headers=headers)
            assert r.status == status
    # Comments: anonymous callers may not comment at all, others not under a memo they cannot see.
    async with memos_unchanged(alice.headers, *owner_view):
        r = await memos_client.post("/api/v1/memos/a/comments", json={"content": "anon"})
        assert r.status == 401
    async with memos_unchanged(alice.headers, "/api/v1/memos/secret", "/api/v1/memos/secret/comments"):
        r = await memos_client.post("/api/v1/memos/secret/comments", json={"content": "peek"}, headers=bob.headers)
        assert r.status == 403
    # Nothing was created on the side either: alice's memos are the four she wrote plus her comment.
    assert len(await rows(memos_client, tables.memo)) == 5


async def test_relations_missing_memo(memos_client, memos_users):
    alice = await memos_users("alice")
    assert (await memos_client.get("/api/v1/memos/nope/relations")).status == 404
    r = await memos_client.patch("/api/v1/memos/nope/relations", json={"relations": []}, headers=alice.headers)
    assert r.status == 404


# -- mentions --------------------------------------------------------------------------------------
async def test_mention_notices(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    carol = await memos_users("carol", row_status="ARCHIVED")
    dave = await memos_users("dave")

    async def notices():
        return sorted(
            (r["receiver_id"], json.loads(r["message"])["type"]) for r in await rows(memos_client, tables.inbox)
        )

    await memo(memos_client, alice, "m", content="hi @bob @carol @alice @ghost")
    assert await notices() == [(bob.id, "MEMO_MENTION")]
    r = await memos_client.patch(
        "/api/v1/memos/m?updateMask=content", json={"content": "hi @bob and @dave"}, headers=alice.headers
    )
    assert r.status == 200
    assert await notices() == [(bob.id, "MEMO_MENTION"), (dave.id, "MEMO_MENTION")]
    await memo(memos_client, alice, "p", visibility="PRIVATE", content="secret @dave")
    assert len(await notices()) == 2
    # a comment mentioning the parent's owner notifies them once (the comment notice)
    r = await memos_client.post(
        "/api/v1/memos/m/comments", json={"content": "@alice look", "visibility": "PUBLIC"}, headers=bob.headers
    )
    assert r.status == 200
    assert await notices() == [(alice.id, "MEMO_COMMENT"), (bob.id, "MEMO_MENTION"), (dave.id, "MEMO_MENTION")]
    assert carol.id not in {n[0] for n in await notices()}
