"""Attachments over HTTP: create rules, permission tables, paging, filters, the upload
limit, memo links, and bytes removed with their rows."""

from __future__ import annotations

import base64
import dataclasses
import datetime as dt
import io
import json
import re
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import make_mocked_request

from memos_core import jsonbody
from memos_core.config import Config
from memos_core.context import CONTEXT
from memos_core.services import attachments as attachment_service
from memos_core.store import settings as settings_store
from memos_core.store import tables

NAME = re.compile(r"^attachments/[A-Za-z0-9-]{1,36}$")
MIB = 1024 * 1024


@pytest.fixture
def memos_config(tmp_path, memos_driver, memos_new_config) -> Config:
    """The data directory is a child of ``tmp_path``, so tests can see anything written next to it."""
    data = tmp_path / "data"
    data.mkdir()
    if memos_driver == "sqlite":
        return Config(data=str(data), driver="sqlite")
    return dataclasses.replace(memos_new_config(memos_driver), data=str(data))


@pytest.fixture
def outside(tmp_path):
    """Files written outside the data directory (there must never be any)."""
    return lambda: sorted(p for p in tmp_path.rglob("*") if p.is_file() and not p.is_relative_to(tmp_path / "data"))


@pytest.fixture
async def people(memos_users):
    return {
        "owner": await memos_users("alice"),
        "other": await memos_users("bob"),
        "admin": await memos_users("root", role="ADMIN"),
    }


def ctx_of(client):
    return client.app[CONTEXT]


async def db(client, fn):
    ctx = ctx_of(client)
    async with ctx.store.connection():
        return await fn(ctx.store)


async def rows(client) -> list[dict]:
    q = sa.select(tables.attachment).order_by(tables.attachment.c.id)
    return [dict(r._mapping) for r in await db(client, lambda s: s.fetch_all(q))]


async def set_storage(client, value: dict) -> None:
    await db(client, lambda s: settings_store.set_instance_setting(s, "STORAGE", value))


def files_under(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file() and not p.name.startswith("memos_"))


async def upload(client, user, filename="note.txt", data=b"hello", *, params=None, **fields):
    body = {"filename": filename, "content": base64.b64encode(data).decode(), **fields}
    raw = io.BytesIO(json.dumps(body).encode())  # a stream: large bodies must not be sent as raw bytes
    headers = {**user.headers, "Content-Type": "application/json"}
    return await client.post("/api/v1/attachments", data=raw, params=params or {}, headers=headers)


async def create(client, user, filename="note.txt", data=b"hello", **fields) -> dict:
    r = await upload(client, user, filename, data, **fields)
    assert r.status == 200, await r.text()
    return await r.json()


async def new_memo(client, user, visibility="PRIVATE", **fields) -> str:
    r = await client.post(
        "/api/v1/memos", json={"content": "memo", "visibility": visibility, **fields}, headers=user.headers
    )
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


async def assert_error(r, status: int, code: int, message: str | None = None) -> None:
    assert r.status == status, await r.text()
    body = await r.json()
    assert body["code"] == code and body["details"] == []
    if message is not None:
        assert message in body["message"]


