"""Settings sections for administrators (the menu hides them; their routes refuse others with 403)."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from memos_core import context_of, viewer_of
from memos_core.services import plugins as plugin_service

from ..settings import section

routes = web.RouteTableDef()


@section("plugins", "Plugins", admin=True)
async def plugins_section(request: web.Request) -> dict[str, Any]:
    listing = plugin_service.list_plugins(context_of(request), viewer_of(request))
    return {"hookspec_version": listing["hookspecVersion"], "plugins": listing["plugins"]}
