"""Google Keep, from a Google Takeout zip: ``Takeout/Keep/*.json``, one note each, attachments beside.

How a note becomes a memo:

* The title becomes a first line ``# Title`` (a Markdown heading, which Memos shows as the memo's
  title), followed by a blank line and the text.
* A checklist (``listContent``) becomes a task list: ``- [ ] item`` / ``- [x] item``.
* Web links Keep attached (``annotations``) are appended as ``[title](url)`` lines unless the text
  already holds the URL.
* Labels become tags; characters a Memos tag cannot hold (spaces, ``#``, punctuation) become ``-``,
  so the label ``Road trip`` is the tag ``Road-trip``.
* Pinned and archived are kept; trashed notes are skipped. Times come from
  ``createdTimestampUsec`` and ``userEditedTimestampUsec``.
* Attachments (``filePath``) are read from the same folder. Takeout sometimes names the file with
  another extension than the JSON says (``.jpeg`` vs ``.jpg``): a sibling with the same stem is used
  then; an attachment missing from the zip is left out.
* The key is the note's JSON file name; every memo is PRIVATE.
"""

from __future__ import annotations

import json
import os
import posixpath
import re
from typing import IO

from .. import safezip
from ..model import ImportedAttachment, ImportedMemo, ImportRefused

# Characters a tag may hold besides letters, digits and marks (see the Markdown tag rules).
_TAG_UNSAFE = re.compile(r"[^\w\-/&+]+")


def label_to_tag(name: str) -> str:
    """``Road trip`` -> ``Road-trip``: runs of characters a tag cannot hold become one ``-``."""
    return _TAG_UNSAFE.sub("-", name.strip()).strip("-")


def read_zip(source: str | os.PathLike[str] | bytes | IO[bytes], **limits: int | float) -> list[ImportedMemo]:
    """The notes of a Google Keep Takeout zip (a path, its bytes or a binary file)."""
    with safezip.open_zip(source, **limits) as z:
        names = z.names()
        in_keep = [n for n in names if n.lower().endswith(".json") and "keep" in (p.lower() for p in n.split("/")[:-1])]
        candidates = in_keep or [n for n in names if n.lower().endswith(".json")]
        by_stem: dict[str, list[str]] = {}
        for n in names:
            if not n.lower().endswith(".json"):
                by_stem.setdefault(posixpath.splitext(n)[0], []).append(n)
        memos = []
        found = 0
        for name in sorted(candidates):
            raw = z.read(name)
            try:
                note = json.loads(raw.decode("utf-8-sig"))
            except (UnicodeDecodeError, json.JSONDecodeError):
                raise ImportRefused(f"{name} is not a valid Keep note (broken JSON).") from None
            if not isinstance(note, dict) or not ({"textContent", "listContent", "title"} & note.keys()):
                continue  # another Takeout JSON, not a note
            found += 1
            if note.get("isTrashed"):
                continue
            memos.append(_memo(z, by_stem, name, note))
        if not found:
            raise ImportRefused("No Google Keep notes in this zip (expected Takeout/Keep/*.json).")
        return memos


def _text(value: object, what: str, name: str) -> str:
    if value is None:
        return ""
    if not isinstance(value, str):
        raise ImportRefused(f"{name}: {what} is not text.")
    return value


def _usec(value: object, name: str) -> int | None:
    if value in (None, "", 0):
        return None
    try:
        return int(value) // 1_000_000  # type: ignore[call-overload]
    except (TypeError, ValueError):
        raise ImportRefused(f"{name}: a timestamp is not a number.") from None


def _memo(z: safezip.SafeZip, by_stem: dict[str, list[str]], name: str, note: dict) -> ImportedMemo:
    parts: list[str] = []
    title = _text(note.get("title"), "title", name).strip()
    if title:
        parts.append("# " + " ".join(title.splitlines()))
    text = _text(note.get("textContent"), "textContent", name).rstrip()
    if text:
        parts.append(text)
    items = note.get("listContent") or []
    if not isinstance(items, list):
        raise ImportRefused(f"{name}: listContent is not a list.")
    tasks = []
    for item in items:
        if not isinstance(item, dict):
            raise ImportRefused(f"{name}: a checklist item is not an object.")
        line = " ".join(_text(item.get("text"), "a checklist item", name).split())
        tasks.append(f"- [{'x' if item.get('isChecked') else ' '}] {line}".rstrip())
    if tasks:
        parts.append("\n".join(tasks))
    links = []
    for annotation in note.get("annotations") or []:
        if not isinstance(annotation, dict):
            continue
        url = annotation.get("url")
        if isinstance(url, str) and url and url not in text:
            label = _text(annotation.get("title"), "a link title", name).strip() or url
            label = label.replace("\\", "\\\\").replace("[", "\\[").replace("]", "\\]")
            links.append(f"[{label}]({url})")
    if links:
        parts.append("\n".join(links))

    tags = []
    for label in note.get("labels") or []:
        tag = label_to_tag(label.get("name", "")) if isinstance(label, dict) else ""
        if tag and tag not in tags:
            tags.append(tag)

    created = _usec(note.get("createdTimestampUsec"), name)
    edited = _usec(note.get("userEditedTimestampUsec"), name)
    return ImportedMemo(
        key=posixpath.basename(name),
        content="\n\n".join(parts),
        create_time=created if created is not None else edited,
        update_time=edited if edited is not None else created,
        pinned=bool(note.get("isPinned")),
        archived=bool(note.get("isArchived")),
        tags=tags,
        attachments=_attachments(z, by_stem, name, note),
    )


def _attachments(z: safezip.SafeZip, by_stem: dict[str, list[str]], name: str, note: dict) -> list[ImportedAttachment]:
    folder = posixpath.dirname(name)
    out = []
    for att in note.get("attachments") or []:
        if not isinstance(att, dict) or not isinstance(att.get("filePath"), str):
            continue
        file_path = att["filePath"].replace("\\", "/")
        if "/" in file_path or file_path in ("", ".", ".."):
            continue  # Takeout names siblings only
        path = posixpath.join(folder, file_path) if folder else file_path
        if z.get(path) is None:
            matches = by_stem.get(posixpath.splitext(path)[0])
            if not matches:
                continue
            path = matches[0]
        mimetype = att.get("mimetype")
        out.append(
            ImportedAttachment(
                filename=posixpath.basename(path),
                type=mimetype if isinstance(mimetype, str) else "",
                data=z.read(path),
            )
        )
    return out
