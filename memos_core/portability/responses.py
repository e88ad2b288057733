"""The export as an HTTP answer, shared by ``GET /api/v1/export`` and the web UI's download links:
``memos.json`` in one body, or the zip streamed as it is written (memory bounded by one attachment)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from . import export


async def export_response(request: web.Request, ctx: Any, users: list[Any], fmt: str) -> web.StreamResponse:
    """``users``' export in ``fmt`` (``json`` or ``zip``), as an attachment download."""
    name = export.download_name(users, fmt)
    disposition = f'attachment; filename="{name}"'
    doc, files = await export.build(ctx, users)
    if fmt == "json":
        resp = web.Response(body=export.dump(doc), content_type="application/json")
        resp.headers["Content-Disposition"] = disposition
        resp.headers["Cache-Control"] = "no-store"
        return resp
    resp = web.StreamResponse(
        headers={"Content-Type": "application/zip", "Content-Disposition": disposition, "Cache-Control": "no-store"}
    )
    await resp.prepare(request)

    async def write(data: bytes) -> None:
        if data:
            await resp.write(data)

    await export.write_zip(ctx, doc, files, write)
    await resp.write_eof()
    return resp
