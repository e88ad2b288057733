"""User notifications, the inbox: created by comments and mentions, receiver only."""

from __future__ import annotations

import sqlalchemy as sa

from memos_core.context import CONTEXT
from memos_core.store import tables

INBOX = "/api/v1/users/{}/notifications"


async def post(client, user, url, body):
    r = await client.post(url, json=body, headers=user.headers)
    assert r.status == 200, await r.json()
    return await r.json()


async def memo(client, user, uid, content, visibility="PUBLIC"):
    return await post(client, user, f"/api/v1/memos?memoId={uid}", {"content": content, "visibility": visibility})


async def comment(client, user, parent, uid, content, visibility="PUBLIC"):
    url = f"/api/v1/memos/{parent}/comments?commentId={uid}"
    return await post(client, user, url, {"content": content, "visibility": visibility})


async def inbox(client, user, owner=None):
    r = await client.get(INBOX.format(owner or user.username), headers=user.headers)
    assert r.status == 200, await r.json()
    body = await r.json()
    assert body["nextPageToken"] == ""
    return body["notifications"]


async def sql(client, stmt):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        return await ctx.store.execute(stmt)


async def test_comment_notifies_parent_owner(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memo(memos_client, alice, "a1", "alice's memo about gardening")
    await comment(memos_client, bob, "a1", "c1", "nice garden", "PROTECTED")
    await comment(memos_client, bob, "a1", "c2", "a private thought", "PRIVATE")  # no notice
    await comment(memos_client, alice, "a1", "c3", "my own comment")  # no notice to oneself

    items = await inbox(memos_client, alice)
    assert len(items) == 1
    n = items[0]
    assert n["name"].startswith("users/alice/notifications/")
    assert n["name"].rsplit("/", 1)[1].isdigit()
    assert n["sender"] == "users/bob"
    assert n["senderUser"]["name"] == "users/bob" and n["senderUser"]["username"] == "bob"
    assert n["senderUser"]["email"] == ""  # alice is not bob nor an admin
    assert n["status"] == "UNREAD"
    assert n["type"] == "MEMO_COMMENT"
    assert n["createTime"].endswith("Z")
    assert n["memoComment"] == {
        "memo": "memos/c1",
        "relatedMemo": "memos/a1",
        "memoSnippet": "nice garden",
        "relatedMemoSnippet": "alice's memo about gardening",
    }
    assert "memoMention" not in n
    assert await inbox(memos_client, bob) == []


async def test_mention_notifies_once(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memo(memos_client, bob, "b1", "hello @alice and @nobody")
    # Editing while keeping the mention does not notify again.
    r = await memos_client.patch(
        "/api/v1/memos/b1?updateMask=content", json={"content": "hello again @alice"}, headers=bob.headers
    )
    assert r.status == 200
    items = await inbox(memos_client, alice)
    assert [n["type"] for n in items] == ["MEMO_MENTION"]
    assert items[0]["sender"] == "users/bob"
    assert items[0]["memoMention"] == {
        "memo": "memos/b1",
        "relatedMemo": "",
        "memoSnippet": "hello again @alice",
        "relatedMemoSnippet": "",
    }
    assert "memoComment" not in items[0]


async def test_mention_in_comment_on_own_memo_notifies_once(memos_client, memos_users):
    """The parent owner gets the comment notice only, not a second one for being mentioned."""
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memo(memos_client, alice, "a1", "parent")
    await comment(memos_client, bob, "a1", "c1", "hey @alice")
    assert [n["type"] for n in await inbox(memos_client, alice)] == ["MEMO_COMMENT"]


async def test_newest_first_and_payload_withheld_when_unreadable(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memo(memos_client, alice, "a1", "first")
    await comment(memos_client, bob, "a1", "c1", "older")
    await comment(memos_client, bob, "a1", "c2", "newer")
    items = await inbox(memos_client, alice)
    assert [n["memoComment"]["memo"] for n in items] == ["memos/c2", "memos/c1"]  # same second: id DESC
    await sql(memos_client, tables.inbox.update().where(tables.inbox.c.id == 2).values(created_ts=1000))
    items = await inbox(memos_client, alice)
    assert [n["memoComment"]["memo"] for n in items] == ["memos/c1", "memos/c2"]  # created_ts DESC
    assert items[1]["createTime"] == "1970-01-01T00:16:40Z"

    # bob hides c2 from alice: the notice stays, its payload goes.
    r = await memos_client.patch(
        "/api/v1/memos/c2?updateMask=visibility", json={"visibility": "PRIVATE"}, headers=bob.headers
    )
    assert r.status == 200
    items = await inbox(memos_client, alice)
    assert len(items) == 2
    assert "memoComment" not in items[1] and items[1]["type"] == "MEMO_COMMENT"
    assert items[0]["memoComment"]["memo"] == "memos/c1"

    # A notice whose memo is gone keeps no payload either.
    await sql(memos_client, tables.memo.delete().where(tables.memo.c.uid == "c1"))
    items = await inbox(memos_client, alice)
    assert all("memoComment" not in n for n in items)


async def test_rows_with_missing_sender_are_skipped(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    carol = await memos_users("carol")
    await memo(memos_client, alice, "a1", "parent")
    await comment(memos_client, bob, "a1", "c1", "from bob")
    await comment(memos_client, carol, "a1", "c2", "from carol")
    await sql(memos_client, tables.user.delete().where(tables.user.c.id == carol.id))
    assert [n["sender"] for n in await inbox(memos_client, alice)] == ["users/bob"]


async def test_receiver_only(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    await memo(memos_client, alice, "a1", "parent")
    await comment(memos_client, bob, "a1", "c1", "hi")
    (n,) = await inbox(memos_client, alice)
    nid = n["name"].rsplit("/", 1)[1]
    url = f"/api/v1/{n['name']}"
    for other in (bob, admin):
        h = other.headers
        assert (await memos_client.get(INBOX.format("alice"), headers=h)).status == 403
        r = await memos_client.patch(url + "?updateMask=status", json={"status": "ARCHIVED"}, headers=h)
        assert r.status == 403
        assert (await memos_client.delete(url, headers=h)).status == 403
        # Through their own path, alice's notice does not exist.
        own = f"/api/v1/users/{other.username}/notifications/{nid}"
        r = await memos_client.patch(own + "?updateMask=status", json={"status": "ARCHIVED"}, headers=h)
        assert r.status == 404
        assert (await memos_client.delete(own, headers=h)).status == 404
    assert (await memos_client.get(INBOX.format("alice"))).status == 401
    assert (await memos_client.get(INBOX.format("ghost"), headers=alice.headers)).status == 404
    assert (await inbox(memos_client, alice)) == [n]


async def test_update_status(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memo(memos_client, alice, "a1", "parent")
    await comment(memos_client, bob, "a1", "c1", "hi")
    (n,) = await inbox(memos_client, alice)
    url = f"/api/v1/{n['name']}"
    h = alice.headers

    r = await memos_client.patch(url + "?updateMask=status", json={"status": "ARCHIVED"}, headers=h)
    assert r.status == 200
    assert await r.json() == {**n, "status": "ARCHIVED"}
    r = await memos_client.patch(url + "?updateMask=status", json={"status": 1}, headers=h)  # numeric enum
    assert r.status == 200 and (await r.json())["status"] == "UNREAD"
    # No mask: derived from the body, as the REST gateway does.
    r = await memos_client.patch(url, json={"status": "ARCHIVED"}, headers=h)
    assert r.status == 200 and (await r.json())["status"] == "ARCHIVED"

    for query, body in [
        ("", {}),  # no mask at all: 400, not upstream's 500
        ("?updateMask=", {"status": "UNREAD"}),
        ("?updateMask=status", {"status": "READ"}),
        ("?updateMask=status", {"status": "STATUS_UNSPECIFIED"}),
        ("?updateMask=status", {}),
        ("?updateMask=title", {"status": "UNREAD"}),
    ]:
        r = await memos_client.patch(url + query, json=body, headers=h)
        assert r.status == 400, (query, body)
        assert (await r.json())["code"] == 3
    assert (await inbox(memos_client, alice))[0]["status"] == "ARCHIVED"

    base = INBOX.format("alice")
    r = await memos_client.patch(base + "/999?updateMask=status", json={"status": "UNREAD"}, headers=h)
    assert r.status == 404
    r = await memos_client.patch(base + "/abc?updateMask=status", json={"status": "UNREAD"}, headers=h)
    assert r.status == 400


async def test_delete(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await memo(memos_client, alice, "a1", "parent")
    await comment(memos_client, bob, "a1", "c1", "one")
    await comment(memos_client, bob, "a1", "c2", "two")
    first, second = await inbox(memos_client, alice)
    r = await memos_client.delete(f"/api/v1/{first['name']}", headers=alice.headers)
    assert r.status == 200 and await r.json() == {}
    assert await inbox(memos_client, alice) == [second]
    r = await memos_client.delete(f"/api/v1/{first['name']}", headers=alice.headers)
    assert r.status == 404
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        count = await ctx.store.fetch_val(sa.select(sa.func.count()).select_from(tables.inbox))
    assert count == 1  # a hard delete


async def test_list_statement_count_is_constant(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    carol = await memos_users("carol")
    ctx = memos_client.app[CONTEXT]
    await memo(memos_client, alice, "a1", "parent")

    async def cost():
        before = ctx.store.statements
        items = await inbox(memos_client, alice)
        return ctx.store.statements - before, len(items)

    await comment(memos_client, bob, "a1", "c0", "first")
    small, count = await cost()
    assert count == 1
    for i in range(1, 8):
        await comment(memos_client, bob if i % 2 else carol, "a1", f"c{i}", f"comment {i}")
        await memo(memos_client, carol, f"m{i}", f"hey @alice {i}")
    large, count = await cost()
    assert count == 15
    assert large == small
