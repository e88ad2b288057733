"""UserService: users, their settings and personal access tokens, as upstream's UserService.

A user's JSON comes from :func:`memos_core.services.users.user_to_json`, the one serialiser every
surface shares.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...context import context_of, viewer_of
from ...errors import invalid
from ...services import auth as auth_service
from ...services import users as users_service
from ...services import webhooks as webhooks_service
from ...services.users import user_to_json
from ...store.users import User
from ...wire import format_time
from .jsonutil import bool_param, json_body, json_response, query_param, update_mask

routes = web.RouteTableDef()

_USER = "/users/{user:[^/:]+}"


# -- users ----------------------------------------------------------------------------------------
@routes.get("/users", name="UserService.ListUsers")
async def list_users(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    users = await users_service.list_users(context_of(request), viewer, query_param(request, "filter"))
    return json_response(
        {"users": [user_to_json(u, viewer) for u in users], "nextPageToken": "", "totalSize": len(users)}
    )


@routes.post("/users", name="UserService.CreateUser")
async def create_user(request: web.Request) -> web.Response:
    body = await json_body(request)
    viewer = viewer_of(request)
    validate_only = bool_param(request, "validateOnly", "validate_only")
    user = await users_service.create_user(context_of(request), viewer, body, validate_only=validate_only)
    return json_response(user_to_json(user, viewer if viewer is not None else user))


@routes.post("/users:batchGet", name="UserService.BatchGetUsers")
async def batch_get_users(request: web.Request) -> web.Response:
    body = await json_body(request)
    users = await users_service.batch_get_users(context_of(request), body.get("usernames"))
    viewer = viewer_of(request)
    return json_response({"users": [user_to_json(u, viewer) for u in users]})


@routes.get(_USER, name="UserService.GetUser")
async def get_user(request: web.Request) -> web.Response:
    user = await users_service.get_user(context_of(request), request.match_info["user"])
    return json_response(user_to_json(user, viewer_of(request)))


@routes.patch(_USER, name="UserService.UpdateUser")
async def update_user(request: web.Request) -> web.Response:
    body = await json_body(request)
    mask = update_mask(request, body)
    body.pop("updateMask", None)
    body.pop("update_mask", None)
    viewer = viewer_of(request)
    user = await users_service.update_user(context_of(request), viewer, request.match_info["user"], body, mask)
    return json_response(user_to_json(user, viewer))


@routes.delete(_USER, name="UserService.DeleteUser")
async def delete_user(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    user = await users_service.delete_user(context_of(request), viewer, request.match_info["user"])
    resp = json_response({})
    if viewer is not None and viewer.id == user.id:
        from ...auth.cookies import clear_cookie_headers

        resp.headers.update(clear_cookie_headers(request))
    return resp


# -- settings -------------------------------------------------------------------------------------
def setting_to_json(user: User, key: str, value: dict[str, Any]) -> dict[str, Any]:
    """A ``UserSetting``: its name and the one oneof member that carries ``value``."""
    name = f"{user.name}/settings/{key}"
    if key == "GENERAL":
        return {"name": name, "generalSetting": value}
    if key == users_service.NOTIFICATION_KEY:  # memos-py's own setting
        return {"name": name, "notificationSetting": value}
    hooks = [webhooks_service.webhook_json(user, h) for h in webhooks_service.entries(value)]
    return {"name": name, "webhooksSetting": {"webhooks": hooks}}


@routes.get(_USER + "/settings", name="UserService.ListUserSettings")
async def list_user_settings(request: web.Request) -> web.Response:
    user, items = await users_service.list_user_settings(
        context_of(request), viewer_of(request), request.match_info["user"]
    )
    settings = [setting_to_json(user, key, value) for key, value in items]
    return json_response({"settings": settings, "nextPageToken": "", "totalSize": len(settings)})


@routes.get(_USER + "/settings/{setting}", name="UserService.GetUserSetting")
async def get_user_setting(request: web.Request) -> web.Response:
    key = request.match_info["setting"]
    user, value = await users_service.get_user_setting(
        context_of(request), viewer_of(request), request.match_info["user"], key
    )
    return json_response(setting_to_json(user, key, value))


@routes.patch(_USER + "/settings/{setting}", name="UserService.UpdateUserSetting")
async def update_user_setting(request: web.Request) -> web.Response:
    key = request.match_info["setting"]
    body = await json_body(request)
    user, value = await users_service.update_user_setting(
        context_of(request), viewer_of(request), request.match_info["user"], key, body, update_mask(request, body)
    )
    return json_response(setting_to_json(user, key, value))


# -- personal access tokens -----------------------------------------------------------------------
def pat_to_json(user: User, entry: dict[str, Any]) -> dict[str, Any]:
    """A ``PersonalAccessToken`` (never the hash). ``expiresAt``/``lastUsedAt`` are plain Timestamp
    fields, so an unset one is ``null`` (protojson with EmitUnpopulated), not omitted."""
    return {
        "name": f"{user.name}/personalAccessTokens/{entry.get('tokenId', '')}",
        "description": entry.get("description", ""),
        "createdAt": entry.get("createdAt") or format_time(0),
        "expiresAt": entry.get("expiresAt") or None,
        "lastUsedAt": entry.get("lastUsedAt") or None,
    }


def _int_field(body: dict[str, Any], *keys: str) -> int:
    """An int32 field given as a JSON number or a numeric string (protojson accepts both)."""
    value = next((body[k] for k in keys if body.get(k) not in (None, "")), 0)
    integral_float = isinstance(value, float) and value.is_integer()
    if integral_float or (isinstance(value, str) and value.strip().lstrip("-").isdigit()):
        value = int(value)
    if isinstance(value, bool) or not isinstance(value, int) or not -(2**31) <= value < 2**31:
        raise invalid(f"invalid {keys[0]}: {value!r}")
    return value


@routes.get(_USER + "/personalAccessTokens", name="UserService.ListPersonalAccessTokens")
async def list_personal_access_tokens(request: web.Request) -> web.Response:
    ctx = context_of(request)
    user = await users_service.get_user(ctx, request.match_info["user"])
    entries = await auth_service.list_personal_access_tokens(ctx, viewer_of(request), user)
    tokens = [pat_to_json(user, e) for e in entries]
    return json_response({"personalAccessTokens": tokens, "nextPageToken": "", "totalSize": len(tokens)})


@routes.post(_USER + "/personalAccessTokens", name="UserService.CreatePersonalAccessToken")
async def create_personal_access_token(request: web.Request) -> web.Response:
    ctx = context_of(request)
    body = await json_body(request)
    description = body.get("description") or ""
    if not isinstance(description, str):
        raise invalid("description must be a string")
    days = _int_field(body, "expiresInDays", "expires_in_days")
    user = await users_service.get_user(ctx, request.match_info["user"])
    entry, token = await auth_service.create_personal_access_token(
        ctx, viewer_of(request), user, description=description, expires_in_days=days
    )
    return json_response({"personalAccessToken": pat_to_json(user, entry), "token": token})


@routes.delete(_USER + "/personalAccessTokens/{token:[^/:]+}", name="UserService.DeletePersonalAccessToken")
async def delete_personal_access_token(request: web.Request) -> web.Response:
    ctx = context_of(request)
    user = await users_service.get_user(ctx, request.match_info["user"])
    await auth_service.delete_personal_access_token(ctx, viewer_of(request), user, request.match_info["token"])
    return json_response({})
