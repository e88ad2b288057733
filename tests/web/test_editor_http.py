"""The editor's server side over HTTP, on every driver: tag suggestions, memo search, preview,
uploads (limit and CSRF), saving with attachments, links and a location (with and without
JavaScript), editing in place with the created time, and a refused save that keeps what was typed."""

from __future__ import annotations

import datetime as dt
import html
import io
import re

import aiohttp
import pytest

MIB = 1024 * 1024
XHR = {"X-Requested-With": "memos-web"}
PNG = (
    b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\x00\x00\x00\x01\x00\x00\x00\x01\x08\x06\x00\x00\x00\x1f\x15\xc4\x89"
    b"\x00\x00\x00\rIDATx\x9cc\xf8\xcf\xc0\xf0\x1f\x00\x05\x00\x01\xff\x89\x99=\x1d\x00\x00\x00\x00IEND\xaeB`\x82"
)


@pytest.fixture
async def people(memos_users):
    return {
        "admin": await memos_users("admin", role="ADMIN"),
        "ann": await memos_users("ann"),
        "bob": await memos_users("bob"),
    }


async def sign_in(client, user) -> str:
    """Sign the client's cookie jar in as ``user``; the CSRF token of its pages."""
    client.session.cookie_jar.clear()
    r = await client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": user.username, "password": user.password}}
    )
    assert r.status == 200, await r.text()
    r = await client.get("/home")
    assert r.status == 200, await r.text()
    return re.search(r'<meta name="csrf-token" content="([^"]+)"', await r.text()).group(1)


async def api_memo(client, user, content: str, visibility: str = "PRIVATE", **fields) -> dict:
    r = await client.post(
        "/api/v1/memos", json={"content": content, "visibility": visibility, **fields}, headers=user.headers
    )
    assert r.status == 200, await r.text()
    return await r.json()


async def get_memo(client, user, name: str) -> dict:
    r = await client.get(f"/api/v1/{name}", headers=user.headers)
    assert r.status == 200, await r.text()
    return await r.json()


