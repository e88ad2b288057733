"""Metadata stripping of uploaded images over HTTP: an image without metadata is stored byte for
byte; one with metadata is stored without EXIF, GPS, XMP, IPTC, comments or text chunks, with the
EXIF orientation applied, PNG staying PNG and other types becoming JPEG under their stored MIME type;
anything that cannot (or should not) be re-encoded keeps its original bytes. ``size`` is always the
length of what the file server hands out.

``POST /api/v1/attachments`` with base64 ``content`` is the only upload path memos-py has (as
upstream's REST gateway: no multipart endpoint, and the file server only serves), so every upload
here goes through it."""

from __future__ import annotations

import asyncio
import base64
import io
import json
import threading
import time
import zlib
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
    original = photo("WEBP", mode="RGBA", size=(8, 8), lossless=True, exif=exif_with_gps())
    body = await stored(memos_client, owner, await upload(memos_client, owner, "clear.webp", original))
    im = assert_clean(body)
    assert im.mode == "RGB" and im.getpixel((4, 4))[0] > 240


# -- which metadata makes an upload re-encoded ---------------------------------------------------------
def with_jpeg_segment(jpeg: bytes, marker: int, payload: bytes) -> bytes:
    """``jpeg`` with one more segment right after its start-of-image marker."""
    return jpeg[:2] + bytes([0xFF, marker]) + (len(payload) + 2).to_bytes(2, "big") + payload + jpeg[2:]


def iptc_segment_payload(caption: bytes) -> bytes:
    """An APP13 Photoshop IRB holding one IPTC record (2:120, the caption)."""
    record = b"\x1c\x02\x78" + len(caption).to_bytes(2, "big") + caption
    record += b"\x00" * (len(record) % 2)
    return b"Photoshop 3.0\x00" + b"8BIM\x04\x04\x00\x00" + len(record).to_bytes(4, "big") + record


def with_png_chunk(png: bytes, kind: bytes, data: bytes) -> bytes:
    """``png`` with one more chunk placed after the image data, just before ``IEND``."""
    at = png.index(b"IEND") - 4
    chunk = len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")
    return png[:at] + chunk + png[at:]


def png_text(key: str, value: str) -> PngImagePlugin.PngInfo:
    info = PngImagePlugin.PngInfo()
    info.add_text(key, value)  # a tEXt chunk before the image data, where Pillow writes it
    return info


def camera_only_exif() -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "SpyCam"  # Make, no GPS
    return exif


def plain(fmt: str) -> bytes:
    """A small image of ``fmt`` with no metadata at all, as Pillow writes it."""
    return photo(fmt)


@pytest.mark.parametrize("kind", ["LOCAL", "DATABASE"])
@pytest.mark.parametrize(
    ("filename", "make", "mime"),
    [
        ("plain.png", lambda: photo("PNG", compress_level=1), "image/png"),  # not how Pillow would redo it
        ("plain.jpg", lambda: plain("JPEG"), "image/jpeg"),
        ("icc.jpg", lambda: photo("JPEG", icc_profile=b"\x00\x00\x02\x0cicc" + bytes(200)), "image/jpeg"),
        ("palette.png", lambda: photo("PNG", mode="P", transparency=0, dpi=(300, 300)), "image/png"),
        ("plain.webp", lambda: plain("WEBP"), "image/webp"),
        ("plain.tiff", lambda: plain("TIFF"), "image/tiff"),
        ("plain.heic", lambda: (FIXTURES / "green_900x600.heic").read_bytes(), "image/heic"),
    ],
)
async def test_images_without_metadata_are_stored_byte_for_byte(memos_client, owner, kind, filename, make, mime):
    await set_storage(memos_client, kind)
    original = make()
    with Image.open(io.BytesIO(original)) as im:  # the fixture really has nothing to strip
        assert not im.getexif().get_ifd(GPS_IFD) and not im.info.get("exif") and not im.info.get("xmp")
    attachment = await upload(memos_client, owner, filename, original)
    assert attachment["type"] == mime and attachment["size"] == str(len(original))
    assert await stored(memos_client, owner, attachment) == original


@pytest.mark.parametrize("kind", ["LOCAL", "DATABASE"])
@pytest.mark.parametrize(("filename", "fmt"), [("gps.png", "PNG"), ("gps.jpg", "JPEG")])
async def test_the_same_images_with_gps_exif_lose_it(memos_client, owner, kind, filename, fmt):
    await set_storage(memos_client, kind)
    original = photo(fmt, exif=exif_with_gps())
    with Image.open(io.BytesIO(original)) as im:
        assert im.getexif().get_ifd(GPS_IFD) and im.getexif().get(0x010F) == "SpyCam"
    attachment = await upload(memos_client, owner, filename, original)
    body = await stored(memos_client, owner, attachment)  # also checks size == the downloaded length
    assert body != original and attachment["size"] != str(len(original))
    im = assert_clean(body)
    assert not im.getexif().get_ifd(GPS_IFD) and im.format == fmt and im.size == (40, 20)


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("tEXt", lambda: photo("PNG", pnginfo=png_text("Comment", "secret"))),
        ("tEXt after IDAT", lambda: with_png_chunk(plain("PNG"), b"tEXt", b"Author\x00secret")),
        ("zTXt", lambda: with_png_chunk(plain("PNG"), b"zTXt", b"Comment\x00\x00" + zlib.compress(b"secret"))),
        ("iTXt", lambda: with_png_chunk(plain("PNG"), b"iTXt", b"XML:com.adobe.xmp\x00\x00\x00\x00\x00" + XMP)),
        ("eXIf", lambda: photo("PNG", exif=exif_with_gps())),
    ],
)
async def test_png_text_and_exif_chunks_are_stripped(memos_client, owner, case, make):
    original = make()
    attachment = await upload(memos_client, owner, "chunk.png", original)
    body = await stored(memos_client, owner, attachment)
    assert body != original and body.startswith(b"\x89PNG")
    for chunk in (b"tEXt", b"iTXt", b"zTXt", b"eXIf"):
        assert chunk not in body, case
    im = assert_clean(body)
    assert not im.text and im.size == (40, 20)  # text chunks after the image data included


@pytest.mark.parametrize(
    ("case", "make"),
    [
        ("COM", lambda: photo("JPEG", comment=b"secret comment")),
        ("APP1 XMP", lambda: photo("JPEG", xmp=XMP)),
        ("APP1 Exif", lambda: photo("JPEG", exif=camera_only_exif())),
        ("APP13 IPTC", lambda: with_jpeg_segment(plain("JPEG"), 0xED, iptc_segment_payload(b"secret caption"))),
    ],
)
async def test_each_jpeg_metadata_segment_makes_it_stripped(memos_client, owner, case, make):
    original = make()
    with Image.open(io.BytesIO(original)) as im:
        assert {"COM": "comment", "APP1 XMP": "xmp", "APP1 Exif": "exif", "APP13 IPTC": "photoshop"}[case] in im.info
    attachment = await upload(memos_client, owner, "seg.jpg", original)
    body = await stored(memos_client, owner, attachment)
    assert body != original
    im = assert_clean(body)
    assert not {marker for marker, _ in im.applist} & {"APP1", "APP13", "COM"}, case
    assert "photoshop" not in im.info


async def test_webp_with_xmp_only_is_stripped(memos_client, owner):
    original = photo("WEBP", xmp=XMP)
    body = await stored(memos_client, owner, await upload(memos_client, owner, "xmp.webp", original))
    assert body != original
    assert assert_clean(body).format == "JPEG"


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
