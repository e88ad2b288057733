"""AttachmentService over REST, plus MemoService's List/SetMemoAttachments.

Handlers parse the request and call :mod:`memos_core.services.attachments`. CreateAttachment reads
its body incrementally against the upload limit, so an oversized upload is refused without being
held in memory.
"""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...errors import invalid
from ...jsonbody import BodyTooLarge
from ...services import attachments as service
from ...wire import parse_name
from .jsonutil import int_param, json_body, json_response, query_param, update_mask

routes = web.RouteTableDef()


def _uid(request: web.Request) -> str:
    return parse_name(f"attachments/{request.match_info['attachment']}", "attachments")


def _memo_uid(request: web.Request) -> str:
    return parse_name(f"memos/{request.match_info['memo']}", "memos")


@routes.post("/attachments", name="AttachmentService.CreateAttachment")
async def create_attachment(request: web.Request) -> web.Response:
    ctx = context_of(request)
    try:
        body = await json_body(request, service.max_body_bytes(await service.upload_limit(ctx)))
    except BodyTooLarge:
        raise invalid(service.TOO_LARGE) from None  # upstream's own answer to an oversized file
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
