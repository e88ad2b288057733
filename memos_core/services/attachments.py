"""The attachment service: create, read, list, rename and delete attachments, and link
them to memos.

Bytes live in a storage backend (:mod:`memos_core.storage`): new ones in the backend the STORAGE
setting names, existing ones in the backend of their row's ``storage_type``. Bytes are written
before their row and removed again if the row cannot be inserted; rows are deleted in a
transaction and their bytes only after it committed, so a failure never leaves a row pointing at
nothing. Access rules live in :mod:`memos_core.services.access`.
"""

from __future__ import annotations

import base64
import binascii
import logging
import mimetypes
import re
import time
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

from .. import events, images
from ..context import CONTEXT, Event
from ..errors import ApiError, Code, already_exists, invalid, not_found
from ..storage_local import check_filename
from ..store import attachments as store
from ..store import memos as memos_store
from ..wire import UID_RE, format_time, parse_name, required_mask
from . import access, storage_setting

if TYPE_CHECKING:
    from aiohttp import web

    from ..auth import Principal
    from ..context import Context

log = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 50
MAX_PAGE_SIZE = 1000
MAX_BATCH = 100
MAX_TYPE_LENGTH = 255
CHUNK = 1024 * 1024
ORPHAN_AGE = 24 * 3600
TOO_LARGE = "file size exceeds the limit"
#: The ListAttachments filter for attachments linked to no memo.
UNUSED = "memo_id == null"
_TOKEN = r"[A-Za-z0-9!#$%&'*+.^_`|~-]+"
_MEDIA_TYPE = re.compile(rf"^{_TOKEN}/{_TOKEN}$")
_PARAM = re.compile(rf'^\s*{_TOKEN}\s*=\s*({_TOKEN}|"[^"]*")\s*$')
_MOTION_ROLES = {"STILL": "STILL", "VIDEO": "VIDEO", 1: "STILL", 2: "VIDEO"}
#: Built-in types only: the answer must not depend on the host's /etc/mime.types.
_MIME = mimetypes.MimeTypes(filenames=())


# -- JSON ----------------------------------------------------------------------------------------
def attachment_json(row: dict[str, Any]) -> dict[str, Any]:
    """An attachment in the API shape (OpenAPI ``Attachment``): ``content`` is never filled,
    ``externalLink`` only for S3/EXTERNAL rows, ``memo`` omitted when unlinked, ``size`` a string."""
    external = row["reference"] if row["storage_type"] in ("S3", "EXTERNAL") else ""
    out: dict[str, Any] = {
        "name": f"attachments/{row['uid']}",
        "createTime": format_time(row["created_ts"]),
        "filename": row["filename"],
        "content": "",
        "externalLink": external,
        "type": row["type"],
        "size": str(row["size"] or 0),
    }
    if row.get("memo_uid"):
        out["memo"] = f"memos/{row['memo_uid']}"
    motion = memos_store.loads(row["payload"]).get("motionMedia")
    out["motionMedia"] = None
    if isinstance(motion, dict):
        out["motionMedia"] = {
            "family": motion.get("family", "MOTION_MEDIA_FAMILY_UNSPECIFIED"),
            "role": motion.get("role", "MOTION_MEDIA_ROLE_UNSPECIFIED"),
            "groupId": motion.get("groupId", ""),
            "presentationTimestampUs": str(motion.get("presentationTimestampUs", "0")),
            "hasEmbeddedVideo": bool(motion.get("hasEmbeddedVideo", False)),
        }
    return out


# -- input ---------------------------------------------------------------------------------------
def _pick(body: dict[str, Any], camel: str, snake: str) -> Any:
    return body[camel] if camel in body else body.get(snake)


def media_type(raw: str) -> str:
    """A client-given type without parameters, lower-cased; 400 when it is not a media type."""
    if len(raw) > MAX_TYPE_LENGTH:
        raise invalid("invalid type: longer than 255 characters")
    main, *params = raw.split(";")
    main = main.strip().lower()
    if not _MEDIA_TYPE.match(main) or any(p.strip() and not _PARAM.match(p) for p in params):
        raise invalid(f"invalid type: {raw!r}")
    return main