# -- create --------------------------------------------------------------------------------------
async def test_create_local_by_default(memos_client, people, memos_config):
    data = await create(memos_client, people["owner"], "note.txt", b"hello")
    assert NAME.match(data["name"])
    assert data == {
        "name": data["name"],
        "createTime": data["createTime"],
        "filename": "note.txt",
        "content": "",
        "externalLink": "",
        "type": "text/plain",
        "size": "5",
        "motionMedia": None,
    }
    created = dt.datetime.strptime(data["createTime"], "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=dt.UTC)
    assert abs(created.timestamp() - time.time()) < 5
    (row,) = await rows(memos_client)
    assert row["storage_type"] == "LOCAL" and row["blob"] is None and row["size"] == 5
    assert re.match(r"^assets/\d+_[0-9a-f-]{36}_note\.txt$", row["reference"])
    path = Path(memos_config.data) / row["reference"]
    assert path.read_bytes() == b"hello"
    assert path.stat().st_mode & 0o777 == 0o644


@pytest.mark.parametrize(
    ("filename", "data", "given", "expected"),
    [
        ("a.png", b"not really", "", "image/png"),
        ("a.pdf", b"x", None, "application/pdf"),
        ("noext", b"\x89PNG\r\n\x1a\n....", "", "image/png"),
        ("noext", b"plain words\n", "", "text/plain"),
        ("noext", b"\x00\x01\x02\xff", "", "application/octet-stream"),
        ("a.txt", b"x", "Text/Markdown; charset=utf-8", "text/markdown"),
        ("a.bin", b"x", "application/x-custom", "application/x-custom"),
    ],
)
async def test_type_from_request_extension_or_content(memos_client, people, filename, data, given, expected):
    fields = {} if given is None else {"type": given}
    assert (await create(memos_client, people["owner"], filename, data, **fields))["type"] == expected


@pytest.mark.parametrize("given", ["not a type", "text/", "/plain", "text/plain; =x", "a/" + "b" * 260])
async def test_invalid_type_is_400(memos_client, people, given):
    await assert_error(await upload(memos_client, people["owner"], type=given), 400, 3, "invalid type")
    assert await rows(memos_client) == []


@pytest.mark.parametrize(
    "filename",
    [
        "",
        "a/b.txt",
        "a\\b.txt",
        " lead.txt",
        "trail.txt ",
        ".hidden",
        "trail.",
        "..",
        "../../etc/passwd",
        "a\x00b.txt",
        "a\nb.txt",
        "a\u2215b.txt",  # division slash
        "a\uff0fb.txt",  # full-width solidus
        "\uff0e\uff0e",  # full-width dots
        "\uff0e\uff0e\u2215x",
        "%2e%2e%2fx",
        "evil\u202etxt.exe",  # right-to-left override
    ],
)
async def test_invalid_filenames_write_nothing(memos_client, people, memos_config, outside, filename):
    await assert_error(await upload(memos_client, people["owner"], filename), 400, 3)
    assert await rows(memos_client) == []
    assert files_under(Path(memos_config.data)) == [] and outside() == []


async def test_filename_is_stored_nfc(memos_client, people):
    data = await create(memos_client, people["owner"], "cafe\u0301.txt")
    assert data["filename"] == "caf\u00e9.txt"


async def test_missing_filename_bad_base64_and_bad_id(memos_client, people):
    owner = people["owner"]
    r = await memos_client.post("/api/v1/attachments", json={"content": "aGk="}, headers=owner.headers)
    await assert_error(r, 400, 3, "filename")
    r = await memos_client.post(
        "/api/v1/attachments", json={"filename": "a.txt", "content": "!!!"}, headers=owner.headers
    )
    await assert_error(r, 400, 3, "base64")
    await assert_error(await upload(memos_client, owner, params={"attachmentId": "-bad-"}), 400, 3)
    r = await memos_client.post("/api/v1/attachments", data=b"[1]", headers=owner.headers)
    await assert_error(r, 400, 3)
    assert await rows(memos_client) == []


async def test_url_safe_unpadded_base64_is_accepted(memos_client, people):
    raw = bytes([0xFB, 0xFF, 0xFE])  # "+//+" in standard base64
    body = {"filename": "x.bin", "content": base64.urlsafe_b64encode(raw).decode().rstrip("=")}
    r = await memos_client.post("/api/v1/attachments", json=body, headers=people["owner"].headers)
    assert r.status == 200 and (await r.json())["size"] == "3"


async def test_attachment_id_and_duplicates(memos_client, people):
    data = await create(memos_client, people["owner"], params={"attachmentId": "my-file-1"})
    assert data["name"] == "attachments/my-file-1"
    r = await upload(memos_client, people["other"], params={"attachmentId": "my-file-1"})
    await assert_error(r, 409, 6)
    assert len(await rows(memos_client)) == 1


async def test_anonymous_cannot_create(memos_client):
    r = await memos_client.post("/api/v1/attachments", json={"filename": "a.txt", "content": "aGk="})
    await assert_error(r, 401, 16)


async def test_create_linked_to_a_memo(memos_client, people):
    owner, other, admin = people["owner"], people["other"], people["admin"]
    memo = await new_memo(memos_client, owner)
    assert (await create(memos_client, owner, memo=memo))["memo"] == memo
    await assert_error(await upload(memos_client, other, memo=memo), 403, 7)
    assert (await create(memos_client, admin, memo=memo))["memo"] == memo
    await assert_error(await upload(memos_client, owner, memo="memos/missing"), 404, 5)
    await assert_error(await upload(memos_client, owner, memo="nope/x"), 400, 3)
    assert len(await rows(memos_client)) == 2


async def test_motion_media(memos_client, people):
    owner = people["owner"]
    motion = {"family": "APPLE_LIVE_PHOTO", "role": "VIDEO", "groupId": "g1", "presentationTimestampUs": 1500}
    data = await create(memos_client, owner, "live.mov", motionMedia=motion)
    assert data["motionMedia"] == {
        "family": "APPLE_LIVE_PHOTO",
        "role": "VIDEO",
        "groupId": "g1",
        "presentationTimestampUs": "1500",
        "hasEmbeddedVideo": False,
    }
    bad = {"family": "ANDROID_MOTION_PHOTO", "role": "CONTAINER", "groupId": "g"}
    await assert_error(await upload(memos_client, owner, motionMedia=bad), 400, 3)
    await assert_error(await upload(memos_client, owner, motionMedia={**motion, "groupId": ""}), 400, 3)


async def test_android_motion_photo_is_tagged(memos_client, people):
    xmp = b'<x:xmpmeta><rdf:Description GCamera:MotionPhoto="1"/></x:xmpmeta>'
    mp4 = (24).to_bytes(4, "big") + b"ftypmp42" + b"\x00" * 12
    photo = b"\xff\xd8\xff\xe1" + xmp + b"\x00" * 32 + b"\xff\xd9" + mp4
    data = await create(memos_client, people["owner"], "PXL_1.MP.jpg", photo)
    assert data["motionMedia"] == {
        "family": "ANDROID_MOTION_PHOTO",
        "role": "CONTAINER",
        "groupId": "",
        "presentationTimestampUs": "0",
        "hasEmbeddedVideo": True,
    }
    plain = await create(memos_client, people["owner"], "plain.jpg", b"\xff\xd8\xff\xe0" + xmp + b"\xff\xd9")
    assert plain["motionMedia"] is None  # declared but no video inside


# -- the upload limit ----------------------------------------------------------------------------
async def test_upload_limit(memos_client, people, memos_config):
    owner = people["owner"]
    await set_storage(memos_client, {"storageType": "LOCAL", "uploadSizeLimitMb": "1"})
    assert (await create(memos_client, owner, "exact.bin", b"x" * MIB))["size"] == str(MIB)
    r = await upload(memos_client, owner, "over.bin", b"x" * (MIB + 1))
    await assert_error(r, 400, 3, "file size exceeds the limit")
    assert [r["filename"] for r in await rows(memos_client)] == ["exact.bin"]
    assert len(files_under(Path(memos_config.data))) == 1


async def test_oversized_body_is_refused_by_content_length(memos_client, people, memos_config):
    await set_storage(memos_client, {"storageType": "LOCAL", "uploadSizeLimitMb": "1"})
    body = io.BytesIO(b'{"filename":"big.bin","content":"' + b"A" * (2 * MIB) + b'"}')
    r = await memos_client.post(
        "/api/v1/attachments",
        data=body,
        headers={**people["owner"].headers, "Content-Type": "application/json"},
    )
    await assert_error(r, 400, 3, "file size exceeds the limit")
    assert await rows(memos_client) == [] and files_under(Path(memos_config.data)) == []


async def test_oversized_chunked_body_is_refused_while_reading(memos_client, people):
    await set_storage(memos_client, {"storageType": "LOCAL", "uploadSizeLimitMb": "1"})

    async def body():
        yield b'{"filename":"big.bin","content":"'
        for _ in range(64):  # 4 MiB of base64 in 64 KiB pieces, no Content-Length
            yield b"A" * (64 * 1024)
        yield b'"}'

    r = await memos_client.post(
        "/api/v1/attachments", data=body(), headers={**people["owner"].headers, "Content-Type": "application/json"}
    )
    await assert_error(r, 400, 3, "file size exceeds the limit")
    assert await rows(memos_client) == []


class Unreadable:
    """A request body that fails the test if anyone reads it."""

    def iter_chunked(self, n):
        raise AssertionError("the body was read")


async def test_declared_oversize_is_refused_before_reading():
    request = make_mocked_request("POST", "/api/v1/attachments", headers={"Content-Length": str(10**9)})
    request._payload = Unreadable()
    with pytest.raises(jsonbody.BodyTooLarge):
        await jsonbody.read_body(request, attachment_service.max_body_bytes(MIB))


async def test_streamed_read_stops_at_the_limit():
    class Chunks:
        read = 0

        async def iter_chunked(self, n):
            for _ in range(100):
                Chunks.read += 1
                yield b"x" * 1000

    request = make_mocked_request("POST", "/api/v1/attachments", headers={"Transfer-Encoding": "chunked"})
    request._payload = Chunks()
    with pytest.raises(jsonbody.BodyTooLarge):
        await jsonbody.read_body(request, 5000)
    assert Chunks.read == 6  # stopped at the first chunk past the limit, the rest never pulled


async def test_stored_zero_limit_reads_as_30_mib(memos_client, people):
    await set_storage(memos_client, {"storageType": "LOCAL", "uploadSizeLimitMb": "0"})
    assert (await create(memos_client, people["owner"], "b.bin", b"x" * (MIB + 1)))["size"] == str(MIB + 1)


# -- get -----------------------------------------------------------------------------------------
#: (memo visibility or None for unlinked) -> expected status for anonymous, owner, other user, admin.
READ_TABLE = {
    None: (401, 200, 403, 200),
    "PUBLIC": (200, 200, 200, 200),
    "PROTECTED": (401, 200, 200, 200),
    "PRIVATE": (401, 200, 403, 200),
}


@pytest.mark.parametrize("visibility", list(READ_TABLE))
async def test_get_permission_table(memos_client, people, visibility):
    owner = people["owner"]
    fields = {"memo": await new_memo(memos_client, owner, visibility)} if visibility else {}
    name = (await create(memos_client, owner, **fields))["name"]
    callers = [None, owner, people["other"], people["admin"]]
    for caller, expected in zip(callers, READ_TABLE[visibility], strict=True):
        r = await memos_client.get(f"/api/v1/{name}", headers=caller.headers if caller else {})
        assert r.status == expected, (visibility, caller and caller.username, await r.text())
        if expected == 200:
            data = await r.json()
            assert data["name"] == name and data.get("memo") == fields.get("memo")


async def test_get_archived_memo_is_not_checked_and_missing_is_404(memos_client, people):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner, "PUBLIC")
    name = (await create(memos_client, owner, memo=memo))["name"]
    r = await memos_client.patch(
        f"/api/v1/{memo}", json={"state": "ARCHIVED"}, params={"updateMask": "state"}, headers=owner.headers
    )
    assert r.status == 200
    assert (await memos_client.get(f"/api/v1/{name}")).status == 200
    await assert_error(await memos_client.get("/api/v1/attachments/nope", headers=owner.headers), 404, 5)
    await assert_error(await memos_client.get("/api/v1/attachments/-x-", headers=owner.headers), 400, 3)


