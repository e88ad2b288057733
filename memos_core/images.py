"""Image work on attachments: metadata stripping on upload and Android motion photos.

**Stripping.** An upload of one of the types in :data:`STRIP_TYPES` is re-encoded only when it
carries metadata worth stripping (:func:`carries_metadata`: EXIF with its GPS, camera and times,
XMP, IPTC, comments and text chunks); any other upload is stored byte for byte, so what a client
downloads is what it sent. A stripped image is decoded with its EXIF orientation applied and encoded
again: a PNG stays a PNG; everything else becomes a JPEG of quality 95 while the attachment keeps
its stored MIME type, as upstream does. Only the ICC colour profile (and a PNG's transparency) is
carried over, so wide-gamut photos keep their colours. Whenever the result would be worse than the
original (too many pixels, an unreadable or unsupported image, an animation, a 16-bit image that
JPEG cannot hold) the original bytes are kept: an upload never fails because of this step. At most
:data:`MAX_CONCURRENT` images are processed at once per application, each in a worker thread.

**Motion photos.** A Google/Android motion photo is a JPEG with an MP4 appended, declared in its
XMP. :func:`motion_video_start` finds where that MP4 begins: from ``GCamera:MicroVideoOffset``
(bytes counted from the end of the file), else from the ``Container`` directory item whose
``Item:Semantic`` is ``MotionPhoto`` (its ``Item:Length``, also from the end), else the first
``ftyp`` box after a JPEG end-of-image marker. :class:`MotionClips` extracts that MP4 for
``?motion=true`` and caches it at ``{data}/.motion_cache/{uid}.mp4``.

HEIC/HEIF decoding comes from the ``pi-heif`` plugin (pillow-heif's decode-only build, without its GPL
encoder). Pillow and pi-heif are imported by :func:`pillow` at the first image decoded, not with the
server: together they cost several MiB that an instance without photo uploads never needs.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import importlib.util
import io
import logging
import os
import re
import shutil
import tempfile
import threading
import weakref
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any

from .storage import Download, close_and_unlink, in_thread_to_the_end

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: pi-heif is a declared dependency; without it HEIC uploads are simply kept as they are.
HEIF_SUPPORTED = importlib.util.find_spec("pi_heif") is not None
_pillow_lock = threading.Lock()
_pillow_ready = False


def pillow() -> ModuleType:
    """``PIL.Image``, with the HEIC/HEIF decoder registered; callers decode images right after.

    Thread-safe: image work runs in worker threads, and the decoder must be registered exactly once
    before the first ``Image.open``.
    """
    global _pillow_ready
    from PIL import Image

    if not _pillow_ready:
        with _pillow_lock:
            if not _pillow_ready:
                if HEIF_SUPPORTED:
                    import pi_heif

                    pi_heif.register_heif_opener()
                _pillow_ready = True
    return Image


# -- metadata stripping ------------------------------------------------------------------------------
#: Stored types whose bytes are re-encoded on upload when they carry metadata. Upstream lists the
#: first six; PNG (tEXt/iTXt/eXIf chunks can carry the same data) is stripped too, and stays PNG.
STRIP_TYPES = frozenset(
    {"image/jpeg", "image/jpg", "image/tiff", "image/webp", "image/heic", "image/heif", "image/png"}
)
#: Images with more pixels than this keep their original bytes (never decoded).
MAX_PIXELS = 50_000_000
JPEG_QUALITY = 95
MAX_CONCURRENT = 2
#: The decoders tried: whatever the stored type says, nothing else (EPS, PSD, ...) ever parses an upload.
DECODERS = ("JPEG", "PNG", "TIFF", "WEBP", "HEIF")  # JPEG includes multi-picture (MPO) files
#: Image modes a JPEG holds as they are.
_JPEG_MODES = frozenset({"L", "RGB", "CMYK"})
#: Image modes converted to RGB for a JPEG (after flattening any transparency onto white).
_TO_RGB = frozenset({"1", "P", "PA", "LA", "RGBA", "RGBa", "RGBX", "La", "YCbCr", "LAB", "HSV"})
_PNG_MODES = frozenset({"1", "L", "LA", "I", "I;16", "P", "RGB", "RGBA"})
#: JPEG segments that carry metadata: APP1 (Exif, XMP, extended XMP), APP13 (Photoshop IRB: IPTC)
#: and COM. APP0 (JFIF), APP2 (ICC profile) and APP14 (Adobe colour transform) describe the pixels.
_JPEG_METADATA_SEGMENTS = frozenset({"APP1", "APP13", "COM"})
#: PNG chunks that carry metadata: the three text chunks (XMP travels in iTXt) and eXIf.
_PNG_METADATA_CHUNKS = frozenset({b"tEXt", b"zTXt", b"iTXt", b"eXIf"})
#: TIFF tags that tell who, where, when or with what (or embed EXIF, GPS, XMP, IPTC or Photoshop data):
#: ImageDescription, Make, Model, Software, DateTime, Artist, HostComputer, XMP, Copyright, IPTC,
#: Photoshop, the Exif IFD and the GPS IFD.
_TIFF_METADATA_TAGS = frozenset({270, 271, 272, 305, 306, 315, 316, 700, 33432, 33723, 34377, 34665, 34853})

_slots: weakref.WeakKeyDictionary[Any, asyncio.Semaphore] = weakref.WeakKeyDictionary()


class KeepOriginal(Exception):
    """The original bytes are stored (not an error: the image is fine as it is, or cannot be redone)."""


def _semaphore(owner: Any) -> asyncio.Semaphore:
    slots = _slots.get(owner)
    if slots is None:
        slots = _slots[owner] = asyncio.Semaphore(MAX_CONCURRENT)
    return slots


async def strip_metadata(owner: Any, data: bytes, content_type: str) -> bytes:
    """``data`` re-encoded without metadata, or ``data`` itself when it is kept as it is (it has no
    metadata to strip, or cannot be re-encoded).

    ``owner`` scopes the concurrency limit (the application); at most :data:`MAX_CONCURRENT` images
    are processed at once per owner, in worker threads, so the event loop keeps serving.
    """
    if content_type not in STRIP_TYPES or not data:
        return data
    async with _semaphore(owner if owner is not None else asyncio.get_running_loop()):
        try:
            return await asyncio.to_thread(reencode, data, content_type)
        except KeepOriginal as e:
            log.debug("keeping the original %s upload: %s", content_type, e)
        except Exception as e:  # any decoder or encoder failure: the upload itself must not fail
            log.info("could not strip the metadata of a %s upload, keeping it as is: %s", content_type, e)
    return data


def reencode(data: bytes, content_type: str) -> bytes:
    """Decode ``data`` with its EXIF orientation applied and encode it again without metadata.

    PNG stays PNG; every other type becomes a JPEG (quality :data:`JPEG_QUALITY`). Raises
    :class:`KeepOriginal` (or any decoder error) when the original should be kept, first of all when
    it carries no metadata. Runs in a worker thread.
    """
    Image = pillow()
    from PIL import ImageOps

    with Image.open(io.BytesIO(data), formats=DECODERS) as im:
        if not carries_metadata(im, data):
            raise KeepOriginal("no metadata to strip")
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise KeepOriginal(f"{width}x{height} is over the {MAX_PIXELS} pixel limit")
        if im.format in ("PNG", "WEBP") and getattr(im, "is_animated", False):
            raise KeepOriginal("animated image")  # a still of the first frame would lose the animation
        icc = im.info.get("icc_profile")
        transparency = im.info.get("transparency")
        image = ImageOps.exif_transpose(im)
    image.info = {}  # exif, xmp, comment, text chunks: none of it reaches the encoder
    out = io.BytesIO()
    if content_type == "image/png":
        if image.mode not in _PNG_MODES:
            if image.mode not in _TO_RGB and image.mode != "CMYK":
                raise KeepOriginal(f"a {image.mode} image is kept as it is")
            if image.mode in ("CMYK", "YCbCr", "LAB", "HSV"):
                icc = None  # a profile of another colour space
            image = image.convert("RGBA" if "A" in image.getbands() or "a" in image.getbands() else "RGB")
            transparency = None
        options: dict[str, Any] = {}
        if transparency is not None and image.mode in ("1", "L", "P", "RGB"):
            options["transparency"] = transparency
        if icc:
            options["icc_profile"] = icc
        image.save(out, "PNG", **options)
    else:
        if image.mode not in _JPEG_MODES:
            if image.mode not in _TO_RGB:
                raise KeepOriginal(f"a {image.mode} image does not fit a JPEG")  # 16-bit, float
            if image.mode in ("YCbCr", "LAB", "HSV"):
                icc = None  # a profile of another colour space
            image = flatten(image, transparency)
        options = {"quality": JPEG_QUALITY}
        if icc:
            options["icc_profile"] = icc
        image.save(out, "JPEG", **options)
    return out.getvalue()


def carries_metadata(im: Image.Image, data: bytes) -> bool:
    """Whether the opened (not yet decoded) image ``im`` of ``data`` holds metadata worth stripping.

    Only headers are read: Pillow's list of JPEG segments, its ``info`` for WebP and HEIC/HEIF
    (EXIF, XMP and pi-heif's other metadata blocks), the first IFD's tags for TIFF, and a walk over
    a PNG's chunk headers (Pillow reads the chunks after the image data only when it decodes).
    """
    if im.format == "MPO":
        return True  # the further pictures carry EXIF of their own, and stripping keeps only the first
    if im.format == "JPEG":
        return any(marker in _JPEG_METADATA_SEGMENTS for marker, _ in getattr(im, "applist", ()))
    if im.format == "PNG":
        return any(kind in _PNG_METADATA_CHUNKS for kind in png_chunk_types(data))
    if im.format == "TIFF":
        return not _TIFF_METADATA_TAGS.isdisjoint(im.getexif())
    return any(im.info.get(key) for key in ("exif", "xmp", "metadata"))


def png_chunk_types(data: bytes) -> list[bytes]:
    """The chunk types of the PNG ``data``, in order, up to ``IEND`` or where the data runs out."""
    kinds: list[bytes] = []
    at = 8  # after the signature
    while at + 8 <= len(data):
        kind = data[at + 4 : at + 8]
        kinds.append(kind)
        if kind == b"IEND":
            break
        at += 12 + int.from_bytes(data[at : at + 4], "big")  # length, type, data, CRC
    return kinds


def flatten(image: Image.Image, transparency: Any = None) -> Image.Image:
    """RGB for a JPEG; transparent areas become white rather than whatever colour they hid."""
    if image.mode == "P" and transparency is not None:
        image.info["transparency"] = transparency
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        background = pillow().new("RGB", rgba.size, (255, 255, 255))
        background.paste(rgba, mask=rgba.getchannel("A"))
        return background
    return image if image.mode == "RGB" else image.convert("RGB")


# -- motion photos -------------------------------------------------------------------------------------
#: XMP is read from the head of the file only.
MOTION_SCAN_BYTES = 256 * 1024
_MICRO_VIDEO_OFFSET = re.compile(rb"MicroVideoOffset\s*(?:=\s*[\"']|>)\s*(\d{1,12})")
_CONTAINER_ITEM = re.compile(rb"<[A-Za-z0-9_]*:?Item\b[^>]*>")
_SEMANTIC_MOTION = re.compile(rb"Item:Semantic\s*=\s*[\"']MotionPhoto[\"']")
_ITEM_LENGTH = re.compile(rb"Item:Length\s*=\s*[\"'](\d{1,12})[\"']")


def _looks_like_mp4(buf: Any, start: int) -> bool:
    """An ISO BMFF ``ftyp`` box at ``start``: a sane size (1 = 64-bit size) and a printable brand."""
    head = bytes(buf[start : start + 12])
    if start < 0 or len(head) < 12 or head[4:8] != b"ftyp":
        return False
    size = int.from_bytes(head[:4], "big")
    return (size == 1 or size >= 8) and all(0x20 <= b < 0x7F for b in head[8:12])


def motion_video_start(buf: Any) -> int | None:
    """Where the MP4 of an Android motion photo starts in ``buf`` (bytes or a file view), else ``None``.

    The head must be a JPEG whose XMP mentions a motion photo (``MotionPhoto``/``MicroVideo``), and
    the MP4 must really be there: a declared offset that does not land on an ``ftyp`` box is ignored.
    """
    size = len(buf)
    if size < 16 or bytes(buf[:3]) != b"\xff\xd8\xff":
        return None
    head = bytes(buf[:MOTION_SCAN_BYTES])
    if b"MotionPhoto" not in head and b"MicroVideo" not in head:
        return None
    offset = _MICRO_VIDEO_OFFSET.search(head)
    if offset and 12 <= int(offset[1]) < size and _looks_like_mp4(buf, size - int(offset[1])):
        return size - int(offset[1])
    for item in _CONTAINER_ITEM.finditer(head):
        length = _ITEM_LENGTH.search(item[0])
        start = size - int(length[1]) if length and _SEMANTIC_MOTION.search(item[0]) else -1
        if 0 < start <= size - 12 and _looks_like_mp4(buf, start):
            return start
    end_of_image = buf.find(b"\xff\xd9", 2)
    at = buf.find(b"ftyp", max(end_of_image, 4)) if end_of_image != -1 else -1
    while at != -1:
        if _looks_like_mp4(buf, at - 4):
            return at - 4
        at = buf.find(b"ftyp", at + 4)
    return None


class NoMotionVideo(Exception):
    """The attachment's bytes hold no embedded MP4 (or cannot be read here)."""


#: Sources streamed from a backend larger than this are not fetched for extraction.
MAX_SOURCE_BYTES = 256 * 1024 * 1024
MOTION_CACHE_DIR = ".motion_cache"
_SAFE_UID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class MotionClips:
    """Extracts and caches the MP4 of Android motion photos under one data directory; one per app.

    The clip is written to a temporary file beside the cache and renamed into place, so concurrent
    requests, or other server processes sharing the data directory, never see half a file; the
    attachment service removes it when the attachment is deleted.
    """

    def __init__(self, data_dir: Path) -> None:
        self.dir = Path(data_dir) / MOTION_CACHE_DIR
        self._making: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.extracted = 0  # clips extracted by this process (tests read it)

    def cache_path(self, uid: str) -> Path | None:
        return self.dir / f"{uid}.mp4" if _SAFE_UID.match(uid) else None

    async def get(self, uid: str, download: Download) -> Path:
        """The cached clip of ``uid``, extracted from ``download`` if needed; :class:`NoMotionVideo`
        when there is none."""
        path = self.cache_path(uid)
        if path is None:
            raise NoMotionVideo("unusable uid")
        if await asyncio.to_thread(path.is_file):
            return path
        lock = self._making.setdefault(uid, asyncio.Lock())  # one extraction per uid at a time
        async with lock:
            if await asyncio.to_thread(path.is_file):
                return path
            await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
            if download.path is not None:
                await asyncio.to_thread(extract_file, Path(download.path), path)
            elif download.data is not None:
                await asyncio.to_thread(extract_bytes, download.data, path)
            elif download.chunks is not None:
                source = await self._spool(download)
                try:
                    await asyncio.to_thread(extract_file, source, path)
                finally:
                    await asyncio.to_thread(unlink_quietly, source)
            else:
                raise NoMotionVideo("the bytes are not readable by this server")
        self.extracted += 1
        return path

    async def _spool(self, download: Download) -> Path:
        try:
            return await spool(download, self.dir, MAX_SOURCE_BYTES)
        except SourceTooLarge:
            raise NoMotionVideo("source too large to fetch") from None


class SourceTooLarge(Exception):
    """A streamed source is over the size a derived file may be made from."""


async def spool(download: Download, directory: Path, limit: int) -> Path:
    """Copy a streamed source to a temporary file in ``directory`` (never whole into memory).

    Thumbnails and motion clips are cut from stored bytes that may come as a stream (S3); the caller
    deletes the file when done. Raises :class:`SourceTooLarge` past ``limit`` bytes.
    """
    if download.size is not None and download.size > limit:
        raise SourceTooLarge
    make = functools.partial(tempfile.mkstemp, dir=directory, prefix=".src-", suffix=".tmp")
    fd, name = await in_thread_to_the_end(make, undo=close_and_unlink)
    path = Path(name)
    total = 0
    try:
        with os.fdopen(fd, "wb") as f:
            async for chunk in download.chunks(None, None):
                total += len(chunk)
                if total > limit:
                    raise SourceTooLarge
                await in_thread_to_the_end(f.write, chunk)
    except BaseException:
        await asyncio.to_thread(unlink_quietly, path)
        raise
    return path


def extract_bytes(data: bytes, dest: Path) -> None:
    """Write the embedded MP4 of ``data`` to ``dest`` atomically (worker thread)."""
    start = motion_video_start(data)
    if start is None:
        raise NoMotionVideo("no embedded MP4")
    _write_atomically(dest, lambda f: f.write(memoryview(data)[start:]))


def extract_file(source: Path, dest: Path) -> None:
    """Write the embedded MP4 of the file ``source`` to ``dest`` atomically (worker thread).

    Only the parts looked at are read (no memory map: a file truncated meanwhile must not crash
    the process)."""
    try:
        f = source.open("rb")
    except FileNotFoundError:
        raise NoMotionVideo("attachment file not found") from None
    with f:
        size = os.fstat(f.fileno()).st_size
        if size < 16:
            raise NoMotionVideo("no embedded MP4")
        start = motion_video_start(_FileView(f, size))
        if start is None:
            raise NoMotionVideo("no embedded MP4")

        def copy(out: Any) -> None:
            f.seek(start)
            shutil.copyfileobj(f, out, 1024 * 1024)

        _write_atomically(dest, copy)


class _FileView:
    """The read-only slice of the bytes API :func:`motion_video_start` uses, over an open file."""

    BLOCK = 1024 * 1024

    def __init__(self, f: Any, size: int) -> None:
        self.f, self.size = f, size

    def __len__(self) -> int:
        return self.size

    def __getitem__(self, part: slice) -> bytes:
        start, stop, _ = part.indices(self.size)
        self.f.seek(start)
        return self.f.read(max(0, stop - start))

    def find(self, sub: bytes, start: int = 0) -> int:
        for at in range(max(start, 0), self.size, self.BLOCK):
            self.f.seek(at)
            found = self.f.read(self.BLOCK + len(sub) - 1).find(sub)
            if found != -1:
                return at + found
        return -1


def _write_atomically(dest: Path, write: Any) -> None:
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            write(out)
        os.chmod(name, 0o644)
        os.replace(name, dest)
    except BaseException:
        unlink_quietly(Path(name))
        raise


def unlink_quietly(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.unlink()
