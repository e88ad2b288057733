"""The core's default storage plugin: ``LOCAL`` (files under the data directory) and ``DATABASE``
(the ``attachment.blob`` column), registered through ``memos_register_storage`` like any third-party
backend (entry point ``core-storage``). The hourly orphan cleanup is the core's own job
(:mod:`memos_core.jobs`), so it runs whichever backends are installed.

LOCAL paths come from the STORAGE setting's ``filepathTemplate``. Whatever the template
and the filename say, the file must land inside the data directory: traversal (``..``, also as
full-width dots or percent-encoded), absolute paths elsewhere, NUL, control characters and
look-alike slashes are refused with 400 before anything is written.
"""

from __future__ import annotations

import asyncio
import errno
import os
import re
import unicodedata
from collections.abc import AsyncIterator, Mapping
from pathlib import Path
from typing import Any

from .errors import already_exists, invalid
from .hookspecs import hookimpl
from .storage import (
    DEFAULT_PATH_TEMPLATE,
    Download,
    StoredObject,
    close_and_unlink,
    expand_path_template,
    in_thread_to_the_end,
)

DEFAULT_TEMPLATE = DEFAULT_PATH_TEMPLATE
#: Characters that render as, or normalise to, a path separator on some system.
SLASH_LIKE = frozenset("/\\\u2044\u2215\u2216\u29f5\u29f8\u29f9\u2571\u2572\ufe68\uff0f\uff3c")
#: Percent-encodings of '.', '/' and '\' (a template or name is never URL-decoded, but refuse them anyway).
ENCODED = re.compile(r"%(2e|2f|5c)", re.IGNORECASE)
_BAD_CATEGORIES = frozenset({"Cc", "Cf", "Cs", "Co", "Cn", "Zl", "Zp"})


# -- names and templates -------------------------------------------------------------------------
def _odd_characters(text: str) -> bool:
    """Control, format (bidi overrides...), surrogate, private and unassigned characters; the
    zero-width joiner of emoji sequences is the one format character allowed."""
    return any(unicodedata.category(ch) in _BAD_CATEGORIES and ch != "\u200d" for ch in text)


def check_filename(name: Any) -> str:
    """An attachment filename (upstream's rules plus memos-py's hardening); returns its NFC form.

    A local name only: no separators of any script, no control or format characters, and neither
    it nor its compatibility form (full-width dots fold to '.') may start or end with a space or dot.
    """
    if not isinstance(name, str) or not name:
        raise invalid("filename is required")
    name = unicodedata.normalize("NFC", name)
    folded = unicodedata.normalize("NFKC", name)
    for form in (name, folded):
        if any(ch in SLASH_LIKE for ch in form) or "\x00" in form or _odd_characters(form):
            raise invalid("invalid filename: it must be a plain file name without path separators")
        if form[0] in " ." or form[-1] in " .":
            raise invalid("invalid filename: it must not start or end with a space or a dot")
    if ENCODED.search(name):
        raise invalid("invalid filename: percent-encoded dots and slashes are not allowed")
    return name


def check_template(template: Any) -> str:
    """A ``filepathTemplate`` that cannot climb out of its root; returns it (``/{filename}`` added)."""
    if not isinstance(template, str) or not template.strip():
        raise invalid("filepathTemplate is required")
    if "\x00" in template or _odd_characters(template) or "\\" in template:
        raise invalid("invalid filepathTemplate: control characters and backslashes are not allowed")
    folded = unicodedata.normalize("NFKC", template)
    if any(ch in SLASH_LIKE - {"/"} for ch in folded) or ENCODED.search(template):
        raise invalid("invalid filepathTemplate: look-alike or encoded separators are not allowed")
    for form in (template, folded):
        if any(part in (".", "..") for part in form.split("/")):
            raise invalid("invalid filepathTemplate: '.' and '..' path segments are not allowed")
    if "{filename}" not in template:
        template = template.rstrip("/") + "/{filename}"
    return template


def resolve_inside(data_dir: Path, reference: str) -> Path:
    """The absolute path of ``reference`` (relative to ``data_dir``, or absolute), which must stay
    inside ``data_dir`` once symlinks are followed; 400 otherwise."""
    root = data_dir.resolve()
    path = Path(reference)
    full = (path if path.is_absolute() else root / path).resolve()
    if not full.is_relative_to(root) or full == root:
        raise invalid("the attachment path must stay inside the data directory")
    return full


