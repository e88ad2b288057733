"""Import readers: the safe zip opener, Markdown folders/zips, Google Keep Takeout and another Memos
server. The readers touch no database; the remote one is tested against a real memos-py server
(once per driver) and against a server answering in the v0.22 shape."""

from __future__ import annotations

import base64
import io
import json
import os
import struct
import zipfile

import pytest

from memos_core.portability import safezip
from memos_core.portability.model import ImportRefused

# --------------------------------------------------------------------------- helpers


def make_zip(files: dict[str, bytes | str], *, compression: int = zipfile.ZIP_DEFLATED, date=None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression) as zf:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=date or (2021, 3, 4, 5, 6, 8))
            info.compress_type = compression
            zf.writestr(info, data.encode() if isinstance(data, str) else data)
    return buf.getvalue()


def refused(source, **limits) -> str:
    with pytest.raises(ImportRefused) as e, safezip.open_zip(source, **limits) as z:
        for entry in z:
            z.read(entry)
    return str(e.value)


# --------------------------------------------------------------------------- safezip


def test_safezip_reads_files_with_normalised_names_and_times():
    data = make_zip({"./notes/a.md": "hello", "notes\\b.md": "你好 🌏", "notes/": b""})
    with safezip.open_zip(data) as z:
        assert z.names() == ["notes/a.md", "notes/b.md"]
        assert z.read("notes/a.md") == b"hello"
        assert z.read(z.get("notes/b.md")).decode() == "你好 🌏"
        assert z.get("notes/a.md").mtime == 1614834368  # 2021-03-04 05:06:08 read as UTC


def test_safezip_refuses_a_zip_bomb():
    bomb = make_zip({"bomb.txt": b"\0" * (20 * 1024 * 1024)})
    assert len(bomb) < 100_000
    assert "zip bomb" in refused(bomb)


def test_safezip_refuses_climbing_absolute_and_drive_paths():
    assert "outside the archive" in refused(make_zip({"../evil.md": "x"}))
    assert "outside the archive" in refused(make_zip({"notes/../../evil.md": "x"}))
    assert "absolute path" in refused(make_zip({"/etc/evil.md": "x"}))
    assert "absolute path" in refused(make_zip({"C:\\evil.md": "x"}))


def test_safezip_refuses_symlinks_encrypted_and_duplicates():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        info = zipfile.ZipInfo("link.md")
        info.create_system = 3
        info.external_attr = (0o120777) << 16
        zf.writestr(info, "/etc/passwd")
    assert "symbolic link" in refused(buf.getvalue())

    encrypted = bytearray(make_zip({"secret.md": "x"}, compression=zipfile.ZIP_STORED))
    # set the "encrypted" bit in the local header and in the central directory entry
    encrypted[6] |= 1
    central = encrypted.rfind(b"PK\x01\x02")
    encrypted[central + 8] |= 1
    assert "encrypted" in refused(bytes(encrypted))

    assert "same name once normalised" in refused(make_zip({"Notes/A.md": "x", "notes/a.md": "y"}))


def test_safezip_refuses_too_many_entries_and_oversized_files():
    many = make_zip({f"n{i}.md": "x" for i in range(30)})
    assert "30 entries" in refused(many, max_entries=20)
    assert "limit per file" in refused(make_zip({"big.md": os.urandom(5000)}), max_file_size=4096)
    assert "add up to more than" in refused(
        make_zip({"a.md": os.urandom(3000), "b.md": os.urandom(3000)}), max_total_size=5000
    )


@pytest.mark.parametrize("data", [b"", b"not a zip at all", b"PK\x03\x04" + os.urandom(200)])
def test_safezip_refuses_garbage(data):
    assert "not a zip archive" in refused(data)


