"""The attachment file server over HTTP: permissions per storage kind, share tokens, the
refresh-cookie fallback, Range and conditional requests, headers per content type, thumbnails."""

from __future__ import annotations

import asyncio
import base64
import io
import threading
import time
import uuid
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image

from memos_core import thumbnails
from memos_core.context import CONTEXT
from memos_core.hookspecs import hookimpl
from memos_core.storage import Download
from memos_core.store import tables

CONTENT = bytes(range(256)) * 4  # 1024 bytes, every offset distinguishable enough


# -- test backends ---------------------------------------------------------------------------------
async def blob_of(ctx, row) -> bytes:
    """The file server hands backends the row without its blob: they read it themselves."""
    assert "blob" not in row
    query = sa.select(tables.attachment.c.blob).where(tables.attachment.c.id == row["id"])
    return await ctx.store.fetch_val(query) or b""


class StreamFake:
    """Streams ``blob`` in 7-byte pieces through ``chunks(start, end)`` (inclusive end), like a proxied S3 read."""

    def __init__(self, *, sized: bool = True) -> None:
        self.sized = sized
        self.calls: list[tuple[int | None, int | None]] = []

    async def open(self, ctx, row):
        blob = await blob_of(ctx, row)

        async def chunks(start, end):
            self.calls.append((start, end))
            part = blob[start or 0 : None if end is None else end + 1]
            for i in range(0, len(part), 7):
                await asyncio.sleep(0)
                yield part[i : i + 7]

        return Download(size=len(blob) if self.sized else None, chunks=chunks, modified_ts=row["updated_ts"])


class RedirectFake:
    async def open(self, ctx, row):
        return Download(redirect=f"https://objects.example.com/{row['uid']}?signature=abc")


class FakeStorage:
    """Backends the core does not have: a ranged stream and a redirect (LOCAL and DATABASE are the core's)."""

    def __init__(self) -> None:
        self.backends = {
            "TESTSTREAM": StreamFake(),
            "TESTSTREAM_UNSIZED": StreamFake(sized=False),
            "TESTREDIRECT": RedirectFake(),
        }

    @hookimpl
    def memos_register_storage(self, register) -> None:
        for name, backend in self.backends.items():
            register(name, backend)


@pytest.fixture
def storage() -> FakeStorage:
    return FakeStorage()


@pytest.fixture
def memos_extra_plugins(storage):
    return [storage]


@pytest.fixture
async def people(memos_users):
    return {
        "owner": await memos_users("alice"),
        "other": await memos_users("bob"),
        "admin": await memos_users("root", role="ADMIN"),
    }


# -- helpers ---------------------------------------------------------------------------------------
def ctx_of(client):
    return client.app[CONTEXT]


async def run(client, stmt):
    async with ctx_of(client).store.connection():
        return await ctx_of(client).store.execute(stmt)


async def new_memo(client, user, visibility="PRIVATE") -> tuple[str, int]:
    r = await client.post("/api/v1/memos", json={"content": "note", "visibility": visibility}, headers=user.headers)
    assert r.status == 200, await r.text()
    uid = (await r.json())["name"].removeprefix("memos/")
    async with ctx_of(client).store.connection():
        memo_id = await ctx_of(client).store.fetch_val(sa.select(tables.memo.c.id).where(tables.memo.c.uid == uid))
    return uid, memo_id


async def add_attachment(
    client,
    creator,
    *,
    content: bytes = CONTENT,
    type: str = "application/octet-stream",
    filename: str = "file.bin",
    memo_id: int | None = None,
    kind: str = "DATABASE",
) -> str:
    """Insert an attachment row straight into the store; LOCAL writes the file under the data dir."""
    uid = uuid.uuid4().hex[:20]
    blob, reference, storage_type = content, "", kind
    if kind == "DATABASE":
        storage_type = ""
    elif kind == "LOCAL":
        reference = f"assets/{uid}_{filename}"
        path = ctx_of(client).config.data_dir / reference
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        blob = None
    now = int(time.time()) - 100
    await run(
        client,
        tables.attachment.insert().values(
            uid=uid,
            creator_id=creator.id,
            created_ts=now,
            updated_ts=now,
            filename=filename,
            blob=blob,
            type=type,
            size=len(content),
            memo_id=memo_id,
            storage_type=storage_type,
            reference=reference,
            payload="{}",
        ),
    )
    return uid