def sniff(data: bytes) -> str:
    """Content sniffing for the common binary formats (a subset of WHATWG's table); text that
    decodes as UTF-8 without control bytes is ``text/plain``. HTML is deliberately not guessed."""
    head = data[:512]
    signatures = (
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"\xff\xd8\xff", "image/jpeg"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", "application/zip"),
        (b"\x1f\x8b\x08", "application/x-gzip"),
        (b"BM", "image/bmp"),
        (b"\x00\x00\x01\x00", "image/x-icon"),
        (b"\x1aE\xdf\xa3", "video/webm"),
        (b"OggS\x00", "application/ogg"),
        (b"ID3", "audio/mpeg"),
        (b"fLaC", "audio/flac"),
        (b"Rar!\x1a\x07", "application/x-rar-compressed"),
    )
    for prefix, kind in signatures:
        if head.startswith(prefix):
            return kind
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
        return "audio/wave"
    if head[4:8] == b"ftyp":
        return "video/mp4"
    if head:
        try:
            text = head.decode("utf-8")
        except UnicodeDecodeError as e:
            text = head[: e.start].decode("utf-8") if e.start > len(head) - 4 else None
        if text is not None and not any(ord(c) < 32 and c not in "\t\n\r\x0c\x1b" for c in text):
            return "text/plain"
    return "application/octet-stream"


def resolve_type(raw: Any, filename: str, data: bytes) -> str:
    """The given type, else the extension's, else sniffed, else ``application/octet-stream``."""
    if raw not in (None, ""):
        if not isinstance(raw, str):
            raise invalid("invalid type")
        return media_type(raw)
    guessed, _ = _MIME.guess_type(filename, strict=False)
    if guessed:
        return guessed.lower()
    return sniff(data)


def decode_content(raw: Any) -> bytes:
    """protojson ``bytes``: standard or URL-safe base64, padding optional. Raw ``bytes`` pass as
    they are: in-process callers (the web UI's multipart upload) need not inflate them by 4/3."""
    if raw in (None, ""):
        return b""
    if isinstance(raw, bytes | bytearray):
        return bytes(raw)
    if not isinstance(raw, str):
        raise invalid("invalid content: expected a base64 string")
    text = raw.strip().replace("-", "+").replace("_", "/").rstrip("=")
    try:
        return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise invalid("invalid content: not base64") from None


def motion_media(raw: Any) -> dict[str, Any] | None:
    """Client ``motionMedia``: only an Apple live photo still or video with a group id."""
    if raw is None:
        return None
    if not isinstance(raw, dict):
        raise invalid("invalid motionMedia")
    family = raw.get("family")
    role_raw = raw.get("role")
    role = _MOTION_ROLES.get(role_raw) if isinstance(role_raw, str | int) and not isinstance(role_raw, bool) else None
    group = _pick(raw, "groupId", "group_id")
    if family not in ("APPLE_LIVE_PHOTO", 1) or role is None or not isinstance(group, str) or not group.strip():
        raise invalid("invalid motionMedia: only APPLE_LIVE_PHOTO with role STILL or VIDEO and a groupId")
    out: dict[str, Any] = {"family": "APPLE_LIVE_PHOTO", "role": role, "groupId": group}
    pts = _pick(raw, "presentationTimestampUs", "presentation_timestamp_us")
    if pts not in (None, "", 0, "0"):
        try:
            out["presentationTimestampUs"] = str(int(pts))
        except (TypeError, ValueError):
            raise invalid("invalid motionMedia.presentationTimestampUs") from None
    if _pick(raw, "hasEmbeddedVideo", "has_embedded_video") is True:
        out["hasEmbeddedVideo"] = True
    return out


def is_android_motion_photo(content_type: str, data: bytes) -> bool:
    """A JPEG whose XMP declares a Google motion photo (or the older micro video) and which really
    carries the MP4 (see :func:`memos_core.images.motion_video_start`)."""
    return content_type in ("image/jpeg", "image/jpg") and images.motion_video_start(data) is not None


def max_body_bytes(limit: int) -> int:
    """The largest JSON body that can carry ``limit`` decoded bytes: base64 inflates by 4/3, plus
    room for the other fields."""
    return -(-limit // 3) * 4 + 64 * 1024


async def upload_limit(ctx: Context) -> int:
    return storage_setting.upload_limit_bytes(await storage_setting.get(ctx.store))


async def _chunks(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), CHUNK):
        yield data[start : start + CHUNK]