def test_safezip_refuses_a_truncated_archive():
    whole = make_zip({"a.md": os.urandom(4000)})
    assert "not a zip archive" in refused(whole[: len(whole) // 2])


def test_safezip_refuses_an_entry_whose_header_understates_its_size():
    payload = b"A" * 4000 + os.urandom(4000)
    data = bytearray(make_zip({"liar.md": payload}))
    # Patch the uncompressed size in the central directory (and the local header) to 100 bytes:
    # the declared-size checks pass, the bytes inflated do not match.
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 100)
    struct.pack_into("<I", data, 22, 100)
    message = refused(bytes(data), max_file_size=1000)
    assert "damaged" in message or "hostile" in message

    # and one that overstates it: the stream ends before the declared size
    data = bytearray(make_zip({"short.md": payload}, compression=zipfile.ZIP_STORED))
    central = data.rfind(b"PK\x01\x02")
    struct.pack_into("<I", data, central + 24, 9000)
    assert "shorter than its header declares" in refused(bytes(data))


def test_safezip_reads_from_a_path(tmp_path):
    path = tmp_path / "a.zip"
    path.write_bytes(make_zip({"a.md": "x"}))
    with safezip.open_zip(path) as z:
        assert z.read("a.md") == b"x"
    assert "does not exist" in refused(tmp_path / "missing.zip")


# --------------------------------------------------------------------------- Markdown

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 32

NOTE_WITH_FRONT_MATTER = """---
uid: trip-notes
created: 2023-05-01T09:30:00+02:00
updated: 1700000000
visibility: public
pinned: true
state: ARCHIVED
tags: [travel, "#京都", ideas]
location: {placeholder: Kyoto, latitude: 35.0116, longitude: 135.7681}
---
# 京都 trip 🗾

Temples #travel and ![gate](img/torii%20gate.png) and [plan](../notes/plan.md "plan").
<img src="img/map.jpg"> [web](https://example.com/x.png) ![missing](img/none.png)
"""


def markdown_tree() -> dict[str, bytes | str]:
    return {
        "notes/trip.md": NOTE_WITH_FRONT_MATTER,
        "notes/img/torii gate.png": PNG,
        "notes/img/map.jpg": b"\xff\xd8\xff\xe0 jpeg",
        "notes/plan.md": "Plain note #todo, 你好 👋\n\n---\n\nafter a rule\n",
        "notes/diary.txt": "\ufeffa text file",
        "notes/unused.bin": b"\0\1",
        ".hidden/secret.md": "skip me",
        "__MACOSX/notes/._trip.md": "skip me",
    }


def check_markdown_memos(memos, plan_time: int) -> None:
    by_key = {m.key: m for m in memos}
    assert sorted(by_key) == ["notes/diary.txt", "notes/plan.md", "notes/trip.md"]
    trip = by_key["notes/trip.md"]
    gate, jpeg = (a.uid for a in trip.attachments)
    # Links to attached files point at the attachments; links to notes, the web or nothing stay.
    assert trip.content == NOTE_WITH_FRONT_MATTER.split("---\n", 2)[2].replace(
        "(img/torii%20gate.png)", f"(/file/attachments/{gate}/torii%20gate.png)"
    ).replace('"img/map.jpg"', f'"/file/attachments/{jpeg}/map.jpg"')
    assert "(../notes/plan.md" in trip.content and "(img/none.png)" in trip.content
    assert "uid:" not in trip.content
    assert trip.uid == "trip-notes"
    assert trip.create_time == 1682926200  # 07:30 UTC
    assert trip.update_time == 1700000000
    assert (trip.visibility, trip.pinned, trip.archived) == ("PUBLIC", True, True)
    assert trip.tags == ["京都", "ideas"]  # travel is already in the content
    assert trip.location == {"placeholder": "Kyoto", "latitude": 35.0116, "longitude": 135.7681}
    assert [(a.filename, a.type, a.data) for a in trip.attachments] == [
        ("torii gate.png", "image/png", PNG),
        ("map.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 jpeg"),
    ]
    assert trip.references == ["notes/plan.md"]

    plan = by_key["notes/plan.md"]
    assert plan.content == "Plain note #todo, 你好 👋\n\n---\n\nafter a rule\n"
    assert (plan.create_time, plan.update_time) == (plan_time, plan_time)
    assert (plan.visibility, plan.pinned, plan.archived, plan.tags, plan.uid) == ("PRIVATE", False, False, [], "")
    assert plan.attachments == [] and plan.references == []
    assert by_key["notes/diary.txt"].content == "a text file"


def test_markdown_zip():
    from memos_core.portability.readers import markdown

    data = make_zip(markdown_tree(), date=(2022, 1, 2, 3, 4, 6))
    check_markdown_memos(markdown.read_zip(data), plan_time=1641092646)


def test_markdown_folder(tmp_path):
    from memos_core.portability.readers import markdown

    for name, data in markdown_tree().items():
        path = tmp_path / "root" / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data.encode() if isinstance(data, str) else data)
    os.utime(tmp_path / "root/notes/plan.md", (1641092646, 1641092646))
    # a link inside the folder is fine (and not read twice)
    os.symlink(tmp_path / "root/notes/img", tmp_path / "root/notes/pictures")
    check_markdown_memos(markdown.read_folder(tmp_path / "root"), plan_time=1641092646)


