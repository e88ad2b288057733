"""Put imported drafts into an account, all or nothing.

Order of work, so that a failure anywhere leaves nothing behind:

1. Every draft is checked (visibility, times, sizes, filenames, types, limits) before anything is
   written; a bad one refuses the whole import (:class:`ImportRefused`, a 400 over the API).
2. Drafts imported before from the same source (``memos_py_import``: user, source kind, key) are
   skipped, so running an import again duplicates nothing.
3. Attachment bytes are stored through the configured storage backend.
4. Memo, relation, reaction, attachment and import-record rows are written in one transaction.
   If it fails, it rolls back and the bytes stored in step 3 are removed again.

Memos keep their times, pinned state, visibility and archived state, and their uid when it is free.
Tags come from the content as CreateMemo derives them; a draft's extra ``tags`` are appended to the
content as ``#tag`` first. Reactions are the importing user's. Imports fire no webhooks or
notifications: they restore old notes, nobody is acting on them now.
"""

from __future__ import annotations

import dataclasses
import hashlib
import time
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from ..errors import ApiError
from ..services import attachments as attachment_service
from ..services import instance, storage_setting
from ..services.memos import _MYSQL_TIMESTAMP_MAX, derive_payload, new_uid, parse_location
from ..storage_local import check_filename
from ..store import attachments as attachments_store
from ..store import memos as memos_store
from ..store import tables
from ..wire import UID_RE
from .model import ImportedAttachment, ImportedMemo, ImportRefused

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

#: At most this many memos (comments included) in one import.
MAX_MEMOS = 20_000
#: At most this many attachment bytes in one import.
MAX_TOTAL_BYTES = 2 * 1024**3
VISIBILITIES = ("PRIVATE", "PROTECTED", "PUBLIC")
SOURCE_KINDS = ("memos-py", "markdown", "keep", "memos")


@dataclasses.dataclass
class ImportReport:
    """What an import did: memos written (comments included), skipped as imported before, attachment
    files stored, and references dropped because their target was in neither the import nor the
    account."""

    imported: int = 0
    skipped: int = 0
    attachments: int = 0
    dropped_references: int = 0

    def to_json(self) -> dict[str, int]:
        return {
            "imported": self.imported,
            "skipped": self.skipped,
            "attachments": self.attachments,
            "droppedReferences": self.dropped_references,
        }


@dataclasses.dataclass
class _Item:
    draft: ImportedMemo
    parent: _Item | None
    content: str = ""
    uid: str = ""
    created: int = 0
    updated: int = 0
    location: dict[str, Any] | None = None
    files: list[tuple[ImportedAttachment, str, str]] = dataclasses.field(default_factory=list)  # (att, name, type)
    memo_id: int = 0


def key_hash(key: str) -> str:
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _flatten(drafts: list[ImportedMemo]) -> list[_Item]:
    out: list[_Item] = []

    def walk(draft: ImportedMemo, parent: _Item | None) -> None:
        item = _Item(draft, parent)
        out.append(item)
        for comment in draft.comments:
            walk(comment, item)

    for d in drafts:
        walk(d, None)
    return out


def with_tags(content: str, tags: list[str]) -> str:
    """``content`` with ``#tag`` appended for every tag it does not already carry."""
    missing = []
    for tag in tags:
        tag = str(tag).strip().lstrip("#").replace(" ", "-")
        if tag and f"#{tag}" not in content and tag not in missing:
            missing.append(tag)
    if not missing:
        return content
    sep = "" if not content else ("\n" if content.endswith("\n") else "\n\n")
    return content + sep + " ".join(f"#{t}" for t in missing)


def _time(ctx: Context, value: int | None, now: int, what: str) -> int:
    if value is None:
        return now
    if isinstance(value, bool) or not isinstance(value, int):
        raise ImportRefused(f"{what}: invalid time {value!r}")
    if ctx.store.dialect == "mysql" and value != 0 and not 0 < value <= _MYSQL_TIMESTAMP_MAX:
        raise ImportRefused(f"{what}: time {value} is out of range for this database (1970-01-01 to 2038-01-19)")
    return value


