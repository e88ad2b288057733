"""Metadata stripping of uploaded images over HTTP (SPEC §8.1): what is stored has no EXIF, GPS, XMP
or comments, the EXIF orientation is applied, PNG stays PNG, other types become JPEG under their
stored MIME type, and anything that cannot (or should not) be re-encoded keeps its original bytes."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
from pathlib import Path

import pytest
import sqlalchemy as sa
from PIL import Image, PngImagePlugin

from memos_core import images
from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store
from memos_core.store import tables

FIXTURES = Path(__file__).parent.parent / "fixtures"

GPS_IFD = 0x8825
ORIENTATION = 0x0112
XMP = (
    b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF><rdf:Description exif:GPSLatitude="48,51.4N"/></rdf:RDF></x:xmpmeta>'
)


@pytest.fixture
async def owner(memos_users):
    return await memos_users("alice")


async def set_storage(client, kind: str) -> None:
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "STORAGE", {"storageType": kind})


async def upload(client, user, filename: str, data: bytes, **fields) -> dict:
    body = {"filename": filename, "content": base64.b64encode(data).decode(), **fields}
    headers = {**user.headers, "Content-Type": "application/json"}
    r = await client.post("/api/v1/attachments", data=io.BytesIO(json.dumps(body).encode()), headers=headers)
    assert r.status == 200, await r.text()
    return await r.json()


async def stored(client, user, attachment: dict) -> bytes:
    """The bytes the file server hands out, checked against the row's ``size``."""
    r = await client.get(f"/file/attachments/{attachment['name'].split('/')[1]}/x", headers=user.headers)
    assert r.status == 200, await r.text()
    assert r.headers["Content-Type"].split(";")[0] == attachment["type"]  # the stored MIME type is kept
    body = await r.read()
    assert attachment["size"] == str(len(body))
    return body


def exif_with_gps(orientation: int = 1) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make
    exif[ORIENTATION] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (48.0, 51.0, 24.0), 3: "E", 4: (2.0, 21.0, 3.0)})
    return exif


def photo(fmt: str, size=(40, 20), mode="RGB", **save) -> bytes:
    im = Image.new(mode, size, (200, 40, 40) if mode == "RGB" else None)
    if mode == "RGB":
        im.paste((10, 200, 10), (0, 0, size[0], 4))  # a green top band shows where the top went
    out = io.BytesIO()
    im.save(out, fmt, **save)
    return out.getvalue()


def assert_clean(data: bytes) -> Image.Image:
    im = Image.open(io.BytesIO(data))
    assert not im.getexif(), dict(im.getexif())
    assert not any(key in im.info for key in ("exif", "xmp", "comment", "XML:com.adobe.xmp", "Comment"))
    for marker in (b"Exif\x00\x00", b"SpyCam", b"xmpmeta", b"GPSLatitude", b"secret"):
        assert marker not in data, marker
    return im


# -- JPEG ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("kind", ["LOCAL", "DATABASE"])
async def test_jpeg_loses_exif_gps_xmp_and_comments_and_is_turned_upright(memos_client, owner, kind):
    await set_storage(memos_client, kind)
    original = photo("JPEG", exif=exif_with_gps(orientation=6), xmp=XMP, comment=b"secret comment")
    with Image.open(io.BytesIO(original)) as im:
        assert im.getexif().get_ifd(GPS_IFD) and im.size == (40, 20)  # the fixture has what must go
    attachment = await upload(memos_client, owner, "IMG_0001.JPG", original)
    assert attachment["type"] == "image/jpeg"
    body = await stored(memos_client, owner, attachment)
    assert body != original
    im = assert_clean(body)
    assert im.format == "JPEG" and im.size == (20, 40)  # orientation 6 applied, then dropped
    assert im.getpixel((19, 20))[1] > 150 and im.getpixel((0, 20))[1] < 100  # the top band is now on the right


async def test_multi_picture_jpeg_keeps_its_first_picture_only(memos_client, owner):
    second = Image.new("RGB", (10, 10), (0, 0, 255))
    original = photo("MPO", exif=exif_with_gps(), save_all=True, append_images=[second])
    with Image.open(io.BytesIO(original)) as im:
        assert im.format == "MPO" and im.n_frames == 2
    im = assert_clean(await stored(memos_client, owner, await upload(memos_client, owner, "mpo.jpg", original)))
    assert im.format == "JPEG" and im.size == (40, 20) and getattr(im, "n_frames", 1) == 1


async def test_icc_profile_is_kept(memos_client, owner):
    icc = b"\x00\x00\x02\x0cfake-but-opaque-icc-profile" + bytes(500)
    attachment = await upload(memos_client, owner, "p3.jpg", photo("JPEG", exif=exif_with_gps(), icc_profile=icc))
    im = assert_clean(await stored(memos_client, owner, attachment))
    assert im.info.get("icc_profile") == icc


async def test_apple_live_photo_still_is_stripped(memos_client, owner):
    motion = {"family": "APPLE_LIVE_PHOTO", "role": "STILL", "groupId": "g"}
    attachment = await upload(memos_client, owner, "live.jpg", photo("JPEG", exif=exif_with_gps()), motionMedia=motion)
    assert attachment["motionMedia"]["family"] == "APPLE_LIVE_PHOTO"
    assert_clean(await stored(memos_client, owner, attachment))