# -- list ----------------------------------------------------------------------------------------
async def backdate(client, name: str, updated_ts: int) -> None:
    uid = name.removeprefix("attachments/")
    q = tables.attachment.update().where(tables.attachment.c.uid == uid).values(updated_ts=updated_ts)
    await db(client, lambda s: s.execute(q))


async def list_names(client, user, **params) -> tuple[list[str], str, int]:
    r = await client.get("/api/v1/attachments", params=params, headers=user.headers)
    assert r.status == 200, await r.text()
    data = await r.json()
    assert data["totalSize"] == len(data["attachments"])
    return [a["name"] for a in data["attachments"]], data["nextPageToken"], data["totalSize"]


async def test_list_own_newest_update_first_with_offset_tokens(memos_client, people):
    owner = people["owner"]
    names = [(await create(memos_client, owner, f"f{i}.txt"))["name"] for i in range(5)]
    await create(memos_client, people["other"], "theirs.txt")
    for i, name in enumerate(names):
        await backdate(memos_client, name, 1000 + i)
    newest_first = names[::-1]
    assert await list_names(memos_client, owner) == (newest_first, "", 5)
    page1, token1, _ = await list_names(memos_client, owner, pageSize="2")
    assert (page1, token1) == (newest_first[:2], "2")
    page2, token2, _ = await list_names(memos_client, owner, pageSize="2", pageToken=token1)
    assert (page2, token2) == (newest_first[2:4], "4")
    page3, token3, _ = await list_names(memos_client, owner, pageSize="2", pageToken=token2)
    assert (page3, token3) == (newest_first[4:], "")
    # A full last page still gets a token, followed by an empty page.
    assert (await list_names(memos_client, owner, pageSize="5"))[1] == "5"
    assert await list_names(memos_client, owner, pageSize="5", pageToken="5") == ([], "", 0)
    # Over the maximum is clamped, not refused.
    assert (await list_names(memos_client, owner, pageSize="5000"))[0] == newest_first


