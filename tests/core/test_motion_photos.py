"""Android motion photos over HTTP: tagged on upload and stored untouched, and
``?motion=true`` serves exactly the embedded MP4 (Range included), extracted once into
``.motion_cache``, removed with the attachment, under the photo's own access rules."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import os
import time
import uuid

import pytest
import sqlalchemy as sa
from PIL import Image

from memos_core import images
from memos_core.context import CONTEXT
from memos_core.hookspecs import hookimpl
from memos_core.storage import Download
from memos_core.store import settings as settings_store
from memos_core.store import tables

GPS_IFD = 0x8825


# -- fixtures ------------------------------------------------------------------------------------------
def mp4() -> bytes:
    """A minimal MP4: an ``ftyp`` box and an ``mdat`` box with recognisable bytes."""
    ftyp = (24).to_bytes(4, "big") + b"ftypmp42" + b"\x00\x00\x00\x00" + b"isommp42"
    payload = bytes(range(256)) * 3
    return ftyp + (8 + len(payload)).to_bytes(4, "big") + b"mdat" + payload


def motion_photo(layout: str = "offset") -> tuple[bytes, bytes]:
    """A JPEG (with EXIF GPS, which must survive: the file is not re-encoded) and its MP4 appended.

    ``layout`` is how the XMP locates the video: ``offset`` (``GCamera:MicroVideoOffset``),
    ``container`` (the ``Container`` directory's ``Item:Length``) or ``marker`` (only the motion
    photo flag: the ``ftyp`` box after the JPEG is found by scanning).
    """
    video = mp4()
    declared = {
        "offset": f'GCamera:MicroVideo="1" GCamera:MicroVideoVersion="1" GCamera:MicroVideoOffset="{len(video)}"',
        "container": 'GCamera:MotionPhoto="1" GCamera:MotionPhotoVersion="1">'
        "<Container:Directory><rdf:Seq>"
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="image/jpeg" Item:Semantic="Primary"'
        ' Item:Length="0" Item:Padding="0"/></rdf:li>'
        '<rdf:li rdf:parseType="Resource"><Container:Item Item:Mime="video/mp4" Item:Semantic="MotionPhoto"'
        f' Item:Length="{len(video)}" Item:Padding="0"/></rdf:li>'
        "</rdf:Seq></Container:Directory></rdf:Description",
        "marker": 'GCamera:MotionPhoto="1"',
    }[layout]
    closing = "" if layout == "container" else "/>"
    xmp = (
        f'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description {declared}{closing}</rdf:RDF></x:xmpmeta>'
    ).encode()
    exif = Image.Exif()
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0)})
    out = io.BytesIO()
    Image.new("RGB", (32, 16), (90, 160, 220)).save(out, "JPEG", exif=exif, xmp=xmp)
    return out.getvalue() + video, video


class StreamBackend:
    """A storage that streams its bytes (like a proxied S3 read): the extractor must spool it."""

    async def open(self, ctx, row):
        query = sa.select(tables.attachment.c.blob).where(tables.attachment.c.id == row["id"])
        blob = await ctx.store.fetch_val(query)

        async def chunks(start, end):
            part = blob[start or 0 : None if end is None else end + 1]
            for i in range(0, len(part), 100):
                await asyncio.sleep(0)
                yield part[i : i + 100]

        return Download(size=len(blob), chunks=chunks, modified_ts=row["updated_ts"])


class StreamPlugin:
    @hookimpl
    def memos_register_storage(self, register) -> None:
        register("TESTSTREAM", StreamBackend())


@pytest.fixture
def memos_extra_plugins():
    return [StreamPlugin()]


@pytest.fixture
async def people(memos_users):
    return {"owner": await memos_users("alice"), "other": await memos_users("bob")}


@pytest.fixture
def extractions(monkeypatch):
    """Count extractions (the real functions still run)."""
    calls: list[str] = []
    for name in ("extract_file", "extract_bytes"):
        real = getattr(images, name)

        def counting(source, dest, real=real, name=name):
            calls.append(name)
            return real(source, dest)

        monkeypatch.setattr(images, name, counting)
    return calls


# -- helpers -------------------------------------------------------------------------------------------
def ctx_of(client):
    return client.app[CONTEXT]


async def set_storage(client, kind: str) -> None:
    async with ctx_of(client).store.connection():
        await settings_store.set_instance_setting(ctx_of(client).store, "STORAGE", {"storageType": kind})


async def upload(client, user, filename: str, data: bytes, **fields) -> dict:
    body = {"filename": filename, "content": base64.b64encode(data).decode(), **fields}
    headers = {**user.headers, "Content-Type": "application/json"}
    r = await client.post("/api/v1/attachments", data=io.BytesIO(json.dumps(body).encode()), headers=headers)
    assert r.status == 200, await r.text()
    return await r.json()


def uid_of(attachment: dict) -> str:
    return attachment["name"].removeprefix("attachments/")


def url(uid: str, **query: str) -> str:
    q = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/file/attachments/{uid}/PXL.MP.jpg" + (f"?{q}" if q else "")


def cache_file(client, uid: str):
    return ctx_of(client).config.data_dir / ".motion_cache" / f"{uid}.mp4"


async def assert_error(r, status: int, code: int) -> None:
    assert r.status == status, await r.text()
    assert (await r.json())["code"] == code
    assert r.headers["X-Content-Type-Options"] == "nosniff" and r.headers["Cache-Control"] == "no-store"


TAG = {
    "family": "ANDROID_MOTION_PHOTO",
    "role": "CONTAINER",
    "groupId": "",
    "presentationTimestampUs": "0",
    "hasEmbeddedVideo": True,
}


# -- tests ---------------------------------------------------------------------------------------------
@pytest.mark.parametrize("layout", ["offset", "container", "marker"])
@pytest.mark.parametrize("kind", ["LOCAL", "DATABASE"])
async def test_motion_clip_is_extracted_once_and_served_with_ranges(memos_client, people, extractions, kind, layout):
    await set_storage(memos_client, kind)
    owner = people["owner"].headers
    photo, video = motion_photo(layout)
    attachment = await upload(memos_client, people["owner"], "PXL_20260101.MP.jpg", photo)
    assert attachment["motionMedia"] == TAG and attachment["type"] == "image/jpeg"
    assert attachment["size"] == str(len(photo))
    uid = uid_of(attachment)

    r = await memos_client.get(url(uid), headers=owner)  # the photo: stored untouched, GPS and video included
    assert r.status == 200 and await r.read() == photo

    r = await memos_client.get(url(uid, motion="true"), headers=owner)
    assert r.status == 200, await r.text()
    assert await r.read() == video
    assert r.headers["Content-Type"] == "video/mp4"
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.headers["Color-Gamut"] == "srgb, p3, rec2020"
    assert r.headers["Cache-Control"] == "private, max-age=3600"
    assert r.headers["X-Frame-Options"] == "DENY" and r.headers["X-Content-Type-Options"] == "nosniff"
    assert "Content-Disposition" not in r.headers
    assert cache_file(memos_client, uid).read_bytes() == video
    assert len(extractions) == 1

    r = await memos_client.get(url(uid, motion="true"), headers={**owner, "Range": "bytes=10-19"})
    assert r.status == 206
    assert r.headers["Content-Range"] == f"bytes 10-19/{len(video)}"
    assert await r.read() == video[10:20]
    r = await memos_client.get(url(uid, motion="true"), headers={**owner, "Range": "bytes=-8"})
    assert r.status == 206 and await r.read() == video[-8:]
    r = await memos_client.head(url(uid, motion="true"), headers=owner)
    assert r.status == 200 and r.headers["Content-Length"] == str(len(video))
    assert len(extractions) == 1  # served from the cache ever after
    assert not [p for p in cache_file(memos_client, uid).parent.iterdir() if p.suffix == ".tmp"]


async def test_streamed_storage_is_spooled_then_cached(memos_client, people, extractions):
    photo, video = motion_photo()
    async with ctx_of(memos_client).store.connection():
        now = int(time.time())
        uid = uuid.uuid4().hex[:20]
        await ctx_of(memos_client).store.execute(
            tables.attachment.insert().values(
                uid=uid,
                creator_id=people["owner"].id,
                created_ts=now,
                updated_ts=now,
                filename="PXL.MP.jpg",
                blob=photo,
                type="image/jpeg",
                size=len(photo),
                memo_id=None,
                storage_type="TESTSTREAM",
                reference="",
                payload=json.dumps({"motionMedia": {**TAG, "groupId": uid}}),
            )
        )
    r = await memos_client.get(url(uid, motion="true"), headers=people["owner"].headers)
    assert r.status == 200 and await r.read() == video
    assert extractions == ["extract_file"]
    assert [p.name for p in cache_file(memos_client, uid).parent.iterdir()] == [f"{uid}.mp4"]  # spool removed


async def test_concurrent_requests_extract_once(memos_client, people, extractions):
    photo, video = motion_photo()
    uid = uid_of(await upload(memos_client, people["owner"], "PXL.MP.jpg", photo))
    answers = await asyncio.gather(
        *(memos_client.get(url(uid, motion="true"), headers=people["owner"].headers) for _ in range(4))
    )
    assert [r.status for r in answers] == [200] * 4
    assert [await r.read() for r in answers] == [video] * 4
    assert len(extractions) == 1


async def test_cache_is_removed_with_the_attachment(memos_client, people):
    photo, _ = motion_photo()
    owner = people["owner"].headers
    uid = uid_of(await upload(memos_client, people["owner"], "PXL.MP.jpg", photo))
    assert (await memos_client.get(url(uid, motion="true"), headers=owner)).status == 200
    assert cache_file(memos_client, uid).is_file()
    r = await memos_client.delete(f"/api/v1/attachments/{uid}", headers=owner)
    assert r.status == 200, await r.text()
    assert not cache_file(memos_client, uid).exists()
    await assert_error(await memos_client.get(url(uid, motion="true"), headers=owner), 404, 5)


async def test_motion_is_400_for_anything_but_an_android_motion_photo(memos_client, people):
    owner = people["owner"]
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, "JPEG")
    live = {"family": "APPLE_LIVE_PHOTO", "role": "VIDEO", "groupId": "g"}
    declared_only = plain.getvalue().replace(b"\xff\xd9", b"") + b'GCamera:MotionPhoto="1"\xff\xd9'
    for name, data, fields in (
        ("plain.jpg", plain.getvalue(), {}),
        ("declared-without-video.jpg", declared_only, {}),
        ("live.mov", mp4(), {"motionMedia": live}),
        ("notes.txt", b"text", {}),
    ):
        attachment = await upload(memos_client, owner, name, data, **fields)
        assert attachment["motionMedia"] is None or attachment["motionMedia"]["family"] == "APPLE_LIVE_PHOTO"
        uid = uid_of(attachment)
        await assert_error(await memos_client.get(url(uid, motion="true"), headers=owner.headers), 400, 3)
        assert not cache_file(memos_client, uid).exists()
    r = await memos_client.get(url(uid_of(attachment), motion="false"), headers=owner.headers)
    assert r.status == 200 and await r.read() == b"text"  # only "true" asks for the clip


async def test_tagged_photo_whose_video_is_gone_is_404(memos_client, people):
    photo, _ = motion_photo()
    attachment = await upload(memos_client, people["owner"], "PXL.MP.jpg", photo)
    path = ctx_of(memos_client).config.data_dir
    async with ctx_of(memos_client).store.connection():
        reference = await ctx_of(memos_client).store.fetch_val(
            sa.select(tables.attachment.c.reference).where(tables.attachment.c.uid == uid_of(attachment))
        )
    (path / reference).write_bytes(photo[:200])  # truncated on disk behind the server's back
    r = await memos_client.get(url(uid_of(attachment), motion="true"), headers=people["owner"].headers)
    await assert_error(r, 404, 5)
    assert not cache_file(memos_client, uid_of(attachment)).exists()


@pytest.mark.parametrize("visibility", ["PRIVATE", "PROTECTED", "PUBLIC"])
async def test_motion_clip_follows_the_photo_access_rules(memos_client, people, visibility):
    r = await memos_client.post(
        "/api/v1/memos", json={"content": "m", "visibility": visibility}, headers=people["owner"].headers
    )
    memo = (await r.json())["name"]
    photo, video = motion_photo()
    uid = uid_of(await upload(memos_client, people["owner"], "PXL.MP.jpg", photo, memo=memo))
    anonymous = await memos_client.get(url(uid, motion="true"))
    other = await memos_client.get(url(uid, motion="true"), headers=people["other"].headers)
    if visibility == "PUBLIC":
        assert anonymous.status == 200 and await anonymous.read() == video
        assert anonymous.headers["Cache-Control"] == "public, max-age=3600"
        assert other.status == 200
        return
    await assert_error(anonymous, 401, 16)
    if visibility == "PRIVATE":
        await assert_error(other, 403, 7)
        assert not cache_file(memos_client, uid).exists()  # nothing is extracted for a refused caller
    else:
        assert other.status == 200 and await other.read() == video
    r = await memos_client.get(url(uid, motion="true"), headers=people["owner"].headers)
    assert r.status == 200 and await r.read() == video


async def test_motion_on_a_plain_photo_is_still_checked_for_access_first(memos_client, people):
    plain = io.BytesIO()
    Image.new("RGB", (8, 8)).save(plain, "JPEG")
    uid = uid_of(await upload(memos_client, people["owner"], "plain.jpg", plain.getvalue()))
    await assert_error(await memos_client.get(url(uid, motion="true")), 401, 16)
    await assert_error(await memos_client.get(url(uid, motion="true"), headers=people["other"].headers), 403, 7)


def test_video_start_is_found_for_each_layout():
    for layout in ("offset", "container", "marker"):
        photo, video = motion_photo(layout)
        assert images.motion_video_start(photo) == len(photo) - len(video), layout
    photo, video = motion_photo("offset")
    wrong = photo.replace(f'MicroVideoOffset="{len(video)}"'.encode(), f'MicroVideoOffset="{len(video) + 7}"'.encode())
    assert images.motion_video_start(wrong) == len(photo) - len(video)  # a bad offset falls back to the scan
    assert images.motion_video_start(photo[: len(photo) - len(video)]) is None
    assert images.motion_video_start(b"\x89PNG" + photo[4:]) is None


@pytest.mark.parametrize("layout", ["offset", "container", "marker"])
async def test_local_files_are_read_in_blocks(memos_client, people, monkeypatch, layout):
    monkeypatch.setattr(images._FileView, "BLOCK", 5)  # every search crosses block boundaries
    photo, video = motion_photo(layout)
    uid = uid_of(await upload(memos_client, people["owner"], "PXL.MP.jpg", photo))
    r = await memos_client.get(url(uid, motion="true"), headers=people["owner"].headers)
    assert r.status == 200 and await r.read() == video


async def test_a_spool_cancelled_while_its_file_is_made_leaves_nothing(tmp_path, monkeypatch):
    """A request going away while the spool's temporary file is being created (in a thread, which
    cancelling does not stop) must not leave that file or its descriptor behind."""
    import tempfile
    import threading

    started, release = threading.Event(), threading.Event()
    made: list[tuple[int, str]] = []
    mkstemp = tempfile.mkstemp

    def slow_mkstemp(**kwargs):
        started.set()
        release.wait(5)
        made.append(mkstemp(**kwargs))
        return made[-1]

    monkeypatch.setattr(tempfile, "mkstemp", slow_mkstemp)

    async def chunks(start, end):
        yield b"bytes"

    spool = asyncio.ensure_future(images.spool(Download(size=5, chunks=chunks), tmp_path, 100))
    await asyncio.to_thread(started.wait, 5)
    spool.cancel()
    await asyncio.sleep(0.05)
    assert not spool.done(), "cancellation returned while the thread was still making the file"
    release.set()
    with pytest.raises(asyncio.CancelledError):
        await spool
    [(fd, name)] = made
    assert list(tmp_path.iterdir()) == []
    try:
        still_open = os.readlink(f"/proc/self/fd/{fd}") == name
    except FileNotFoundError:
        still_open = False
    assert not still_open
