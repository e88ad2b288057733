"""The "Export & import" settings section: download your memos, bring notes in from elsewhere.

The download links stream the same export as ``GET /api/v1/export`` (the zip of Markdown files and
attachments, or ``memos.json``); the upload form imports a file through the same service as
``POST /api/v1/import`` (a memos-py export, a Markdown zip or a Google Keep Takeout zip), and a second
form reads another Memos server's memos over its API with an address and an access token. Both come
back to the section saying how many memos arrived. An import is all or nothing: a refused file or
server changes nothing, and the section shows why beside the form that was sent. The access token is
used for that one request: it is never stored, written to a log, or drawn into a page again.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from aiohttp import web

from memos_core import ApiError, context_of
from memos_core.portability import export, service
from memos_core.portability.responses import export_response

from ..i18n import N_, gettext
from ..security import signed_in
from ..settings import form_error, require_section, section

routes = web.RouteTableDef()


@section("data", N_("Export & import"))
async def data_section(request: web.Request) -> dict[str, Any]:
    q = request.query
    done = None
    if q.get("saved") == "data" and q.get("imported", "").isdigit() and q.get("skipped", "").isdigit():
        done = {"imported": int(q["imported"]), "skipped": int(q["skipped"])}
    return {"done": done, "says_done": done is not None}  # its own notice instead of "Saved."


@routes.get("/web/export", name="web.export")
async def download_export(request: web.Request) -> web.StreamResponse:
    """The signed-in user's own memos, as a zip (default) or ``memos.json``."""
    viewer = signed_in(request)
    ctx = context_of(request)
    fmt = "json" if request.query.get("format") == "json" else "zip"
    users = await export.export_users(ctx, viewer, None)
    return await export_response(request, ctx, users, fmt)


@routes.post("/web/setting/data/import", name="web.setting.data.upload")
async def upload_import(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    require_section(request, "data")
    form = await request.post()  # the CSRF check read it already; files are in temporary files
    field = form.get("file")
    if not isinstance(field, web.FileField) or not field.filename:
        return await form_error(request, "data", gettext("Choose a file to import."), {"form": "import"})
    fd, name = tempfile.mkstemp(prefix="memos-import-")
    path = Path(name)
    try:
        with os.fdopen(fd, "wb") as out:
            field.file.seek(0)
            shutil.copyfileobj(field.file, out)
        report = await service.import_path(context_of(request), viewer, path)
    except ApiError as e:
        return await form_error(request, "data", e, {"form": "import"})
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
    raise _imported(report)


@routes.post("/web/setting/data/import-server", name="web.setting.data.server")
async def server_import(request: web.Request) -> web.StreamResponse:
    """Another Memos server's memos, as ``POST /api/v1/import`` with ``source: memos`` reads them
    (an admin may name a server on the local network, anyone else only public addresses)."""
    viewer = signed_in(request)
    require_section(request, "data")
    form = await request.post()
    url, token = (v.strip() if isinstance(v := form.get(k), str) else "" for k in ("url", "token"))
    typed = {"form": "server", "url": url}  # the token is left out: it is never drawn again
    if not url or not token:
        message = gettext("Enter the other server's address and an access token.")
        return await form_error(request, "data", message, typed)
    body = {"source": "memos", "url": url, "token": token}
    try:
        report = await service.import_remote(context_of(request), viewer, body)
    except ApiError as e:
        return await form_error(request, "data", e, typed)
    raise _imported(report)


def _imported(report: dict[str, Any]) -> web.HTTPSeeOther:
    """Back to the section, which tells the counts."""
    imported, skipped = int(report.get("imported", 0)), int(report.get("skipped", 0))
    return web.HTTPSeeOther(f"/setting?saved=data&imported={imported}&skipped={skipped}#data")
