"""Memo shares over HTTP: permissions, expiry, archived memos, token resolution."""

from __future__ import annotations

import datetime as dt
import re
import time

import pytest
import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.services import shares as shares_service
from memos_core.store import tables

SHARE_NAME = re.compile(r"^memos/([A-Za-z0-9-]+)/shares/([23456789A-HJ-NP-Za-km-z]{22})$")


def rfc3339(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture
async def people(memos_users):
    return {
        "owner": await memos_users("alice"),
        "other": await memos_users("bob"),
        "admin": await memos_users("root", role="ADMIN"),
    }


async def new_memo(client, user, content="secret note", visibility="PRIVATE", **fields) -> str:
    r = await client.post(
        "/api/v1/memos", json={"content": content, "visibility": visibility, **fields}, headers=user.headers
    )
    assert r.status == 200, await r.text()
    return (await r.json())["name"].removeprefix("memos/")


async def new_share(client, user, uid, body=None) -> dict:
    r = await client.post(f"/api/v1/memos/{uid}/shares", json=body or {}, headers=user.headers)
    assert r.status == 200, await r.text()
    return await r.json()


def token_of(share: dict) -> str:
    return share["name"].rsplit("/", 1)[1]


async def run(client, stmt):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await ctx.store.execute(stmt)


async def share_rows(client) -> list:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await ctx.store.fetch_all(sa.select(tables.memo_share).order_by(tables.memo_share.c.id))


# -- create ----------------------------------------------------------------------------------------
async def test_create_share_shape(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    before = int(time.time())
    share = await new_share(memos_client, people["owner"], uid)
    m = SHARE_NAME.match(share["name"])
    assert m and m.group(1) == uid
    assert set(share) == {"name", "createTime"}  # a share without expiry omits expireTime
    created = int(dt.datetime.fromisoformat(share["createTime"].replace("Z", "+00:00")).timestamp())
    assert before <= created <= int(time.time())
    rows = await share_rows(memos_client)
    assert [(r.uid, r.creator_id, r.expires_ts) for r in rows] == [(m.group(2), people["owner"].id, None)]


async def test_create_share_with_expiry(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    expires = int(time.time()) + 3600
    share = await new_share(memos_client, people["owner"], uid, {"expireTime": rfc3339(expires)})
    assert share["expireTime"] == rfc3339(expires)
    assert (await share_rows(memos_client))[0].expires_ts == expires
    # snake_case is accepted too, as the gateway does
    share = await new_share(memos_client, people["owner"], uid, {"expire_time": rfc3339(expires + 60)})
    assert share["expireTime"] == rfc3339(expires + 60)


@pytest.mark.parametrize(
    "expire",
    [rfc3339(int(time.time()) - 60), "1970-01-01T00:00:01Z", "tomorrow", "2030-13-40T00:00:00Z"],
    # fixed ids: the first value changes with the clock, and parallel workers must collect the same tests
    ids=["a-minute-ago", "1970", "not-a-time", "month-13"],
)
async def test_create_share_bad_expiry_writes_nothing(memos_client, people, expire):
    uid = await new_memo(memos_client, people["owner"])
    r = await memos_client.post(
        f"/api/v1/memos/{uid}/shares", json={"expireTime": expire}, headers=people["owner"].headers
    )
    assert r.status == 400
    body = await r.json()
    assert body["code"] == 3 and body["details"] == []
    assert await share_rows(memos_client) == []


async def test_create_share_bad_body_and_names(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    headers = people["owner"].headers
    r = await memos_client.post(f"/api/v1/memos/{uid}/shares", data="[1]", headers=headers)
    assert r.status == 400
    r = await memos_client.post("/api/v1/memos/bad!uid/shares", json={}, headers=headers)
    assert r.status == 400
    r = await memos_client.post("/api/v1/memos/nosuchmemo/shares", json={}, headers=headers)
    assert r.status == 404 and (await r.json())["code"] == 5
    assert await share_rows(memos_client) == []


# -- permissions -----------------------------------------------------------------------------------
@pytest.mark.parametrize(("who", "status"), [("anon", 401), ("other", 403), ("owner", 200), ("admin", 200)])
@pytest.mark.parametrize("visibility", ["PUBLIC", "PRIVATE"])
async def test_permission_table(memos_client, people, who, status, visibility):
    uid = await new_memo(memos_client, people["owner"], visibility=visibility)
    existing = token_of(await new_share(memos_client, people["owner"], uid))
    headers = {} if who == "anon" else people[who].headers

    r = await memos_client.post(f"/api/v1/memos/{uid}/shares", json={}, headers=headers)
    assert r.status == status, await r.text()
    r = await memos_client.get(f"/api/v1/memos/{uid}/shares", headers=headers)
    assert r.status == status, await r.text()
    if status == 200:
        assert len((await r.json())["memoShares"]) == 2
    r = await memos_client.delete(f"/api/v1/memos/{uid}/shares/{existing}", headers=headers)
    assert r.status == status, await r.text()
    remaining = {row.uid for row in await share_rows(memos_client)}
    assert (existing in remaining) == (status != 200)


async def test_admin_created_share_records_admin(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    await new_share(memos_client, people["admin"], uid)
    assert [r.creator_id for r in await share_rows(memos_client)] == [people["admin"].id]


# -- list and delete -------------------------------------------------------------------------------
async def test_list_in_creation_order(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    other_uid = await new_memo(memos_client, people["owner"])
    await new_share(memos_client, people["owner"], other_uid)
    made = [await new_share(memos_client, people["owner"], uid) for _ in range(3)]
    r = await memos_client.get(f"/api/v1/memos/{uid}/shares", headers=people["owner"].headers)
    assert r.status == 200
    assert (await r.json())["memoShares"] == made


async def test_list_empty(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    r = await memos_client.get(f"/api/v1/memos/{uid}/shares", headers=people["owner"].headers)
    assert r.status == 200 and await r.json() == {"memoShares": []}


async def test_delete_share(memos_client, people):
    owner = people["owner"]
    uid = await new_memo(memos_client, owner)
    other_uid = await new_memo(memos_client, owner)
    keep, gone = (
        token_of(await new_share(memos_client, owner, uid)),
        token_of(await new_share(memos_client, owner, uid)),
    )
    foreign = token_of(await new_share(memos_client, owner, other_uid))

    # a token of another memo, an unknown token and an absurd one are all 404
    for token in (foreign, "NoSuchToken22CharsLong", "x" * 300):
        r = await memos_client.delete(f"/api/v1/memos/{uid}/shares/{token}", headers=owner.headers)
        assert r.status == 404, token
        assert (await r.json())["code"] == 5

    r = await memos_client.delete(f"/api/v1/memos/{uid}/shares/{gone}", headers=owner.headers)
    assert r.status == 200 and await r.json() == {}
    assert {r.uid for r in await share_rows(memos_client)} == {keep, foreign}
    r = await memos_client.get(f"/api/v1/shares/{gone}")
    assert r.status == 404
    r = await memos_client.delete(f"/api/v1/memos/{uid}/shares/{gone}", headers=owner.headers)
    assert r.status == 404


# -- GetMemoByShare --------------------------------------------------------------------------------
async def test_private_memo_readable_anonymously_through_share(memos_client, people):
    owner = people["owner"]
    uid = await new_memo(memos_client, owner, content="top secret #plans")
    assert (await memos_client.get(f"/api/v1/memos/{uid}")).status == 401
    assert (await memos_client.get(f"/api/v1/memos/{uid}", headers=people["other"].headers)).status == 403
    token = token_of(await new_share(memos_client, owner, uid))

    for headers in ({}, people["other"].headers, {"Authorization": "Bearer not-a-token"}):
        r = await memos_client.get(f"/api/v1/shares/{token}", headers=headers)
        assert r.status == 200, await r.text()
        memo = await r.json()
        assert memo["name"] == f"memos/{uid}"
        assert memo["content"] == "top secret #plans"
        assert memo["visibility"] == "PRIVATE"
        assert memo["creator"] == "users/alice"
        assert memo["tags"] == ["plans"]
    owner_view = await (await memos_client.get(f"/api/v1/memos/{uid}", headers=owner.headers)).json()
    assert memo == owner_view


async def test_unknown_token_404(memos_client, people):
    for token in ("NoSuchToken22CharsLong", "x" * 300, "%20"):
        r = await memos_client.get(f"/api/v1/shares/{token}")
        assert r.status == 404, token
        body = await r.json()
        assert body["code"] == 5 and body["details"] == []


async def test_expired_share_404(memos_client, people):
    owner = people["owner"]
    uid = await new_memo(memos_client, owner)
    share = await new_share(memos_client, owner, uid, {"expireTime": rfc3339(int(time.time()) + 600)})
    token = token_of(share)
    ctx = memos_client.app[CONTEXT]
    assert (await memos_client.get(f"/api/v1/shares/{token}")).status == 200
    async with ctx.store.connection():
        assert await shares_service.memo_id_for_valid_token(ctx, token) is not None

    ms = tables.memo_share
    await run(memos_client, ms.update().where(ms.c.uid == token).values(expires_ts=int(time.time()) - 5))
    r = await memos_client.get(f"/api/v1/shares/{token}")
    assert r.status == 404
    async with ctx.store.connection():
        assert await shares_service.memo_id_for_valid_token(ctx, token) is None
    # an expired share is still listed, and can be revoked
    r = await memos_client.get(f"/api/v1/memos/{uid}/shares", headers=owner.headers)
    assert (await r.json())["memoShares"][0]["name"] == share["name"]
    r = await memos_client.delete(f"/api/v1/memos/{uid}/shares/{token}", headers=owner.headers)
    assert r.status == 200
    assert await share_rows(memos_client) == []


async def test_memo_id_for_valid_token(memos_client, people):
    uid = await new_memo(memos_client, people["owner"])
    token = token_of(await new_share(memos_client, people["owner"], uid))
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        memo_id = await ctx.store.fetch_val(sa.select(tables.memo.c.id).where(tables.memo.c.uid == uid))
        assert await shares_service.memo_id_for_valid_token(ctx, token) == memo_id
        assert await shares_service.memo_id_for_valid_token(ctx, "") is None
        assert await shares_service.memo_id_for_valid_token(ctx, "NoSuchToken22CharsLong") is None


async def test_archived_memo_404(memos_client, people):
    owner = people["owner"]
    uid = await new_memo(memos_client, owner, visibility="PUBLIC")
    token = token_of(await new_share(memos_client, owner, uid))

    async def archive(state):
        r = await memos_client.patch(
            f"/api/v1/memos/{uid}?updateMask=state", json={"state": state}, headers=owner.headers
        )
        assert r.status == 200

    await archive("ARCHIVED")
    for headers in ({}, owner.headers):
        assert (await memos_client.get(f"/api/v1/shares/{token}", headers=headers)).status == 404
    await archive("NORMAL")
    assert (await memos_client.get(f"/api/v1/shares/{token}")).status == 200


async def test_relations_filtered_by_caller(memos_client, people):
    owner = people["owner"]
    hidden = await new_memo(memos_client, owner, content="hidden target")
    public = await new_memo(memos_client, owner, content="public target", visibility="PUBLIC")
    relations = [{"relatedMemo": {"name": f"memos/{hidden}"}}, {"relatedMemo": {"name": f"memos/{public}"}}]
    uid = await new_memo(memos_client, owner, content="shared", visibility="PUBLIC", relations=relations)
    token = token_of(await new_share(memos_client, owner, uid))

    def targets(memo):
        return sorted(r["relatedMemo"]["name"] for r in memo["relations"])

    anon = await (await memos_client.get(f"/api/v1/shares/{token}")).json()
    assert targets(anon) == [f"memos/{public}"]
    mine = await (await memos_client.get(f"/api/v1/shares/{token}", headers=owner.headers)).json()
    assert targets(mine) == sorted([f"memos/{hidden}", f"memos/{public}"])


async def test_deleting_memo_deletes_its_shares(memos_client, people):
    owner = people["owner"]
    uid = await new_memo(memos_client, owner)
    keep_uid = await new_memo(memos_client, owner)
    tokens = [token_of(await new_share(memos_client, owner, uid)) for _ in range(2)]
    keep = token_of(await new_share(memos_client, owner, keep_uid))

    r = await memos_client.delete(f"/api/v1/memos/{uid}", headers=owner.headers)
    assert r.status == 200
    assert [r.uid for r in await share_rows(memos_client)] == [keep]
    for token in tokens:
        assert (await memos_client.get(f"/api/v1/shares/{token}")).status == 404
    assert (await memos_client.get(f"/api/v1/shares/{keep}")).status == 200


async def test_comment_shares_deleted_with_parent(memos_client, people):
    owner = people["owner"]
    uid = await new_memo(memos_client, owner, visibility="PUBLIC")
    r = await memos_client.post(f"/api/v1/memos/{uid}/comments", json={"content": "c"}, headers=owner.headers)
    comment = (await r.json())["name"].removeprefix("memos/")
    token = token_of(await new_share(memos_client, owner, comment))
    assert (await memos_client.get(f"/api/v1/shares/{token}")).status == 200
    assert (await memos_client.delete(f"/api/v1/memos/{uid}", headers=owner.headers)).status == 200
    assert await share_rows(memos_client) == []
    assert (await memos_client.get(f"/api/v1/shares/{token}")).status == 404
