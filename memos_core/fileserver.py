"""``GET|HEAD /file/attachments/{uid}/{filename}``: the bytes of an attachment.

The filename segment is ignored; the attachment is found by uid. Who may read it is decided by
:func:`memos_core.services.access.check_attachment_read`; the caller is the bearer credential
(access JWT or PAT, through ``memos_authenticate``), else the ``memos_refresh`` cookie, which is
what lets a browser's ``<img>`` load private files. ``?share_token=`` opens the attachments of the
one memo the share grants.

The bytes come from the row's storage backend (:mod:`memos_core.storage`): a local file goes out
through aiohttp's ``FileResponse`` (sendfile, Range, conditional requests), a backend stream is
copied chunk by chunk with a single Range honoured when the size is known, in-memory data
(DATABASE blobs) is sliced for Range, and a URL is a 307 redirect. File and stream bodies are sent
after the handler returns, so the request's database connection is not held during a download,
and memory does not grow with the file size.

Deviations from upstream, all on the safe side:

* ``image/svg+xml`` (and every other ``+xml`` type) is served as a download, like HTML and
  JavaScript, instead of inline: our origin never renders active content.
* ``Cache-Control`` is ``public, max-age=3600`` only for attachments of PUBLIC memos; everything
  else is ``private, max-age=3600`` so shared caches never keep it. Errors are ``no-store``.
* Errors are the Memos JSON error body (upstream's SPA fallback may answer a missing file with
  ``index.html``).
* Pre-compressed siblings (``file.gz``/``file.br``) of a LOCAL file are never served in its place.
* ``motion=true`` on an Android motion photo whose bytes hold no video is 404 (upstream: 500).

``motion=true`` serves the MP4 embedded in an Android motion photo (:mod:`memos_core.images`),
extracted once into ``{data}/.motion_cache/{uid}.mp4`` and sent from there like a LOCAL file
(Range, conditional requests), whatever the attachment's storage.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp import hdrs, web

from .auth import Principal
from .auth.cookies import REFRESH_COOKIE
from .context import Context, context_of
from .errors import ApiError, Code, api_error_response, error_response, http_error_response, invalid, not_found
from .images import MotionClips, NoMotionVideo
from .services import access
from .services import auth as auth_service
from .services.shares import memo_id_for_valid_token
from .storage import Download
from .store import memos as memos_store
from .store import tables
from .thumbnails import THUMBNAIL_TYPES, Thumbnailer

log = logging.getLogger(__name__)

SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline';",
}
PUBLIC_CACHE = "public, max-age=3600"
PRIVATE_CACHE = "private, max-age=3600"
COLOR_GAMUT = "srgb, p3, rec2020"
OCTET_STREAM = "application/octet-stream"

#: Types a browser would execute or render as a document: always downloaded, never shown inline.
ACTIVE_TYPES = frozenset(
    {
        "text/html",
        "application/xhtml+xml",
        "text/javascript",
        "application/javascript",
        "application/x-javascript",
        "application/ecmascript",
        "text/ecmascript",
        "text/xml",
        "application/xml",
        "text/xsl",
        "image/svg+xml",
    }
)
_MIME = re.compile(r"^[a-z0-9!#$&^_.+-]+/[a-z0-9!#$&^_.+-]+$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")

THUMBNAILER = web.AppKey("memos_thumbnailer", Thumbnailer)
MOTION_CLIPS = web.AppKey("memos_motion_clips", MotionClips)


# -- content headers -------------------------------------------------------------------------------
def served_type(stored: str) -> tuple[str, bool]:
    """The ``Content-Type`` to send for a stored MIME type, and whether it may be shown inline."""
    mime = (stored or "").split(";", 1)[0].strip().lower()
    if not _MIME.match(mime):
        return OCTET_STREAM, False
    if mime in ACTIVE_TYPES or mime.endswith("+xml"):
        return OCTET_STREAM, False
    inline = (mime.startswith("image/") or mime == "application/pdf") and mime != "image/svg+xml"
    if mime.startswith("text/"):
        return f"{mime}; charset=utf-8", inline
    return mime, inline


def content_disposition(filename: str) -> str:
    """``attachment`` with a quoted ASCII ``filename`` and, for other names, RFC 6266 ``filename*``."""
    name = _CONTROL.sub("_", filename or "") or "file"
    fallback = name.encode("ascii", "replace").decode().replace("?", "_")
    value = 'attachment; filename="{}"'.format(fallback.replace("\\", "\\\\").replace('"', '\\"'))
    if fallback != name:
        value += "; filename*=UTF-8''" + quote(name, safe="")
    return value


def content_headers(row: Mapping[str, Any], *, public: bool) -> dict[str, str]:
    """Content-Type, Content-Disposition, Color-Gamut and Cache-Control for an attachment row."""
    mime, inline = served_type(row["type"])
    headers = {hdrs.CONTENT_TYPE: mime, hdrs.CACHE_CONTROL: PUBLIC_CACHE if public else PRIVATE_CACHE}
    if not inline:
        headers[hdrs.CONTENT_DISPOSITION] = content_disposition(row["filename"])
    if mime.startswith(("image/", "video/")):
        headers["Color-Gamut"] = COLOR_GAMUT
    return headers


# -- ranges ----------------------------------------------------------------------------------------
class _Unsatisfiable(Exception):
    pass


def requested_range(request: web.Request, size: int, modified: int | None) -> tuple[int, int] | None:
    """The single byte range ``[start, end)`` asked for, ``None`` for the whole body.

    Same reading as aiohttp's ``FileResponse``, so every storage kind answers alike: a malformed or
    unsatisfiable range raises :class:`_Unsatisfiable` (416); an ``If-Range`` that is not a date at or
    after the last modification means the whole body.
    """
    if hdrs.RANGE not in request.headers:
        return None
    if hdrs.IF_RANGE in request.headers:
        since = request.if_range
        if since is None or modified is None or modified > since.timestamp():
            return None
    try:
        rng = request.http_range
    except ValueError:
        raise _Unsatisfiable from None
    start, stop = rng.start, rng.stop
    if start is None:
        return None
    if start < 0:
        start, end = max(size + start, 0), size
    else:
        end = min(size if stop is None else stop, size)
    if start >= size:
        raise _Unsatisfiable
    return start, end


def _not_modified(request: web.Request, modified: int | None) -> bool:
    since = request.if_modified_since
    return since is not None and modified is not None and modified <= since.timestamp()


# -- responses -------------------------------------------------------------------------------------
class LocalFileResponse(web.FileResponse):
    """``FileResponse`` that never swaps in a pre-compressed ``.gz``/``.br`` sibling of the file:
    that sibling could be another user's upload under a custom path template."""

    def _get_file_path_stat_encoding(self, accept_encoding: str):  # type: ignore[override]
        return super()._get_file_path_stat_encoding("")


