"""InstanceService: the instance profile and instance settings."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from ...context import context_of, viewer_of
from ...services import instance as instance_service
from ...services import stats as stats_service
from ...services import storage_setting
from .jsonutil import json_body, json_response

routes = web.RouteTableDef()

SETTING_PREFIX = "instance/settings/"


@routes.get("/instance/profile", name="InstanceService.GetInstanceProfile")
async def get_instance_profile(request: web.Request) -> web.Response:
    ctx = context_of(request)
    viewer = viewer_of(request)
    admin = await instance_service.latest_admin(ctx.store)
    admin_json = None
    if admin is not None:
        from ...services.users import user_to_json

        admin_json = user_to_json(admin, viewer)
    return json_response(
        {
            "version": ctx.config.version,
            "demo": ctx.config.demo,
            "instanceUrl": ctx.config.instance_url,
            "admin": admin_json,
            "commit": instance_service.build_commit(),
        }
    )


@routes.get("/instance/stats", name="InstanceService.GetInstanceStats")
async def get_instance_stats(request: web.Request) -> web.Response:
    """Admin-only instance totals: a memos-py extension (upstream Memos has no such RPC)."""
    return json_response(await stats_service.instance_stats(context_of(request), viewer_of(request)))


def _setting_json(key: str, value: dict[str, Any] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"name": SETTING_PREFIX + key}
    field = instance_service.KNOWN_KEYS.get(key)
    if field is not None and value is not None:
        body[field] = value
    return body


@routes.get("/instance/settings/{key}", name="InstanceService.GetInstanceSetting")
async def get_instance_setting(request: web.Request) -> web.Response:
    key = request.match_info["key"]
    if key == storage_setting.KEY:  # checked against the storage backends registered on the context
        return json_response(
            _setting_json(key, await storage_setting.read_api(context_of(request), viewer_of(request)))
        )
    value = await instance_service.read_setting(context_of(request).store, viewer_of(request), key)
    return json_response(_setting_json(key, value))


@routes.patch("/instance/settings/{key}", name="InstanceService.UpdateInstanceSetting")
async def update_instance_setting(request: web.Request) -> web.Response:
    """The body is the InstanceSetting; the key in the path names it, and the mask is ignored
    because the value is replaced whole."""
    key = request.match_info["key"]
    body = await json_body(request)
    if key == storage_setting.KEY:
        return json_response(
            _setting_json(key, await storage_setting.update_api(context_of(request), viewer_of(request), body))
        )
    value = await instance_service.update_setting(context_of(request).store, viewer_of(request), key, body)
    return json_response(_setting_json(key, value))