# -- create --------------------------------------------------------------------------------------
async def create_attachment(
    ctx: Context, viewer: Principal, body: dict[str, Any], attachment_id: str | None = None
) -> dict[str, Any]:
    """CreateAttachment: validate everything, write the bytes, then the row.

    Photos that carry metadata lose it before they are stored (:func:`memos_core.images.strip_metadata`),
    except Android motion photos, whose embedded video re-encoding would drop; every other upload is
    stored byte for byte. ``size`` is the length of what is stored.
    """
    from .memos import new_uid

    uid = (attachment_id or "").strip()
    if uid and not UID_RE.match(uid):
        raise invalid(f"invalid attachment id: {uid!r}")
    uid = uid or new_uid()
    filename = check_filename(body.get("filename"))
    data = decode_content(body.pop("content", None))  # popped: the base64 text is not kept alongside the bytes
    setting = await storage_setting.get(ctx.store)
    if len(data) > storage_setting.upload_limit_bytes(setting):
        raise invalid(TOO_LARGE)
    content_type = resolve_type(body.get("type"), filename, data)
    motion = motion_media(_pick(body, "motionMedia", "motion_media"))
    memo = None
    memo_name = body.get("memo")
    if memo_name not in (None, ""):
        memo = await memos_store.get_memo(ctx.store, uid=parse_name(memo_name, "memos"))
        access.check_attachment_memo(viewer, memo)
    if await store.uid_exists(ctx.store, uid):
        raise already_exists(f"attachment already exists: attachments/{uid}")
    backend_name = setting["storageType"]
    backend = ctx.storages.get(backend_name)
    if backend is None:
        raise ApiError(Code.FAILED_PRECONDITION, f"storage type {backend_name} is not available on this server")

    if motion is None and is_android_motion_photo(content_type, data):
        motion = {"family": "ANDROID_MOTION_PHOTO", "role": "CONTAINER", "hasEmbeddedVideo": True}
    else:
        data = await images.strip_metadata(ctx.app, data, content_type)

    stored = await backend.save(
        ctx, uid=uid, filename=filename, content_type=content_type, chunks=_chunks(data), setting=setting
    )
    del data  # the bytes are stored: do not hold them while the row is written
    payload = dict(stored.payload)
    if motion:
        payload["motionMedia"] = motion
    now = int(time.time())
    row = {
        "uid": uid,
        "creator_id": viewer.id,
        "created_ts": now,
        "updated_ts": now,
        "filename": filename,
        "blob": stored.blob,
        "type": content_type,
        "size": stored.size,
        "memo_id": memo.id if memo else None,
        "storage_type": stored.storage_type,
        "reference": stored.reference,
        "payload": memos_store.dumps(payload),
    }
    try:
        async with ctx.store.transaction():
            await store.insert(ctx.store, **row)
    except BaseException as e:
        await _remove(ctx, [row])
        if isinstance(e, Exception) and ctx.store.is_unique_violation(e):
            raise already_exists(f"attachment already exists: attachments/{uid}") from None
        raise
    return attachment_json(await store.get(ctx.store, uid))


# -- read ----------------------------------------------------------------------------------------
async def readable(
    ctx: Context, viewer: Principal | None, uid: str, *, share_memo_id: int | None = None
) -> dict[str, Any]:
    """The row of attachment ``uid`` if the viewer may read it; for the file server too.
    ``share_memo_id`` is the memo a valid share token grants, if the caller presented one."""
    row = await store.get(ctx.store, uid)
    memo = None
    if row is not None and row["memo_id"] is not None:
        memo = await memos_store.get_memo(ctx.store, id=row["memo_id"])
        if memo is None:  # linked to a memo that is gone: as the file server answers
            raise not_found("memo not found")
    shared = memo is not None and share_memo_id is not None and share_memo_id == memo.id
    access.check_attachment_read(viewer, row, memo, shared=shared)
    return row


async def get_attachment(ctx: Context, viewer: Principal | None, uid: str) -> dict[str, Any]:
    return attachment_json(await readable(ctx, viewer, uid))


def _offset(token: str) -> int:
    if not token:
        return 0
    if not token.isdigit() or not token.isascii() or int(token) >= 2**63:  # upstream scans it into an int64
        raise invalid(f"invalid page token: {token}")
    return int(token)


async def list_attachments(
    ctx: Context, viewer: Principal, *, page_size: int = 0, page_token: str = "", filter: str = ""
) -> dict[str, Any]:
    """ListAttachments: the caller's own; a decimal-offset token whenever the page is full."""
    limit = DEFAULT_PAGE_SIZE if page_size <= 0 else min(page_size, MAX_PAGE_SIZE)
    offset = _offset(page_token)
    rows = await store.list_for_creator(ctx.store, viewer.id, await _filter_clauses(ctx, filter), limit, offset)
    token = str(offset + limit) if len(rows) == limit else ""
    return {"attachments": [attachment_json(r) for r in rows], "nextPageToken": token, "totalSize": len(rows)}


async def _filter_clauses(ctx: Context, filter: str) -> list[Any]:
    if not filter or not filter.strip():
        return []
    clause = await ctx.first(
        "memos_compile_filter", expression=filter, scope="attachment", context={"dialect": ctx.store.dialect}
    )
    if clause is None:
        raise invalid("filter is not supported")
    return [clause]


