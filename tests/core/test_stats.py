"""User stats, checked against a brute-force count over the API's own ListMemos output."""

from __future__ import annotations

import collections
import datetime as dt
import json

import pytest
import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables
from memos_core.store.stats import tag_elements

# (author, uid, content, visibility, pinned, createTime)
MEMOS = [
    ("alice", "a1", "#work [site](https://example.com) plan", "PUBLIC", True, "2024-01-01T00:00:00Z"),
    ("alice", "a2", "#work/sub #home\n\n```\ncode\n```", "PROTECTED", False, "2024-01-02T00:00:00Z"),
    ("alice", "a3", "#home secret\n\n- [ ] todo\n- [x] done", "PRIVATE", True, "2024-01-03T00:00:00Z"),
    ("alice", "a4", "- [x] all done #work", "PUBLIC", False, "2024-01-04T00:00:00Z"),
    ("alice", "a5", "plain, no tags", "PROTECTED", True, "2024-01-05T00:00:00Z"),
    ("bob", "b1", "#bob #work\n\n`inline` and ```\nblock\n```", "PUBLIC", True, "2024-02-01T00:00:00Z"),
    ("bob", "b2", "#bob private - [ ] x\n\n- [ ] open", "PRIVATE", False, "2024-02-02T00:00:00Z"),
    ("root", "r1", "#admin [l](https://a.b)", "PROTECTED", False, "2024-03-01T00:00:00Z"),
    ("carol", "c1", "#carol only private", "PRIVATE", False, "2024-04-01T00:00:00Z"),
]


@pytest.fixture
async def world(memos_client, memos_users):
    users = {
        "alice": await memos_users("alice"),
        "bob": await memos_users("bob"),
        "root": await memos_users("root", role="ADMIN"),
        "carol": await memos_users("carol"),
    }
    for author, uid, content, visibility, pinned, created in MEMOS:
        body = {"content": content, "visibility": visibility, "pinned": pinned, "createTime": created}
        r = await memos_client.post(f"/api/v1/memos?memoId={uid}", json=body, headers=users[author].headers)
        assert r.status == 200, await r.json()
    # Excluded from stats: an archived memo and comments (even PUBLIC ones).
    r = await memos_client.post(
        "/api/v1/memos?memoId=a6",
        json={"content": "#work archived", "visibility": "PUBLIC"},
        headers=users["alice"].headers,
    )
    assert r.status == 200
    r = await memos_client.patch(
        "/api/v1/memos/a6?updateMask=state", json={"state": "ARCHIVED"}, headers=users["alice"].headers
    )
    assert r.status == 200
    for who in ("alice", "bob"):
        r = await memos_client.post(
            "/api/v1/memos/a1/comments",
            json={"content": "#work comment", "visibility": "PUBLIC"},
            headers=users[who].headers,
        )
        assert r.status == 200
    return users


async def memo_ids(client) -> dict[str, int]:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        rows = await ctx.store.fetch_all(sa.select(tables.memo.c.uid, tables.memo.c.id))
    return {r["uid"]: r["id"] for r in rows}


async def brute_force(client, headers) -> dict[str, dict]:
    """Stats per username computed from what ListMemos shows this caller."""
    r = await client.get("/api/v1/memos", params={"pageSize": "1000"}, headers=headers)
    assert r.status == 200
    ids = await memo_ids(client)
    out: dict[str, dict] = {}
    for memo in (await r.json())["memos"]:
        username = memo["creator"].removeprefix("users/")
        s = out.setdefault(
            username,
            {
                "name": f"users/{username}/stats",
                "memoTypeStats": dict.fromkeys(("linkCount", "codeCount", "todoCount", "undoCount"), 0),
                "tagCount": collections.Counter(),
                "memoCreatedTimestamps": [],
                "pinnedMemos": [],
                "totalMemoCount": 0,
            },
        )
        s["totalMemoCount"] += 1
        s["memoCreatedTimestamps"].append(memo["createTime"])
        s["tagCount"].update(memo["tags"])
        prop = memo["property"]
        for field, flag in [
            ("linkCount", "hasLink"),
            ("codeCount", "hasCode"),
            ("todoCount", "hasTaskList"),
            ("undoCount", "hasIncompleteTasks"),
        ]:
            s["memoTypeStats"][field] += int(prop[flag])
        if memo["pinned"]:
            s["pinnedMemos"].append(f"users/{username}/memos/{ids[memo['name'].removeprefix('memos/')]}")
    for s in out.values():
        s["tagCount"] = dict(s["tagCount"])
    return out