def url(uid: str, filename: str = "whatever.bin", **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/file/attachments/{uid}/{filename}" + (f"?{q}" if q else "")


def assert_security_headers(r) -> None:
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert r.headers["X-Frame-Options"] == "DENY"
    assert r.headers["Content-Security-Policy"] == "default-src 'none'; style-src 'unsafe-inline';"


async def assert_error(r, status: int, code: int) -> None:
    assert r.status == status, await r.text()
    assert r.content_type == "application/json"
    body = await r.json()
    assert body["code"] == code and body["message"] and body["details"] == []
    assert_security_headers(r)
    assert r.headers["Cache-Control"] == "no-store"


def png(width: int, height: int, mode: str = "RGB") -> bytes:
    im = Image.new(mode, (width, height))
    for x in range(0, width, 50):  # some structure so the encoders have work to do
        for y in range(0, height, 50):
            im.putpixel((x, y), (x % 256, y % 256, 128) + ((255,) if mode == "RGBA" else ()))
    out = io.BytesIO()
    im.save(out, "PNG")
    return out.getvalue()


# -- permissions -----------------------------------------------------------------------------------
PERMISSIONS = {  # state -> {viewer: expected status}
    "UNLINKED": {None: 401, "owner": 200, "other": 403, "admin": 200},
    "PUBLIC": {None: 200, "owner": 200, "other": 200, "admin": 200},
    "PROTECTED": {None: 401, "owner": 200, "other": 200, "admin": 200},
    "PRIVATE": {None: 401, "owner": 200, "other": 403, "admin": 200},
}


@pytest.mark.parametrize("kind", ["DATABASE", "LOCAL"])
@pytest.mark.parametrize("state", list(PERMISSIONS))
async def test_permission_table(memos_client, people, kind, state):
    memo_id = None
    if state != "UNLINKED":
        _, memo_id = await new_memo(memos_client, people["owner"], state)
    uid = await add_attachment(memos_client, people["owner"], memo_id=memo_id, kind=kind, type="image/png")
    for who, expected in PERMISSIONS[state].items():
        headers = people[who].headers if who else {}
        r = await memos_client.get(url(uid), headers=headers)
        if expected == 200:
            assert r.status == 200, (who, await r.text())
            assert await r.read() == CONTENT
            assert_security_headers(r)
            public = state == "PUBLIC"
            assert r.headers["Cache-Control"] == ("public, max-age=3600" if public else "private, max-age=3600")
        else:
            await assert_error(r, expected, {401: 16, 403: 7}[expected])


async def test_memo_archived_state_is_not_checked(memos_client, people):
    _, memo_id = await new_memo(memos_client, people["owner"], "PUBLIC")
    uid = await add_attachment(memos_client, people["owner"], memo_id=memo_id)
    await run(memos_client, tables.memo.update().where(tables.memo.c.id == memo_id).values(row_status="ARCHIVED"))
    r = await memos_client.get(url(uid))
    assert r.status == 200 and await r.read() == CONTENT


async def test_unknown_uid_and_malformed_paths_are_json_404(memos_client, people):
    await assert_error(await memos_client.get(url("nope")), 404, 5)
    await assert_error(await memos_client.get("/file/attachments/nope"), 404, 5)
    uid = await add_attachment(memos_client, people["owner"])
    await assert_error(await memos_client.get(f"/file/attachments/{uid}"), 404, 5)
    await assert_error(await memos_client.post(url(uid)), 405, 12)


async def test_uploaded_through_the_api(memos_client, people):
    """End to end with the attachments API and the STORAGE setting's backend."""
    owner = people["owner"]
    memo_uid, _ = await new_memo(memos_client, owner, "PROTECTED")
    content = png(1000, 500)
    r = await memos_client.post(
        "/api/v1/attachments",
        json={"filename": "photo.png", "type": "image/png", "content": base64.b64encode(content).decode()},
        headers=owner.headers,
    )
    assert r.status == 200, await r.text()
    name = (await r.json())["name"]
    r = await memos_client.patch(
        f"/api/v1/memos/{memo_uid}/attachments", json={"attachments": [{"name": name}]}, headers=owner.headers
    )
    assert r.status == 200, await r.text()
    uid = name.removeprefix("attachments/")
    r = await memos_client.get(f"/file/attachments/{uid}/photo.png", headers=people["other"].headers)
    assert r.status == 200 and await r.read() == content
    assert r.headers["Content-Type"] == "image/png"
    await assert_error(await memos_client.get(f"/file/attachments/{uid}/photo.png"), 401, 16)
    r = await memos_client.get(f"/file/attachments/{uid}/photo.png?thumbnail=true", headers=owner.headers)
    with Image.open(io.BytesIO(await r.read())) as im:
        assert im.size == (600, 300)
    assert cache_file(memos_client, uid).exists()
    r = await memos_client.delete(f"/api/v1/{name}", headers=owner.headers)
    assert r.status == 200, await r.text()
    assert not cache_file(memos_client, uid).exists()  # deleting the attachment drops its thumbnail
    await assert_error(await memos_client.get(f"/file/attachments/{uid}/photo.png", headers=owner.headers), 404, 5)


async def test_filename_segment_is_ignored(memos_client, people):
    _, memo_id = await new_memo(memos_client, people["owner"], "PUBLIC")
    uid = await add_attachment(memos_client, people["owner"], memo_id=memo_id)
    for name in ("file.bin", "other.txt", "", "%E2%9C%93.png"):
        r = await memos_client.get(f"/file/attachments/{uid}/{name}")
        assert r.status == 200 and await r.read() == CONTENT


async def test_dangling_memo_link_is_404(memos_client, people):
    uid = await add_attachment(memos_client, people["owner"], memo_id=999_999)
    await assert_error(await memos_client.get(url(uid), headers=people["owner"].headers), 404, 5)


async def test_invalid_or_archived_bearer_is_anonymous(memos_client, people, memos_users):
    _, memo_id = await new_memo(memos_client, people["owner"], "PROTECTED")
    uid = await add_attachment(memos_client, people["owner"], memo_id=memo_id)
    await assert_error(await memos_client.get(url(uid), headers={"Authorization": "Bearer garbage"}), 401, 16)
    await assert_error(await memos_client.get(url(uid), headers={"Authorization": "Basic abc"}), 401, 16)
    gone = await memos_users("gone", row_status="ARCHIVED")
    await assert_error(await memos_client.get(url(uid), headers=gone.headers), 401, 16)


async def test_personal_access_token(memos_client, people):
    r = await memos_client.post(
        f"/api/v1/users/{people['owner'].username}/personalAccessTokens",
        json={"description": "files"},
        headers=people["owner"].headers,
    )
    assert r.status == 200, await r.text()
    pat = (await r.json())["token"]
    _, memo_id = await new_memo(memos_client, people["owner"], "PRIVATE")
    uid = await add_attachment(memos_client, people["owner"], memo_id=memo_id)
    r = await memos_client.get(url(uid), headers={"Authorization": f"Bearer {pat}"})
    assert r.status == 200 and await r.read() == CONTENT


# -- share tokens ----------------------------------------------------------------------------------
async def new_share(client, user, memo_uid) -> str:
    r = await client.post(f"/api/v1/memos/{memo_uid}/shares", json={}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"].rsplit("/", 1)[1]


@pytest.mark.parametrize("kind", ["DATABASE", "LOCAL"])
async def test_share_token_opens_its_own_memo_only(memos_client, people, kind):
    owner, other = people["owner"], people["other"]
    private_uid, private_id = await new_memo(memos_client, owner, "PRIVATE")
    protected_uid, protected_id = await new_memo(memos_client, owner, "PROTECTED")
    elsewhere_uid, _ = await new_memo(memos_client, owner, "PRIVATE")
    private_file = await add_attachment(memos_client, owner, memo_id=private_id, kind=kind)
    protected_file = await add_attachment(memos_client, owner, memo_id=protected_id, kind=kind)
    unlinked_file = await add_attachment(memos_client, owner, kind=kind)
    token = await new_share(memos_client, owner, private_uid)
    protected_token = await new_share(memos_client, owner, protected_uid)
    foreign = await new_share(memos_client, owner, elsewhere_uid)

    r = await memos_client.get(url(private_file, share_token=token))
    assert r.status == 200 and await r.read() == CONTENT
    assert r.headers["Cache-Control"] == "private, max-age=3600"
    r = await memos_client.get(url(private_file, share_token=token), headers=other.headers)
    assert r.status == 200  # a share beats the 403 a non-owner would get
    r = await memos_client.get(url(protected_file, share_token=protected_token))
    assert r.status == 200

    await assert_error(await memos_client.get(url(private_file, share_token=foreign)), 401, 16)
    await assert_error(await memos_client.get(url(private_file, share_token=protected_token)), 401, 16)
    await assert_error(await memos_client.get(url(private_file, share_token=foreign), headers=other.headers), 403, 7)
    await assert_error(await memos_client.get(url(private_file, share_token="x" * 22)), 401, 16)
    await assert_error(await memos_client.get(url(private_file, share_token="x" * 500)), 401, 16)
    await assert_error(await memos_client.get(url(unlinked_file, share_token=token)), 401, 16)


async def test_expired_share_token(memos_client, people):
    memo_uid, memo_id = await new_memo(memos_client, people["owner"], "PRIVATE")
    uid = await add_attachment(memos_client, people["owner"], memo_id=memo_id)
    token = await new_share(memos_client, people["owner"], memo_uid)
    assert (await memos_client.get(url(uid, share_token=token))).status == 200
    past = int(time.time()) - 10
    await run(memos_client, tables.memo_share.update().where(tables.memo_share.c.uid == token).values(expires_ts=past))
    await assert_error(await memos_client.get(url(uid, share_token=token)), 401, 16)


# -- the refresh cookie ----------------------------------------------------------------------------
async def sign_in(client, user) -> str:
    r = await client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": user.username, "password": user.password}}
    )
    assert r.status == 200, await r.text()
    cookie = r.cookies["memos_refresh"].value
    client.session.cookie_jar.clear()
    return cookie


async def test_refresh_cookie_fallback(memos_client, people, memos_users):
    owner = people["owner"]
    _, memo_id = await new_memo(memos_client, owner, "PRIVATE")
    uid = await add_attachment(memos_client, owner, memo_id=memo_id, kind="LOCAL", type="image/png")
    cookie = await sign_in(memos_client, owner)
    jar = {"Cookie": f"memos_refresh={cookie}"}

    r = await memos_client.get(url(uid), headers=jar)
    assert r.status == 200 and await r.read() == CONTENT
    r = await memos_client.get(url(uid), headers={**jar, "Authorization": "Bearer not-a-token"})
    assert r.status == 200  # an invalid bearer falls through to the cookie
    other_cookie = await sign_in(memos_client, people["other"])
    r = await memos_client.get(url(uid), headers={**people["other"].headers, "Cookie": f"memos_refresh={cookie}"})
    assert r.status == 403  # a valid bearer wins over the cookie
    await assert_error(await memos_client.get(url(uid), headers={"Cookie": f"memos_refresh={other_cookie}"}), 403, 7)
    await assert_error(await memos_client.get(url(uid), headers={"Cookie": "memos_refresh=forged"}), 401, 16)
    # an access JWT is not a refresh token
    await assert_error(await memos_client.get(url(uid), headers={"Cookie": f"memos_refresh={owner.token}"}), 401, 16)

    # signing out revokes the stored token id: the cookie stops working at once
    r = await memos_client.post("/api/v1/auth/signout", json={}, headers={**owner.headers, **jar})
    assert r.status == 200, await r.text()
    memos_client.session.cookie_jar.clear()
    await assert_error(await memos_client.get(url(uid), headers=jar), 401, 16)


async def test_refresh_cookie_of_archived_user(memos_client, people):
    owner = people["owner"]
    uid = await add_attachment(memos_client, owner)
    cookie = await sign_in(memos_client, owner)
    r = await memos_client.get(url(uid), headers={"Cookie": f"memos_refresh={cookie}"})
    assert r.status == 200
    await run(memos_client, tables.user.update().where(tables.user.c.id == owner.id).values(row_status="ARCHIVED"))
    await assert_error(await memos_client.get(url(uid), headers={"Cookie": f"memos_refresh={cookie}"}), 401, 16)


# -- Range and conditional requests ----------------------------------------------------------------
RANGED_KINDS = ["DATABASE", "LOCAL", "TESTSTREAM"]


@pytest.mark.parametrize("kind", RANGED_KINDS)
async def test_ranges(memos_client, people, kind):
    uid = await add_attachment(memos_client, people["owner"], kind=kind, type="video/mp4", filename="clip.mp4")
    h = people["owner"].headers
    size = len(CONTENT)

    r = await memos_client.get(url(uid), headers=h)
    assert r.status == 200 and await r.read() == CONTENT
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Content-Length"] == str(size)
    assert r.headers["Content-Type"] == "video/mp4"
    assert r.headers["Color-Gamut"] == "srgb, p3, rec2020"

    cases = {
        "bytes=0-9": (0, 10),
        "bytes=-10": (size - 10, size),
        "bytes=1000-": (1000, size),
        "bytes=100-199": (100, 200),
        "bytes=1020-5000": (1020, size),
        "bytes=-5000": (0, size),
    }
    for header, (start, end) in cases.items():
        r = await memos_client.get(url(uid), headers={**h, "Range": header})
        assert r.status == 206, (header, r.status)
        assert await r.read() == CONTENT[start:end], header
        assert r.headers["Content-Range"] == f"bytes {start}-{end - 1}/{size}"
        assert r.headers["Content-Length"] == str(end - start)
        assert r.headers["Content-Type"] == "video/mp4"
        assert_security_headers(r)

    for header in ("bytes=1024-", "bytes=5000-6000", "bytes=9-3", "items=0-1"):
        r = await memos_client.get(url(uid), headers={**h, "Range": header})
        assert r.status == 416, header
        assert r.headers["Content-Range"] == f"bytes */{size}"
        assert_security_headers(r)

    r = await memos_client.head(url(uid), headers=h)
    assert r.status == 200 and await r.read() == b""
    assert r.headers["Content-Length"] == str(size)
    assert r.headers["Content-Type"] == "video/mp4"
    assert_security_headers(r)
    r = await memos_client.head(url(uid), headers={**h, "Range": "bytes=0-9"})
    assert r.status == 206 and await r.read() == b""
    assert r.headers["Content-Range"] == f"bytes 0-9/{size}"


@pytest.mark.parametrize("kind", RANGED_KINDS)
async def test_conditional_requests(memos_client, people, kind):
    uid = await add_attachment(memos_client, people["owner"], kind=kind, type="image/png")
    h = people["owner"].headers
    r = await memos_client.get(url(uid), headers=h)
    last_modified = r.headers["Last-Modified"]
    r = await memos_client.get(url(uid), headers={**h, "If-Modified-Since": last_modified})
    assert r.status == 304 and await r.read() == b""
    assert_security_headers(r)
    r = await memos_client.get(url(uid), headers={**h, "If-Modified-Since": "Mon, 01 Jan 2001 00:00:00 GMT"})
    assert r.status == 200 and await r.read() == CONTENT
    # If-Range older than the file: the Range is ignored and the whole body comes back
    r = await memos_client.get(
        url(uid), headers={**h, "Range": "bytes=0-9", "If-Range": "Mon, 01 Jan 2001 00:00:00 GMT"}
    )
    assert r.status == 200 and await r.read() == CONTENT
    r = await memos_client.get(url(uid), headers={**h, "Range": "bytes=0-9", "If-Range": last_modified})
    assert r.status == 206 and await r.read() == CONTENT[:10]


async def test_stream_asks_backend_for_the_range_only(memos_client, people, storage):
    uid = await add_attachment(memos_client, people["owner"], kind="TESTSTREAM")
    r = await memos_client.get(url(uid), headers={**people["owner"].headers, "Range": "bytes=10-19"})
    assert r.status == 206 and await r.read() == CONTENT[10:20]
    assert storage.backends["TESTSTREAM"].calls[-1] == (10, 19)


async def test_stream_of_unknown_size(memos_client, people):
    uid = await add_attachment(memos_client, people["owner"], kind="TESTSTREAM_UNSIZED")
    r = await memos_client.get(url(uid), headers={**people["owner"].headers, "Range": "bytes=0-9"})
    assert r.status == 200 and await r.read() == CONTENT  # no size: no Range, the whole stream
    assert "Content-Length" not in r.headers
    assert "Accept-Ranges" not in r.headers


async def test_redirect(memos_client, people):
    _, memo_id = await new_memo(memos_client, people["owner"], "PUBLIC")
    uid = await add_attachment(memos_client, people["owner"], kind="TESTREDIRECT", memo_id=memo_id)
    r = await memos_client.get(url(uid), allow_redirects=False)
    assert r.status == 307
    assert r.headers["Location"] == f"https://objects.example.com/{uid}?signature=abc"
    assert_security_headers(r)
    assert r.headers["Cache-Control"] == "public, max-age=3600"


async def test_missing_local_file_is_json_404(memos_client, people):
    uid = await add_attachment(memos_client, people["owner"], kind="LOCAL")
    for path in (ctx_of(memos_client).config.data_dir / "assets").iterdir():
        path.unlink()
    await assert_error(await memos_client.get(url(uid), headers=people["owner"].headers), 404, 5)


async def test_precompressed_sibling_is_never_served(memos_client, people):
    uid = await add_attachment(memos_client, people["owner"], kind="LOCAL", filename="notes.bin")
    (ctx_of(memos_client).config.data_dir / "assets" / f"{uid}_notes.bin.gz").write_bytes(b"someone else's upload")
    r = await memos_client.get(url(uid), headers={**people["owner"].headers, "Accept-Encoding": "gzip, br"})
    assert r.status == 200 and await r.read() == CONTENT
    assert "Content-Encoding" not in r.headers


async def test_motion_is_rejected(memos_client, people):
    uid = await add_attachment(memos_client, people["owner"], type="image/jpeg")
    await assert_error(await memos_client.get(url(uid, motion="true"), headers=people["owner"].headers), 400, 3)


# -- headers per content type ----------------------------------------------------------------------
TYPE_CASES = [
    # stored type, served type, inline, color gamut
    ("text/html", "application/octet-stream", False, False),
    ("image/svg+xml", "application/octet-stream", False, False),
    ("application/javascript", "application/octet-stream", False, False),
    ("text/javascript", "application/octet-stream", False, False),
    ("application/xml", "application/octet-stream", False, False),
    ("application/xhtml+xml", "application/octet-stream", False, False),
    ("image/png", "image/png", True, True),
    ("image/jpeg", "image/jpeg", True, True),
    ("application/pdf", "application/pdf", True, False),
    ("text/plain", "text/plain; charset=utf-8", False, False),
    ("text/markdown", "text/markdown; charset=utf-8", False, False),
    ("video/mp4", "video/mp4", False, True),
    ("audio/mpeg", "audio/mpeg", False, False),
    ("application/zip", "application/zip", False, False),
    ("", "application/octet-stream", False, False),
    ("not a type\r\nX-Evil: 1", "application/octet-stream", False, False),
]


@pytest.mark.parametrize("kind", ["DATABASE", "LOCAL"])
async def test_headers_per_type(memos_client, people, kind):
    _, memo_id = await new_memo(memos_client, people["owner"], "PUBLIC")
    for stored, served, inline, gamut in TYPE_CASES:
        uid = await add_attachment(memos_client, people["owner"], type=stored, filename="doc.dat", memo_id=memo_id)
        r = await memos_client.get(url(uid))
        assert r.status == 200, stored
        assert r.headers["Content-Type"] == served, stored
        if inline:
            assert "Content-Disposition" not in r.headers, stored
        else:
            assert r.headers["Content-Disposition"] == 'attachment; filename="doc.dat"', stored
        assert ("Color-Gamut" in r.headers) == gamut, stored
        assert "X-Evil" not in r.headers
        assert_security_headers(r)
        assert r.headers["Cache-Control"] == "public, max-age=3600"


async def test_content_disposition_filenames(memos_client, people):
    cases = {
        'say "hi"\\.txt': 'attachment; filename="say \\"hi\\"\\\\.txt"',
        "résumé 2024.txt": "attachment; filename=\"r_sum_ 2024.txt\"; filename*=UTF-8''r%C3%A9sum%C3%A9%202024.txt",
        "報告.txt": "attachment; filename=\"__.txt\"; filename*=UTF-8''%E5%A0%B1%E5%91%8A.txt",
        "a\r\nb.txt": 'attachment; filename="a__b.txt"',
    }
    for filename, expected in cases.items():
        uid = await add_attachment(memos_client, people["owner"], type="text/plain", filename=filename)
        r = await memos_client.get(url(uid), headers=people["owner"].headers)
        assert r.headers["Content-Disposition"] == expected, filename


# -- thumbnails ------------------------------------------------------------------------------------
@pytest.fixture
def renders(monkeypatch):
    """Count thumbnail renderings (the real function still runs)."""
    calls: list[Path] = []
    real = thumbnails.render

    def counting(source, dest):
        calls.append(dest)
        return real(source, dest)

    monkeypatch.setattr(thumbnails, "render", counting)
    return calls


def cache_file(client, uid: str) -> Path:
    return ctx_of(client).config.data_dir / ".thumbnail_cache" / f"{uid}.jpeg"


@pytest.mark.parametrize("kind", ["DATABASE", "LOCAL", "TESTSTREAM"])
async def test_thumbnail_is_made_once_and_cached(memos_client, people, renders, kind):
    original = png(1200, 800)
    uid = await add_attachment(memos_client, people["owner"], content=original, type="image/png", kind=kind)
    h = people["owner"].headers
    r = await memos_client.get(url(uid, thumbnail="true"), headers=h)
    assert r.status == 200
    assert r.headers["Content-Type"] == "image/jpeg"
    assert r.headers["Cache-Control"] == "private, max-age=3600"
    assert_security_headers(r)
    body = await r.read()
    with Image.open(io.BytesIO(body)) as im:
        assert im.format == "JPEG" and im.size == (600, 400)
    assert cache_file(memos_client, uid).read_bytes() == body
    assert len(renders) == 1

    r = await memos_client.get(url(uid, thumbnail="true"), headers=h)
    assert r.status == 200 and await r.read() == body
    assert len(renders) == 1  # served from the cache
    assert not [p for p in cache_file(memos_client, uid).parent.iterdir() if p.suffix == ".tmp"]

    r = await memos_client.get(url(uid), headers=h)  # without the flag: the original
    assert r.headers["Content-Type"] == "image/png" and await r.read() == original


async def test_thumbnail_respects_permissions(memos_client, people):
    _, memo_id = await new_memo(memos_client, people["owner"], "PRIVATE")
    uid = await add_attachment(memos_client, people["owner"], content=png(800, 800), type="image/png", memo_id=memo_id)
    await assert_error(await memos_client.get(url(uid, thumbnail="true")), 401, 16)
    await assert_error(await memos_client.get(url(uid, thumbnail="true"), headers=people["other"].headers), 403, 7)
    assert not cache_file(memos_client, uid).exists()


async def test_thumbnail_portrait_jpeg_and_exif_orientation(memos_client, people):
    im = Image.new("RGB", (1500, 1000), (200, 30, 30))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90° clockwise for display
    out = io.BytesIO()
    im.save(out, "JPEG", exif=exif)
    uid = await add_attachment(memos_client, people["owner"], content=out.getvalue(), type="image/jpeg")
    r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
    with Image.open(io.BytesIO(await r.read())) as thumb:
        assert thumb.size == (400, 600)


async def test_thumbnail_of_transparent_and_webp_images(memos_client, people):
    for content, type in ((png(700, 300, "RGBA"), "image/png"), (_webp(900, 900), "image/webp")):
        uid = await add_attachment(memos_client, people["owner"], content=content, type=type)
        r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
        assert r.headers["Content-Type"] == "image/jpeg", type
        with Image.open(io.BytesIO(await r.read())) as thumb:
            assert max(thumb.size) == 600 and thumb.mode == "RGB"


def _webp(width: int, height: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (width, height), (10, 120, 200)).save(out, "WEBP")
    return out.getvalue()


async def test_small_image_is_not_upscaled(memos_client, people, renders):
    original = png(120, 80)
    uid = await add_attachment(memos_client, people["owner"], content=original, type="image/png")
    for _ in range(2):
        r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/png" and await r.read() == original
    assert not cache_file(memos_client, uid).exists()
    assert len(renders) == 1  # the answer "serve the original" is remembered


async def test_broken_image_falls_back_to_original(memos_client, people):
    for content in (b"definitely not a png", png(1200, 800)[:300]):
        uid = await add_attachment(memos_client, people["owner"], content=content, type="image/png")
        r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
        assert r.status == 200
        assert r.headers["Content-Type"] == "image/png" and await r.read() == content
        assert not cache_file(memos_client, uid).exists()


async def test_decompression_bomb_guard(memos_client, people, monkeypatch):
    monkeypatch.setattr(thumbnails, "MAX_PIXELS", 1200 * 800 - 1)
    original = png(1200, 800)
    uid = await add_attachment(memos_client, people["owner"], content=original, type="image/png")
    r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
    assert r.headers["Content-Type"] == "image/png" and await r.read() == original


async def test_thumbnail_only_for_supported_types(memos_client, people):
    out = io.BytesIO()
    Image.new("RGB", (900, 900)).save(out, "GIF")
    for content, type in ((out.getvalue(), "image/gif"), (b"<svg/>", "image/svg+xml")):
        uid = await add_attachment(memos_client, people["owner"], content=content, type=type)
        r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
        assert r.status == 200 and await r.read() == content
        assert r.headers["Content-Type"] != "image/jpeg"


async def test_thumbnail_of_redirected_attachment_is_the_redirect(memos_client, people):
    uid = await add_attachment(memos_client, people["owner"], kind="TESTREDIRECT", type="image/png")
    r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers, allow_redirects=False)
    assert r.status == 307


