"""AttachmentService over REST (SPEC §8), plus MemoService's List/SetMemoAttachments.

Handlers parse the request and call :mod:`memos_core.services.attachments`. CreateAttachment reads
its body incrementally against the upload limit, so an oversized upload is refused without being
held in memory.
"""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...errors import invalid
from ...services import attachments as service
from .jsonutil import int_param, json_body, json_response, parse_json_object, parse_name, query_param, update_mask

routes = web.RouteTableDef()

MAX_BODY = 256 * 1024 * 1024  # the gateway's own request cap (SPEC §2)


def _uid(request: web.Request) -> str:
    return parse_name(f"attachments/{request.match_info['attachment']}", "attachments")


def _memo_uid(request: web.Request) -> str:
    return parse_name(f"memos/{request.match_info['memo']}", "memos")


async def read_limited(request: web.Request, max_bytes: int) -> bytes:
    """The request body, refused with 400 as soon as it is known to exceed ``max_bytes`` (from
    ``Content-Length`` before reading, else while reading)."""
    declared = request.content_length
    if declared is not None and declared > max_bytes:
        raise invalid(service.TOO_LARGE)
    parts: list[bytes] = []
    total = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        total += len(chunk)
        if total > max_bytes:
            raise invalid(service.TOO_LARGE)
        parts.append(chunk)
    return b"".join(parts)


@routes.post("/attachments", name="AttachmentService.CreateAttachment")
async def create_attachment(request: web.Request) -> web.Response:
    ctx = context_of(request)
    limit = await service.upload_limit(ctx)
    body = parse_json_object(await read_limited(request, min(service.max_body_bytes(limit), MAX_BODY)))
    attachment_id = query_param(request, "attachmentId", "attachment_id")
    return json_response(await service.create_attachment(ctx, viewer_of(request), body, attachment_id))


@routes.get("/attachments", name="AttachmentService.ListAttachments")
async def list_attachments(request: web.Request) -> web.Response:
    data = await service.list_attachments(
        context_of(request),
        viewer_of(request),
        page_size=int_param(request, "pageSize", "page_size"),
        page_token=query_param(request, "pageToken", "page_token", default="") or "",
        filter=query_param(request, "filter", default="") or "",
    )
    return json_response(data)


@routes.post("/attachments:batchDelete", name="AttachmentService.BatchDeleteAttachments")
async def batch_delete(request: web.Request) -> web.Response:
    await service.batch_delete(context_of(request), viewer_of(request), await json_body(request))
    return json_response({})


@routes.get("/attachments/{attachment}", name="AttachmentService.GetAttachment")
async def get_attachment(request: web.Request) -> web.Response:
    return json_response(await service.get_attachment(context_of(request), viewer_of(request), _uid(request)))


@routes.patch("/attachments/{attachment}", name="AttachmentService.UpdateAttachment")
async def update_attachment(request: web.Request) -> web.Response:
    uid = _uid(request)
    body = await json_body(request)
    mask = update_mask(request, body)
    return json_response(await service.update_attachment(context_of(request), viewer_of(request), uid, body, mask))


@routes.delete("/attachments/{attachment}", name="AttachmentService.DeleteAttachment")
async def delete_attachment(request: web.Request) -> web.Response:
    await service.delete_attachment(context_of(request), viewer_of(request), _uid(request))
    return json_response({})


@routes.get("/memos/{memo}/attachments", name="MemoService.ListMemoAttachments")
async def list_memo_attachments(request: web.Request) -> web.Response:
    data = await service.list_memo_attachments(context_of(request), viewer_of(request), _memo_uid(request))
    return json_response(data)


@routes.patch("/memos/{memo}/attachments", name="MemoService.SetMemoAttachments")
async def set_memo_attachments(request: web.Request) -> web.Response:
    uid = _memo_uid(request)
    body = await json_body(request)
    await service.set_memo_attachments(context_of(request), viewer_of(request), uid, body)
    return json_response({})
