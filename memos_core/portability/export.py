"""Export an account: every memo of a user (or, for an admin, of every user) as ``memos.json`` or a zip.

``memos.json`` is the exact record (format ``memos-py-export``, version 1; see docs/portability.md):
the import of memos-py's own export reads it back losslessly. The zip adds one Markdown file per memo
(YAML front matter, then the content) and the attachment files, and is written as a stream: rows
are small and loaded first, attachment bytes are read one attachment at a time from its storage
backend and copied chunk by chunk, so memory is bounded by the largest attachment, not the total.

What a user's export holds: the memos they created, whatever their state, comments included (their
own comments on anyone's memo carry the parent's uid). Comments others left on their memos are the
others' data and are not included; an admin's ``user=*`` export holds everyone's.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
import unicodedata
import zipfile
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import invalid, not_found, unauthenticated
from ..services import access
from ..store import attachments as attachments_store
from ..store import memos as memos_store
from ..store import tables
from ..store import users as users_store
from ..wire import format_time

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context
    from ..store.users import User

FORMAT = "memos-py-export"
VERSION = 1
CHUNK = 256 * 1024
ALL_USERS = "*"

Write = Callable[[bytes], Awaitable[None]]


# -- who ------------------------------------------------------------------------------------------
async def export_users(ctx: Context, viewer: Principal | None, user: str | None) -> list[User]:
    """The users whose memos ``viewer`` may export: themselves by default; an admin may name another
    user (``users/NAME``) or everyone (``*``). Anyone else asking for more is refused."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    if user in (None, "", f"users/{viewer.user.username}"):
        return [viewer.user]
    if user == ALL_USERS:
        access.check_admin(viewer)
        return list(await users_store.list_users(ctx.store))
    if not user.startswith("users/") or not user.removeprefix("users/"):
        raise invalid(f"invalid user: {user!r} (expected users/NAME or *)")
    access.check_admin(viewer)
    found = await users_store.get_user(ctx.store, username=user.removeprefix("users/"))
    if found is None:
        raise not_found(f"user not found: {user}")
    return [found]


# -- memos.json -----------------------------------------------------------------------------------
def attachment_path(uid: str, filename: str) -> str:
    """Where an attachment's bytes go inside the zip: ``attachments/<uid>/<safe filename>``."""
    return f"attachments/{uid}/{safe_name(filename) or 'file'}"


def safe_name(name: str) -> str:
    """A file name safe in any unzip tool: no separators, control characters, or leading dots."""
    name = unicodedata.normalize("NFC", name or "")
    name = "".join("_" if c in '/\\:*?"<>|' or unicodedata.category(c)[0] == "C" else c for c in name)
    return name.strip(" .")[:200]