def test_markdown_folder_refuses_a_symlink_out_of_it(tmp_path):
    from memos_core.portability.readers import markdown

    (tmp_path / "outside.md").write_text("private")
    (tmp_path / "root").mkdir()
    (tmp_path / "root/a.md").write_text("a")
    os.symlink(tmp_path / "outside.md", tmp_path / "root/leak.md")
    with pytest.raises(ImportRefused, match=r"leak\.md is a symbolic link pointing outside the folder"):
        markdown.read_folder(tmp_path / "root")
    os.unlink(tmp_path / "root/leak.md")
    os.symlink(tmp_path, tmp_path / "root/up")
    with pytest.raises(ImportRefused, match="up is a symbolic link pointing outside"):
        markdown.read_folder(tmp_path / "root")
    os.unlink(tmp_path / "root/up")
    assert [m.key for m in markdown.read_folder(tmp_path / "root")] == ["a.md"]
    with pytest.raises(ImportRefused, match="not a folder"):
        markdown.read_folder(tmp_path / "root/a.md")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("---\nvisibility: [\n---\nx", "front matter is not valid YAML"),
        ("---\nvisibility: secret\n---\nx", "visibility must be one of"),
        ("---\ncreated: next tuesday\n---\nx", "created 'next tuesday' is not a time"),
        ("---\npinned: maybe\n---\nx", "pinned must be true or false"),
        ("---\nstate: DELETED\n---\nx", "state must be NORMAL or ARCHIVED"),
        ("---\ntags: {a: 1}\n---\nx", "tags must be a list"),
        ("---\nlocation: {latitude: 200, longitude: 0}\n---\nx", "out of range"),
    ],
)
def test_markdown_bad_front_matter_is_refused_naming_the_file(text, message):
    from memos_core.portability.readers import markdown

    with pytest.raises(ImportRefused, match=message) as e:
        markdown.read_zip(make_zip({"ok.md": "fine", "dir/bad.md": text}))
    assert str(e.value).startswith("dir/bad.md: ")


def test_markdown_refuses_non_utf8_and_unsafe_zips():
    from memos_core.portability.readers import markdown

    with pytest.raises(ImportRefused, match=r"latin\.md is not UTF-8"):
        markdown.read_zip(make_zip({"latin.md": "café".encode("latin-1")}))
    with pytest.raises(ImportRefused, match="outside the archive"):
        markdown.read_zip(make_zip({"a.md": "x", "../evil.md": "y"}))
    with pytest.raises(ImportRefused, match="No notes to import"):
        markdown.read_zip(make_zip({"a.png": PNG, ".hidden.md": "x"}))


# --------------------------------------------------------------------------- Google Keep


def keep_note(**fields) -> str:
    note = {
        "color": "DEFAULT",
        "isTrashed": False,
        "isPinned": False,
        "isArchived": False,
        "title": "",
        "textContent": "",
        "userEditedTimestampUsec": 1700000000123456,
        "createdTimestampUsec": 1690000000654321,
        "textContentHtml": "<p>ignored</p>",
    }
    note.update(fields)
    return json.dumps(note, ensure_ascii=False)


def keep_takeout() -> dict[str, bytes | str]:
    return {
        "Takeout/archive_browser.html": "<html></html>",
        "Takeout/Keep/Labels.txt": "Road trip\n",
        "Takeout/Keep/Groceries.json": keep_note(
            title="Groceries 🛒",
            listContent=[{"text": "牛乳", "isChecked": False}, {"text": "bread\n rolls", "isChecked": True}],
            labels=[{"name": "Road trip"}, {"name": "家事"}, {"name": "Road trip"}],
            isPinned=True,
        ),
        "Takeout/Keep/Old idea.json": keep_note(
            textContent="Archived #idea with a link https://example.com/a",
            annotations=[
                {"description": "", "source": "WEBLINK", "title": "A", "url": "https://example.com/a"},
                {"description": "", "source": "WEBLINK", "title": "Docs [v2]", "url": "https://example.com/docs"},
            ],
            isArchived=True,
        ),
        "Takeout/Keep/Deleted.json": keep_note(textContent="in the bin", isTrashed=True),
        "Takeout/Keep/Photo.json": keep_note(
            title="Photo",
            textContent="see picture",
            attachments=[
                {"filePath": "1a2b3c.jpeg", "mimetype": "image/jpeg"},
                {"filePath": "gone.png", "mimetype": "image/png"},
            ],
            createdTimestampUsec=0,
        ),
        "Takeout/Keep/1a2b3c.jpg": b"\xff\xd8\xff\xe0 photo",
    }