async def count_attachments(ctx: Context, viewer: Principal, *, filter: str = "") -> int:
    """How many of the caller's own attachments match ``filter`` (the ListAttachments language), in
    one COUNT: ``memo_id == null`` counts the unused ones."""
    return await store.count_for_creator(ctx.store, viewer.id, await _filter_clauses(ctx, filter))


# -- update and delete ---------------------------------------------------------------------------
async def update_attachment(
    ctx: Context, viewer: Principal, uid: str, body: dict[str, Any], mask: list[str] | None
) -> dict[str, Any]:
    """UpdateAttachment: ``filename`` only (other paths ignored); bumps ``updated_ts``.

    Without a mask, the body's fields are the mask.
    """
    mask = required_mask(mask, body)
    row = await store.get(ctx.store, uid)
    access.check_attachment_write(viewer, row)
    values: dict[str, Any] = {"updated_ts": int(time.time())}
    if "filename" in mask:
        values["filename"] = check_filename(body.get("filename"))
    async with ctx.store.transaction():
        await store.update(ctx.store, row["id"], values)
    return attachment_json(await store.get(ctx.store, uid))


async def delete_attachment(ctx: Context, viewer: Principal, uid: str) -> None:
    """DeleteAttachment: the creator only; the row, then the bytes and derived caches."""
    row = await store.get(ctx.store, uid)
    access.check_attachment_delete(viewer, row)
    async with ctx.store.transaction():
        await store.delete_ids(ctx.store, [row["id"]])
    await remove_bytes(ctx, [row])


async def batch_delete(ctx: Context, viewer: Principal, body: dict[str, Any]) -> None:
    """BatchDeleteAttachments: 1-100 names, deduplicated; every one is checked before any is deleted."""
    names = body.get("names")
    if not isinstance(names, list) or not names:
        raise invalid("names are required")
    uids = list(dict.fromkeys(parse_name(n, "attachments") for n in names))
    if len(uids) > MAX_BATCH:
        raise invalid(f"at most {MAX_BATCH} attachments can be deleted at once")
    rows = await store.get_many(ctx.store, uids)
    for uid in uids:
        if uid not in rows:
            raise not_found(f"attachment not found: attachments/{uid}")
    for uid in uids:
        access.check_attachment_write(viewer, rows[uid])
    async with ctx.store.transaction():
        await store.delete_ids(ctx.store, [r["id"] for r in rows.values()])
    await remove_bytes(ctx, list(rows.values()))


async def delete_unused(ctx: Context, viewer: Principal) -> int:
    """Delete the caller's own attachments that no memo uses, through :func:`batch_delete` (at most
    ``MAX_BATCH`` names at a time); returns how many went. Only the caller's rows are listed, so an
    admin's call leaves everyone else's files alone."""
    deleted = 0
    budget = await count_attachments(ctx, viewer, filter=UNUSED) // MAX_BATCH + 2  # never loop for ever
    for _ in range(budget):
        page = await list_attachments(ctx, viewer, page_size=MAX_BATCH, filter=UNUSED)
        names = [a["name"] for a in page["attachments"]]
        if not names:
            break
        await batch_delete(ctx, viewer, {"names": names})
        deleted += len(names)
    return deleted


# -- memos ---------------------------------------------------------------------------------------
def parse_attachment_uids(attachments: Any) -> list[str]:
    """The uids of ``[{name: "attachments/x"}, ...]`` in order, duplicates dropped."""
    if attachments is None:
        return []
    if not isinstance(attachments, list):
        raise invalid("attachments must be a list")
    uids: list[str] = []
    for item in attachments:
        name = item.get("name") if isinstance(item, dict) else None
        uid = parse_name(name, "attachments")
        if uid not in uids:
            uids.append(uid)
    return uids


async def link_to_memo(ctx: Context, viewer: Principal, memo_id: int, uids: Sequence[str]) -> list[dict[str, Any]]:
    """Inside the caller's transaction: make ``uids`` (in display order) the memo's attachments.

    Unknown names are 404 and others' attachments 403 (admins excepted), before anything changes.
    Returns the rows that were unlinked and deleted: pass them to :func:`remove_bytes` after commit.
    """
    found = await store.get_many(ctx.store, uids)
    for uid in uids:
        if uid not in found:
            raise not_found(f"attachment not found: attachments/{uid}")
        access.check_attachment_link(viewer, found[uid])
    partial = await _partial_live_photos(ctx, [found[uid] for uid in uids])
    kept = [uid for uid in uids if uid not in partial]
    return await store.link(ctx.store, memo_id, kept, int(time.time()))


