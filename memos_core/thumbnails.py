"""Attachment thumbnails for ``?thumbnail=true`` (as upstream makes them), made with Pillow and cached on disk.

A thumbnail is a JPEG (quality 90) whose longest side is 600 px, resized with Lanczos. It is
cached at ``{data}/.thumbnail_cache/{uid}.jpeg``: attachment bytes never change after upload, so
a cached file stays valid until the attachment is deleted (:meth:`Thumbnailer.remove`). Files are
written to a temporary name and renamed into place, so concurrent requests, or other server
processes sharing the data directory, never read half a file.

At most three images are decoded at once, each in a worker thread. Whenever no thumbnail can be
made (too many pixels, a broken or unsupported image, an image already small enough) the caller
serves the original instead; that answer is remembered in a small in-process set so that a
small image is not probed again on every request.
"""

from __future__ import annotations

import asyncio
import collections
import io
import logging
import os
import re
import tempfile
import weakref
from pathlib import Path
from typing import TYPE_CHECKING

from .images import SourceTooLarge, flatten, pillow, spool, unlink_quietly
from .storage import Download

if TYPE_CHECKING:
    from PIL import Image

log = logging.getLogger(__name__)

#: Stored types a thumbnail is made for (heic/heif through the pi-heif decoder).
THUMBNAIL_TYPES = frozenset({"image/png", "image/jpeg", "image/jpg", "image/webp", "image/heic", "image/heif"})
MAX_SIDE = 600
JPEG_QUALITY = 90
#: Images with more pixels than this are never decoded (decompression-bomb guard).
MAX_PIXELS = 50_000_000
#: Sources streamed from a backend (``chunks``) larger than this are not fetched for a thumbnail.
MAX_SOURCE_BYTES = 256 * 1024 * 1024
MAX_CONCURRENT = 3
CACHE_DIR = ".thumbnail_cache"
#: How many "serve the original" answers to remember per process.
NEGATIVE_CACHE_SIZE = 4096

_SAFE_UID = re.compile(r"^[A-Za-z0-9_-]{1,128}$")


class NoThumbnail(Exception):
    """The original should be served (image too small, too large, or unreadable)."""


class Thumbnailer:
    """Makes and caches thumbnails under one data directory; one per application."""

    def __init__(self, data_dir: Path, *, max_concurrent: int = MAX_CONCURRENT) -> None:
        self.dir = Path(data_dir) / CACHE_DIR
        self._slots = asyncio.Semaphore(max_concurrent)
        self._originals: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._making: weakref.WeakValueDictionary[str, asyncio.Lock] = weakref.WeakValueDictionary()
        self.generated = 0  # thumbnails rendered by this process (tests and benchmarks read it)

    def cache_path(self, uid: str) -> Path | None:
        """Where the thumbnail of ``uid`` lives; ``None`` for a uid unfit for a file name."""
        return self.dir / f"{uid}.jpeg" if _SAFE_UID.match(uid) else None

    async def get(self, uid: str, download: Download) -> Path | None:
        """The cached thumbnail of ``uid``, made from ``download`` if needed; ``None``: serve the original."""
        path = self.cache_path(uid)
        # Keyed by more than the uid: a deleted attachment's uid may be given to a new upload.
        key = f"{uid}:{download.size}:{download.modified_ts}"
        if path is None or key in self._originals or download.redirect is not None:
            return None
        if await asyncio.to_thread(path.is_file):
            return path
        lock = self._making.setdefault(uid, asyncio.Lock())  # one rendering per uid at a time
        async with lock, self._slots:
            if await asyncio.to_thread(path.is_file):  # made by a concurrent request meanwhile
                return path
            if key in self._originals:
                return None
            try:
                await self._make(download, path)
            except NoThumbnail as e:  # a property of the bytes: remember it
                log.debug("no thumbnail for attachment %s: %s", uid, e)
                self._remember_original(key)
                return None
            except Exception:  # possibly transient (disk, backend): try again next time
                log.warning("thumbnail of attachment %s failed; serving the original", uid, exc_info=True)
                return None
        self.generated += 1
        return path

    async def remove(self, uid: str) -> None:
        """Drop the cached thumbnail of a deleted attachment (a missing one is fine)."""
        path = self.cache_path(uid)
        if path is not None:
            await asyncio.to_thread(unlink_quietly, path)

    def _remember_original(self, key: str) -> None:
        self._originals[key] = None
        while len(self._originals) > NEGATIVE_CACHE_SIZE:
            self._originals.popitem(last=False)

    async def _make(self, download: Download, dest: Path) -> None:
        await asyncio.to_thread(self.dir.mkdir, parents=True, exist_ok=True)
        if download.path is not None:
            await asyncio.to_thread(render, download.path, dest)
        elif download.data is not None:
            await asyncio.to_thread(render, download.data, dest)
        elif download.chunks is not None:
            if download.size is not None and download.size > MAX_SOURCE_BYTES:
                raise NoThumbnail("source too large to fetch")
            source = await self._spool(download)
            try:
                await asyncio.to_thread(render, source, dest)
            finally:
                await asyncio.to_thread(unlink_quietly, source)
        else:
            raise NoThumbnail("nothing to read")

    async def _spool(self, download: Download) -> Path:
        try:
            return await spool(download, self.dir, MAX_SOURCE_BYTES)
        except SourceTooLarge:
            raise NoThumbnail("source too large to fetch") from None


def render(source: Path | bytes, dest: Path) -> None:
    """Write the thumbnail of ``source`` to ``dest`` atomically, or raise :class:`NoThumbnail`.

    Runs in a worker thread. ``Image.thumbnail`` lets the JPEG decoder scale down while decoding
    (``draft``), so a large photo is never held at full resolution.
    """
    Image = pillow()  # Pillow loads with the first thumbnail, not with the server
    from PIL import ImageOps, UnidentifiedImageError

    try:
        im = Image.open(source if isinstance(source, Path) else io.BytesIO(source))
    except UnidentifiedImageError as e:  # not an image Pillow reads: the original is served, and remembered
        raise NoThumbnail(str(e)) from e
    with im:
        width, height = im.size
        if width * height > MAX_PIXELS:
            raise NoThumbnail(f"{width}x{height} is over the pixel limit")
        if max(width, height) <= MAX_SIDE:
            raise NoThumbnail("already small enough")  # never upscaled: the original is served
        im.thumbnail((MAX_SIDE, MAX_SIDE), Image.Resampling.LANCZOS, reducing_gap=3.0)
        out = flatten(ImageOps.exif_transpose(im))
        _write_atomically(out, dest)


def _write_atomically(im: Image.Image, dest: Path) -> None:
    fd, name = tempfile.mkstemp(dir=dest.parent, prefix=f".{dest.stem}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            im.save(f, "JPEG", quality=JPEG_QUALITY)
        os.chmod(name, 0o644)
        os.replace(name, dest)
    except BaseException:
        unlink_quietly(Path(name))
        raise