def normalise(stats: dict) -> dict:
    """Order-insensitive view of a UserStats (list order is checked separately)."""
    return {
        **stats,
        "memoCreatedTimestamps": sorted(stats["memoCreatedTimestamps"]),
        "pinnedMemos": sorted(stats["pinnedMemos"]),
    }


def empty(username: str) -> dict:
    return {
        "name": f"users/{username}/stats",
        "memoTypeStats": {"linkCount": 0, "codeCount": 0, "todoCount": 0, "undoCount": 0},
        "tagCount": {},
        "memoCreatedTimestamps": [],
        "pinnedMemos": [],
        "totalMemoCount": 0,
    }


@pytest.mark.parametrize("caller", [None, "alice", "bob", "root", "carol"])
async def test_get_user_stats_matches_brute_force(memos_client, world, caller):
    headers = world[caller].headers if caller else {}
    expected = await brute_force(memos_client, headers)
    for username in world:
        r = await memos_client.get(f"/api/v1/users/{username}:getStats", headers=headers)
        assert r.status == 200, await r.json()
        got = await r.json()
        assert normalise(got) == normalise(expected.get(username, empty(username))), (caller, username)
        assert got["memoCreatedTimestamps"] == sorted(got["memoCreatedTimestamps"], reverse=True)


@pytest.mark.parametrize("caller", [None, "alice", "bob", "root", "carol"])
async def test_list_all_user_stats_matches_brute_force(memos_client, world, caller):
    headers = world[caller].headers if caller else {}
    expected = await brute_force(memos_client, headers)
    r = await memos_client.get("/api/v1/users:stats", headers=headers)
    assert r.status == 200
    got = {s["name"]: normalise(s) for s in (await r.json())["stats"]}
    assert got == {s["name"]: normalise(s) for s in expected.values()}


async def test_visibility_rules_explicitly(memos_client, world):
    """As upstream: anonymous PUBLIC; others (admin included) PUBLIC + PROTECTED; self everything."""

    async def total(headers, username="alice"):
        r = await memos_client.get(f"/api/v1/users/{username}:getStats", headers=headers)
        return (await r.json())["totalMemoCount"]

    assert await total({}) == 2
    assert await total(world["bob"].headers) == 4
    assert await total(world["root"].headers) == 4
    assert await total(world["alice"].headers) == 5
    r = await memos_client.get("/api/v1/users/alice:getStats", headers=world["alice"].headers)
    got = await r.json()
    assert got["tagCount"] == {"work": 2, "work/sub": 1, "home": 2}
    assert got["memoTypeStats"] == {"linkCount": 1, "codeCount": 1, "todoCount": 2, "undoCount": 1}
    assert got["memoCreatedTimestamps"][0] == "2024-01-05T00:00:00Z"
    ids = await memo_ids(memos_client)
    assert got["pinnedMemos"] == [f"users/alice/memos/{ids[uid]}" for uid in ("a5", "a3", "a1")]
    # carol's only memo is PRIVATE: she is missing from everyone's list but her own.
    r = await memos_client.get("/api/v1/users:stats")
    assert "users/carol/stats" not in {s["name"] for s in (await r.json())["stats"]}
    r = await memos_client.get("/api/v1/users:stats", headers=world["carol"].headers)
    assert "users/carol/stats" in {s["name"] for s in (await r.json())["stats"]}


