"""Replays of Memos MCP servers (tools an AI assistant calls), which proxy to the REST API.

Studied:

* Red5d/memos_mcp (Python, FastMCP + httpx) and beshanoe/memos-mcp-js (published as
  @jtsang/memos-mcp; TypeScript and Go clients with the same wire behaviour). Both send
  ``Authorization: Bearer <token>`` and ``Content-Type: application/json``:

  - search: ``GET /api/v1/memos?pageSize=N&filter=…`` where the filter joins with ``&&``:
    ``creator_id == <int>``, ``content.contains("…")`` (``"`` and ``\\`` backslash-escaped),
    ``tag in ["…"]``, ``visibility == "PUBLIC"``, ``pinned == true``; optional ``orderBy``,
    ``showDeleted=true`` and a caller-given ``pageToken``. They read ``memos[].name``, ``creator``,
    ``content``, ``visibility``, ``pinned``, ``tags``, ``createTime``, ``updateTime``, ``snippet``
    and ``nextPageToken`` (``uid``/``displayTime`` are read with defaults and may be absent);
  - create: ``POST /api/v1/memos`` ``{state: "STATE_UNSPECIFIED", content, visibility, pinned?}``;
  - get: ``GET /api/v1/memos/{uid}`` (URL-escaped uid), reads ``snippet`` too;
  - delete: ``DELETE /api/v1/memos/{uid}`` with ``?force=true`` when asked.
  - update sends ``PATCH /api/v1/memos/{uid}`` with the changed fields and **no** ``updateMask``; that
    replay fails on memos-py today and is kept out of this module (see the lead's report).

* A FastMCP "Memos MCP Server" whose filters use CEL single-quoted strings:
  ``content.contains('…')``, ``'tag' in tags``, ``creator == 'users/…'``, ``pinned == true``; it
  uploads with ``POST /api/v1/attachments`` and creates with
  ``{content, visibility, pinned, attachments: [{name}]}``, and may send an unknown ``resources`` key.
"""

from __future__ import annotations

import base64
import urllib.parse

JSON = {"Content-Type": "application/json", "Accept": "application/json"}


async def ok(response) -> dict:
    body = await response.json()
    assert response.status == 200, body
    return body


async def create(memos_client, account, content, visibility="PRIVATE", pinned=None) -> dict:
    payload = {"state": "STATE_UNSPECIFIED", "content": content, "visibility": visibility}
    if pinned is not None:
        payload["pinned"] = pinned
    return await ok(await memos_client.post("/api/v1/memos", json=payload, headers=account.bearer(**JSON)))


def escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"')


async def search(memos_client, account, limit=10, **params) -> dict:
    query = {"pageSize": str(limit), **params}
    return await ok(
        await memos_client.get(f"/api/v1/memos?{urllib.parse.urlencode(query)}", headers=account.bearer(**JSON))
    )


async def test_create_get_and_fields_read(memos_client, client_account):
    alice = await client_account("alice")
    memo = await create(memos_client, alice, "Standup notes #work\n\n- [ ] follow up", "PROTECTED", pinned=True)
    # STATE_UNSPECIFIED on create means a normal memo.
    assert memo["state"] == "NORMAL"
    assert memo["name"].startswith("memos/") and memo["creator"] == "users/alice"
    assert memo["visibility"] == "PROTECTED" and memo["pinned"] is True and memo["tags"] == ["work"]
    assert memo["createTime"].endswith("Z") and memo["updateTime"].endswith("Z")
    assert "displayTime" not in memo  # gone in v0.28; the tools default it

    uid = memo["name"].split("/", 1)[1]
    got = await ok(await memos_client.get(f"/api/v1/memos/{urllib.parse.quote(uid)}", headers=alice.bearer(**JSON)))
    assert got["content"] == memo["content"]
    assert got["snippet"].startswith("Standup notes #work")