# -- PNG, WebP, TIFF, HEIC -----------------------------------------------------------------------------
async def test_png_stays_png_without_text_chunks(memos_client, owner):
    info = PngImagePlugin.PngInfo()
    info.add_text("Comment", "secret")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    original = photo("PNG", mode="P", pnginfo=info, exif=exif_with_gps(), transparency=0)
    attachment = await upload(memos_client, owner, "shot.png", original)
    body = await stored(memos_client, owner, attachment)
    assert body.startswith(b"\x89PNG") and body != original
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"):
        assert chunk not in body
    im = assert_clean(body)
    assert im.format == "PNG" and im.mode == "P" and im.size == (40, 20)
    assert im.info.get("transparency") == 0  # lossless: the palette transparency survives


@pytest.mark.parametrize(
    ("filename", "fmt", "mime"),
    [("a.webp", "WEBP", "image/webp"), ("a.tiff", "TIFF", "image/tiff"), ("a.heic", "HEIF", "image/heic")],
)
async def test_other_types_become_jpeg_under_their_own_mime_type(memos_client, owner, filename, fmt, mime):
    assert images.HEIF_SUPPORTED
    if fmt == "HEIF":  # the decoder memos-py installs cannot encode: a stored photo() of the same kind
        original = (FIXTURES / "photo_exif.heic").read_bytes()
    else:
        original = photo(fmt, exif=exif_with_gps(orientation=6))
    with Image.open(io.BytesIO(original)) as im:
        assert im.getexif().get(0x010F) == "SpyCam"
    attachment = await upload(memos_client, owner, filename, original)
    assert attachment["type"] == mime
    im = assert_clean(await stored(memos_client, owner, attachment))
    assert im.format == "JPEG"  # as upstream: the bytes are JPEG, the MIME type stays
    assert sorted(im.size) == [20, 40]


async def test_transparent_webp_is_flattened_onto_white(memos_client, owner):
    original = photo("WEBP", mode="RGBA", size=(8, 8), lossless=True)
    body = await stored(memos_client, owner, await upload(memos_client, owner, "clear.webp", original))
    im = assert_clean(body)
    assert im.mode == "RGB" and im.getpixel((4, 4))[0] > 240


# -- kept as they are ----------------------------------------------------------------------------------
async def test_images_over_the_pixel_limit_keep_their_bytes(memos_client, owner, monkeypatch):
    monkeypatch.setattr(images, "MAX_PIXELS", 40 * 20 - 1)
    original = photo("JPEG", exif=exif_with_gps(orientation=6))
    attachment = await upload(memos_client, owner, "huge.jpg", original)
    assert await stored(memos_client, owner, attachment) == original
    monkeypatch.setattr(images, "MAX_PIXELS", 40 * 20)
    attachment = await upload(memos_client, owner, "exact.jpg", original)
    assert_clean(await stored(memos_client, owner, attachment))


@pytest.mark.parametrize(
    ("filename", "data"),
    [
        ("broken.jpg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x13\x37" * 200),
        ("truncated.jpg", photo("JPEG", exif=exif_with_gps())[:150]),
        ("not-an-image.webp", b"plain text, not a picture"),
        ("eps-in-disguise.png", b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 10 10\n"),
        ("empty.jpg", b""),
    ],
)
async def test_unreadable_images_keep_their_bytes(memos_client, owner, filename, data):
    attachment = await upload(memos_client, owner, filename, data)
    assert attachment["size"] == str(len(data))
    if data:
        assert await stored(memos_client, owner, attachment) == data


async def test_animated_images_keep_their_bytes(memos_client, owner):
    frames = [Image.new("RGB", (16, 16), colour) for colour in ((255, 0, 0), (0, 0, 255))]
    for fmt, name in (("WEBP", "anim.webp"), ("PNG", "anim.png")):
        out = io.BytesIO()
        frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100)
        attachment = await upload(memos_client, owner, name, out.getvalue())
        assert await stored(memos_client, owner, attachment) == out.getvalue(), fmt


async def test_other_types_are_untouched(memos_client, owner):
    gif = photo("GIF")
    for name, data in (("a.gif", gif), ("notes.txt", b"Exif\x00\x00 and more"), ("a.bmp", photo("BMP"))):
        attachment = await upload(memos_client, owner, name, data)
        assert await stored(memos_client, owner, attachment) == data


async def test_sizes_and_rows_match_what_is_stored(memos_client, owner):
    attachment = await upload(memos_client, owner, "x.jpg", photo("JPEG", exif=exif_with_gps()))
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        row = (
            await ctx.store.fetch_one(
                sa.select(tables.attachment).where(tables.attachment.c.uid == attachment["name"][12:])
            )
        )._mapping
    body = await stored(memos_client, owner, attachment)
    assert row["size"] == len(body)


# -- concurrency ---------------------------------------------------------------------------------------
async def test_at_most_two_images_are_processed_at_once(memos_client, owner, monkeypatch):
    real = images.reencode
    lock = threading.Lock()
    state = {"now": 0, "peak": 0, "threads": set()}

    def slow(data, content_type):
        with lock:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            state["threads"].add(threading.get_ident())
        time.sleep(0.15)
        try:
            return real(data, content_type)
        finally:
            with lock:
                state["now"] -= 1

    monkeypatch.setattr(images, "reencode", slow)
    original = photo("JPEG", exif=exif_with_gps())
    started = time.monotonic()
    results = await asyncio.gather(*(upload(memos_client, owner, f"{i}.jpg", original) for i in range(5)))
    assert len(results) == 5 and state["peak"] == 2
    assert threading.get_ident() not in state["threads"]  # never on the event loop's thread
    assert time.monotonic() - started >= 0.15 * 3 - 0.05  # 5 jobs, 2 lanes: at least 3 rounds
    for attachment in results:
        assert_clean(await stored(memos_client, owner, attachment))
