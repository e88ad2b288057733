"""Markdown notes, from a folder or a zip: one memo per ``.md``, ``.markdown`` or ``.txt`` file.

* Optional YAML front matter (``---`` ... ``---`` at the very top) may carry ``uid``,
  ``created``/``createTime``/``date``, ``updated``/``updateTime`` (ISO 8601, a YAML date, or Unix
  seconds; a time without zone is UTC),
  ``visibility``, ``pinned``, ``state`` (``NORMAL``/``ARCHIVED``) or ``archived``, ``tags`` (a list or
  a comma-separated string) and ``location`` (``placeholder``, ``latitude``, ``longitude``). Unknown
  keys are ignored; a front matter that is not valid YAML, or a known key with a bad value, refuses
  the import, naming the file.
* Without a time in the front matter, the file's modification time (a zip entry's date) is used.
* The content is kept as written, ``#tags`` included.
* Images and links whose target is a relative path to a file in the same folder or zip become
  attachments of the memo (named by the file's base name), and the link in the content is rewritten
  to the attachment's address on this server (``/file/attachments/UID/NAME``), so images still show
  inline. Reference definitions (``[x]: path``), HTML ``src``/``href`` and wiki links
  (``[[note]]``, ``![[image.png]]``, found relative to the note or by a name unique in the import;
  an embed of a file becomes a Markdown image or link) count too. A link to another note of the
  import becomes a reference to that memo and is left as written.
* The key of a memo is its file's path relative to the folder or zip root.
* Hidden files and folders (a name starting with ``.``) and ``__MACOSX`` are skipped.

A folder is read without following symbolic links out of it: a link pointing outside refuses the
import. Folders get the same size limits as archives.
"""

from __future__ import annotations

import dataclasses
import datetime
import mimetypes
import os
import posixpath
import re
from collections.abc import Callable
from typing import IO
from urllib.parse import quote, unquote

from ...services.memos import new_uid
from .. import safezip
from ..model import ImportedAttachment, ImportedMemo, ImportRefused

NOTE_SUFFIXES = (".md", ".markdown", ".txt")
VISIBILITIES = ("PRIVATE", "PROTECTED", "PUBLIC")

_FRONT_MATTER = re.compile(r"\A---[ \t]*\r?\n(.*?)(?:\r?\n)?^(?:---|\.\.\.)[ \t]*(?:\r?\n|\Z)", re.S | re.M)
# Inline links and images: [text](target "title") / ![alt](<target with spaces>)
_LINK = re.compile(r"!?\[(?:[^\[\]\\]|\\.)*\]\(\s*(<[^<>\n]*>|[^\s()<>]+(?:\([^\s()]*\)[^\s()<>]*)*)")
_HTML_SRC = re.compile(r"""<(?:img|video|audio|source|a)\b[^>]*?\b(?:src|href)\s*=\s*["']([^"']+)["']""", re.I)
# Reference definitions: [label]: target
_REFERENCE_DEF = re.compile(r"^[ ]{0,3}\[[^\]\n]+\]:[ \t]*(<[^<>\n]*>|\S+)", re.M)
# Wiki links and embeds (Obsidian, Logseq): [[target]], ![[target|alias]], [[target#heading]]
_WIKI = re.compile(r"!?\[\[([^\[\]|#\n]+)(?:[#|][^\[\]\n]*)?\]\]")
_SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")


@dataclasses.dataclass
class _File:
    path: str  # relative POSIX path
    mtime: int
    read: Callable[[], bytes]


def read_zip(source: str | os.PathLike[str] | bytes | IO[bytes], **limits: int | float) -> list[ImportedMemo]:
    """The notes of a zip archive (a path, its bytes or a binary file), checked by :mod:`..safezip`."""
    with safezip.open_zip(source, **limits) as z:
        files = {e.name: _File(e.name, e.mtime, lambda e=e: z.read(e)) for e in z if not _hidden(e.name)}
        return _read(files)


def read_folder(
    path: str | os.PathLike[str],
    *,
    max_entries: int = safezip.MAX_ENTRIES,
    max_file_size: int = safezip.MAX_FILE_SIZE,
    max_total_size: int = safezip.MAX_TOTAL_SIZE,
) -> list[ImportedMemo]:
    """The notes of a folder tree. Symbolic links are followed only when they stay inside it."""
    root = os.path.realpath(path)
    if not os.path.isdir(root):
        raise ImportRefused("The folder to import does not exist or is not a folder.")
    files: dict[str, _File] = {}
    total = 0
    for dirpath, dirnames, filenames in os.walk(root, followlinks=False):
        rel_dir = os.path.relpath(dirpath, root)
        for d in list(dirnames):
            full = os.path.join(dirpath, d)
            if d.startswith(".") or d == "__MACOSX":
                dirnames.remove(d)
            elif os.path.islink(full):
                _inside(root, full, posixpath.join(rel_dir, d))
                dirnames.remove(d)  # inside the folder: its files are reached by their own path
        for name in filenames:
            full = os.path.join(dirpath, name)
            rel = posixpath.normpath(posixpath.join(rel_dir.replace(os.sep, "/"), name))
            if _hidden(rel):
                continue
            real = _inside(root, full, rel)
            if not os.path.isfile(real):
                continue  # sockets, fifos, devices
            if len(files) >= max_entries:
                raise ImportRefused(f"The folder has more than {max_entries} files; import it in parts.")
            size = os.path.getsize(real)
            if size > max_file_size:
                raise ImportRefused(f"{rel} is larger than the per-file limit of {max_file_size} bytes.")
            total += size
            if total > max_total_size:
                raise ImportRefused(f"The folder's files add up to more than {max_total_size} bytes.")
            files[rel] = _File(rel, int(os.path.getmtime(real)), lambda real=real: _read_capped(real, max_file_size))
    return _read(files)