# -- backends ------------------------------------------------------------------------------------
class LocalStorage:
    """Files under the data directory; ``reference`` is relative to it (or absolute, if the
    template was absolute and inside it)."""

    async def save(
        self,
        ctx: Any,
        *,
        uid: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterator[bytes],
        setting: Mapping[str, Any],
    ) -> StoredObject:
        filename = check_filename(filename)
        template = check_template(setting.get("filepathTemplate") or DEFAULT_TEMPLATE)
        reference = expand_path_template(template, filename)
        data_dir = ctx.config.data_dir
        full = resolve_inside(data_dir, reference)
        fd, full = await in_thread_to_the_end(_create, full, uid, undo=close_and_unlink)
        absolute = Path(reference).is_absolute()
        reference = str(full) if absolute else full.relative_to(data_dir.resolve()).as_posix()
        size = 0
        try:
            async for chunk in chunks:
                if chunk:
                    await in_thread_to_the_end(_write_all, fd, chunk)
                    size += len(chunk)
            closing, fd = fd, -1  # closed once, even if closing fails or we are cancelled meanwhile
            await in_thread_to_the_end(os.close, closing)
        except BaseException:
            if fd >= 0:
                os.close(fd)
            await asyncio.to_thread(_unlink, full)
            raise
        return StoredObject(storage_type="LOCAL", reference=reference, size=size)

    async def open(self, ctx: Any, row: Mapping[str, Any]) -> Download:
        path = resolve_inside(ctx.config.data_dir, row["reference"])
        size = await asyncio.to_thread(lambda: path.stat().st_size if path.exists() else None)
        return Download(path=path, size=size, modified_ts=int(_field(row, "updated_ts") or 0) or None)

    async def delete(self, ctx: Any, row: Mapping[str, Any]) -> None:
        if not _field(row, "reference"):
            return
        path = resolve_inside(ctx.config.data_dir, row["reference"])
        await asyncio.to_thread(_unlink, path)


class DatabaseStorage:
    """Bytes in ``attachment.blob``; the row's ``storage_type`` is ``""`` as upstream writes it."""

    async def save(
        self,
        ctx: Any,
        *,
        uid: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterator[bytes],
        setting: Mapping[str, Any],
    ) -> StoredObject:
        data = b"".join([chunk async for chunk in chunks])
        return StoredObject(storage_type="", reference="", size=len(data), blob=data)

    async def open(self, ctx: Any, row: Mapping[str, Any]) -> Download:
        from .store import attachments as attachments_store

        data = await attachments_store.get_blob(ctx.store, row["id"])
        data = data or b""
        return Download(data=data, size=len(data), modified_ts=int(_field(row, "updated_ts") or 0))

    async def delete(self, ctx: Any, row: Mapping[str, Any]) -> None:
        return None  # the blob goes with the row


def _field(row: Mapping[str, Any], name: str) -> Any:
    """A column of a row given as a dict or a database record."""
    try:
        return row[name]
    except (KeyError, IndexError):
        return None


def _create(path: Path, uid: str) -> tuple[int, Path]:
    """Create the file exclusively (mode 0644, never through a symlink); if the name is taken,
    insert ``_{uid}`` before the extension."""
    path.parent.mkdir(parents=True, exist_ok=True)
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    candidates = [path, path.with_name(f"{path.stem}_{uid}{path.suffix}")]
    for candidate in candidates:
        try:
            fd = os.open(candidate, flags, 0o644)
        except FileExistsError:
            continue
        except OSError as e:
            if e.errno == errno.ENAMETOOLONG:
                raise invalid("filename too long") from None
            raise
        os.fchmod(fd, 0o644)  # whatever the umask says
        return fd, candidate
    raise already_exists(f"a file for attachment {uid} already exists")


def _write_all(fd: int, data: bytes) -> None:
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)


# -- hooks ---------------------------------------------------------------------------------------
@hookimpl
def memos_register_storage(register) -> None:
    register("LOCAL", LocalStorage())
    register("DATABASE", DatabaseStorage())