async def test_unknown_user_is_404_and_empty_user_has_zeroes(memos_client, memos_users):
    await memos_users("dave")
    r = await memos_client.get("/api/v1/users/ghost:getStats")
    assert r.status == 404
    assert (await r.json())["code"] == 5
    r = await memos_client.get("/api/v1/users/dave:getStats")
    assert r.status == 200
    assert await r.json() == empty("dave")
    r = await memos_client.get("/api/v1/users:stats")
    assert await r.json() == {"stats": []}


async def test_statement_count_does_not_grow_with_memos(memos_client, memos_users):
    alice = await memos_users("alice")
    ctx = memos_client.app[CONTEXT]

    async def cost(url):
        before = ctx.store.statements
        r = await memos_client.get(url, headers=alice.headers)
        assert r.status == 200
        return ctx.store.statements - before

    async def add(n, start):
        for i in range(start, start + n):
            body = {"content": f"#t{i % 3} [x](https://e.com) memo {i}", "visibility": "PUBLIC", "pinned": i % 2 == 0}
            assert (await memos_client.post("/api/v1/memos", json=body, headers=alice.headers)).status == 200

    await add(2, 0)
    small = (await cost("/api/v1/users/alice:getStats"), await cost("/api/v1/users:stats"))
    await add(20, 2)
    large = (await cost("/api/v1/users/alice:getStats"), await cost("/api/v1/users:stats"))
    assert small == large
    r = await memos_client.get("/api/v1/users/alice:getStats", headers=alice.headers)
    got = await r.json()
    assert got["totalMemoCount"] == 22 and got["memoTypeStats"]["linkCount"] == 22
    assert got["tagCount"] == {"t0": 8, "t1": 7, "t2": 7}
    assert len(got["pinnedMemos"]) == 11


def test_tag_expansion_compiles_for_each_dialect():
    """The one per-dialect piece; SQLite runs in the tests above, the others must at least compile."""
    from sqlalchemy.dialects import mysql, postgresql, sqlite

    m = tables.memo
    for name, dialect, needle in [
        ("sqlite", sqlite.dialect(), "json_each(memo.payload"),
        ("postgresql", postgresql.dialect(), "jsonb_array_elements_text("),
        ("mysql", mysql.dialect(), "JSON_TABLE(memo.payload, '$.tags[*]'"),
    ]:
        tag = tag_elements(name, m.c.payload)
        q = sa.select(m.c.creator_id, tag.c.value, sa.func.count()).select_from(m.join(tag, sa.true()))
        assert needle in str(q.group_by(m.c.creator_id, tag.c.value).compile(dialect=dialect))
    with pytest.raises(NotImplementedError):
        tag_elements("oracle", m.c.payload)


# -- instance stats (memos-py extension, admin only) ------------------------------------------------
async def test_instance_stats_admin_only(memos_client, world):
    r = await memos_client.get("/api/v1/instance/stats")
    assert r.status == 401 and (await r.json())["code"] == 16
    r = await memos_client.get("/api/v1/instance/stats", headers=world["alice"].headers)
    assert r.status == 403 and (await r.json())["code"] == 7