async def test_concurrent_thumbnails_render_once_per_image_and_three_at_a_time(memos_client, people, monkeypatch):
    lock = threading.Lock()
    active = {"now": 0, "max": 0, "calls": 0}
    real = thumbnails.render

    def slow(source, dest):
        with lock:
            active["now"] += 1
            active["calls"] += 1
            active["max"] = max(active["max"], active["now"])
        try:
            time.sleep(0.05)
            return real(source, dest)
        finally:
            with lock:
                active["now"] -= 1

    monkeypatch.setattr(thumbnails, "render", slow)
    h = people["owner"].headers
    uids = [
        await add_attachment(memos_client, people["owner"], content=png(700, 700), type="image/png") for _ in range(6)
    ]
    same = [memos_client.get(url(uids[0], thumbnail="true"), headers=h) for _ in range(5)]
    others = [memos_client.get(url(u, thumbnail="true"), headers=h) for u in uids[1:]]
    responses = await asyncio.gather(*same, *others)
    for r in responses:
        assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
        with Image.open(io.BytesIO(await r.read())) as im:
            assert im.size == (600, 600)
    assert active["calls"] == 6  # five requests for the same image rendered it once
    assert active["max"] <= thumbnails.MAX_CONCURRENT


async def test_thumbnail_of_heic(memos_client, people):
    # A 900x600 green HEIC made once with an encoder (the installed decoder cannot write HEIC).
    heic = (Path(__file__).parent.parent / "fixtures" / "green_900x600.heic").read_bytes()
    uid = await add_attachment(memos_client, people["owner"], content=heic, type="image/heic")
    r = await memos_client.get(url(uid, thumbnail="true"), headers=people["owner"].headers)
    assert r.status == 200 and r.headers["Content-Type"] == "image/jpeg"
    with Image.open(io.BytesIO(await r.read())) as thumb:
        assert thumb.format == "JPEG" and thumb.size == (600, 400)
