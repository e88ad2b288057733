"""memos-py's export and import routes (extensions to the Memos API; see docs/portability.md).

``GET /api/v1/export`` answers ``memos.json`` (``format=json``, the default) or streams the export
zip (``format=zip``); ``POST /api/v1/import`` takes a file as multipart field ``file`` or a JSON
body naming another Memos server. Who may export what is decided in :mod:`memos_core.portability`.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path

from aiohttp import web

from ...context import context_of, viewer_of
from ...errors import invalid
from ...portability import export, service
from ...portability.responses import export_response
from .jsonutil import json_body, json_response, query_param

routes = web.RouteTableDef()


@routes.get("/export", name="PortabilityService.Export")
async def export_account(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    fmt = query_param(request, "format", default="json")
    if fmt not in ("json", "zip"):
        raise invalid(f"invalid format: {fmt!r} (json or zip)")
    users = await export.export_users(ctx, viewer_of(request), query_param(request, "user"))
    return await export_response(request, ctx, users, fmt)


@routes.post("/import", name="PortabilityService.Import")
async def import_into_account(request: web.Request) -> web.Response:
    ctx = context_of(request)
    viewer = viewer_of(request)
    if not request.content_type.startswith("multipart/"):
        return json_response(await service.import_remote(ctx, viewer, await json_body(request)))
    reader = await request.multipart()
    fd, name = tempfile.mkstemp(prefix="memos-import-")
    path = Path(name)
    try:
        found = False
        with os.fdopen(fd, "wb") as out:
            while (part := await reader.next()) is not None:
                if getattr(part, "name", None) != "file":
                    continue
                found, size = True, 0
                while chunk := await part.read_chunk(1024 * 1024):
                    size += len(chunk)
                    if size > service.MAX_UPLOAD_BYTES:
                        raise invalid(f"import refused: the file is larger than {service.MAX_UPLOAD_BYTES} bytes")
                    out.write(chunk)
                break
        if not found:
            raise invalid('a file is required: send it as multipart field "file"')
        return json_response(await service.import_path(ctx, viewer, path))
    finally:
        with contextlib.suppress(OSError):
            path.unlink()
