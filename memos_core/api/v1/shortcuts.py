"""ShortcutService over REST: ``/users/{user}/shortcuts[/{id}]``, owner only."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import shortcuts as service
from .jsonutil import bool_param, json_body, json_response, update_mask

routes = web.RouteTableDef()

_SHORTCUTS = "/users/{user:[^/:]+}/shortcuts"
_SHORTCUT = _SHORTCUTS + "/{shortcut:[^/:]+}"


@routes.get(_SHORTCUTS, name="ShortcutService.ListShortcuts")
async def list_shortcuts(request: web.Request) -> web.Response:
    items = await service.list_shortcuts(context_of(request), viewer_of(request), request.match_info["user"])
    return json_response({"shortcuts": items})


@routes.post(_SHORTCUTS, name="ShortcutService.CreateShortcut")
async def create_shortcut(request: web.Request) -> web.Response:
    body = await json_body(request)
    validate_only = bool_param(request, "validateOnly", "validate_only")
    data = await service.create_shortcut(
        context_of(request), viewer_of(request), request.match_info["user"], body, validate_only=validate_only
    )
    return json_response(data)


@routes.get(_SHORTCUT, name="ShortcutService.GetShortcut")
async def get_shortcut(request: web.Request) -> web.Response:
    m = request.match_info
    return json_response(await service.get_shortcut(context_of(request), viewer_of(request), m["user"], m["shortcut"]))


@routes.patch(_SHORTCUT, name="ShortcutService.UpdateShortcut")
async def update_shortcut(request: web.Request) -> web.Response:
    body = await json_body(request)
    mask = update_mask(request, body)
    body.pop("updateMask", None)
    m = request.match_info
    data = await service.update_shortcut(context_of(request), viewer_of(request), m["user"], m["shortcut"], body, mask)
    return json_response(data)


@routes.delete(_SHORTCUT, name="ShortcutService.DeleteShortcut")
async def delete_shortcut(request: web.Request) -> web.Response:
    m = request.match_info
    await service.delete_shortcut(context_of(request), viewer_of(request), m["user"], m["shortcut"])
    return json_response({})
