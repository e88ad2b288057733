"""The ``/api/v1`` sub-application: the Memos v0.28 REST surface.

Each resource module declares ``routes`` (an :class:`aiohttp.web.RouteTableDef`) whose route
names are the RPC names (``"MemoService.GetMemo"``); :mod:`memos_core.auth.acl` uses them.
"""

from __future__ import annotations

import importlib

from aiohttp import web

from ...auth.middleware import auth_middleware
from ...errors import error_middleware

#: Resource modules, in routing order (more specific paths first where they overlap).
MODULES = (
    "auth",
    "instance",
    "webhooks",  # users/{u}/webhooks...: before the users module's routes
    "idp",  # identity-providers... and users/{u}/linkedIdentities...
    "users",
    "memos",
    "shares",
    "shortcuts",
    "stats",
    "notifications",
    "attachments",
    "plugins",
    "ai",
    "sse",
    "portability",  # memos-py's export and import
)


def create_api_app() -> web.Application:
    api = web.Application(middlewares=[error_middleware, auth_middleware])
    for name in MODULES:
        module = importlib.import_module(f"{__name__}.{name}")
        api.router.add_routes(module.routes)
    return api