async def _check(ctx: Context, items: list[_Item]) -> int:
    """Validate every draft before anything is written; returns the attachment byte total."""
    if len(items) > MAX_MEMOS:
        raise ImportRefused(f"too many memos: {len(items)} (at most {MAX_MEMOS} per import)")
    content_limit = (await instance.memo_related(ctx.store))["contentLengthLimit"]
    upload_limit = storage_setting.upload_limit_bytes(await storage_setting.get(ctx.store))
    now = int(time.time())
    total = 0
    keys: set[str] = set()
    for item in items:
        d = item.draft
        what = f"memo {d.key!r}"
        if not isinstance(d.key, str) or not d.key:
            raise ImportRefused("a memo without a key cannot be imported")
        if d.key in keys:
            raise ImportRefused(f"{what} appears twice in the import")
        keys.add(d.key)
        if not isinstance(d.content, str):
            raise ImportRefused(f"{what}: content is not text")
        if d.visibility not in VISIBILITIES:
            raise ImportRefused(f"{what}: invalid visibility {d.visibility!r}")
        if d.uid and not UID_RE.match(d.uid):
            raise ImportRefused(f"{what}: invalid uid {d.uid!r}")
        item.content = with_tags(d.content, list(d.tags or []))
        if len(item.content.encode()) > content_limit:
            raise ImportRefused(f"{what}: content longer than this instance's limit of {content_limit} bytes")
        item.created = _time(ctx, d.create_time, now, what)
        item.updated = _time(ctx, d.update_time if d.update_time is not None else d.create_time, now, what)
        try:
            item.location = parse_location(d.location)
        except ApiError as e:
            raise ImportRefused(f"{what}: {e.message}") from None
        for att in d.attachments:
            if not isinstance(att.data, bytes | bytearray):
                raise ImportRefused(f"{what}: attachment {att.filename!r} has no bytes")
            if len(att.data) > upload_limit:
                raise ImportRefused(f"{what}: attachment {att.filename!r} is larger than the upload limit")
            if att.uid and not UID_RE.match(att.uid):
                raise ImportRefused(f"{what}: invalid attachment uid {att.uid!r}")
            try:
                name = check_filename(att.filename)
                kind = attachment_service.resolve_type(att.type or None, name, bytes(att.data[:512]))
            except ApiError as e:
                raise ImportRefused(f"{what}: attachment {att.filename!r}: {e.message}") from None
            item.files.append((att, name, kind))
            total += len(att.data)
        if total > MAX_TOTAL_BYTES:
            raise ImportRefused(f"attachments too large: more than {MAX_TOTAL_BYTES} bytes in one import")
    return total


async def _previous(ctx: Context, user_id: int, source: str, items: list[_Item]) -> dict[str, int]:
    """key hash -> memo id of drafts this user imported from this source before (memo still there)."""
    t, m = tables.import_record, tables.memo
    hashes = sorted({key_hash(i.draft.key) for i in items})
    found: dict[str, int] = {}
    for start in range(0, len(hashes), 500):
        q = (
            sa.select(t.c.key_hash, t.c.memo_id)
            .select_from(t.join(m, m.c.id == t.c.memo_id))
            .where(t.c.user_id == user_id, t.c.source == source, t.c.key_hash.in_(hashes[start : start + 500]))
        )
        found.update({r["key_hash"]: r["memo_id"] for r in await ctx.store.fetch_all(q)})
    return found


async def _one_chunk(data: bytes) -> AsyncIterator[bytes]:
    for start in range(0, len(data), attachment_service.CHUNK):
        yield data[start : start + attachment_service.CHUNK]


async def import_drafts(ctx: Context, viewer: Principal, source_kind: str, drafts: list[ImportedMemo]) -> ImportReport:
    """Import ``drafts`` (read from a source of kind ``source_kind``) into ``viewer``'s account, all or
    nothing. Raises :class:`ImportRefused` for a draft that cannot be imported, before any write."""
    if source_kind not in SOURCE_KINDS:
        raise ImportRefused(f"unknown source kind {source_kind!r}")
    items = _flatten(drafts)
    await _check(ctx, items)
    report = ImportReport()
    previous = await _previous(ctx, viewer.id, source_kind, items)
    by_key = {i.draft.key: i for i in items}
    todo = [i for i in items if key_hash(i.draft.key) not in previous]
    report.skipped = len(items) - len(todo)
    if not todo:
        return report

    # Uids: kept when free in the database and not claimed twice in this import.
    wanted = [i.draft.uid for i in todo if i.draft.uid]
    taken = set(await memos_store.ids_by_uids(ctx.store, wanted)) if wanted else set()
    for item in todo:
        uid = item.draft.uid
        item.uid = uid if uid and uid not in taken else new_uid()
        taken.add(item.uid)
    att_wanted = [a.uid for i in todo for a, _, _ in i.files if a.uid]
    att_taken = set(await attachments_store.get_many(ctx.store, att_wanted)) if att_wanted else set()

    # Bytes first, through the configured backend; removed again below if the rows cannot be written.
    setting = await storage_setting.get(ctx.store)
    backend = ctx.storages.get(setting["storageType"])
    if backend is None:
        raise ImportRefused(f"storage type {setting['storageType']} is not available on this server")
    now = int(time.time())
    stored_rows: list[dict[str, Any]] = []
    att_rows: list[tuple[_Item, dict[str, Any]]] = []
    try:
        for item in todo:
            for index, (att, name, kind) in enumerate(item.files):
                uid = att.uid if att.uid and att.uid not in att_taken else new_uid()
                att_taken.add(uid)
                stored = await backend.save(
                    ctx, uid=uid, filename=name, content_type=kind, chunks=_one_chunk(bytes(att.data)), setting=setting
                )
                row = {
                    "uid": uid,
                    "creator_id": viewer.id,
                    "created_ts": now,
                    "updated_ts": now - index,  # the order memos list their attachments in: newest first
                    "filename": name,
                    "blob": stored.blob,
                    "type": kind,
                    "size": stored.size,
                    "storage_type": stored.storage_type,
                    "reference": stored.reference,
                    "payload": memos_store.dumps(dict(stored.payload)),
                }
                stored_rows.append(row)
                att_rows.append((item, row))
        report.attachments = len(stored_rows)
        async with ctx.store.transaction():
            await _write_rows(ctx, viewer, source_kind, todo, by_key, previous, att_rows, report)
    except BaseException:
        for row in stored_rows:
            try:
                backend_for = ctx.storages.for_row(row)
                if backend_for is not None:
                    await backend_for.delete(ctx, row)
            except Exception:  # the original error matters more than a stray file
                pass
        raise
    report.imported = len(todo)
    return report


