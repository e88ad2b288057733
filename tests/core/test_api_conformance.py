"""Wire conformance found by fuzzing the REST API against the v0.28 OpenAPI contract.

Bad input answers a 4xx in the Memos error shape and changes nothing; good input answers
protojson as upstream's gateway emits it.
"""

from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables

RFC3339 = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")


async def count_rows(client, table) -> int:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(table))


async def assert_error(resp, status: int, code: int) -> dict:
    body = await resp.json()
    assert resp.status == status, body
    assert body["code"] == code and isinstance(body["message"], str) and body["details"] == []
    return body


# -- timestamps ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "value",
    [
        99999999999999,  # year 3170843
        -99999999999,  # before year 1
        1e300,
        {"seconds": 10**30},
        {"seconds": [1]},
        "10000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00",  # 0000-12-31T23:00:00Z
    ],
)
async def test_create_memo_rejects_timestamps_outside_the_protobuf_range(memos_client, memos_users, value):
    alice = await memos_users("alice")
    for field in ("createTime", "updateTime"):
        r = await memos_client.post("/api/v1/memos", json={"content": "x", field: value}, headers=alice.headers)
        await assert_error(r, 400, 3)
    assert await count_rows(memos_client, tables.memo) == 0
    # The listing still works (nothing unrenderable was stored).
    r = await memos_client.get("/api/v1/memos", headers=alice.headers)
    assert r.status == 200 and (await r.json())["memos"] == []


async def test_update_memo_rejects_out_of_range_time_and_keeps_the_memo(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "x"}, headers=alice.headers)
    memo = await r.json()
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}?updateMask=create_time",
        json={"createTime": 10**15},
        headers=alice.headers,
    )
    await assert_error(r, 400, 3)
    r = await memos_client.get(f"/api/v1/{memo['name']}", headers=alice.headers)
    assert (await r.json())["createTime"] == memo["createTime"]


async def test_share_rejects_out_of_range_expire_time(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "x"}, headers=alice.headers)
    memo = await r.json()
    r = await memos_client.post(f"/api/v1/{memo['name']}/shares", json={"expireTime": 10**16}, headers=alice.headers)
    await assert_error(r, 400, 3)
    assert await count_rows(memos_client, tables.memo_share) == 0


@pytest.mark.parametrize(
    "sent, shown",
    [
        ("0001-01-01T00:00:00Z", "0001-01-01T00:00:00Z"),
        ("0811-09-21T08:32:58Z", "0811-09-21T08:32:58Z"),
        ("0005-01-05T00:33:01+00:00", "0005-01-05T00:33:01Z"),
        ("9999-12-31T23:59:59.999999999Z", "9999-12-31T23:59:59Z"),
    ],
)
async def test_early_and_late_years_render_as_four_digit_rfc3339(memos_client, memos_users, memos_driver, sent, shown):
    alice = await memos_users("alice")
    r = await memos_client.post(
        "/api/v1/memos", json={"content": "x", "createTime": sent, "updateTime": sent}, headers=alice.headers
    )
    if memos_driver == "mysql":
        # Memo times are TIMESTAMP columns there (1970..2038): a clear 400, nothing stored.
        await assert_error(r, 400, 3)
        assert await count_rows(memos_client, tables.memo) == 0
        return
    memo = await r.json()
    assert r.status == 200, memo
    assert memo["createTime"] == shown and memo["updateTime"] == shown
    r = await memos_client.get("/api/v1/memos", headers=alice.headers)
    (listed,) = (await r.json())["memos"]
    assert listed["createTime"] == shown and RFC3339.match(listed["updateTime"])
    r = await memos_client.get(f"/api/v1/users/{alice.username}:getStats", headers=alice.headers)
    assert (await r.json())["memoCreatedTimestamps"] == [shown]


# -- JSON bodies ---------------------------------------------------------------------------------
@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity"])
async def test_non_json_number_literals_are_rejected(memos_client, memos_users, literal):
    alice = await memos_users("alice")
    body = '{"content":"x","location":{"placeholder":"p","latitude":' + literal + ',"longitude":1}}'
    r = await memos_client.post(
        "/api/v1/memos", data=body, headers={**alice.headers, "Content-Type": "application/json"}
    )
    await assert_error(r, 400, 3)
    assert await count_rows(memos_client, tables.memo) == 0


async def test_mysql_timestamp_bounds_are_accepted(memos_client, memos_users):
    """The edges every database can store (MySQL's TIMESTAMP range) round-trip unchanged."""
    alice = await memos_users("alice")
    for sent in ("1970-01-01T00:00:01Z", "2038-01-19T03:14:07Z"):
        r = await memos_client.post("/api/v1/memos", json={"content": "x", "createTime": sent}, headers=alice.headers)
        memo = await r.json()
        assert r.status == 200 and memo["createTime"] == sent, memo