async def list_memos(client, user) -> list[dict]:
    r = await client.get("/api/v1/memos", headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["memos"]


async def list_attachments(client, user) -> list[dict]:
    r = await client.get("/api/v1/attachments", headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["attachments"]


async def upload(client, token: str | None, filename: str, data: bytes, content_type: str = "text/plain"):
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename=filename, content_type=content_type)  # large: a stream
    headers = {**XHR, **({"X-CSRF-Token": token} if token else {})}
    return await client.post("/web/attachments", data=form, headers=headers)


async def set_upload_limit(client, admin, mib: int) -> None:
    body = {"storageSetting": {"storageType": "DATABASE", "uploadSizeLimitMb": str(mib)}}
    r = await client.patch("/api/v1/instance/settings/STORAGE", json=body, headers=admin.headers)
    assert r.status == 200, await r.text()


def textarea(page: str) -> str:
    """The content of the page's memo editor (unescaped)."""
    m = re.search(r'<textarea id="content-[^"]*" name="content"[^>]*>(.*?)</textarea>', page, re.DOTALL)
    assert m, "no editor on the page"
    return html.unescape(m.group(1))


# -- JSON helpers ----------------------------------------------------------------------------------
async def test_tags_are_the_viewers_by_count(memos_client, people):
    ann, bob = people["ann"], people["bob"]
    for content in ("#work one", "#work #home two", "#work three", "#home four", "#zzz five"):
        await api_memo(memos_client, ann, content)
    await api_memo(memos_client, bob, "#bobonly #work", "PUBLIC")
    await sign_in(memos_client, ann)
    r = await memos_client.get("/web/tags", headers=XHR)
    assert r.status == 200
    assert (await r.json())["tags"] == [
        {"name": "work", "count": 3},
        {"name": "home", "count": 2},
        {"name": "zzz", "count": 1},
    ]
    memos_client.session.cookie_jar.clear()
    r = await memos_client.get("/web/tags", headers=XHR)
    assert r.status == 401
    assert "sign in" in (await r.json())["message"]


async def test_memo_search_finds_visible_memos_by_words(memos_client, people):
    ann, bob = people["ann"], people["bob"]
    for i in range(12):
        await api_memo(memos_client, ann, f"apple pie number {i}")
    await api_memo(memos_client, ann, "a pear")
    public = await api_memo(memos_client, bob, "bob's apple pie", "PUBLIC")
    await api_memo(memos_client, bob, "bob's secret apple pie", "PRIVATE")
    await sign_in(memos_client, ann)

    r = await memos_client.get("/web/memos/search", params={"q": "bob apple"}, headers=XHR)
    assert r.status == 200
    found = (await r.json())["memos"]
    assert [m["name"] for m in found] == [public["name"]]
    assert found[0]["snippet"] == "bob's apple pie"

    r = await memos_client.get("/web/memos/search", params={"q": "apple pie"}, headers=XHR)
    found = (await r.json())["memos"]
    assert len(found) == 10  # at most 10, newest first
    assert found[0]["name"] == public["name"]
    r = await memos_client.get("/web/memos/search", params={"q": 'quote " and \\ back'}, headers=XHR)
    assert r.status == 200 and (await r.json())["memos"] == []


async def test_preview_renders_through_the_safe_renderer(memos_client, people):
    token = await sign_in(memos_client, people["ann"])
    content = "**bold** #tag\n\n- [ ] task\n\n<script>alert(1)</script>"
    r = await memos_client.post("/web/preview", data={"content": content}, headers={**XHR, "X-CSRF-Token": token})
    assert r.status == 200
    rendered = (await r.json())["html"]
    assert "<strong>bold</strong>" in rendered and 'type="checkbox"' in rendered
    assert "<script>" not in rendered
    r = await memos_client.post("/web/preview", data={"content": "x"}, headers=XHR)
    assert r.status == 403
    r = await memos_client.post("/web/preview", data={"content": "x" * 9000}, headers={**XHR, "X-CSRF-Token": token})
    assert r.status == 400 and (await r.json())["message"] == "content too long"


# -- uploads ---------------------------------------------------------------------------------------
async def test_upload_stores_an_unlinked_attachment(memos_client, people):
    ann = people["ann"]
    token = await sign_in(memos_client, ann)
    r = await upload(memos_client, token, "pixel.png", PNG, "image/png")
    assert r.status == 200, await r.text()
    [attachment] = (await r.json())["attachments"]
    assert attachment["name"].startswith("attachments/")
    assert attachment["filename"] == "pixel.png" and attachment["type"] == "image/png"
    assert attachment["size"] == str(len(PNG)) and "memo" not in attachment
    r = await memos_client.get(f"/file/{attachment['name']}/pixel.png", headers=ann.headers)
    assert r.status == 200 and await r.read() == PNG


async def test_upload_requires_csrf_and_a_session(memos_client, people):
    ann = people["ann"]
    await sign_in(memos_client, ann)
    r = await upload(memos_client, None, "a.txt", b"hello")
    assert r.status == 403
    r = await upload(memos_client, "0" * 64, "a.txt", b"hello")
    assert r.status == 403
    assert await list_attachments(memos_client, ann) == []
    memos_client.session.cookie_jar.clear()
    r = await upload(memos_client, None, "a.txt", b"hello")
    assert r.status in (401, 403)
    assert await list_attachments(memos_client, ann) == []


async def test_upload_over_the_instance_limit_is_refused_clearly(memos_client, people):
    ann = people["ann"]
    await set_upload_limit(memos_client, people["admin"], 1)
    token = await sign_in(memos_client, ann)
    r = await upload(memos_client, token, "big.bin", b"x" * (MIB + 1), "application/octet-stream")
    assert r.status == 400
    assert (await r.json())["message"] == "big.bin is too large (1.1 MiB): the upload limit is 1 MiB"
    assert await list_attachments(memos_client, ann) == []
    r = await upload(memos_client, token, "exact.bin", b"x" * MIB, "application/octet-stream")
    assert r.status == 200, await r.text()


# -- saving ----------------------------------------------------------------------------------------
async def test_create_with_attachments_relations_and_location(memos_client, people):
    ann = people["ann"]
    target = await api_memo(memos_client, ann, "the memo linked to")
    token = await sign_in(memos_client, ann)
    attachment = (await (await upload(memos_client, token, "pixel.png", PNG, "image/png")).json())["attachments"][0]
    form = {
        "csrf_token": token,
        "next": "/home",
        "content": "with everything #trip",
        "visibility": "PROTECTED",
        "attachment": attachment["name"],
        "relation": target["name"],
        "location_placeholder": "Lisbon",
        "location_latitude": "38.722252",
        "location_longitude": "-9.139337",
    }
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == "/home"
    memo = next(m for m in await list_memos(memos_client, ann) if m["content"] == "with everything #trip")
    assert memo["visibility"] == "PROTECTED"
    assert [a["name"] for a in memo["attachments"]] == [attachment["name"]]
    assert [(r["relatedMemo"]["name"], r["type"]) for r in memo["relations"]] == [(target["name"], "REFERENCE")]
    assert memo["location"] == {"placeholder": "Lisbon", "latitude": 38.722252, "longitude": -9.139337}

    # The page's script gets the new card, with its image and place.
    attachment = (await (await upload(memos_client, token, "b.png", PNG, "image/png")).json())["attachments"][0]
    r = await memos_client.post(
        "/web/memos",
        data={"content": "from the script", "attachment": attachment["name"], "location_placeholder": "Home"},
        headers={**XHR, "X-CSRF-Token": token},
    )
    assert r.status == 200
    card = await r.text()
    assert card.lstrip().startswith("<article") and "from the script" in card
    assert f"/file/{attachment['name']}/b.png" in card and "Home" in card


async def test_form_line_breaks_are_stored_as_lf(memos_client, people):
    """Browsers send a textarea's line breaks as CRLF; memos keep LF, as the API's clients write."""
    ann = people["ann"]
    token = await sign_in(memos_client, ann)
    r = await memos_client.post(
        "/web/memos", data={"csrf_token": token, "content": "- one\r\n- two\r\n"}, allow_redirects=False
    )
    assert r.status == 303
    [memo] = await list_memos(memos_client, ann)
    assert memo["content"] == "- one\n- two\n"
    uid = memo["name"].removeprefix("memos/")
    form = {"csrf_token": token, "content": "x\r\ny", "createTime": memo["createTime"]}
    r = await memos_client.post(f"/web/memos/{uid}/update", data=form, allow_redirects=False)
    assert r.status == 303
    assert (await get_memo(memos_client, ann, memo["name"]))["content"] == "x\ny"


async def test_create_without_javascript_uploads_the_chosen_files(memos_client, people):
    ann = people["ann"]
    token = await sign_in(memos_client, ann)
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("content", "no script here")
    form.add_field("visibility", "PRIVATE")
    form.add_field("files", PNG, filename="one.png", content_type="image/png")
    form.add_field("files", b"some notes", filename="two.txt", content_type="text/plain")
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 303, await r.text()
    [memo] = await list_memos(memos_client, ann)
    assert sorted((a["filename"], a["type"]) for a in memo["attachments"]) == [
        ("one.png", "image/png"),
        ("two.txt", "text/plain"),
    ]
    two = next(a for a in memo["attachments"] if a["filename"] == "two.txt")
    r = await memos_client.get(f"/file/{two['name']}/two.txt", headers=ann.headers)
    assert await r.read() == b"some notes"

    # An empty file input sends an empty part without a name: no attachment comes of it.
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("content", "nothing chosen")
    form.add_field("files", b"", filename="", content_type="application/octet-stream")
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 303
    memo = next(m for m in await list_memos(memos_client, ann) if m["content"] == "nothing chosen")
    assert memo["attachments"] == []


async def test_a_comment_from_the_editor(memos_client, people):
    ann, bob = people["ann"], people["bob"]
    parent = await api_memo(memos_client, ann, "a public memo", "PUBLIC")
    token = await sign_in(memos_client, bob)
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("parent", parent["name"])
    form.add_field("next", f"/{parent['name']}#comments")
    form.add_field("content", "nice, with a picture")
    form.add_field("visibility", "PUBLIC")
    form.add_field("files", PNG, filename="c.png", content_type="image/png")
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/{parent['name']}#comments"
    r = await memos_client.get(f"/api/v1/{parent['name']}/comments", headers=bob.headers)
    [comment] = (await r.json())["memos"]
    assert comment["content"] == "nice, with a picture"
    assert [a["filename"] for a in comment["attachments"]] == ["c.png"]


# -- a refused save keeps what was typed -------------------------------------------------------------
async def test_too_long_without_javascript_shows_the_editor_again(memos_client, people):
    ann = people["ann"]
    target = await api_memo(memos_client, ann, "linked one")
    token = await sign_in(memos_client, ann)
    kept = (await (await upload(memos_client, token, "kept.txt", b"kept")).json())["attachments"][0]
    content = "<b>typed</b> " + "x" * 9000
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("next", "/home")
    form.add_field("content", content)
    form.add_field("visibility", "PUBLIC")
    form.add_field("attachment", kept["name"])
    form.add_field("relation", target["name"])
    form.add_field("location_placeholder", "Porto")
    form.add_field("files", b"new file", filename="fresh.txt", content_type="text/plain")
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 400
    page = await r.text()
    assert r.content_type == "text/html"
    assert textarea(page) == content
    assert "content too long" in page
    assert re.search(r'<p class="error"[^>]*data-editor-error role="alert">content too long</p>', page)
    assert '<option value="PUBLIC" selected>' in page
    # The attachment it held, the file just chosen (uploaded already) and the link are all still there.
    names = re.findall(r'name="attachment" value="([^"]+)"', page)
    assert kept["name"] in names and len(names) == 2
    assert "fresh.txt" in page and "kept.txt" in page
    assert f'name="relation" value="{target["name"]}"' in page and "linked one" in page
    assert 'name="location_placeholder" value="Porto"' in page
    assert [m["content"] for m in await list_memos(memos_client, ann)] == ["linked one"]

    # Sending the page's form again, shortened, saves everything it kept.
    form = {"csrf_token": token, "content": "shorter", "attachment": names, "relation": target["name"]}
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 303
    memo = next(m for m in await list_memos(memos_client, ann) if m["content"] == "shorter")
    assert sorted(a["filename"] for a in memo["attachments"]) == ["fresh.txt", "kept.txt"]


async def test_too_long_with_javascript_is_a_json_message(memos_client, people):
    ann = people["ann"]
    token = await sign_in(memos_client, ann)
    r = await memos_client.post("/web/memos", data={"content": "y" * 9000}, headers={**XHR, "X-CSRF-Token": token})
    assert r.status == 400
    assert (await r.json()) == {"message": "content too long"}
    assert await list_memos(memos_client, ann) == []


async def test_a_file_over_the_limit_without_javascript_keeps_the_text(memos_client, people):
    ann = people["ann"]
    await set_upload_limit(memos_client, people["admin"], 1)
    token = await sign_in(memos_client, ann)
    form = aiohttp.FormData()
    form.add_field("csrf_token", token)
    form.add_field("content", "my words")
    form.add_field("files", io.BytesIO(b"z" * (MIB + 10)), filename="huge.bin", content_type="application/octet-stream")
    r = await memos_client.post("/web/memos", data=form, allow_redirects=False)
    assert r.status == 400
    page = await r.text()
    assert textarea(page) == "my words"
    assert "huge.bin is too large (1.1 MiB): the upload limit is 1 MiB" in page
    assert await list_memos(memos_client, ann) == []
    assert await list_attachments(memos_client, ann) == []


# -- editing in place ----------------------------------------------------------------------------------
async def test_editor_fragment_for_the_owner_only(memos_client, people):
    ann, bob = people["ann"], people["bob"]
    target = await api_memo(memos_client, ann, "target memo")
    r = await memos_client.post(
        "/api/v1/memos",
        json={
            "content": "edit me",
            "visibility": "PUBLIC",
            "createTime": "2024-03-10T08:30:00Z",
            "relations": [{"relatedMemo": {"name": target["name"]}, "type": "REFERENCE"}],
            "location": {"placeholder": "Oslo", "latitude": 59.9, "longitude": 10.75},
        },
        headers=ann.headers,
    )
    memo = await r.json()
    uid = memo["name"].removeprefix("memos/")
    await sign_in(memos_client, ann)
    memos_client.session.cookie_jar.update_cookies({"memos_tz": "Europe%2FOslo"})  # as the page's script sets it
    r = await memos_client.get(f"/web/memos/{uid}/editor", headers=XHR)
    assert r.status == 200
    fragment = await r.text()
    assert fragment.lstrip().startswith("<form") and f'action="/web/memos/{uid}/update"' in fragment
    assert 'enctype="multipart/form-data"' in fragment
    assert textarea(fragment) == "edit me"
    assert 'name="createTime" value="2024-03-10T08:30:00Z"' in fragment
    assert 'name="createTimeLocal" data-create-time="" value="2024-03-10T09:30"' in fragment  # Oslo is UTC+1
    assert f'name="relation" value="{target["name"]}"' in fragment
    assert 'name="location_placeholder" value="Oslo"' in fragment

    await sign_in(memos_client, bob)
    r = await memos_client.get(f"/web/memos/{uid}/editor", headers=XHR)
    assert r.status == 403
    private = await api_memo(memos_client, ann, "private")
    r = await memos_client.get(f"/web/{private['name']}/editor", headers=XHR)
    assert r.status in (403, 404)


async def test_update_created_time_links_and_location(memos_client, people):
    ann = people["ann"]
    target = await api_memo(memos_client, ann, "target")
    other = await api_memo(memos_client, ann, "other")
    memo = await api_memo(
        memos_client,
        ann,
        "old text",
        createTime="2024-03-10T08:30:15Z",
        relations=[{"relatedMemo": {"name": target["name"]}, "type": "REFERENCE"}],
        location={"placeholder": "Oslo"},
    )
    uid = memo["name"].removeprefix("memos/")
    token = await sign_in(memos_client, ann)
    memos_client.session.cookie_jar.update_cookies({"memos_tz": "Europe/Oslo"})
    base = {
        "csrf_token": token,
        "next": f"/memos/{uid}",
        "attachments_sent": "1",
        "relations_sent": "1",
        "location_sent": "1",
        "visibility": "PRIVATE",
        "createTime": "2024-03-10T08:30:15Z",
    }

    # Unchanged local time (as the page showed it): the created time keeps its seconds.
    form = {**base, "content": "new text", "createTimeLocal": "2024-03-10T09:30", "relation": other["name"]}
    r = await memos_client.post(f"/web/memos/{uid}/update", data=form, allow_redirects=False)
    assert r.status == 303 and r.headers["Location"] == f"/memos/{uid}"
    got = await get_memo(memos_client, ann, memo["name"])
    assert got["content"] == "new text" and got["createTime"] == "2024-03-10T08:30:15Z"
    assert [r["relatedMemo"]["name"] for r in got["relations"] if r["memo"]["name"] == memo["name"]] == [other["name"]]
    assert "location" not in got or not got["location"]

    # Without JavaScript: a changed local time is read in the viewer's zone.
    form = {**base, "content": "new text", "createTimeLocal": "2023-12-24T18:00", "location_placeholder": "Bergen"}
    r = await memos_client.post(f"/web/memos/{uid}/update", data=form, allow_redirects=False)
    assert r.status == 303
    got = await get_memo(memos_client, ann, memo["name"])
    assert got["createTime"] == "2023-12-24T17:00:00Z"
    assert got["location"]["placeholder"] == "Bergen"
    assert got["relations"] == []

    # With JavaScript: the script sends RFC 3339 and no local field; the card comes back.
    form = {**base, "content": "by script", "createTime": "2022-01-02T03:04:05Z", "scope": ""}
    r = await memos_client.post(f"/web/memos/{uid}/update", data=form, headers={**XHR, "X-CSRF-Token": token})
    assert r.status == 200
    card = await r.text()
    assert card.lstrip().startswith("<article") and "by script" in card
    got = await get_memo(memos_client, ann, memo["name"])
    assert got["createTime"] == "2022-01-02T03:04:05Z"


async def test_update_without_javascript_adds_files_and_keeps_others(memos_client, people):
    ann = people["ann"]
    token = await sign_in(memos_client, ann)
    first = (await (await upload(memos_client, token, "first.txt", b"1")).json())["attachments"][0]
    memo = await api_memo(memos_client, ann, "has a file", attachments=[{"name": first["name"]}])
    uid = memo["name"].removeprefix("memos/")
    form = aiohttp.FormData()
    for key, value in (
        ("csrf_token", token),
        ("attachments_sent", "1"),
        ("content", "has two files"),
        ("attachment", first["name"]),
        ("createTime", memo["createTime"]),
    ):
        form.add_field(key, value)
    form.add_field("files", b"2", filename="second.txt", content_type="text/plain")
    r = await memos_client.post(f"/web/memos/{uid}/update", data=form, allow_redirects=False)
    assert r.status == 303, await r.text()
    got = await get_memo(memos_client, ann, memo["name"])
    assert [a["filename"] for a in got["attachments"]] == ["first.txt", "second.txt"]


async def test_update_too_long_without_javascript_keeps_the_edit(memos_client, people):
    ann = people["ann"]
    memo = await api_memo(memos_client, ann, "short")
    uid = memo["name"].removeprefix("memos/")
    token = await sign_in(memos_client, ann)
    long = "z" * 9000
    form = {
        "csrf_token": token,
        "content": long,
        "createTime": memo["createTime"],
        "createTimeLocal": "2020-05-05T05:05",
    }
    r = await memos_client.post(f"/web/memos/{uid}/update", data=form, allow_redirects=False)
    assert r.status == 400
    page = await r.text()
    assert textarea(page) == long and "content too long" in page
    assert f'action="/web/memos/{uid}/update"' in page
    assert 'data-create-time="typed" value="2020-05-05T05:05"' in page
    assert (await get_memo(memos_client, ann, memo["name"]))["content"] == "short"


async def test_home_editor_is_a_multipart_form_with_a_file_picker(memos_client, people):
    await sign_in(memos_client, people["ann"])
    page = await (await memos_client.get("/home")).text()
    form = re.search(r'<form class="editor"[^>]*>', page).group(0)
    assert 'action="/web/memos"' in form and 'enctype="multipart/form-data"' in form
    assert re.search(r'<label class="button file-pick">Attach files<input type="file" name="files" multiple', page)
    assert 'name="location_placeholder"' in page


def test_local_input_matches_what_the_page_shows() -> None:
    from memos_web.views.editor import local_input

    assert local_input("2024-07-01T22:15:00Z", "America/New_York") == "2024-07-01T18:15"
    assert local_input("2024-07-01T22:15:00Z", "UTC") == "2024-07-01T22:15"
    assert dt.datetime.fromisoformat(local_input("2024-01-01T00:00:00Z", "Asia/Tokyo")).hour == 9
