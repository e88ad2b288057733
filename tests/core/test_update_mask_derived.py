"""PATCH without ``updateMask``: the gateway derives the mask from the body's fields.

Several real clients (desktop apps, MCP servers) edit memos this way, sending only the fields they
change, so an omitted mask must update exactly those fields.
"""

from __future__ import annotations


async def test_memo_update_without_mask_uses_the_body_fields(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "v1", "visibility": "PRIVATE"}, headers=alice.headers)
    memo = await r.json()
    url = f"/api/v1/{memo['name']}"

    r = await memos_client.patch(url, json={"content": "v2 #edited"}, headers=alice.headers)
    body = await r.json()
    assert r.status == 200, body
    assert (body["content"], body["tags"], body["visibility"]) == ("v2 #edited", ["edited"], "PRIVATE")

    # The shape MCP servers send: every editable field, state unspecified, plus output-only fields.
    r = await memos_client.patch(
        url,
        json={"state": "STATE_UNSPECIFIED", "content": "v3", "visibility": "PUBLIC", "pinned": True, "tags": ["x"]},
        headers=alice.headers,
    )
    body = await r.json()
    assert r.status == 200, body
    assert (body["content"], body["visibility"], body["pinned"], body["state"]) == ("v3", "PUBLIC", True, "NORMAL")
    assert body["tags"] == []  # tags come from the content, never from the body

    r = await memos_client.get(url, headers=alice.headers)
    assert (await r.json())["content"] == "v3"


async def test_memo_update_derived_mask_still_validates(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "keep"}, headers=alice.headers)
    memo = await r.json()
    url = f"/api/v1/{memo['name']}"
    for body in ({"displayTime": "2024-01-01T00:00:00Z"}, {"pinned": "yes", "content": "x"}, {}):
        r = await memos_client.patch(url, json=body, headers=alice.headers)
        assert r.status == 400, body
        assert (await r.json())["code"] == 3
    r = await memos_client.get(url, headers=alice.headers)
    assert await r.json() == memo


async def test_attachment_update_without_mask_uses_the_body_fields(memos_client, memos_users):
    alice = await memos_users("alice")
    r = await memos_client.post(
        "/api/v1/attachments",
        json={"filename": "a.txt", "content": "aGk=", "type": "text/plain"},
        headers=alice.headers,
    )
    attachment = await r.json()
    r = await memos_client.patch(f"/api/v1/{attachment['name']}", json={"filename": "b.txt"}, headers=alice.headers)
    body = await r.json()
    assert r.status == 200, body
    assert body["filename"] == "b.txt"


async def test_mask_as_repeated_paths_query_parameters(memos_client, memos_users):
    """``?updateMask.paths=a&updateMask.paths=b`` is the FieldMask message spelled out; the gateway accepts it."""
    alice = await memos_users("alice")
    r = await memos_client.post("/api/v1/memos", json={"content": "v1"}, headers=alice.headers)
    url = f"/api/v1/{(await r.json())['name']}"
    r = await memos_client.patch(
        url + "?updateMask.paths=content&updateMask.paths=pinned",
        json={"content": "v2", "pinned": True, "visibility": "PUBLIC"},
        headers=alice.headers,
    )
    body = await r.json()
    assert r.status == 200, body
    assert (body["content"], body["pinned"], body["visibility"]) == ("v2", True, "PRIVATE")  # visibility not masked