async def test_list_default_page_size_is_50(memos_client, people):
    owner = people["owner"]
    values = [
        {
            "uid": f"bulk-{i}",
            "creator_id": owner.id,
            "created_ts": 1000,
            "updated_ts": 1000 + i,
            "filename": f"{i}.txt",
            "type": "text/plain",
            "size": 1,
            "storage_type": "",
            "reference": "",
            "payload": "{}",
        }
        for i in range(55)
    ]
    await db(memos_client, lambda s: s.execute(tables.attachment.insert().values(values)))
    names, token, total = await list_names(memos_client, owner)
    assert (len(names), token, total) == (50, "50", 50)
    assert names[0] == "attachments/bulk-54"


@pytest.mark.parametrize("token", ["abc", "-1", "1.5", "CAoQCg=="])
async def test_list_bad_token_is_400(memos_client, people, token):
    r = await memos_client.get("/api/v1/attachments", params={"pageToken": token}, headers=people["owner"].headers)
    await assert_error(r, 400, 3)


async def test_list_requires_sign_in(memos_client):
    await assert_error(await memos_client.get("/api/v1/attachments"), 401, 16)


async def test_list_filters(memos_client, people):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner)
    cat = (await create(memos_client, owner, "cat.png", b"x"))["name"]
    linked = (await create(memos_client, owner, "notes.txt", b"x", memo=memo))["name"]
    (await create(memos_client, people["other"], "cat2.png", b"x"))["name"]
    assert (await list_names(memos_client, owner, filter='filename.contains("cat")'))[0] == [cat]
    assert (await list_names(memos_client, owner, filter='mime_type == "image/png"'))[0] == [cat]
    assert (await list_names(memos_client, owner, filter="memo_id == null"))[0] == [cat]
    assert (await list_names(memos_client, owner, filter="memo_id != null"))[0] == [linked]
    assert len((await list_names(memos_client, owner, filter="create_time > now() - 60"))[0]) == 2
    r = await memos_client.get("/api/v1/attachments", params={"filter": "content == 1"}, headers=owner.headers)
    await assert_error(r, 400, 3)