def _inside(root: str, full: str, rel: str) -> str:
    real = os.path.realpath(full)
    if os.path.commonpath([root, real]) != root:
        raise ImportRefused(f"{rel} is a symbolic link pointing outside the folder; remove it or copy the file in.")
    return real


def _read_capped(path: str, limit: int) -> bytes:
    with open(path, "rb") as f:
        data = f.read(limit + 1)
    if len(data) > limit:
        raise ImportRefused(f"{os.path.basename(path)} grew past the per-file limit while being read.")
    return data


def _hidden(rel: str) -> bool:
    return any(part.startswith(".") or part == "__MACOSX" for part in rel.split("/"))


def _read(files: dict[str, _File]) -> list[ImportedMemo]:
    notes = sorted(p for p in files if p.lower().endswith(NOTE_SUFFIXES))
    if not notes:
        raise ImportRefused("No notes to import: expected Markdown or text files (.md, .markdown, .txt).")
    by_name: dict[str, list[str]] = {}
    for path in files:
        by_name.setdefault(posixpath.basename(path), []).append(path)
    note_set = set(notes)
    memos = []
    for path in notes:
        f = files[path]
        raw = f.read()
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError:
            raise ImportRefused(f"{path} is not UTF-8 text; convert it to UTF-8 and import again.") from None
        memo = ImportedMemo(key=path, content=text, create_time=f.mtime, update_time=f.mtime)
        body = _apply_front_matter(memo, text, path)
        memo.content = body
        _link_files(memo, path, files, note_set, by_name)
        memos.append(memo)
    return memos


def _apply_front_matter(memo: ImportedMemo, text: str, path: str) -> str:
    m = _FRONT_MATTER.match(text)
    if not m:
        return text
    import yaml  # lazily: only imports need it

    try:
        meta = yaml.safe_load(m.group(1))
    except yaml.YAMLError as e:
        where = getattr(e, "problem_mark", None)
        line = f" (line {where.line + 2})" if where is not None else ""
        raise ImportRefused(f"{path}: the front matter is not valid YAML{line}.") from None
    if not isinstance(meta, dict):
        return text  # a horizontal rule, not front matter
    body = text[m.end() :].lstrip("\r\n")
    meta = {str(k): v for k, v in meta.items()}

    def pick(*names: str):
        for n in names:
            if meta.get(n) is not None:
                return n, meta[n]
        return None, None

    if (v := meta.get("uid")) is not None:
        memo.uid = str(v).strip()
    for attr, names in (
        ("create_time", ("created", "createTime", "create_time", "date")),
        ("update_time", ("updated", "updateTime", "update_time")),
    ):
        name, value = pick(*names)
        if name is not None:
            setattr(memo, attr, _timestamp(value, path, name))
    if memo.update_time is not None and memo.create_time is not None and pick("updated", "updateTime")[0] is None:
        memo.update_time = max(memo.update_time, memo.create_time)
    name, value = pick("visibility")
    if name:
        visibility = str(value).strip().upper()
        if visibility not in VISIBILITIES:
            raise ImportRefused(f"{path}: visibility must be one of {', '.join(VISIBILITIES)}, not {value!r}.")
        memo.visibility = visibility
    name, value = pick("pinned")
    if name:
        memo.pinned = _boolean(value, path, name)
    name, value = pick("state", "archived")
    if name == "state":
        state = str(value).strip().upper()
        if state not in ("NORMAL", "ARCHIVED"):
            raise ImportRefused(f"{path}: state must be NORMAL or ARCHIVED, not {value!r}.")
        memo.archived = state == "ARCHIVED"
    elif name == "archived":
        memo.archived = _boolean(value, path, name)
    name, value = pick("tags")
    if name:
        memo.tags = [t for t in _tags(value, path) if not _carries_tag(body, t)]
    name, value = pick("location")
    if name:
        memo.location = _location(value, path)
    return body


def _timestamp(value: object, path: str, key: str) -> int:
    if isinstance(value, bool):
        raise ImportRefused(f"{path}: {key} is not a time.")
    if isinstance(value, int | float):
        return int(value)
    if isinstance(value, datetime.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=datetime.UTC)
        return int(value.timestamp())
    if isinstance(value, datetime.date):
        return int(datetime.datetime(value.year, value.month, value.day, tzinfo=datetime.UTC).timestamp())
    if isinstance(value, str):
        s = value.strip()
        if s.isdigit():
            return int(s)
        try:
            parsed = datetime.datetime.fromisoformat(s.replace("Z", "+00:00"))
        except ValueError:
            raise ImportRefused(
                f"{path}: {key} {value!r} is not a time (use ISO 8601, e.g. 2024-05-01T09:30:00Z)."
            ) from None
        return _timestamp(parsed, path, key)
    raise ImportRefused(f"{path}: {key} is not a time.")


