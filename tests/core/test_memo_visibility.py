"""The visibility matrix: every memo route x anonymous / other user / owner / admin
x PUBLIC / PROTECTED / PRIVATE x NORMAL / ARCHIVED."""

from __future__ import annotations

import contextlib

import pytest

from memos_core.context import CONTEXT
from memos_core.store import tables

VIEWERS = ("anon", "other", "owner", "admin")
CELLS = [(v, s) for s in ("NORMAL", "ARCHIVED") for v in ("PUBLIC", "PROTECTED", "PRIVATE")]

# Expected HTTP status per (visibility, state), in the order of VIEWERS.
READ = {  # GetMemo
    ("PUBLIC", "NORMAL"): (200, 200, 200, 200),
    ("PROTECTED", "NORMAL"): (401, 200, 200, 200),
    ("PRIVATE", "NORMAL"): (401, 403, 200, 403),
    ("PUBLIC", "ARCHIVED"): (404, 404, 200, 404),
    ("PROTECTED", "ARCHIVED"): (404, 404, 200, 404),
    ("PRIVATE", "ARCHIVED"): (404, 404, 200, 404),
}
READ_ATTACHED = {  # ListMemoReactions: like GetMemo, admins bypass
    ("PUBLIC", "NORMAL"): (200, 200, 200, 200),
    ("PROTECTED", "NORMAL"): (401, 200, 200, 200),
    ("PRIVATE", "NORMAL"): (401, 403, 200, 200),
    ("PUBLIC", "ARCHIVED"): (404, 404, 200, 200),
    ("PROTECTED", "ARCHIVED"): (404, 404, 200, 200),
    ("PRIVATE", "ARCHIVED"): (404, 404, 200, 200),
}
INTERACT = {  # UpsertMemoReaction, CreateMemoComment
    ("PUBLIC", "NORMAL"): (401, 200, 200, 200),
    ("PROTECTED", "NORMAL"): (401, 200, 200, 200),
    ("PRIVATE", "NORMAL"): (401, 403, 200, 200),
    ("PUBLIC", "ARCHIVED"): (401, 404, 200, 200),
    ("PROTECTED", "ARCHIVED"): (401, 404, 200, 200),
    ("PRIVATE", "ARCHIVED"): (401, 404, 200, 200),
}
WRITE = dict.fromkeys(READ, (401, 403, 200, 200))  # UpdateMemo, DeleteMemo, SetMemoRelations
OPEN = dict.fromkeys(READ, (200, 200, 200, 200))  # ListMemoComments, ListMemoRelations (rows filtered)


async def _get(client, headers, uid):
    return await client.get(f"/api/v1/memos/{uid}", headers=headers)


async def _update(client, headers, uid):
    return await client.patch(f"/api/v1/memos/{uid}?updateMask=pinned", json={"pinned": True}, headers=headers)


async def _delete(client, headers, uid):
    return await client.delete(f"/api/v1/memos/{uid}", headers=headers)


async def _list_reactions(client, headers, uid):
    return await client.get(f"/api/v1/memos/{uid}/reactions", headers=headers)


async def _upsert_reaction(client, headers, uid):
    body = {"reaction": {"contentId": f"memos/{uid}", "reactionType": "👍"}}
    return await client.post(f"/api/v1/memos/{uid}/reactions", json=body, headers=headers)


async def _comment(client, headers, uid):
    return await client.post(f"/api/v1/memos/{uid}/comments", json={"content": "c"}, headers=headers)


async def _list_comments(client, headers, uid):
    return await client.get(f"/api/v1/memos/{uid}/comments", headers=headers)


async def _list_relations(client, headers, uid):
    return await client.get(f"/api/v1/memos/{uid}/relations", headers=headers)


async def _set_relations(client, headers, uid):
    body = {"relations": [{"relatedMemo": {"name": f"memos/{TARGET}"}}]}
    return await client.patch(f"/api/v1/memos/{uid}/relations", json=body, headers=headers)


#: The PUBLIC memo of alice's that SetMemoRelations points at (created by test_matrix).
TARGET = "relation-target"
WRITES = {"UpdateMemo", "DeleteMemo", "UpsertMemoReaction", "CreateMemoComment", "SetMemoRelations"}


def read_back(uid: str) -> tuple[str, ...]:
    """What a write on memo ``uid`` could change, as its owner reads it."""
    return tuple(f"/api/v1/memos/{uid}{tail}" for tail in ("", "/reactions", "/comments", "/relations"))


ROUTES = {
    "GetMemo": (_get, READ),
    "UpdateMemo": (_update, WRITE),
    "DeleteMemo": (_delete, WRITE),
    "ListMemoReactions": (_list_reactions, READ_ATTACHED),
    "UpsertMemoReaction": (_upsert_reaction, INTERACT),
    "CreateMemoComment": (_comment, INTERACT),
    "ListMemoComments": (_list_comments, OPEN),
    "ListMemoRelations": (_list_relations, OPEN),
    "SetMemoRelations": (_set_relations, WRITE),
}


@pytest.fixture
async def world(memos_client, memos_users):
    owner = await memos_users("alice")
    other = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    headers = {"anon": {}, "other": other.headers, "owner": owner.headers, "admin": admin.headers}

    ctx = memos_client.app[CONTEXT]

    async def make(prefix: str) -> dict[tuple[str, str], str]:
        """One memo per (visibility, state), owned by alice, written straight to the store (fast)."""
        uids = {cell: f"{prefix}-{cell[0].lower()}-{cell[1].lower()}" for cell in CELLS}
        values = [
            {
                "uid": uid,
                "creator_id": owner.id,
                "created_ts": 1700000000,
                "updated_ts": 1700000000,
                "row_status": state,
                "content": uid,
                "visibility": vis,
                "pinned": False,
                "payload": "{}",
            }
            for (vis, state), uid in uids.items()
        ]
        async with ctx.store.connection(), ctx.store.transaction():
            await ctx.store.execute(tables.memo.insert().values(values))
        return uids

    return headers, make