# -- update --------------------------------------------------------------------------------------
async def rename(client, user, name, filename, mask="filename"):
    params = {"updateMask": mask} if mask is not None else {}
    return await client.patch(
        f"/api/v1/{name}", json={"filename": filename}, params=params, headers=user.headers if user else {}
    )


async def test_update_filename_permissions(memos_client, people):
    owner = people["owner"]
    name = (await create(memos_client, owner, "old.txt"))["name"]
    await backdate(memos_client, name, 1000)
    r = await rename(memos_client, owner, name, "new.txt")
    assert r.status == 200 and (await r.json())["filename"] == "new.txt"
    (row,) = await rows(memos_client)
    assert row["updated_ts"] > 1000 and row["reference"].endswith("_old.txt")  # the file is not moved
    await assert_error(await rename(memos_client, people["other"], name, "x.txt"), 403, 7)
    await assert_error(await rename(memos_client, None, name, "x.txt"), 401, 16)
    r = await rename(memos_client, people["admin"], name, "by-admin.txt")
    assert r.status == 200 and (await r.json())["filename"] == "by-admin.txt"
    await assert_error(await rename(memos_client, owner, "attachments/missing", "x.txt"), 404, 5)


async def test_update_needs_a_mask_and_a_valid_name(memos_client, people):
    owner = people["owner"]
    name = (await create(memos_client, owner, "old.txt"))["name"]
    await assert_error(await rename(memos_client, owner, name, "x.txt", mask=""), 400, 3)
    await assert_error(await rename(memos_client, owner, name, "../x.txt"), 400, 3)
    await assert_error(await rename(memos_client, owner, name, "../x.txt", mask=None), 400, 3)  # derived mask
    await assert_error(await rename(memos_client, owner, name, "a\u2215b"), 400, 3)
    r = await rename(memos_client, owner, name, "ignored.txt", mask="type")
    assert r.status == 200 and (await r.json())["filename"] == "old.txt"


