"""Attachment storage: the backend contract and the registry filled by ``memos_register_storage``.

A backend stores and serves the bytes of attachments. Which one *writes* a new attachment is the
STORAGE instance setting's ``storageType`` (``LOCAL``, ``DATABASE``, ``S3``); which one *reads* an
existing attachment is its row's ``storage_type`` column (``""`` is DATABASE, as upstream Memos
stores it), so changing the setting never strands old attachments.

LOCAL and DATABASE are the core's default backends (registered by the core's own plugin, like any
third party would); S3 comes from the ``memos-storage-s3`` plugin.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import os
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable, Mapping
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

#: The STORAGE setting's default ``filepathTemplate``.
DEFAULT_PATH_TEMPLATE = "assets/{timestamp}_{uuid}_{filename}"
_PLACEHOLDER = re.compile(r"\{[a-z]{1,9}\}")


def expand_path_template(
    template: str,
    filename: str,
    *,
    now: float | None = None,
    new_uuid: Callable[[], str] = lambda: str(uuid.uuid4()),
) -> str:
    """Fill a ``filepathTemplate`` for ``filename``; every backend names files with it.

    ``/{filename}`` is appended when missing; unknown placeholders stay literal; dates are the
    server's local time, zero-padded; each ``{uuid}`` gets a fresh one, as upstream replaces per match.
    Values are inserted once, never expanded again.
    """
    template = template or DEFAULT_PATH_TEMPLATE
    if "{filename}" not in template:
        template = template.rstrip("/") + "/{filename}"
    now = time.time() if now is None else now
    t = time.localtime(now)
    values = {
        "{filename}": filename,
        "{timestamp}": str(int(now)),
        "{year}": f"{t.tm_year:04d}",
        "{month}": f"{t.tm_mon:02d}",
        "{day}": f"{t.tm_mday:02d}",
        "{hour}": f"{t.tm_hour:02d}",
        "{minute}": f"{t.tm_min:02d}",
        "{second}": f"{t.tm_sec:02d}",
    }

    def fill(match: re.Match[str]) -> str:
        token = match.group(0)
        return new_uuid() if token == "{uuid}" else values.get(token, token)

    return _PLACEHOLDER.sub(fill, template)


#: ``attachment.storage_type`` values and the backend name that serves each.
ROW_TYPE_TO_BACKEND = {"": "DATABASE", "DATABASE": "DATABASE", "LOCAL": "LOCAL", "S3": "S3", "EXTERNAL": "EXTERNAL"}


@dataclasses.dataclass
class StoredObject:
    """What a backend's ``save`` produced: the column values of the attachment row it implies."""

    storage_type: str  # attachment.storage_type ("" for DATABASE, "LOCAL", "S3")
    reference: str = ""  # attachment.reference (a path, an object URL...)
    size: int = 0  # bytes stored
    blob: bytes | None = None  # attachment.blob (DATABASE only)
    payload: dict[str, Any] = dataclasses.field(default_factory=dict)  # merged into attachment.payload


@dataclasses.dataclass
class Download:
    """How to answer a read. Exactly one of ``path``, ``chunks``, ``data`` or ``redirect`` is set.

    * ``path``: a local file (the file server streams it with Range support).
    * ``chunks``: an async iterator factory ``chunks(start, end)`` yielding the bytes of the
      inclusive range (``None, None`` for all); ``size`` must be known for Range support.
    * ``data``: the whole content in memory (small, e.g. DATABASE blobs).
    * ``redirect``: a URL to send the client to (e.g. a fresh presigned S3 URL).
    """

    size: int | None = None
    path: Path | None = None
    chunks: Any = None  # Callable[[int | None, int | None], AsyncIterator[bytes]]
    data: bytes | None = None
    redirect: str | None = None
    modified_ts: int | None = None


@runtime_checkable
class StorageBackend(Protocol):
    """What ``memos_register_storage`` implementations ``register(name, backend)``."""

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
        """Store the bytes of a new attachment ``uid``; ``setting`` is the STORAGE instance setting."""
        ...

    async def open(self, ctx: Any, row: Mapping[str, Any]) -> Download:
        """Describe how to serve the bytes of the attachment ``row`` (its column values)."""
        ...

    async def delete(self, ctx: Any, row: Mapping[str, Any]) -> None:
        """Remove the bytes of ``row`` (the row itself is the caller's); missing bytes are not an error."""
        ...


class StorageRegistry:
    """Backends by name, collected once from ``memos_register_storage`` (see :mod:`memos_core.registries`)."""

    def __init__(self, registry: Mapping[str, Any]) -> None:
        self.registry = registry
        self._backends: dict[str, StorageBackend] = {name: r.value for name, r in registry.items()}

    def names(self) -> list[str]:
        return sorted(self._backends)

    def get(self, name: str) -> StorageBackend | None:
        return self._backends.get(name)

    def for_row(self, row: Mapping[str, Any]) -> StorageBackend | None:
        return self._backends.get(ROW_TYPE_TO_BACKEND.get(row["storage_type"] or "", row["storage_type"]))


T = TypeVar("T")


async def in_thread_to_the_end(fn: Callable[..., T], *args: Any, undo: Callable[[T], None] | None = None) -> T:
    """``fn(*args)`` in a thread; when the caller is cancelled meanwhile, wait for the thread first
    (then ``undo`` its result, if it succeeded and nobody else will see it).

    Cancelling ``asyncio.to_thread`` does not stop its thread. A write still running, or a close
    that already happened, would otherwise meet the caller's cleanup closing the same descriptor
    number, which by then may belong to another file or socket of this process. Backends writing
    through raw descriptors use this for each step that owns one.
    """
    work = asyncio.ensure_future(asyncio.to_thread(fn, *args))
    try:
        return await asyncio.shield(work)
    except asyncio.CancelledError:
        while not work.done():
            with contextlib.suppress(asyncio.CancelledError):
                await asyncio.wait({work})
        if undo is not None and not work.cancelled() and work.exception() is None:
            undo(work.result())
        raise


def close_and_unlink(made: tuple[int, str | os.PathLike[str]]) -> None:
    """The ``undo`` of a step that created a file and opened it: close the descriptor, delete the file."""
    fd, path = made
    os.close(fd)
    Path(path).unlink(missing_ok=True)
