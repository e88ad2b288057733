"""Memo shares over REST: create, list and revoke share links; resolve a token."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import shares as service
from ...wire import parse_name
from .jsonutil import json_body, json_response

routes = web.RouteTableDef()


def _uid(request: web.Request) -> str:
    """The ``{memo}`` path segment, validated as a memo name."""
    return parse_name(f"memos/{request.match_info['memo']}", "memos")


@routes.post("/memos/{memo}/shares", name="MemoService.CreateMemoShare")
async def create_share(request: web.Request) -> web.Response:
    uid = _uid(request)
    body = await json_body(request)
    return json_response(await service.create_share(context_of(request), viewer_of(request), uid, body))


@routes.get("/memos/{memo}/shares", name="MemoService.ListMemoShares")
async def list_shares(request: web.Request) -> web.Response:
    return json_response(await service.list_shares(context_of(request), viewer_of(request), _uid(request)))


@routes.delete("/memos/{memo}/shares/{share}", name="MemoService.DeleteMemoShare")
async def delete_share(request: web.Request) -> web.Response:
    uid = _uid(request)
    await service.delete_share(context_of(request), viewer_of(request), uid, request.match_info["share"])
    return json_response({})


@routes.get("/shares/{share}", name="MemoService.GetMemoByShare")
async def get_memo_by_share(request: web.Request) -> web.Response:
    data = await service.get_memo_by_share(context_of(request), viewer_of(request), request.match_info["share"])
    return json_response(data)