# -- delete --------------------------------------------------------------------------------------
async def test_delete_is_for_the_creator_only(memos_client, people, memos_config):
    owner = people["owner"]
    name = (await create(memos_client, owner, "gone.txt"))["name"]
    (row,) = await rows(memos_client)
    path = Path(memos_config.data) / row["reference"]
    for caller in (people["other"], people["admin"]):
        await assert_error(await memos_client.delete(f"/api/v1/{name}", headers=caller.headers), 404, 5)
    await assert_error(await memos_client.delete(f"/api/v1/{name}"), 401, 16)
    assert path.exists()
    r = await memos_client.delete(f"/api/v1/{name}", headers=owner.headers)
    assert r.status == 200 and await r.json() == {}
    assert await rows(memos_client) == [] and not path.exists()
    await assert_error(await memos_client.delete(f"/api/v1/{name}", headers=owner.headers), 404, 5)


async def batch(client, user, names):
    return await client.post(
        "/api/v1/attachments:batchDelete", json={"names": names}, headers=user.headers if user else {}
    )


async def test_batch_delete(memos_client, people, memos_config):
    owner, other, admin = people["owner"], people["other"], people["admin"]
    mine = [(await create(memos_client, owner, f"m{i}.txt"))["name"] for i in range(3)]
    theirs = (await create(memos_client, other, "t.txt"))["name"]
    await assert_error(await batch(memos_client, owner, []), 400, 3)
    await assert_error(await batch(memos_client, owner, [f"attachments/x{i}" for i in range(101)]), 400, 3)
    await assert_error(await batch(memos_client, owner, ["memos/x"]), 400, 3)
    await assert_error(await batch(memos_client, None, mine), 401, 16)
    await assert_error(await batch(memos_client, owner, [mine[0], "attachments/missing"]), 404, 5)
    await assert_error(await batch(memos_client, owner, [mine[0], theirs]), 403, 7)
    assert len(await rows(memos_client)) == 4  # nothing deleted by the refused calls
    r = await batch(memos_client, owner, [mine[0], mine[1], mine[0]])
    assert r.status == 200 and await r.json() == {}
    assert [r["filename"] for r in await rows(memos_client)] == ["m2.txt", "t.txt"]
    r = await batch(memos_client, admin, [mine[2], theirs])
    assert r.status == 200
    assert await rows(memos_client) == [] and files_under(Path(memos_config.data)) == []


