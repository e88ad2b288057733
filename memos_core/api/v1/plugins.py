"""``GET /api/v1/plugins`` (admin): what the plugin manager loaded. A memos-py extension."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import plugins as service
from .jsonutil import json_response

routes = web.RouteTableDef()


@routes.get("/plugins", name="PluginService.ListPlugins")
async def list_plugins(request: web.Request) -> web.Response:
    return json_response(service.list_plugins(context_of(request), viewer_of(request)))
