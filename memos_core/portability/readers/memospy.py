"""memos-py's own export (``memos.json`` alone, or the export zip) read back into drafts.

Only ``memos.json`` is trusted for structure; attachment bytes are read from the zip by the exact
paths it names, never by walking or extracting the archive, with the sizes capped while reading.
Comments whose parent is in the export become that memo's comments; a comment on a memo outside
the export (someone else's) is imported as a memo of its own.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ...wire import parse_time
from ..model import ImportedAttachment, ImportedMemo, ImportedReaction, ImportRefused
from ..safezip import SafeZip, open_zip

FORMAT = "memos-py-export"
MAX_JSON_BYTES = 256 * 1024 * 1024
MAX_FILE_BYTES = 1024**3
MAX_TOTAL_BYTES = 2 * 1024**3


def is_export(doc: Any) -> bool:
    return isinstance(doc, dict) and doc.get("format") == FORMAT


def parse(raw: bytes | str) -> dict[str, Any]:
    """``memos.json`` decoded and checked for format and version."""
    try:
        doc = json.loads(raw)
    except ValueError as e:
        raise ImportRefused(f"memos.json is not valid JSON: {e}") from None
    if not is_export(doc):
        raise ImportRefused('not a memos-py export: memos.json lacks "format": "memos-py-export"')
    if doc.get("version") != 1:
        raise ImportRefused(f"unsupported memos-py export version {doc.get('version')!r} (this server reads 1)")
    if not isinstance(doc.get("memos"), list):
        raise ImportRefused("memos.json has no memos list")
    return doc


def read_json(raw: bytes | str) -> list[ImportedMemo]:
    """Drafts from ``memos.json`` alone (attachments, whose bytes it does not hold, are left out)."""
    return _drafts(parse(raw), None)


def read_zip(source: str | Path | bytes | Any) -> list[ImportedMemo]:
    """Drafts from an export zip (a path, bytes or a binary file object), opened with
    :mod:`..safezip` as every imported archive is (names, sizes and ratios checked)."""
    with open_zip(source, max_file_size=MAX_FILE_BYTES, max_total_size=MAX_TOTAL_BYTES) as zf:
        doc = zf.get("memos.json")
        if doc is None:
            raise ImportRefused("not a memos-py export: the zip has no memos.json")
        if doc.info.file_size > MAX_JSON_BYTES:  # SafeZip holds the entry to its declared size
            raise ImportRefused(f"memos.json is larger than {MAX_JSON_BYTES} bytes")
        return _drafts(parse(zf.read(doc)), zf)


def _time(value: Any, what: str) -> int | None:
    if value in (None, ""):
        return None
    try:
        return parse_time(value)
    except (ValueError, OverflowError):
        raise ImportRefused(f"{what}: invalid time {value!r}") from None


def _drafts(doc: dict[str, Any], zf: SafeZip | None) -> list[ImportedMemo]:
    drafts: dict[str, ImportedMemo] = {}
    parents: dict[str, str] = {}
    for raw in doc["memos"]:
        if not isinstance(raw, dict) or not isinstance(raw.get("uid"), str) or not raw["uid"]:
            raise ImportRefused("memos.json holds a memo without a uid")
        uid = raw["uid"]
        what = f"memo {uid}"
        if uid in drafts:
            raise ImportRefused(f"{what} appears twice in memos.json")
        attachments = []
        for att in raw.get("attachments") or []:
            if not isinstance(att, dict):
                raise ImportRefused(f"{what}: invalid attachment")
            data = b""
            if zf is not None:
                entry = zf.get(str(att.get("path", "")))
                if entry is None:
                    raise ImportRefused(f"{what}: attachment file {att.get('path')!r} is missing from the zip")
                data = zf.read(entry)  # the per-file and total caps are the SafeZip's
            else:
                continue  # memos.json alone does not carry bytes
            attachments.append(
                ImportedAttachment(
                    filename=str(att.get("filename", "")),
                    type=str(att.get("type", "")),
                    data=data,
                    uid=str(att.get("uid", "")),
                )
            )
        reactions = [
            ImportedReaction(str(r.get("reactionType", "")), str(r.get("creator", "")).removeprefix("users/"))
            for r in raw.get("reactions") or []
            if isinstance(r, dict)
        ]
        state = raw.get("state", "NORMAL")
        if state not in ("NORMAL", "ARCHIVED"):
            raise ImportRefused(f"{what}: invalid state {state!r}")
        content = raw.get("content", "")
        drafts[uid] = ImportedMemo(
            key=uid,
            uid=uid,
            content=content,  # the writer refuses anything but text
            create_time=_time(raw.get("createTime"), what),
            update_time=_time(raw.get("updateTime"), what),
            visibility=raw.get("visibility", "PRIVATE"),
            pinned=raw.get("pinned") is True,
            archived=state == "ARCHIVED",
            location=raw.get("location") or None,
            attachments=attachments,
            reactions=reactions,
            references=[str(r) for r in raw.get("relations") or []],
        )
        if raw.get("parent"):
            parents[uid] = str(raw["parent"])
    top: list[ImportedMemo] = []
    for uid, draft in drafts.items():
        parent = parents.get(uid)
        if parent in drafts and not _cycle(uid, parents):
            drafts[parent].comments.append(draft)
        else:
            top.append(draft)
    return top


def _cycle(uid: str, parents: dict[str, str]) -> bool:
    seen = {uid}
    while uid in parents:
        uid = parents[uid]
        if uid in seen:
            return True
        seen.add(uid)
    return False