async def test_instance_stats_match_a_brute_force_count(memos_client, world):
    admin = world["root"]
    # Another user, then archived; two attachments of known sizes, one linked to a memo.
    r = await memos_client.post(
        "/api/v1/users", json={"username": "dave", "password": "dave-password-1"}, headers=admin.headers
    )
    assert r.status == 200, await r.text()
    r = await memos_client.patch(
        "/api/v1/users/dave?updateMask=state", json={"state": "ARCHIVED"}, headers=admin.headers
    )
    assert r.status == 200, await r.text()
    for body in ({"filename": "a.txt", "content": "aGVsbG8="}, {"filename": "b.txt", "content": "d29ybGQhIQ=="}):
        r = await memos_client.post("/api/v1/attachments", json=body, headers=world["bob"].headers)
        assert r.status == 200, await r.text()

    r = await memos_client.get("/api/v1/instance/stats", headers=admin.headers)
    assert r.status == 200, await r.text()
    stats = await r.json()

    # Brute force: every memo row read back, one by one, and classified here.
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        memos = await ctx.store.fetch_all(
            sa.select(tables.memo.c.id, tables.memo.c.row_status, tables.memo.c.visibility)
        )
        comment_ids = {
            row["memo_id"]
            for row in await ctx.store.fetch_all(
                sa.select(tables.memo_relation.c.memo_id).where(tables.memo_relation.c.type == "COMMENT")
            )
        }
    expected: dict[str, dict[str, int]] = collections.defaultdict(lambda: collections.defaultdict(int))
    for row in memos:
        if row["id"] not in comment_ids:
            expected[row["row_status"]][row["visibility"]] += 1
    assert stats == {
        "name": "instance/stats",
        "userCount": 4,
        "userRoleCounts": {"ADMIN": 1, "USER": 3},
        "archivedUserCount": 1,
        "memoCount": len(MEMOS),
        "archivedMemoCount": 1,
        "memoVisibilityCounts": {status: dict(counts) for status, counts in expected.items()},
        "commentCount": 2,
        "attachmentCount": 2,
        "attachmentSizeBytes": str(len(b"hello") + len(b"world!!")),
    }
    assert stats["memoVisibilityCounts"]["NORMAL"] == {"PUBLIC": 3, "PROTECTED": 3, "PRIVATE": 3}


# -- exact answers: list order, ties, extreme times, tags as stored ----------------------------------
#: The earliest, an early and the latest time each driver stores: the Timestamp range, or MySQL's
#: TIMESTAMP range (1970 to 2038) there.
EXTREMES = {
    "mysql": ("1970-01-01T00:00:01Z", "1970-01-02T03:04:05Z", "2038-01-19T03:14:07Z"),
    None: ("0001-01-01T00:00:00Z", "1969-07-20T20:17:40Z", "9999-12-31T23:59:59Z"),
}


def exact_memos(driver: str) -> list[tuple[str, str, str, bool, str]]:
    """(uid, content, visibility, pinned, createTime): three memos share a createTime (ties go by
    id, newest id first), the others sit at the ends of the range the driver stores."""
    first, early, last = EXTREMES.get(driver, EXTREMES[None])
    return [
        ("t1", "#日本語 #a/b first of the tie", "PUBLIC", True, "2024-05-01T00:00:00Z"),
        ("t2", "#日本語 second of the tie [l](https://x.y)", "PROTECTED", True, "2024-05-01T00:00:00Z"),
        ("t3", "ancient #old", "PRIVATE", True, first),
        ("t4", "early\n\n- [ ] todo", "PUBLIC", False, early),
        ("t5", "far future #future", "PROTECTED", False, last),
        ("t6", "third of the tie, no tags", "PRIVATE", True, "2024-05-01T00:00:00Z"),
        ("t7", "#stored tags replaced below", "PUBLIC", False, "2024-06-01T12:34:56Z"),
    ]


#: Tags as a database written by another Memos server may hold them: characters that the markdown
#: parser never yields but that the JSON of the payload must carry through intact.
STORED_TAGS = ['say "hi"', "a,b", "x],[y", "back\\slash", "日本語", "{}"]