async def test_search_filters_as_built_by_the_tools(memos_client, client_account):
    alice = await client_account("alice")
    bob = await client_account("bob")
    a1 = await create(memos_client, alice, 'He said "hi" \\o/ #people', "PUBLIC", pinned=True)
    await create(memos_client, alice, "nothing to see", "PUBLIC")
    await create(memos_client, bob, 'He said "hi" too #people', "PUBLIC")

    me = await ok(await memos_client.get("/api/v1/auth/me", headers=alice.bearer()))
    assert me["user"]["name"] == "users/alice"

    body = await search(memos_client, alice, filter=f'content.contains("{escape(chr(34) + "hi" + chr(34))}")')
    assert {m["creator"] for m in body["memos"]} == {"users/alice", "users/bob"}

    flt = " && ".join(
        [
            f'content.contains("{escape(chr(92) + "o/")}")',
            f'tag in ["{escape("people")}"]',
            'visibility == "PUBLIC"',
            "pinned == true",
        ]
    )
    body = await search(memos_client, alice, filter=flt)
    assert [m["name"] for m in body["memos"]] == [a1["name"]]
    hit = body["memos"][0]
    for key in ("name", "creator", "content", "visibility", "pinned", "createTime", "updateTime", "snippet", "tags"):
        assert key in hit, key
    assert body["nextPageToken"] == ""


async def test_search_by_creator_id(memos_client, memos_users, client_account):
    alice = await client_account("alice")
    bob_user = await memos_users("bob")
    r = await memos_client.post(
        "/api/v1/memos", json={"content": "bob public", "visibility": "PUBLIC"}, headers=bob_user.headers
    )
    await ok(r)
    await create(memos_client, alice, "alice public", "PUBLIC")
    body = await search(memos_client, alice, filter=f"creator_id == {bob_user.id}")
    assert [m["content"] for m in body["memos"]] == ["bob public"]


async def test_pagination_with_returned_tokens_and_ignored_show_deleted(memos_client, client_account):
    alice = await client_account("alice")
    for i in range(5):
        await create(memos_client, alice, f"memo {i}")
    seen, token = [], None
    while True:
        params = {"showDeleted": "true"}
        if token:
            params["pageToken"] = token
        body = await search(memos_client, alice, limit=2, **params)
        seen += [m["content"] for m in body["memos"]]
        token = body["nextPageToken"]
        if not token:
            break
    assert sorted(seen) == [f"memo {i}" for i in range(5)]


async def test_delete_with_force(memos_client, client_account):
    alice = await client_account("alice")
    memo = await create(memos_client, alice, "bye")
    uid = memo["name"].split("/", 1)[1]
    r = await memos_client.delete(
        f"/api/v1/memos/{urllib.parse.quote(uid)}?force=true", headers=alice.bearer(Accept="application/json")
    )
    assert r.status == 200
    r = await memos_client.get(f"/api/v1/memos/{uid}", headers=alice.bearer())
    assert r.status == 404


async def test_single_quoted_cel_filters(memos_client, client_account):
    alice = await client_account("alice")
    hit = await create(memos_client, alice, "Quarterly report draft #finance #q3", "PRIVATE", pinned=True)
    await create(memos_client, alice, "Quarterly party #fun", "PRIVATE")
    flt = " && ".join(
        [
            "content.contains('report')",
            "('finance' in tags || 'q4' in tags)",
            "creator == 'users/alice'",
            "pinned == true",
        ]
    )
    body = await search(memos_client, alice, limit=20, filter=flt)
    assert [m["name"] for m in body["memos"]] == [hit["name"]]


async def test_create_with_uploaded_attachments_and_stray_resources_key(memos_client, client_account):
    alice = await client_account("alice")
    up = await ok(
        await memos_client.post(
            "/api/v1/attachments",
            json={
                "filename": "report.pdf",
                "content": base64.b64encode(b"%PDF-1.4 tiny").decode(),
                "type": "application/pdf",
            },
            headers=alice.bearer(**JSON),
        )
    )
    assert up["name"].startswith("attachments/") and up["filename"] == "report.pdf"
    assert up["type"] == "application/pdf" and up["size"] == "13"
    memo = await ok(
        await memos_client.post(
            "/api/v1/memos",
            json={
                "content": "see attached #finance",
                "visibility": "PRIVATE",
                "pinned": False,
                "attachments": [{"name": up["name"]}],
            },
            headers=alice.bearer(**JSON),
        )
    )
    assert [a["name"] for a in memo["attachments"]] == [up["name"]]

    # The plain create_memo tool may add a `resources` list (pre-0.25 naming); it is ignored.
    memo = await ok(
        await memos_client.post(
            "/api/v1/memos",
            json={"content": "legacy shape", "visibility": "PRIVATE", "pinned": False, "resources": [{"id": "1"}]},
            headers=alice.bearer(**JSON),
        )
    )
    assert memo["attachments"] == []
