"""The import entry points shared by ``POST /api/v1/import`` and ``memos import``: recognise what was
given, read it into drafts with the matching reader, and write them with :mod:`.apply`.

Readers are imported lazily: the server does not load them until an import asks, and a reader that
is not installed is a clear error rather than a failed start-up.
"""

from __future__ import annotations

import asyncio
import importlib
import json
import zipfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import invalid
from .apply import ImportReport, import_drafts
from .model import ImportedMemo, ImportRefused

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

#: The largest file an import accepts (a zip is further checked by its reader).
MAX_UPLOAD_BYTES = 2 * 1024**3


def _reader(name: str, function: str) -> Any:
    try:
        module = importlib.import_module(f"memos_core.portability.readers.{name}")
        return getattr(module, function)
    except (ImportError, AttributeError):
        raise ImportRefused(f"this server cannot import this kind of source yet (no {name} reader)") from None


def _zip_kind(path: Path) -> str:
    try:
        with zipfile.ZipFile(path) as zf:
            names = zf.namelist()
            if "memos.json" in names:
                return "memos-py"
            if any(n.replace("\\", "/").split("/")[-2:-1] == ["Keep"] and n.endswith(".json") for n in names):
                return "keep"
            return "markdown"
    except (zipfile.BadZipFile, OSError) as e:
        raise ImportRefused(f"not a zip file: {e}") from None


def read_path(path: Path) -> tuple[str, list[ImportedMemo]]:
    """``(source kind, drafts)`` of a file or folder, its format recognised from its content: a
    memos-py ``memos.json`` or export zip, a Google Keep Takeout zip, or Markdown files (zip or folder)."""
    if path.is_dir():
        return "markdown", _reader("markdown", "read_folder")(path)
    with open(path, "rb") as f:
        head = f.read(4)
    if head.startswith(b"PK"):
        kind = _zip_kind(path)
        if kind == "memos-py":
            return kind, _reader("memospy", "read_zip")(path)
        return kind, _reader(kind, "read_zip")(path)
    if head.lstrip()[:1] == b"{":
        return "memos-py", _reader("memospy", "read_json")(path.read_bytes())
    raise ImportRefused(
        "unrecognised file: expected a memos-py export (zip or memos.json), a Markdown zip or a Keep Takeout zip"
    )


async def import_path(ctx: Context, viewer: Principal, path: Path) -> dict[str, Any]:
    """Import a file or folder into ``viewer``'s account; a refusal is a 400 with the reason."""
    try:
        kind, drafts = await asyncio.to_thread(read_path, path)
        report = await import_drafts(ctx, viewer, kind, drafts)
    except ImportRefused as e:
        raise invalid(f"import refused: {e}") from None
    return {"source": kind, **report.to_json()}


async def import_remote(
    ctx: Context, viewer: Principal, body: dict[str, Any], *, allow_private: bool | None = None
) -> dict[str, Any]:
    """Import the memos another Memos server holds for ``token`` (``{"source": "memos", "url", "token"}``).

    ``allow_private`` (default: whether ``viewer`` is an admin) lets the server be on a private or
    loopback address."""
    if body.get("source") != "memos":
        raise invalid('invalid source: expected "memos" (or upload a file as multipart field "file")')
    url, token = body.get("url"), body.get("token")
    if not isinstance(url, str) or not url.startswith(("http://", "https://")):
        raise invalid("url is required: the other server's address, http(s)://...")
    if not isinstance(token, str) or not token:
        raise invalid("token is required: an access token of the account on the other server")
    try:
        read = _reader("remote", "read")
        # An admin may import from a server on the local network (self-hosters' usual case);
        # anyone else only from public addresses, so the import cannot probe the server's network.
        private = viewer.is_admin if allow_private is None else allow_private
        drafts = await read(url, token, allow_private=private)
        report: ImportReport = await import_drafts(ctx, viewer, "memos", drafts)
    except ImportRefused as e:
        raise invalid(f"import refused: {e}") from None
    return {"source": "memos", **report.to_json()}


def dumps(data: Any) -> str:
    return json.dumps(data, ensure_ascii=False)