async def build(ctx: Context, users: list[User]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """``memos.json`` for ``users``, and the attachment rows (without blobs) in the order the zip
    stores them. Memos come ordered by creation time then uid, a stable order across instances."""
    ids = [u.id for u in users]
    m = tables.memo
    rows = await ctx.store.fetch_all(memos_store.select_memos().where(m.c.creator_id.in_(ids)))
    memos = sorted((memos_store.Memo.from_row(r) for r in rows), key=lambda x: (x.created_ts, x.uid))
    memo_ids = [x.id for x in memos]
    relations: dict[int, list[str]] = {}
    parents: dict[int, str] = {}
    if memo_ids:
        rel, target = tables.memo_relation, tables.memo.alias("target")
        q = (
            sa.select(rel.c.memo_id, rel.c.type, target.c.uid)
            .select_from(rel.join(target, target.c.id == rel.c.related_memo_id))
            .where(rel.c.memo_id.in_(memo_ids))
        )
        for r in await ctx.store.fetch_all(q):
            if r["type"] == memos_store.COMMENT:
                parents[r["memo_id"]] = r["uid"]
            else:
                relations.setdefault(r["memo_id"], []).append(r["uid"])
    reactions: dict[str, list[dict[str, str]]] = {}
    for r in await memos_store.reactions_for(ctx.store, [x.uid for x in memos]):
        reactions.setdefault(r.content_id.removeprefix("memos/"), []).append(
            {"reactionType": r.reaction_type, "creator": f"users/{r.creator}"}
        )
    attached: dict[int, list[dict[str, Any]]] = {}
    for row in await attachments_store.for_memos(ctx.store, memo_ids):
        attached.setdefault(row["memo_id"], []).append(row)

    out_memos: list[dict[str, Any]] = []
    files: list[dict[str, Any]] = []
    for x in memos:
        prop = {k: v for k, v in (x.payload.get("property") or {}).items() if v}
        item: dict[str, Any] = {
            "uid": x.uid,
            "creator": f"users/{x.creator}",
            "createTime": format_time(x.created_ts),
            "updateTime": format_time(x.updated_ts),
            "state": x.row_status,
            "visibility": x.visibility,
            "pinned": x.pinned,
            "content": x.content,
            "tags": list(x.payload.get("tags") or []),
            "property": prop,
            "location": x.payload.get("location") or None,
            "parent": parents.get(x.id),
            "relations": sorted(relations.get(x.id, [])),
            "reactions": sorted(reactions.get(x.uid, []), key=lambda r: (r["creator"], r["reactionType"])),
            "attachments": [],
        }
        for row in attached.get(x.id, []):
            item["attachments"].append(
                {
                    "uid": row["uid"],
                    "filename": row["filename"],
                    "type": row["type"],
                    "size": int(row["size"] or 0),
                    "path": attachment_path(row["uid"], row["filename"]),
                }
            )
            files.append(row)
        out_memos.append(item)
    doc = {
        "format": FORMAT,
        "version": VERSION,
        "exportedAt": format_time(int(time.time())),
        "users": [
            {"name": f"users/{u.username}", "nickname": u.nickname, "email": u.email, "description": u.description}
            for u in users
        ],
        "memos": out_memos,
    }
    return doc, files


def dump(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, indent=2).encode()


# -- Markdown -------------------------------------------------------------------------------------
def markdown_name(memo: dict[str, Any]) -> str:
    """``memos/<YYYY-MM-DD>_<uid>.md``: sorts by date, unique by uid, safe everywhere."""
    day = memo["createTime"][:10]
    return f"memos/{day}_{safe_name(memo['uid'])}.md"


def markdown(memo: dict[str, Any]) -> str:
    """A memo as Markdown with YAML front matter. Every value is written as JSON, which YAML 1.2
    reads as the same value, so no YAML library is needed and nothing needs quoting rules."""
    fields: list[tuple[str, Any]] = [
        ("uid", memo["uid"]),
        ("creator", memo["creator"]),
        ("created", memo["createTime"]),
        ("updated", memo["updateTime"]),
        ("visibility", memo["visibility"]),
        ("pinned", memo["pinned"]),
        ("state", memo["state"]),
        ("tags", memo["tags"]),
    ]
    if memo["location"]:
        fields.append(("location", memo["location"]))
    if memo["parent"]:
        fields.append(("parent", memo["parent"]))
    if memo["relations"]:
        fields.append(("relations", memo["relations"]))
    if memo["attachments"]:
        fields.append(("attachments", ["../" + a["path"] for a in memo["attachments"]]))
    head = "".join(f"{k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in fields)
    return f"---\n{head}---\n\n{memo['content']}\n"


# -- the zip stream -------------------------------------------------------------------------------
class _Sink:
    """A write-only, non-seekable file for :class:`zipfile.ZipFile`: what it writes is collected
    here and handed to the async writer between writes (:meth:`take`)."""

    def __init__(self) -> None:
        self._parts: list[bytes] = []

    def write(self, data: bytes) -> int:
        self._parts.append(bytes(data))
        return len(data)

    def flush(self) -> None:
        pass

    def take(self) -> bytes:
        data = b"".join(self._parts)
        self._parts.clear()
        return data


async def attachment_chunks(ctx: Context, row: dict[str, Any]) -> AsyncIterator[bytes]:
    """The bytes of one attachment from its storage backend, chunk by chunk (local files are read
    in a thread; a backend that only offers a redirect is fetched from that URL)."""
    backend = ctx.storages.for_row(row)
    if backend is None:
        raise RuntimeError(f"storage type {row['storage_type']!r} of attachment {row['uid']} is not available")
    download = await backend.open(ctx, row)
    if download.data is not None:
        for start in range(0, len(download.data), CHUNK):
            yield download.data[start : start + CHUNK]
    elif download.path is not None:
        with open(Path(download.path), "rb") as f:  # opening is quick; reads go through a thread
            while chunk := await asyncio.to_thread(f.read, CHUNK):
                yield chunk
    elif download.chunks is not None:
        async for chunk in download.chunks(None, None):
            yield chunk
    elif download.redirect:
        import aiohttp

        async with aiohttp.ClientSession() as session, session.get(download.redirect) as resp:
            resp.raise_for_status()
            async for chunk in resp.content.iter_chunked(CHUNK):
                yield chunk


async def write_zip(ctx: Context, doc: dict[str, Any], files: list[dict[str, Any]], write: Write) -> None:
    """Stream the export zip to ``write``: Markdown files, attachment files, then ``memos.json``."""
    sink = _Sink()
    with zipfile.ZipFile(sink, "w", compression=zipfile.ZIP_DEFLATED) as zf:  # type: ignore[arg-type]
        for memo in doc["memos"]:
            zf.writestr(markdown_name(memo), markdown(memo))
            await write(sink.take())
        for row in files:
            info = zipfile.ZipInfo(attachment_path(row["uid"], row["filename"]), _zip_time(row["created_ts"]))
            info.compress_type = zipfile.ZIP_DEFLATED
            info.file_size = int(row["size"] or 0)  # a hint only: decides whether ZIP64 is needed
            with zf.open(info, "w") as entry:
                async for chunk in attachment_chunks(ctx, row):
                    entry.write(chunk)
                    await write(sink.take())
            await write(sink.take())
        zf.writestr("memos.json", dump(doc))
    await write(sink.take())


def _zip_time(ts: int) -> tuple[int, int, int, int, int, int]:
    t = time.gmtime(max(int(ts or 0), 315532800))  # zip dates start in 1980
    return (t.tm_year, t.tm_mon, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec)


_FILENAME_SAFE = re.compile(r"[^A-Za-z0-9._-]+")


def download_name(users: list[User], ext: str) -> str:
    """``memos-export-<user>-<date>.<ext>`` (``all`` for everyone)."""
    who = users[0].username if len(users) == 1 else "all"
    return f"memos-export-{_FILENAME_SAFE.sub('_', who)}-{time.strftime('%Y%m%d')}.{ext}"