# -- memos ---------------------------------------------------------------------------------------
async def set_memo(client, user, memo, names):
    return await client.patch(
        f"/api/v1/{memo}/attachments",
        json={"name": memo, "attachments": [{"name": n} for n in names]},
        headers=user.headers if user else {},
    )


async def memo_attachments(client, user, memo) -> list[str]:
    r = await client.get(f"/api/v1/{memo}/attachments", headers=user.headers if user else {})
    assert r.status == 200, await r.text()
    data = await r.json()
    assert data["nextPageToken"] == ""
    return [a["name"] for a in data["attachments"]]


async def test_set_and_list_memo_attachments(memos_client, people, memos_config):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner, "PUBLIC")
    a, b, c = [(await create(memos_client, owner, f"{x}.txt"))["name"] for x in "abc"]
    r = await set_memo(memos_client, owner, memo, [b, a, c])
    assert r.status == 200 and await r.json() == {}
    assert await memo_attachments(memos_client, None, memo) == [b, a, c]  # request order
    embedded = (await (await memos_client.get(f"/api/v1/{memo}")).json())["attachments"]
    assert [x["name"] for x in embedded] == [b, a, c] and all(x["memo"] == memo for x in embedded)
    dropped = next(r for r in await rows(memos_client) if f"attachments/{r['uid']}" == c)
    assert await set_memo(memos_client, owner, memo, [a, b]) is not None
    assert await memo_attachments(memos_client, owner, memo) == [a, b]
    assert not (Path(memos_config.data) / dropped["reference"]).exists()  # dropped: row and file deleted
    assert len(await rows(memos_client)) == 2


async def test_set_memo_attachments_rules(memos_client, people):
    owner, other, admin = people["owner"], people["other"], people["admin"]
    memo = await new_memo(memos_client, owner)
    mine = (await create(memos_client, owner))["name"]
    theirs = (await create(memos_client, other))["name"]
    await assert_error(await set_memo(memos_client, None, memo, [mine]), 401, 16)
    await assert_error(await set_memo(memos_client, other, memo, [theirs]), 403, 7)
    await assert_error(await set_memo(memos_client, owner, memo, ["attachments/missing"]), 404, 5)
    await assert_error(await set_memo(memos_client, owner, memo, [theirs]), 403, 7)  # memos-py: own only
    await assert_error(await set_memo(memos_client, owner, "memos/missing", [mine]), 404, 5)
    assert await memo_attachments(memos_client, owner, memo) == []
    assert (await set_memo(memos_client, admin, memo, [mine, theirs])).status == 200
    assert sorted(await memo_attachments(memos_client, owner, memo)) == sorted([mine, theirs])


@pytest.mark.parametrize(
    ("visibility", "expected"),
    [("PUBLIC", (200, 200, 200, 200)), ("PROTECTED", (401, 200, 200, 200)), ("PRIVATE", (401, 200, 403, 200))],
)
async def test_list_memo_attachments_permissions(memos_client, people, visibility, expected):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner, visibility)
    await create(memos_client, owner, memo=memo)
    for caller, status in zip([None, owner, people["other"], people["admin"]], expected, strict=True):
        r = await memos_client.get(f"/api/v1/{memo}/attachments", headers=caller.headers if caller else {})
        assert r.status == status, (visibility, caller and caller.username)


