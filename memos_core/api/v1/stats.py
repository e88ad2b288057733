"""User statistics over REST; both routes are public (the service filters by caller)."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import stats as service
from .jsonutil import json_response

routes = web.RouteTableDef()


@routes.get("/users:stats", name="UserService.ListAllUserStats")
async def list_all_user_stats(request: web.Request) -> web.Response:
    return json_response(await service.list_all_user_stats(context_of(request), viewer_of(request)))


@routes.get("/users/{user:[^/:]+}:getStats", name="UserService.GetUserStats")
async def get_user_stats(request: web.Request) -> web.Response:
    data = await service.get_user_stats(context_of(request), viewer_of(request), request.match_info["user"])
    return json_response(data)
