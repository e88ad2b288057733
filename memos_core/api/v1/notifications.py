"""User notifications over REST: ``/users/{user}/notifications[/{id}]``, receiver only."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import notifications as service
from ...services.users import user_to_json
from ...wire import format_time
from .jsonutil import json_body, json_response, update_mask

routes = web.RouteTableDef()

_NOTIFICATIONS = "/users/{user:[^/:]+}/notifications"
_NOTIFICATION = _NOTIFICATIONS + "/{notification:[^/:]+}"


def notification_to_json(n: service.Notification, viewer: Any) -> dict[str, Any]:
    """A ``UserNotification``; the payload oneof member is omitted when the service withheld it."""
    out: dict[str, Any] = {
        "name": f"users/{n.notice.receiver}/notifications/{n.notice.id}",
        "sender": n.sender.name,
        "senderUser": user_to_json(n.sender, viewer),
        "status": n.notice.status if n.notice.status in service.STATUSES.values() else "STATUS_UNSPECIFIED",
        "createTime": format_time(n.notice.created_ts),
        "type": n.type,
    }
    if n.payload is not None:
        out[service.PAYLOAD_FIELDS[n.type]] = n.payload
    return out


@routes.get(_NOTIFICATIONS, name="UserService.ListUserNotifications")
async def list_notifications(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    items = await service.list_notifications(context_of(request), viewer, request.match_info["user"])
    return json_response({"notifications": [notification_to_json(n, viewer) for n in items], "nextPageToken": ""})


@routes.patch(_NOTIFICATION, name="UserService.UpdateUserNotification")
async def update_notification(request: web.Request) -> web.Response:
    body = await json_body(request)
    mask = update_mask(request, body)
    body.pop("updateMask", None)
    viewer = viewer_of(request)
    m = request.match_info
    n = await service.update_notification(context_of(request), viewer, m["user"], m["notification"], body, mask)
    return json_response(notification_to_json(n, viewer))


@routes.delete(_NOTIFICATION, name="UserService.DeleteUserNotification")
async def delete_notification(request: web.Request) -> web.Response:
    m = request.match_info
    await service.delete_notification(context_of(request), viewer_of(request), m["user"], m["notification"])
    return json_response({})
