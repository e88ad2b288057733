"""Replays of memos-bber (Jonnyan404/memos-bber), a Chrome/Edge/Firefox extension posting to Memos.

The extension keeps an instance URL and an access token, sends every call with
``Authorization: Bearer <token>`` and a JSON body, and talks to v0.26+ servers through its
"modern" adapter:

* sign-in check: ``GET api/v1/auth/me``; it takes the user from ``user.username`` (or the last
  segment of ``user.name``); older auth paths are only tried after a failure;
* flavour probe: ``GET api/v1/memos?pageSize=1&filter=visibility in ["PUBLIC","PROTECTED"]``, which
  must answer a JSON object with a ``memos`` array (a 400 sends it to the v0.23 probe);
* tag list and "random memo": ``GET api/v1/memos?pageSize=1000&state=NORMAL`` and it collects
  ``memos[].tags``; search adds ``filter=content.contains("…")``;
* upload: ``POST api/v1/attachments`` ``{content: <base64>, filename, type}`` and it keeps ``name``,
  ``filename``, ``createTime``, ``type``, ``size``, ``memo``, ``externalLink``; a 404/405 there makes
  it fall back to the removed ``api/v1/resources``;
* send: ``POST api/v1/memos`` ``{content, visibility, attachments: [{name}]}`` (its v0.27 module
  also sends ``state: "NORMAL"``), then ``GET api/v1/{memo.name}`` to render the result;
* link later: ``PATCH api/v1/memos/{uid}/attachments`` ``{name, attachments: [{name}]}``;
* previews: ``GET file/{attachment.name}/{filename}`` with ``?thumbnail=true`` for images, fetched
  with the same Bearer header (private memos included); ``externalLink`` wins when non-empty;
* archive: ``PATCH api/v1/{memo.name}?updateMask=state`` ``{name, state: "ARCHIVED"}``;
* delete an upload: ``DELETE api/v1/attachments/{uid}``.
"""

from __future__ import annotations

import base64
import json
import urllib.parse

import pytest

PUBLIC_OR_PROTECTED = 'visibility in ["PUBLIC","PROTECTED"]'


async def ok(response) -> dict:
    body = await response.json()
    assert response.status == 200, body
    return body


async def upload(memos_client, account, data: bytes, filename: str, mime: str) -> dict:
    r = await memos_client.post(
        "/api/v1/attachments",
        data=json.dumps({"content": base64.b64encode(data).decode(), "filename": filename, "type": mime}),
        headers=account.bearer(**{"Content-Type": "application/json"}),
    )
    return await ok(r)


async def test_sign_in_check_reads_user_from_auth_me(memos_client, client_account):
    alice = await client_account("alice")
    body = await ok(await memos_client.get("/api/v1/auth/me", headers=alice.bearer()))
    user = body["user"]
    # The extension prefers a numeric id, then `username`, then the tail of `name`.
    assert "id" not in user
    assert user["username"] == "alice"
    assert user["name"].split("/")[-1] == "alice"


async def test_flavour_probe_answers_a_memos_list(memos_client, client_account):
    alice = await client_account("alice")
    r = await memos_client.get(
        "/api/v1/memos?pageSize=1&filter=" + urllib.parse.quote(PUBLIC_OR_PROTECTED), headers=alice.bearer()
    )
    body = await ok(r)
    assert isinstance(body["memos"], list)


async def test_upload_send_and_render(memos_client, client_account, png_image):
    alice = await client_account("alice")
    # The extension renames "shot.png" to "<base>_<YYYYMMDDHHmmss><ext>" before uploading.
    item = await upload(memos_client, alice, png_image, "shot_20250102030405.png", "image/png")
    assert item["name"].startswith("attachments/")
    assert item["filename"] == "shot_20250102030405.png"
    assert item["type"] == "image/png"
    assert item["size"] == str(len(png_image))
    assert item["createTime"].endswith("Z")
    assert item["externalLink"] == ""
    assert "memo" not in item  # not linked yet; the extension stores `undefined`

    created = await ok(
        await memos_client.post(
            "/api/v1/memos",
            data=json.dumps(
                {
                    "content": "Reading list #bookmarks [a page](https://example.com)",
                    "visibility": "PRIVATE",
                    "attachments": [{"name": item["name"]}],
                }
            ),
            headers=alice.bearer(**{"Content-Type": "application/json"}),
        )
    )
    assert created["name"].startswith("memos/")
    # The follow-up read that renders the "sent" card.
    memo = await ok(await memos_client.get(f"/api/v1/{created['name']}", headers=alice.bearer()))
    assert memo["content"].startswith("Reading list")
    assert memo["createTime"] and memo["tags"] == ["bookmarks"]
    [att] = memo["attachments"]
    assert att["name"] == item["name"] and att["memo"] == created["name"]
    assert att["type"].startswith("image") and att["externalLink"] == ""

    # Preview: /file/{attachment.name}/{encoded filename}?thumbnail=true with the Bearer header,
    # although the memo is PRIVATE.
    url = f"/file/{att['name']}/{urllib.parse.quote(att['filename'])}?thumbnail=true"
    r = await memos_client.get(url, headers=alice.bearer())
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("image/")
    assert len(await r.read()) > 0