def test_keep_takeout():
    from memos_core.portability.readers import keep

    memos = keep.read_zip(make_zip(keep_takeout()))
    by_key = {m.key: m for m in memos}
    assert sorted(by_key) == ["Groceries.json", "Old idea.json", "Photo.json"]  # the trashed one is skipped

    groceries = by_key["Groceries.json"]
    assert groceries.content == "# Groceries 🛒\n\n- [ ] 牛乳\n- [x] bread rolls"
    assert groceries.tags == ["Road-trip", "家事"]
    assert (groceries.pinned, groceries.archived, groceries.visibility) == (True, False, "PRIVATE")
    assert (groceries.create_time, groceries.update_time) == (1690000000, 1700000000)

    idea = by_key["Old idea.json"]
    assert idea.content == (
        "Archived #idea with a link https://example.com/a\n\n[Docs \\[v2\\]](https://example.com/docs)"
    )
    assert (idea.pinned, idea.archived, idea.tags) == (False, True, [])

    photo = by_key["Photo.json"]
    assert photo.content == "# Photo\n\nsee picture"
    assert [(a.filename, a.type, a.data) for a in photo.attachments] == [
        ("1a2b3c.jpg", "image/jpeg", b"\xff\xd8\xff\xe0 photo")
    ]
    assert (photo.create_time, photo.update_time) == (1700000000, 1700000000)


def test_keep_refusals():
    from memos_core.portability.readers import keep

    with pytest.raises(ImportRefused, match="No Google Keep notes"):
        keep.read_zip(make_zip({"Takeout/Keep/readme.txt": "x"}))
    with pytest.raises(ImportRefused, match=r"Takeout/Keep/broken\.json is not a valid Keep note"):
        keep.read_zip(make_zip({"Takeout/Keep/broken.json": "{not json"}))
    with pytest.raises(ImportRefused, match="outside the archive"):
        keep.read_zip(make_zip({**keep_takeout(), "Takeout/Keep/../../x.json": "{}"}))
    assert keep.label_to_tag("  a b#c.d  ") == "a-b-c-d"


# --------------------------------------------------------------------------- another Memos server


async def test_remote_reads_the_token_users_memos_from_a_memos_py_server(memos_client, memos_users):
    from memos_core.portability.readers import remote

    alice = await memos_users("alice")
    bob = await memos_users("bob")

    async def post(path, body, user=alice, **params):
        r = await memos_client.post(path, json=body, headers=user.headers, params=params)
        assert r.status == 200, await r.text()
        return await r.json()

    photo = os.urandom(3000)
    att = await post(
        "/api/v1/attachments",
        {"filename": "photo 1.bin", "type": "application/octet-stream", "content": base64.b64encode(photo).decode()},
    )
    first = await post(
        "/api/v1/memos",
        {
            "content": "Hello #travel 你好 🌏",
            "visibility": "PUBLIC",
            "pinned": True,
            "attachments": [{"name": att["name"]}],
            "location": {"placeholder": "Kyoto", "latitude": 35.0, "longitude": 135.5},
            "createTime": "2020-01-02T03:04:05Z",
            "updateTime": "2021-01-02T03:04:05Z",
        },
        memoId="first-memo",
    )
    archived = await post("/api/v1/memos", {"content": "old", "visibility": "PRIVATE"})
    r = await memos_client.patch(
        f"/api/v1/{archived['name']}", json={"state": "ARCHIVED"}, params={"updateMask": "state"}, headers=alice.headers
    )
    assert r.status == 200, await r.text()
    ref = await post(
        "/api/v1/memos",
        {"content": "see first", "relations": [{"relatedMemo": {"name": first["name"]}, "type": "REFERENCE"}]},
    )
    for i in range(5):
        await post("/api/v1/memos", {"content": f"filler {i}"})
    mine = await post(f"/api/v1/{first['name']}/comments", {"content": "my comment", "visibility": "PUBLIC"})
    await post(f"/api/v1/{first['name']}/comments", {"content": "bob's comment", "visibility": "PUBLIC"}, user=bob)
    await post("/api/v1/memos", {"content": "bob's public memo", "visibility": "PUBLIC"}, user=bob)
    for user, emoji in ((alice, "👍"), (bob, "🎉")):
        await post(
            f"/api/v1/{first['name']}/reactions",
            {"reaction": {"contentId": first["name"], "reactionType": emoji}},
            user=user,
        )

    url = str(memos_client.make_url("/"))
    memos = await remote.read(url, alice.token, allow_private=True, page_size=3)
    by_key = {m.key: m for m in memos}
    assert {first["name"], archived["name"], ref["name"]} < set(by_key)
    assert sorted(m.content for m in memos if m.content.startswith("filler")) == [f"filler {i}" for i in range(5)]
    assert len(memos) == 8

    one = by_key[first["name"]]
    assert (one.content, one.visibility, one.pinned, one.archived, one.uid) == (
        "Hello #travel 你好 🌏",
        "PUBLIC",
        True,
        False,
        "first-memo",
    )
    assert (one.create_time, one.update_time) == (1577934245, 1609556645)
    assert one.location == {"placeholder": "Kyoto", "latitude": 35.0, "longitude": 135.5}
    assert [(a.filename, a.type, a.data) for a in one.attachments] == [
        ("photo 1.bin", "application/octet-stream", photo)
    ]
    assert sorted((r.reaction_type, r.creator) for r in one.reactions) == [("🎉", "bob"), ("👍", "")]
    assert [(c.key, c.content, c.visibility) for c in one.comments] == [(mine["name"], "my comment", "PUBLIC")]
    assert by_key[archived["name"]].archived is True
    assert by_key[ref["name"]].references == [first["name"]]
    assert one.references == []

    # the bad token, the guard against private addresses, no server at all
    with pytest.raises(ImportRefused, match="refused the access token"):
        await remote.read(url, "not-a-token", allow_private=True)
    with pytest.raises(ImportRefused, match="not allowed"):
        await remote.read(url, alice.token)
    with pytest.raises(ImportRefused, match="http"):
        await remote.read("ftp://example.com", alice.token)