class StreamedDownloadResponse(web.StreamResponse):
    """Copies a backend's ``chunks(start, end)`` to the client, at most ``length`` bytes.

    Like ``FileResponse`` the body is written from ``prepare``, which aiohttp calls after the handler
    and the middlewares have returned (so the request's database connection is released first).
    """

    def __init__(self, chunks: Any, start: int | None, end: int | None, length: int | None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self._source, self._first, self._stop, self._length = chunks, start, end, length
        self._streamed = False
        if length is not None:
            self.content_length = length

    async def prepare(self, request: web.BaseRequest):  # type: ignore[override]
        writer = await super().prepare(request)
        if self._streamed or request.method == hdrs.METH_HEAD or self.status == 304:
            return writer
        self._streamed = True
        remaining = self._length
        stream = self._source(self._first, None if self._stop is None else self._stop - 1)
        try:
            async for chunk in stream:
                if remaining is not None:
                    chunk = chunk[:remaining]
                    remaining -= len(chunk)
                if chunk:
                    await self.write(chunk)
                if remaining == 0:
                    break
        finally:
            aclose = getattr(stream, "aclose", None)
            if aclose is not None:
                await aclose()
        if remaining:
            raise ConnectionAbortedError(f"storage backend ended {remaining} bytes short")
        return writer


def _bytes_response(request: web.Request, data: bytes, headers: dict[str, str], modified: int | None):
    headers[hdrs.ACCEPT_RANGES] = "bytes"
    if _not_modified(request, modified):
        return _with_last_modified(web.Response(status=304, headers=_sans_type(headers)), modified)
    size = len(data)
    try:
        rng = requested_range(request, size, modified)
    except _Unsatisfiable:
        return _unsatisfiable(headers, size)
    if rng is None:
        return _with_last_modified(web.Response(body=data, headers=headers), modified)
    start, end = rng
    headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{end - 1}/{size}"
    return _with_last_modified(web.Response(status=206, body=memoryview(data)[start:end], headers=headers), modified)


def _stream_response(request: web.Request, download: Download, headers: dict[str, str], modified: int | None):
    size = download.size
    if _not_modified(request, modified):
        return _with_last_modified(web.Response(status=304, headers=_sans_type(headers)), modified)
    if size is None:  # unknown length: the whole body, chunked, no Range
        return _with_last_modified(
            StreamedDownloadResponse(download.chunks, None, None, None, headers=headers), modified
        )
    headers[hdrs.ACCEPT_RANGES] = "bytes"
    try:
        rng = requested_range(request, size, modified)
    except _Unsatisfiable:
        return _unsatisfiable(headers, size)
    if rng is None:
        resp = StreamedDownloadResponse(download.chunks, None, None, size, headers=headers)
    else:
        start, end = rng
        headers[hdrs.CONTENT_RANGE] = f"bytes {start}-{end - 1}/{size}"
        resp = StreamedDownloadResponse(download.chunks, start, end, end - start, status=206, headers=headers)
    return _with_last_modified(resp, modified)


def _unsatisfiable(headers: dict[str, str], size: int) -> web.Response:
    headers = _sans_type(headers)
    headers[hdrs.CONTENT_RANGE] = f"bytes */{size}"
    return web.Response(status=416, headers=headers)


def _sans_type(headers: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in headers.items() if k not in (hdrs.CONTENT_TYPE, hdrs.CONTENT_DISPOSITION)}


def _with_last_modified(resp: web.StreamResponse, modified: int | None) -> web.StreamResponse:
    if modified:
        resp.last_modified = modified
    return resp


# -- the route -------------------------------------------------------------------------------------
# The attachment (without its blob: a DATABASE backend reads that itself, only once allowed) with
# its memo's visibility and creator, in one statement.
_ATTACHMENT_QUERY = sa.select(
    *(c for c in tables.attachment.c if c.name != "blob"),
    tables.memo.c.visibility.label("memo_visibility"),
    tables.memo.c.creator_id.label("memo_creator_id"),
).select_from(tables.attachment.outerjoin(tables.memo, tables.memo.c.id == tables.attachment.c.memo_id))


class _MemoRef(NamedTuple):
    """What the access rule needs of the attachment's memo (read in the same statement)."""

    id: int
    creator_id: int
    visibility: str


async def _viewer(request: web.Request, ctx: Context) -> Principal | None:
    """Bearer credential first (an invalid one is ignored), then the refresh-token cookie."""
    try:
        principal = await ctx.first("memos_authenticate", app=ctx.app, request=request)
    except ApiError:
        principal = None
    if principal is not None:
        return principal
    user = await auth_service.user_for_refresh_token(ctx, request.cookies.get(REFRESH_COOKIE))
    return Principal(user=user, method="refresh_cookie") if user is not None else None


async def _authorize(request: web.Request, ctx: Context, row: Mapping[str, Any]) -> None:
    linked = row["memo_id"] is not None
    if linked and row["memo_visibility"] is None:
        raise not_found("memo not found")
    shared = False
    token = request.query.get("share_token")
    if linked and token and row["memo_visibility"] != access.PUBLIC:
        shared = await memo_id_for_valid_token(ctx, token) == row["memo_id"]
    viewer = None if shared or row["memo_visibility"] == access.PUBLIC else await _viewer(request, ctx)
    memo = _MemoRef(row["memo_id"], row["memo_creator_id"], row["memo_visibility"]) if linked else None
    access.check_attachment_read(viewer, row, memo, shared=shared)


async def get_attachment_file(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    uid = request.match_info["uid"]
    row = await ctx.store.fetch_one(_ATTACHMENT_QUERY.where(tables.attachment.c.uid == uid))
    if row is None:
        raise not_found("attachment not found")
    row = dict(row._mapping) if hasattr(row, "_mapping") else dict(row)
    await _authorize(request, ctx, row)
    motion = request.query.get("motion") == "true"
    if motion and not is_android_motion_photo(row):
        raise invalid("attachment does not have a motion clip")

    headers = content_headers(row, public=row["memo_id"] is not None and row["memo_visibility"] == access.PUBLIC)
    download = await _open(ctx, row)
    if motion:
        return await _motion_clip(request, row, download, headers)
    modified = download.modified_ts or row["updated_ts"]

    if download.redirect is not None:
        headers = _sans_type(headers)
        headers[hdrs.LOCATION] = download.redirect
        return web.Response(status=307, headers=headers)
    if request.query.get("thumbnail") == "true" and served_type(row["type"])[0] in THUMBNAIL_TYPES:
        thumb = await request.app[THUMBNAILER].get(row["uid"], download)
        if thumb is not None:
            headers[hdrs.CONTENT_TYPE] = "image/jpeg"
            return LocalFileResponse(thumb, headers=headers)
    if download.path is not None:
        if not await asyncio.to_thread(Path(download.path).is_file):
            raise not_found("attachment file not found")
        return LocalFileResponse(download.path, headers=headers)
    if download.data is not None:
        return _bytes_response(request, download.data, headers, modified)
    if download.chunks is not None:
        return _stream_response(request, download, headers, modified)
    raise ApiError(Code.INTERNAL, "storage backend returned nothing to serve")


def is_android_motion_photo(row: Mapping[str, Any]) -> bool:
    """Tagged on upload as an Android motion photo with an embedded video."""
    motion = memos_store.loads(row["payload"]).get("motionMedia")
    return (
        isinstance(motion, dict)
        and motion.get("family") == "ANDROID_MOTION_PHOTO"
        and motion.get("role") == "CONTAINER"
        and motion.get("hasEmbeddedVideo") is True
    )


async def _motion_clip(
    request: web.Request, row: Mapping[str, Any], download: Download, headers: dict[str, str]
) -> web.StreamResponse:
    """The embedded MP4 as ``video/mp4``, from the cache (made on first use), with Range support.

    The other headers are the photo's (inline, Color-Gamut, the same Cache-Control)."""
    if download.redirect is not None:
        raise not_found("motion clip not available: the bytes are not readable by this server")
    try:
        clip = await request.app[MOTION_CLIPS].get(row["uid"], download)
    except NoMotionVideo as e:
        log.warning("no motion clip for attachment %s: %s", row["uid"], e)
        raise not_found("motion clip not found") from None
    headers[hdrs.CONTENT_TYPE] = "video/mp4"
    headers.pop(hdrs.CONTENT_DISPOSITION, None)
    return LocalFileResponse(clip, headers=headers)


async def _open(ctx: Context, row: Mapping[str, Any]) -> Download:
    backend = ctx.storages.for_row(row)
    if backend is not None:
        return await backend.open(ctx, row)
    if row["storage_type"] == "EXTERNAL" and row["reference"].startswith(("https://", "http://")):
        return Download(redirect=row["reference"])  # legacy rows: the bytes live elsewhere
    raise ApiError(Code.INTERNAL, f"no storage backend serves storage type {row['storage_type']!r}")


# -- the sub-application ---------------------------------------------------------------------------
@web.middleware
async def file_middleware(request: web.Request, handler) -> web.StreamResponse:
    """Memos JSON errors (never an HTML page), the security headers on every answer, errors not cached."""
    try:
        resp = await handler(request)
    except ApiError as e:
        resp = api_error_response(e)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        resp = http_error_response(e)
    except Exception:
        log.exception("unhandled error in %s %s", request.method, request.path)
        resp = error_response(Code.INTERNAL, "internal error")
    resp.headers.update(SECURITY_HEADERS)
    resp.headers.setdefault(hdrs.CACHE_CONTROL, "no-store")
    return resp


def create_file_app(ctx: Context) -> web.Application:
    """The file server, mounted at ``/file/attachments``."""
    app = web.Application(middlewares=[file_middleware])
    app[THUMBNAILER] = Thumbnailer(ctx.config.data_dir)
    app[MOTION_CLIPS] = MotionClips(ctx.config.data_dir)
    app.router.add_get("/{uid}/{filename:.*}", get_attachment_file, name="fileserver.attachment")
    return app