async def test_send_with_state_normal_as_the_v027_module_does(memos_client, client_account):
    alice = await client_account("alice")
    memo = await ok(
        await memos_client.post(
            "/api/v1/memos",
            json={"state": "NORMAL", "content": "quick note", "visibility": "PUBLIC"},
            headers=alice.bearer(),
        )
    )
    assert memo["state"] == "NORMAL" and memo["visibility"] == "PUBLIC"


async def test_link_uploads_after_send(memos_client, client_account):
    alice = await client_account("alice")
    first = await upload(memos_client, alice, b"one", "one.txt", "text/plain")
    second = await upload(memos_client, alice, b"two", "two.txt", "text/plain")
    memo = await ok(await memos_client.post("/api/v1/memos", json={"content": "x"}, headers=alice.bearer()))
    uid = memo["name"].split("/")[-1]
    r = await memos_client.patch(
        f"/api/v1/memos/{urllib.parse.quote(uid)}/attachments",
        json={"name": memo["name"], "attachments": [{"name": first["name"]}, {"name": second["name"]}]},
        headers=alice.bearer(),
    )
    await ok(r)
    again = await ok(await memos_client.get(f"/api/v1/{memo['name']}", headers=alice.bearer()))
    # Display order follows the request order.
    assert [a["name"] for a in again["attachments"]] == [first["name"], second["name"]]


async def test_tags_random_and_search(memos_client, client_account):
    alice = await client_account("alice")
    for content, vis in [("#work plan", "PRIVATE"), ("#home/garden seeds", "PUBLIC"), ("plain", "PROTECTED")]:
        await ok(
            await memos_client.post(
                "/api/v1/memos", json={"content": content, "visibility": vis}, headers=alice.bearer()
            )
        )
    # Tag collection: everything the token can see, 1000 at a time, state NORMAL.
    body = await ok(await memos_client.get("/api/v1/memos?pageSize=1000&state=NORMAL", headers=alice.bearer()))
    tags = {t for m in body["memos"] for t in m["tags"]}
    assert tags == {"work", "home/garden"}
    assert body["nextPageToken"] == ""

    # Search, JSON-quoted literal inside content.contains().
    flt = "content.contains(" + json.dumps("seeds") + ")"
    qs = "?pageSize=1000&state=NORMAL&filter=" + urllib.parse.quote(flt)
    body = await ok(await memos_client.get("/api/v1/memos" + qs, headers=alice.bearer()))
    assert [m["content"] for m in body["memos"]] == ["#home/garden seeds"]
    hit = body["memos"][0]
    # What a search result card reads.
    assert hit["name"].startswith("memos/") and hit["createTime"] and hit["attachments"] == []

    # Legacy search path: visibility-restricted filter plus content.
    legacy = PUBLIC_OR_PROTECTED + " && content.contains(" + json.dumps("plain") + ")"
    body = await ok(
        await memos_client.get("/api/v1/memos?filter=" + urllib.parse.quote(legacy), headers=alice.bearer())
    )
    assert [m["visibility"] for m in body["memos"]] == ["PROTECTED"]


async def test_user_scoped_list_is_gone_so_the_fallback_kicks_in(memos_client, client_account):
    """``fetchMemosWithFallback`` first tries ``users/{id}/memos`` and falls back on 404/405/400."""
    alice = await client_account("alice")
    r = await memos_client.get(
        "/api/v1/users/alice/memos?filter=" + urllib.parse.quote(PUBLIC_OR_PROTECTED), headers=alice.bearer()
    )
    assert r.status in (400, 404, 405)
    assert r.headers["Content-Type"].startswith("application/json")


async def test_archive_from_the_random_card(memos_client, client_account):
    alice = await client_account("alice")
    memo = await ok(await memos_client.post("/api/v1/memos", json={"content": "old"}, headers=alice.bearer()))
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}?updateMask=state",
        data=json.dumps({"name": memo["name"], "state": "ARCHIVED"}),
        headers=alice.bearer(**{"Content-Type": "application/json"}),
    )
    assert (await ok(r))["state"] == "ARCHIVED"
    body = await ok(await memos_client.get("/api/v1/memos?pageSize=1000&state=NORMAL", headers=alice.bearer()))
    assert body["memos"] == []


@pytest.mark.parametrize("by_full_name", [False, True])
async def test_delete_an_upload(memos_client, client_account, by_full_name):
    alice = await client_account("alice")
    item = await upload(memos_client, alice, b"bytes", "x.txt", "text/plain")
    path = f"/api/v1/{item['name']}" if by_full_name else f"/api/v1/attachments/{item['name'].split('/')[-1]}"
    r = await memos_client.delete(path, headers=alice.bearer())
    assert r.status == 200
    r = await memos_client.get(f"/api/v1/{item['name']}", headers=alice.bearer())
    assert r.status == 404
