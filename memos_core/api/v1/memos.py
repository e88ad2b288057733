"""MemoService over REST: memos, comments, reactions and relations.

Handlers only parse the request, call :mod:`memos_core.services.memos` and answer its JSON.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import memos as service
from ...wire import parse_name
from .jsonutil import bool_param, int_param, json_body, json_response, query_param, update_mask

routes = web.RouteTableDef()


def _uid(request: web.Request) -> str:
    """The ``{memo}`` path segment, validated as a memo name."""
    return parse_name(f"memos/{request.match_info['memo']}", "memos")


async def _memo_body(request: web.Request) -> dict[str, Any]:
    """A body carrying memo content: beyond the default limit, as far as the content limit needs."""
    return await json_body(request, larger_limit=lambda: service.max_body_bytes(context_of(request)))


@routes.get("/memos", name="MemoService.ListMemos")
async def list_memos(request: web.Request) -> web.Response:
    data = await service.list_memos(
        context_of(request),
        viewer_of(request),
        page_size=int_param(request, "pageSize", "page_size"),
        page_token=query_param(request, "pageToken", "page_token", default="") or "",
        state=query_param(request, "state"),
        order_by=query_param(request, "orderBy", "order_by", default="") or "",
        filter=query_param(request, "filter", default="") or "",
        search=query_param(request, "search"),
        include_comments=bool_param(request, "includeComments", "include_comments"),
        search_mode=query_param(request, "searchMode", "search_mode"),
    )
    return json_response(data)


@routes.post("/memos", name="MemoService.CreateMemo")
async def create_memo(request: web.Request) -> web.Response:
    body = await _memo_body(request)
    memo_id = query_param(request, "memoId", "memo_id")
    return json_response(await service.create_memo(context_of(request), viewer_of(request), body, memo_id))


@routes.get("/memos/{memo}", name="MemoService.GetMemo")
async def get_memo(request: web.Request) -> web.Response:
    return json_response(await service.get_memo(context_of(request), viewer_of(request), _uid(request)))


@routes.patch("/memos/{memo}", name="MemoService.UpdateMemo")
async def update_memo(request: web.Request) -> web.Response:
    uid = _uid(request)
    body = await _memo_body(request)
    mask = update_mask(request, body)
    data = await service.update_memo(context_of(request), viewer_of(request), uid, body, mask)
    return json_response(data)


@routes.delete("/memos/{memo}", name="MemoService.DeleteMemo")
async def delete_memo(request: web.Request) -> web.Response:
    await service.delete_memo(context_of(request), viewer_of(request), _uid(request))
    return json_response({})


@routes.get("/memos/{memo}/comments", name="MemoService.ListMemoComments")
async def list_comments(request: web.Request) -> web.Response:
    data = await service.list_comments(
        context_of(request),
        viewer_of(request),
        _uid(request),
        page_size=int_param(request, "pageSize", "page_size"),
        page_token=query_param(request, "pageToken", "page_token", default="") or "",
    )
    return json_response(data)


@routes.post("/memos/{memo}/comments", name="MemoService.CreateMemoComment")
async def create_comment(request: web.Request) -> web.Response:
    uid = _uid(request)
    body = await _memo_body(request)
    comment_id = query_param(request, "commentId", "comment_id")
    return json_response(await service.create_comment(context_of(request), viewer_of(request), uid, body, comment_id))


@routes.get("/memos/{memo}/reactions", name="MemoService.ListMemoReactions")
async def list_reactions(request: web.Request) -> web.Response:
    return json_response(await service.list_reactions(context_of(request), viewer_of(request), _uid(request)))


@routes.post("/memos/{memo}/reactions", name="MemoService.UpsertMemoReaction")
async def upsert_reaction(request: web.Request) -> web.Response:
    uid = _uid(request)
    body = await json_body(request)
    return json_response(await service.upsert_reaction(context_of(request), viewer_of(request), uid, body))


@routes.delete("/memos/{memo}/reactions/{reaction}", name="MemoService.DeleteMemoReaction")
async def delete_reaction(request: web.Request) -> web.Response:
    uid = _uid(request)
    await service.delete_reaction(context_of(request), viewer_of(request), uid, request.match_info["reaction"])
    return json_response({})


@routes.get("/memos/{memo}/relations", name="MemoService.ListMemoRelations")
async def list_relations(request: web.Request) -> web.Response:
    return json_response(await service.list_relations(context_of(request), viewer_of(request), _uid(request)))


@routes.patch("/memos/{memo}/relations", name="MemoService.SetMemoRelations")
async def set_relations(request: web.Request) -> web.Response:
    uid = _uid(request)
    body = await json_body(request)
    await service.set_relations(context_of(request), viewer_of(request), uid, body)
    return json_response({})