def _boolean(value: object, path: str, key: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().lower() in ("true", "yes", "1", "false", "no", "0"):
        return value.strip().lower() in ("true", "yes", "1")
    if isinstance(value, int):
        return bool(value)
    raise ImportRefused(f"{path}: {key} must be true or false, not {value!r}.")


def _tags(value: object, path: str) -> list[str]:
    if isinstance(value, str):
        items: list[object] = [t for t in re.split(r"[,\s]+", value) if t]
    elif isinstance(value, list):
        items = value
    else:
        raise ImportRefused(f"{path}: tags must be a list or a comma-separated string.")
    tags: list[str] = []
    for item in items:
        if not isinstance(item, str | int | float) or isinstance(item, bool):
            raise ImportRefused(f"{path}: every tag must be text, not {item!r}.")
        tag = str(item).strip().lstrip("#").strip()
        if tag and tag not in tags:
            tags.append(tag)
    return tags


def _carries_tag(content: str, tag: str) -> bool:
    """Whether ``#tag`` already stands in the content (so the writer need not add it)."""
    return re.search(r"#" + re.escape(tag) + r"(?![\w/&+\-])", content) is not None


def _location(value: object, path: str) -> dict:
    if not isinstance(value, dict):
        raise ImportRefused(f"{path}: location must have placeholder, latitude and longitude.")
    try:
        latitude = float(value.get("latitude", value.get("lat", 0)) or 0)
        longitude = float(value.get("longitude", value.get("lng", value.get("lon", 0))) or 0)
    except (TypeError, ValueError):
        raise ImportRefused(f"{path}: location latitude and longitude must be numbers.") from None
    if not (-90 <= latitude <= 90 and -180 <= longitude <= 180):
        raise ImportRefused(f"{path}: location latitude/longitude are out of range.")
    return {"placeholder": str(value.get("placeholder", "") or ""), "latitude": latitude, "longitude": longitude}


def _resolve(note_path: str, target: str) -> str | None:
    """The relative path ``target`` names from the note, or None when it is no local relative path."""
    target = target.split("#", 1)[0].split("?", 1)[0].strip()
    if not target or target.startswith(("/", "\\")) or _SCHEME.match(target):
        return None
    target = unquote(target).replace("\\", "/")
    joined = posixpath.normpath(posixpath.join(posixpath.dirname(note_path), target))
    if joined.startswith("../") or joined == ".." or joined.startswith("/"):
        return None
    return joined


def _wiki_target(target: str, note_path: str, files: dict[str, _File], by_name: dict[str, list[str]]) -> str | None:
    """A wiki link names a file relative to the note, or anywhere by its name (``[[note]]`` omits ``.md``)."""
    target = target.strip()
    for candidate in (target, target + ".md"):
        rel = _resolve(note_path, candidate)
        if rel is not None and rel in files:
            return rel
        matches = by_name.get(posixpath.basename(candidate), [])
        if len(matches) == 1:
            return matches[0]
    return None


def _link_files(
    memo: ImportedMemo, note_path: str, files: dict[str, _File], notes: set[str], by_name: dict[str, list[str]]
) -> None:
    """Attach the files the note links to (each once) and point its links at the attachments."""
    addresses: dict[str, str] = {}  # file path -> the attachment's address on this server

    def attachment(rel: str | None) -> str | None:
        if rel is None or rel == note_path or rel not in files:
            return None
        if rel in notes:
            if rel not in memo.references:
                memo.references.append(rel)
            return None
        if rel not in addresses:
            name = posixpath.basename(rel)
            uid = new_uid()
            memo.attachments.append(
                ImportedAttachment(
                    filename=name, type=mimetypes.guess_type(name)[0] or "", data=files[rel].read(), uid=uid
                )
            )
            addresses[rel] = f"/file/attachments/{uid}/{quote(name)}"
        return addresses[rel]

    def target(match: re.Match[str]) -> str:
        """The match with its target (group 1) replaced by the attachment's address."""
        raw = match.group(1)
        address = attachment(_resolve(note_path, raw.strip("<>")))
        if address is None:
            return match.group(0)
        start, end = match.start(1) - match.start(0), match.end(1) - match.start(0)
        return match.group(0)[:start] + address + match.group(0)[end:]

    def wiki(match: re.Match[str]) -> str:
        address = attachment(_wiki_target(match.group(1), note_path, files, by_name))
        if address is None:
            return match.group(0)
        label = match.group(1).strip().replace("]", "")
        return f"{'!' if match.group(0).startswith('!') else ''}[{label}]({address})"

    content = memo.content
    for pattern in (_LINK, _REFERENCE_DEF, _HTML_SRC):
        content = pattern.sub(target, content)
    memo.content = _WIKI.sub(wiki, content)