# -- paging --------------------------------------------------------------------------------------
async def test_attachment_page_token_beyond_int64_is_400(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/attachments?pageToken=99999999999999999999", headers=alice.headers)
    await assert_error(r, 400, 3)
    r = await memos_client.get(f"/api/v1/attachments?pageToken={2**63 - 1}", headers=alice.headers)
    assert r.status == 200 and (await r.json())["attachments"] == []


@pytest.mark.parametrize("path", ["/api/v1/memos", "/api/v1/attachments", "/api/v1/memos/{uid}/comments"])
async def test_page_size_outside_int32_is_400(memos_client, memos_users, path):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "x"}, headers=alice.headers)
    path = path.format(uid=(await r.json())["name"].split("/")[1])
    for bad in (2**31, -(2**31) - 1, 99999999999999999999):
        r = await memos_client.get(f"{path}?pageSize={bad}", headers=alice.headers)
        await assert_error(r, 400, 3)
    r = await memos_client.get(f"{path}?pageSize={2**31 - 1}", headers=alice.headers)
    assert r.status == 200, await r.text()


# -- NUL characters (PostgreSQL cannot store U+0000: refused on every driver) -------------------
@pytest.mark.parametrize(
    "path, body",
    [
        ("/api/v1/memos", {"content": "a\u0000b"}),
        ("/api/v1/memos", {"content": "ok", "location": {"placeholder": "p\u0000", "latitude": 1, "longitude": 2}}),
        ("/api/v1/memos", {"content": "ok", "\u0000": 1}),
        ("/api/v1/users:batchGet", {"usernames": ["a\u0000"]}),
        ("/api/v1/auth/signin", {"passwordCredentials": {"username": "a\u0000", "password": "x"}}),
    ],
)
async def test_nul_in_a_json_string_is_400(memos_client, memos_users, path, body):
    alice = await memos_users("alice")
    r = await memos_client.post(path, json=body, headers=alice.headers)
    body = await assert_error(r, 400, 3)
    assert "NUL" in body["message"]
    assert await count_rows(memos_client, tables.memo) == 0


async def test_nul_in_a_user_update_is_400_and_changes_nothing(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.patch(
        "/api/v1/users/alice?updateMask=display_name", json={"displayName": "x\u0000"}, headers=alice.headers
    )
    await assert_error(r, 400, 3)
    r = await memos_client.get("/api/v1/users/alice", headers=alice.headers)
    assert (await r.json())["displayName"] == "Alice"


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/users/a%00b",
        "/api/v1/users/a%00b:getStats",
        "/api/v1/users/a%00b/settings/GENERAL",
        "/api/v1/shares/a%00b",
        "/api/v1/memos?filter=content.contains(%22a%00%22)",
        "/api/v1/attachments?filter=filename.contains(%22a%00%22)",
        "/u/a%00b/rss.xml",
        "/file/attachments/a%00b/x.png",
        "/file/attachments/abc/x.png?share_token=a%00b",
        "/file/users/a%00b/avatar",
        "/mcp?x=%00",
    ],
)
async def test_nul_in_the_path_or_query_is_400(memos_client, memos_users, path):
    alice = await memos_users("alice")
    r = await memos_client.get(path, headers=alice.headers)
    await assert_error(r, 400, 3)


# -- unhashable values where an enum is expected -------------------------------------------------
@pytest.mark.parametrize("bad", [[], ["OPENAI"], {}, {"a": 1}, True])
async def test_ai_provider_type_of_the_wrong_json_type_is_400(memos_client, memos_users, bad):
    admin = await memos_users("root", role="ADMIN")
    before = await (await memos_client.get("/api/v1/instance/settings/AI", headers=admin.headers)).json()
    provider = {"id": "p1", "title": "t", "type": bad, "endpoint": "", "apiKey": "secret-key"}
    r = await memos_client.patch(
        "/api/v1/instance/settings/AI", json={"aiSetting": {"providers": [provider]}}, headers=admin.headers
    )
    await assert_error(r, 400, 3)
    after = await (await memos_client.get("/api/v1/instance/settings/AI", headers=admin.headers)).json()
    assert after == before


@pytest.mark.parametrize("bad", [[], ["STILL"], {}, True])
async def test_motion_media_role_of_the_wrong_json_type_is_400(memos_client, memos_users, bad):
    alice = await memos_users("alice")
    body = {
        "filename": "a.jpg",
        "content": "aGk=",
        "motionMedia": {"family": "APPLE_LIVE_PHOTO", "role": bad, "groupId": "g"},
    }
    r = await memos_client.post("/api/v1/attachments", json=body, headers=alice.headers)
    await assert_error(r, 400, 3)
    assert await count_rows(memos_client, tables.attachment) == 0
