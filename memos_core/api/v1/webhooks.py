"""UserService webhooks: list, create, update and delete a user's webhooks."""

from __future__ import annotations

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import webhooks as service
from .jsonutil import json_body, json_response, update_mask

routes = web.RouteTableDef()

_WEBHOOKS = "/users/{user:[^/:]+}/webhooks"
_WEBHOOK = _WEBHOOKS + "/{webhook:[^/:]+}"


@routes.get(_WEBHOOKS, name="UserService.ListUserWebhooks")
async def list_webhooks(request: web.Request) -> web.Response:
    hooks = await service.list_webhooks(context_of(request), viewer_of(request), request.match_info["user"])
    return json_response({"webhooks": hooks})


@routes.post(_WEBHOOKS, name="UserService.CreateUserWebhook")
async def create_webhook(request: web.Request) -> web.Response:
    body = await json_body(request)
    data = await service.create_webhook(context_of(request), viewer_of(request), request.match_info["user"], body)
    return json_response(data)


@routes.patch(_WEBHOOK, name="UserService.UpdateUserWebhook")
async def update_webhook(request: web.Request) -> web.Response:
    body = await json_body(request)
    mask = update_mask(request, body)
    m = request.match_info
    data = await service.update_webhook(context_of(request), viewer_of(request), m["user"], m["webhook"], body, mask)
    return json_response(data)


@routes.delete(_WEBHOOK, name="UserService.DeleteUserWebhook")
async def delete_webhook(request: web.Request) -> web.Response:
    m = request.match_info
    await service.delete_webhook(context_of(request), viewer_of(request), m["user"], m["webhook"])
    return json_response({})