def v022_memo(number: int, content: str, **fields) -> dict:
    memo = {
        "name": f"memos/{number}",
        "uid": f"uid{number}",
        "rowStatus": "ACTIVE",
        "creator": "users/1",
        "createTime": "2024-02-03T04:05:06Z",
        "updateTime": "2024-02-04T04:05:06.123456789Z",
        "displayTime": "2024-02-03T04:05:06Z",
        "content": content,
        "nodes": [],
        "visibility": "PROTECTED",
        "tags": [],
        "pinned": False,
        "resources": [],
        "relations": [],
        "reactions": [],
    }
    memo.update(fields)
    return memo


async def test_remote_reads_a_v022_server(aiohttp_server):
    """v0.22 names memos and users by number, has ``resources`` and ``rowStatus``, relation ends as
    plain names, POST /api/v1/auth/status, a ``row_status`` filter and bytes at ``/file/resources/{id}``."""
    from aiohttp import web

    from memos_core.portability.readers import remote

    blob = "日本語 🎌".encode() * 100
    first = v022_memo(
        1,
        "first #tag",
        pinned=True,
        resources=[
            {"name": "resources/7", "uid": "r7", "filename": "note.txt", "type": "text/plain", "size": len(blob)},
            {"name": "resources/8", "uid": "r8", "filename": "x", "externalLink": "https://example.com/x", "type": ""},
        ],
        relations=[
            {"memo": "memos/3", "relatedMemo": "memos/1", "type": "COMMENT"},
            {"memo": "memos/2", "relatedMemo": "memos/1", "type": "REFERENCE"},
        ],
        reactions=[{"id": 4, "creator": "users/2", "contentId": "memos/1", "reactionType": "❤️"}],
    )
    second = v022_memo(
        2, "refers to [[first]]", relations=[{"memo": "memos/2", "relatedMemo": "memos/1", "type": "REFERENCE"}]
    )
    archived = v022_memo(5, "archived", rowStatus="ARCHIVED", visibility="PRIVATE")
    comment = v022_memo(3, "a comment", parentId=1, visibility="PUBLIC")
    others = v022_memo(9, "not mine", creator="users/2", visibility="PUBLIC")
    seen_filters = []

    def authorised(request) -> bool:
        return request.headers.get("Authorization") == "Bearer v22-token"

    async def auth_me(request):  # the front end's fallback page, as v0.22 serves unknown paths
        return web.Response(text="<!doctype html><title>Memos</title>", content_type="text/html")

    async def auth_status(request):
        if not authorised(request):
            return web.json_response({"code": 16, "message": "unauthenticated", "details": []}, status=401)
        return web.json_response(
            {"name": "users/1", "id": 1, "username": "alice", "role": "HOST", "rowStatus": "ACTIVE"}
        )

    async def list_memos(request):
        assert authorised(request)
        flt = request.query.get("filter", "")
        seen_filters.append(flt)
        if "row_status" not in flt:
            return web.json_response({"code": 3, "message": "invalid filter", "details": []}, status=400)
        if 'row_status == "ARCHIVED"' in flt:
            return web.json_response({"memos": [archived], "nextPageToken": ""})
        pages = {"": ([first, others], "p2"), "p2": ([second], "")}
        memos, token = pages[request.query.get("pageToken", "")]
        return web.json_response({"memos": memos, "nextPageToken": token})

    async def comments(request):
        assert request.match_info["id"] == "1"
        return web.json_response({"memos": [comment, v022_memo(4, "bob's", creator="users/2", parentId=1)]})

    async def resource(request):
        assert authorised(request)
        assert request.match_info["id"] == "7"
        return web.Response(body=blob, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/api/v1/auth/me", auth_me)
    app.router.add_post("/api/v1/auth/status", auth_status)
    app.router.add_get("/api/v1/memos", list_memos)
    app.router.add_get("/api/v1/memos/{id}/comments", comments)
    app.router.add_get("/file/resources/{id}", resource)
    server = await aiohttp_server(app)
    url = str(server.make_url(""))

    memos = await remote.read(url, "v22-token", allow_private=True)
    assert seen_filters[0] == 'creator == "users/1" && row_status == "NORMAL"'
    by_key = {m.key: m for m in memos}
    assert sorted(by_key) == ["memos/1", "memos/2", "memos/5"]
    one = by_key["memos/1"]
    assert (one.uid, one.content, one.visibility, one.pinned, one.archived) == (
        "uid1",
        "first #tag",
        "PROTECTED",
        True,
        False,
    )
    assert (one.create_time, one.update_time) == (1706933106, 1707019506)
    assert [(a.filename, a.type, a.data) for a in one.attachments] == [("note.txt", "text/plain", blob)]
    assert [(r.reaction_type, r.creator) for r in one.reactions] == [("❤️", "2")]
    assert [(c.key, c.content, c.visibility) for c in one.comments] == [("memos/3", "a comment", "PUBLIC")]
    assert by_key["memos/2"].references == ["memos/1"]
    assert by_key["memos/5"].archived is True and by_key["memos/5"].visibility == "PRIVATE"

    with pytest.raises(ImportRefused, match="refused the access token"):
        await remote.read(url, "wrong", allow_private=True)
    with pytest.raises(ImportRefused, match="does not answer like a Memos server"):
        await remote.read(url + "/elsewhere", "v22-token", allow_private=True)
    # a download cap smaller than the attachment refuses the whole import
    with pytest.raises(ImportRefused, match="larger than the limit"):
        await remote.read(url, "v22-token", allow_private=True, max_attachment_size=100)


def test_markdown_wiki_links_reference_definitions_and_cjk_names():
    from memos_core.portability.readers import markdown

    memos = markdown.read_zip(
        make_zip(
            {
                "vault/日记/今天.md": "![[猫 cat.png]] and [[Ideas]] and [[missing]]\n\n[logo]: ../assets/logo.svg\n",
                "vault/Ideas.md": "ideas 💡 [[日记/今天]]",
                "vault/attachments/猫 cat.png": PNG,
                "vault/assets/logo.svg": "<svg/>",
            }
        )
    )
    by_key = {m.key: m for m in memos}
    today = by_key["vault/日记/今天.md"]
    assert [(a.filename, a.type) for a in today.attachments] == [
        ("logo.svg", "image/svg+xml"),
        ("猫 cat.png", "image/png"),
    ]
    assert today.references == ["vault/Ideas.md"]
    logo, cat = (a.uid for a in today.attachments)
    # A wiki embed of a file becomes a Markdown image of the attachment; wiki links to notes stay.
    assert today.content == (
        f"![猫 cat.png](/file/attachments/{cat}/%E7%8C%AB%20cat.png) and [[Ideas]] and [[missing]]\n\n"
        f"[logo]: /file/attachments/{logo}/logo.svg\n"
    )
    assert by_key["vault/Ideas.md"].references == ["vault/日记/今天.md"]
