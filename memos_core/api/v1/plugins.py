"""``GET /api/v1/plugins`` (admin): what the plugin manager loaded. A memos-py extension."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...errors import denied
from ...hookspecs import HOOKSPEC_VERSION
from .jsonutil import json_response

routes = web.RouteTableDef()


@routes.get("/plugins", name="PluginService.ListPlugins")
async def list_plugins(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    if viewer is None or not viewer.is_admin:
        raise denied("only admins may list plugins")
    ctx = context_of(request)
    return json_response({"hookspecVersion": HOOKSPEC_VERSION, "plugins": [i.to_json() for i in ctx.plugins.infos]})