@pytest.mark.parametrize("route", list(ROUTES))
async def test_matrix(memos_client, world, route, memos_unchanged):
    headers, make = world
    call, expected = ROUTES[route]
    r = await memos_client.post(
        f"/api/v1/memos?memoId={TARGET}", json={"content": "target", "visibility": "PUBLIC"}, headers=headers["owner"]
    )
    assert r.status == 200
    got, want = {}, {}
    for i, viewer in enumerate(VIEWERS):
        uids = await make(viewer)  # fresh memos per viewer: some routes delete or change them
        for cell, uid in uids.items():
            refused = route in WRITES and expected[cell][i] >= 400
            # A refused write leaves the memo, its reactions, comments and relations as they were.
            guard = memos_unchanged(headers["owner"], *read_back(uid)) if refused else contextlib.nullcontext()
            async with guard:
                r = await call(memos_client, headers[viewer], uid)
            got[(viewer, *cell)] = r.status
            want[(viewer, *cell)] = expected[cell][i]
            if r.status >= 400:
                assert (await r.json())["code"] in (5, 7, 16)
    assert got == want


@pytest.mark.parametrize(
    ("viewer", "state", "visible"),
    [
        ("anon", "NORMAL", {"PUBLIC"}),
        ("other", "NORMAL", {"PUBLIC", "PROTECTED"}),
        ("owner", "NORMAL", {"PUBLIC", "PROTECTED", "PRIVATE"}),
        ("admin", "NORMAL", {"PUBLIC", "PROTECTED"}),
        ("anon", "ARCHIVED", set()),
        ("other", "ARCHIVED", set()),
        ("owner", "ARCHIVED", {"PUBLIC", "PROTECTED", "PRIVATE"}),
        ("admin", "ARCHIVED", set()),
    ],
)
async def test_list_matrix(memos_client, world, viewer, state, visible):
    headers, make = world
    uids = await make("m")
    r = await memos_client.get(f"/api/v1/memos?state={state}", headers=headers[viewer])
    assert r.status == 200
    names = {m["name"] for m in (await r.json())["memos"]}
    assert names == {f"memos/{uids[(vis, state)]}" for vis in visible}


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        ("anon", {"alice-PUBLIC"}),
        ("other", {"alice-PUBLIC", "alice-PROTECTED", "bob-PRIVATE"}),
        ("owner", {"alice-PUBLIC", "alice-PROTECTED", "alice-PRIVATE"}),
        ("admin", {"alice-PUBLIC", "alice-PROTECTED"}),
    ],
)
async def test_comment_list_filters_each_comment(memos_client, world, viewer, visible):
    headers, make = world
    uids = await make("p")
    parent = uids[("PUBLIC", "NORMAL")]
    for who, vis in [("owner", "PUBLIC"), ("owner", "PROTECTED"), ("owner", "PRIVATE"), ("other", "PRIVATE")]:
        author = "alice" if who == "owner" else "bob"
        r = await memos_client.post(
            f"/api/v1/memos/{parent}/comments",
            json={"content": f"{author}-{vis}", "visibility": vis},
            headers=headers[who],
        )
        assert r.status == 200
    r = await memos_client.get(f"/api/v1/memos/{parent}/comments", headers=headers[viewer])
    assert {m["content"] for m in (await r.json())["memos"]} == visible


@pytest.mark.parametrize(
    ("viewer", "visible"),
    [
        ("anon", {"p-public-normal"}),
        ("other", {"p-public-normal", "p-protected-normal"}),
        ("owner", {"p-public-normal", "p-protected-normal", "p-private-normal"}),
        ("admin", {"p-public-normal", "p-protected-normal"}),
    ],
)
async def test_relations_need_both_ends_visible(memos_client, world, viewer, visible):
    headers, make = world
    uids = await make("p")
    source = uids[("PUBLIC", "NORMAL")]
    targets = [uids[(vis, "NORMAL")] for vis in ("PROTECTED", "PRIVATE")]
    body = {"relations": [{"relatedMemo": {"name": f"memos/{t}"}} for t in targets]}
    r = await memos_client.patch(f"/api/v1/memos/{source}/relations", json=body, headers=headers["owner"])
    assert r.status == 200
    # A relation from the PRIVATE memo back to the PUBLIC one (incoming for the source).
    r = await memos_client.patch(
        f"/api/v1/memos/{targets[1]}/relations",
        json={"relations": [{"relatedMemo": {"name": f"memos/{source}"}}]},
        headers=headers["owner"],
    )
    assert r.status == 200
    r = await memos_client.get(f"/api/v1/memos/{source}/relations", headers=headers[viewer])
    rels = (await r.json())["relations"]
    seen = {x["memo"]["name"].removeprefix("memos/") for x in rels} | {
        x["relatedMemo"]["name"].removeprefix("memos/") for x in rels
    }
    assert seen == (visible if len(visible) > 1 else set())
    r = await memos_client.get(f"/api/v1/memos/{source}", headers=headers[viewer])
    assert len((await r.json())["relations"]) == len(rels)