async def expected_stats(client, headers, username: str) -> dict:
    """``username``'s UserStats as this caller should see it, from ListMemos, ordered here."""
    r = await client.get("/api/v1/memos", params={"pageSize": "1000"}, headers=headers)
    assert r.status == 200
    ids = await memo_ids(client)
    mine = [m for m in (await r.json())["memos"] if m["creator"] == f"users/{username}"]
    for m in mine:
        m["id"] = ids[m["name"].removeprefix("memos/")]
    mine.sort(key=lambda m: (dt.datetime.fromisoformat(m["createTime"].replace("Z", "+00:00")), m["id"]), reverse=True)
    flags = [("linkCount", "hasLink"), ("codeCount", "hasCode"), ("todoCount", "hasTaskList")]
    flags.append(("undoCount", "hasIncompleteTasks"))
    return {
        "name": f"users/{username}/stats",
        "memoTypeStats": {field: sum(int(m["property"][flag]) for m in mine) for field, flag in flags},
        "tagCount": dict(collections.Counter(t for m in mine for t in m["tags"])),
        "memoCreatedTimestamps": [m["createTime"] for m in mine],
        "pinnedMemos": [f"users/{username}/memos/{m['id']}" for m in mine if m["pinned"]],
        "totalMemoCount": len(mine),
    }


async def test_user_stats_exact_order_extreme_times_and_stored_tags(memos_client, memos_users, memos_config):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    first, early, last = EXTREMES.get(memos_config.driver, EXTREMES[None])
    for uid, content, visibility, pinned, created in exact_memos(memos_config.driver):
        body = {"content": content, "visibility": visibility, "pinned": pinned, "createTime": created}
        r = await memos_client.post(f"/api/v1/memos?memoId={uid}", json=body, headers=alice.headers)
        assert r.status == 200, await r.json()
    # Left out: an archived (pinned, tagged) memo and a comment.
    r = await memos_client.post(
        "/api/v1/memos?memoId=t8", json={"content": "#old archived", "pinned": True}, headers=alice.headers
    )
    assert r.status == 200
    r = await memos_client.patch("/api/v1/memos/t8?updateMask=state", json={"state": "ARCHIVED"}, headers=alice.headers)
    assert r.status == 200
    r = await memos_client.post("/api/v1/memos/t1/comments", json={"content": "#old comment"}, headers=bob.headers)
    assert r.status == 200
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await ctx.store.execute(
            tables.memo.update()
            .where(tables.memo.c.uid == "t7")
            .values(payload=json.dumps({"tags": STORED_TAGS}, ensure_ascii=False))
        )
        if memos_config.driver != "mysql":  # times past either end, clamped as protojson would
            for uid, beyond in (("t3", -62135596800 - 1000), ("t5", 253402300799 + 1000)):
                await ctx.store.execute(tables.memo.update().where(tables.memo.c.uid == uid).values(created_ts=beyond))

    for headers in (alice.headers, bob.headers, {}):
        expected = await expected_stats(memos_client, headers, "alice")
        r = await memos_client.get("/api/v1/users/alice:getStats", headers=headers)
        assert r.status == 200
        assert await r.json() == expected
        r = await memos_client.get("/api/v1/users:stats", headers=headers)
        assert r.status == 200
        assert [s for s in (await r.json())["stats"] if s["name"] == "users/alice/stats"] == [expected]

    # The expectation is not vacuous: what the owner sees, spelled out.
    r = await memos_client.get("/api/v1/users/alice:getStats", headers=alice.headers)
    got = await r.json()
    ids = await memo_ids(memos_client)
    ties = ["2024-05-01T00:00:00Z"] * 3
    assert got["memoCreatedTimestamps"] == [last, "2024-06-01T12:34:56Z", *ties, early, first]
    assert got["pinnedMemos"] == [f"users/alice/memos/{ids[uid]}" for uid in ("t6", "t2", "t1", "t3")]
    assert got["tagCount"] == {**dict.fromkeys(STORED_TAGS, 1), "日本語": 3, "a/b": 1, "old": 1, "future": 1}
    assert got["memoTypeStats"] == {"linkCount": 1, "codeCount": 0, "todoCount": 1, "undoCount": 1}
    r = await memos_client.get("/api/v1/users/alice:getStats")
    assert (await r.json())["memoCreatedTimestamps"] == ["2024-06-01T12:34:56Z", "2024-05-01T00:00:00Z", early]