async def _write_rows(
    ctx: Context,
    viewer: Principal,
    source: str,
    todo: list[_Item],
    by_key: dict[str, _Item],
    previous: dict[str, int],
    att_rows: list[tuple[_Item, dict[str, Any]]],
    report: ImportReport,
) -> None:
    """Inside the caller's transaction: every row of the import."""
    rel = tables.memo_relation
    for item in todo:
        d = item.draft
        payload = await derive_payload(ctx, item.content, item.location)
        item.memo_id = await memos_store.insert_memo(
            ctx.store,
            uid=item.uid,
            creator_id=viewer.id,
            created_ts=item.created,
            updated_ts=item.updated,
            row_status="ARCHIVED" if d.archived else "NORMAL",
            content=item.content,
            visibility=d.visibility,
            pinned=bool(d.pinned),
            payload=memos_store.dumps(payload),
        )

    def memo_id_of(key: str) -> int | None:
        target = by_key.get(key)
        if target is not None:
            return target.memo_id or previous.get(key_hash(key))
        return previous.get(key_hash(key))

    relations: list[dict[str, Any]] = []
    unresolved: list[tuple[_Item, str]] = []
    for item in todo:
        if item.parent is not None:
            parent_id = memo_id_of(item.parent.draft.key)
            if parent_id:
                relations.append({"memo_id": item.memo_id, "related_memo_id": parent_id, "type": memos_store.COMMENT})
        for key in dict.fromkeys(item.draft.references):
            target = memo_id_of(key)
            if target:
                if target != item.memo_id:
                    relations.append({"memo_id": item.memo_id, "related_memo_id": target, "type": "REFERENCE"})
            else:
                unresolved.append((item, key))
    if unresolved:  # a key that is not in this import may still name a memo of the account by uid
        found = await memos_store.ids_by_uids(ctx.store, [k for _, k in unresolved])
        own = set()
        if found:
            q = sa.select(tables.memo.c.id).where(
                tables.memo.c.id.in_(list(found.values())),
                sa.or_(tables.memo.c.creator_id == viewer.id, tables.memo.c.visibility != "PRIVATE"),
            )
            own = {r["id"] for r in await ctx.store.fetch_all(q)}
        for item, key in unresolved:
            target = found.get(key)
            if target in own and target != item.memo_id:
                relations.append({"memo_id": item.memo_id, "related_memo_id": target, "type": "REFERENCE"})
            else:
                report.dropped_references += 1
    if relations:
        await ctx.store.execute(rel.insert().values(relations))

    reactions = []
    for item in todo:
        for emoji in dict.fromkeys(r.reaction_type for r in item.draft.reactions if r.reaction_type):
            reactions.append(
                {
                    "creator_id": viewer.id,
                    "content_id": f"memos/{item.uid}",
                    "reaction_type": emoji,
                    "created_ts": item.created,
                }
            )
    if reactions:
        await ctx.store.execute(tables.reaction.insert().values(reactions))
    for item, row in att_rows:
        await attachments_store.insert(ctx.store, **row, memo_id=item.memo_id)
    now_ms = int(time.time() * 1000)
    records = [
        {
            "user_id": viewer.id,
            "source": source,
            "key_hash": key_hash(i.draft.key),
            "memo_id": i.memo_id,
            "created_ms": now_ms,
        }
        for i in todo
    ]
    t = tables.import_record
    # A record left by a memo deleted since: replaced by the new one.
    await ctx.store.execute(
        t.delete().where(
            t.c.user_id == viewer.id, t.c.source == source, t.c.key_hash.in_([r["key_hash"] for r in records])
        )
    )
    for start in range(0, len(records), 500):
        await ctx.store.execute(t.insert().values(records[start : start + 500]))