def _live_photo_group(row: dict[str, Any]) -> tuple[int, str] | None:
    motion = memos_store.loads(row["payload"]).get("motionMedia")
    if isinstance(motion, dict) and motion.get("family") == "APPLE_LIVE_PHOTO" and motion.get("groupId"):
        return row["creator_id"], str(motion["groupId"])
    return None


async def _partial_live_photos(ctx: Context, requested: list[dict[str, Any]]) -> set[str]:
    """Uids of requested live-photo members whose group (same creator and ``groupId``) is not
    requested whole: upstream drops those rather than splitting a still from its video."""
    groups: dict[tuple[int, str], set[str]] = {}
    for row in requested:
        key = _live_photo_group(row)
        if key is not None:
            groups.setdefault(key, set()).add(row["uid"])
    if not groups:
        return set()
    members: dict[tuple[int, str], set[str]] = {}
    candidates = await store.with_payload_text(ctx.store, {c for c, _ in groups}, {g for _, g in groups})
    for row in candidates:
        key = _live_photo_group(row)
        if key in groups:
            members.setdefault(key, set()).add(row["uid"])
    dropped: set[str] = set()
    for key, wanted in groups.items():
        if members.get(key, set()) - wanted:
            dropped |= wanted
    return dropped


async def rows_for_memos(ctx: Context, memo_ids: Sequence[int]) -> list[dict[str, Any]]:
    return await store.for_memos(ctx.store, memo_ids)


async def list_memo_attachments(ctx: Context, viewer: Principal | None, memo_uid: str) -> dict[str, Any]:
    """ListMemoAttachments: everything linked to a memo the viewer may read (admins any); no paging."""
    memo = await memos_store.get_memo(ctx.store, uid=memo_uid)
    access.check_read_attached(viewer, memo)
    rows = await store.for_memos(ctx.store, [memo.id])
    return {"attachments": [attachment_json(r) for r in rows], "nextPageToken": ""}


async def set_memo_attachments(ctx: Context, viewer: Principal, memo_uid: str, body: dict[str, Any]) -> None:
    """SetMemoAttachments: replace the memo's set; dropped attachments are deleted, bytes included."""
    from .memos import one_memo_json

    memo = await memos_store.get_memo(ctx.store, uid=memo_uid)
    access.check_write(viewer, memo)
    uids = parse_attachment_uids(body.get("attachments"))
    async with ctx.store.transaction():
        removed = await link_to_memo(ctx, viewer, memo.id, uids)
        await memos_store.update_memo(ctx.store, memo.id, {"updated_ts": int(time.time())})
    await remove_bytes(ctx, removed)
    memo = await memos_store.get_memo(ctx.store, uid=memo_uid)
    data = await one_memo_json(ctx, viewer, memo)
    parents = await memos_store.parents_for(ctx.store, [memo.id])
    extra = {"parent": f"memos/{parents[memo.id]}"} if memo.id in parents else {}
    await ctx.emit(Event(events.MEMO_UPDATED, data, actor=viewer.user, extra=extra))


# -- bytes ---------------------------------------------------------------------------------------
async def remove_bytes(ctx: Context, rows: Sequence[dict[str, Any]]) -> None:
    """After the rows were deleted and committed: remove their bytes and derived caches. A failure
    is logged (the row is already gone; a stray file is the lesser harm)."""
    for row in rows:
        try:
            await _remove(ctx, [row])
        except Exception:
            log.exception("could not remove the bytes of attachment %s", row.get("uid"))
        for cache in (f".thumbnail_cache/{row['uid']}.jpeg", f".motion_cache/{row['uid']}.mp4"):
            try:
                (ctx.config.data_dir / cache).unlink(missing_ok=True)
            except OSError:
                log.warning("could not remove %s", cache, exc_info=True)


async def _remove(ctx: Context, rows: Sequence[dict[str, Any]]) -> None:
    for row in rows:
        backend = ctx.storages.for_row(row)
        if backend is not None:
            await backend.delete(ctx, row)


async def cleanup_orphans(app: web.Application) -> int:
    """Scheduled hourly: delete attachments linked to no memo and older than 24 hours (row, then
    bytes). Upstream keeps them forever; uploads abandoned in an unsent editor would pile up."""
    ctx = app[CONTEXT]
    removed = 0
    async with ctx.store.connection():
        while True:
            rows = await store.orphans(ctx.store, int(time.time()) - ORPHAN_AGE)
            if not rows:
                return removed
            async with ctx.store.transaction():
                await store.delete_ids(ctx.store, [r["id"] for r in rows])
            await remove_bytes(ctx, rows)
            removed += len(rows)