async def test_memo_delete_removes_linked_files(memos_client, people, memos_config):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner, "PUBLIC")
    r = await memos_client.post(f"/api/v1/{memo}/comments", json={"content": "c"}, headers=owner.headers)
    comment = (await r.json())["name"]
    await create(memos_client, owner, "on-memo.txt", memo=memo)
    await create(memos_client, owner, "on-comment.txt", memo=comment)
    kept = (await create(memos_client, owner, "unlinked.txt"))["name"]
    assert len(files_under(Path(memos_config.data))) == 3
    assert (await memos_client.delete(f"/api/v1/{memo}", headers=owner.headers)).status == 200
    remaining = await rows(memos_client)
    assert [f"attachments/{r['uid']}" for r in remaining] == [kept]
    assert files_under(Path(memos_config.data)) == [Path(memos_config.data) / remaining[0]["reference"]]


async def test_update_memo_attachments_mask_removes_dropped_files(memos_client, people, memos_config):
    owner = people["owner"]
    a = (await create(memos_client, owner, "a.txt"))["name"]
    b = (await create(memos_client, owner, "b.txt"))["name"]
    memo = await new_memo(memos_client, owner, attachments=[{"name": a}, {"name": b}])
    r = await memos_client.patch(
        f"/api/v1/{memo}",
        json={"attachments": [{"name": b}]},
        params={"updateMask": "attachments"},
        headers=owner.headers,
    )
    assert r.status == 200 and [x["name"] for x in (await r.json())["attachments"]] == [b]
    (row,) = await rows(memos_client)
    assert files_under(Path(memos_config.data)) == [Path(memos_config.data) / row["reference"]]


async def test_create_memo_cannot_take_someone_elses_attachment(memos_client, people):
    theirs = (await create(memos_client, people["other"]))["name"]
    r = await memos_client.post(
        "/api/v1/memos", json={"content": "x", "attachments": [{"name": theirs}]}, headers=people["owner"].headers
    )
    await assert_error(r, 403, 7)


# -- orphans -------------------------------------------------------------------------------------
async def test_orphan_cleanup(memos_client, people, memos_config):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner)
    old = (await create(memos_client, owner, "old.txt"))["name"]
    old_linked = (await create(memos_client, owner, "old-linked.txt", memo=memo))["name"]
    fresh = (await create(memos_client, owner, "fresh.txt"))["name"]
    day_ago = int(time.time()) - 25 * 3600
    uids = [old.removeprefix("attachments/"), old_linked.removeprefix("attachments/")]
    q = tables.attachment.update().where(tables.attachment.c.uid.in_(uids)).values(created_ts=day_ago)
    await db(memos_client, lambda s: s.execute(q))
    old_path = next(Path(memos_config.data) / r["reference"] for r in await rows(memos_client) if r["uid"] == uids[0])
    assert await attachment_service.cleanup_orphans(memos_client.app) == 1
    assert sorted(f"attachments/{r['uid']}" for r in await rows(memos_client)) == sorted([old_linked, fresh])
    assert not old_path.exists() and len(files_under(Path(memos_config.data))) == 2
    assert await attachment_service.cleanup_orphans(memos_client.app) == 0


async def test_orphan_job_is_registered(memos_client):
    jobs = []
    ctx = ctx_of(memos_client)
    await ctx.all("memos_register_runners", register=lambda *a: jobs.append(a))
    assert ("attachment-orphans", "0 * * * *", attachment_service.cleanup_orphans) in jobs


async def test_partially_requested_live_photo_groups_are_dropped(memos_client, people):
    owner = people["owner"]
    memo = await new_memo(memos_client, owner)

    def live(role):
        return {"family": "APPLE_LIVE_PHOTO", "role": role, "groupId": "grp-1"}

    still = (await create(memos_client, owner, "p.heic", motionMedia=live("STILL")))["name"]
    video = (await create(memos_client, owner, "p.mov", motionMedia=live("VIDEO")))["name"]
    plain = (await create(memos_client, owner, "plain.txt"))["name"]
    assert (await set_memo(memos_client, owner, memo, [still, plain])).status == 200
    assert await memo_attachments(memos_client, owner, memo) == [plain]
    assert (await set_memo(memos_client, owner, memo, [still, video, plain])).status == 200
    assert await memo_attachments(memos_client, owner, memo) == [still, video, plain]
