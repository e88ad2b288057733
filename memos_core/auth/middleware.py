"""The API's authentication middleware: resolve the caller once, enforce the access list."""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from ..context import context_of
from ..errors import ApiError, unauthenticated
from . import PRINCIPAL
from .acl import is_public


@web.middleware
async def auth_middleware(request: web.Request, handler):
    if isinstance(request.match_info, MatchInfoError):
        return await handler(request)  # 404/405: nothing to protect
    ctx = context_of(request)
    public = is_public(request.match_info.route.name)
    try:
        principal = await ctx.first("memos_authenticate", app=ctx.app, request=request)
    except ApiError:
        if not public:
            raise
        principal = None  # an invalid credential on a public method is treated as anonymous
    if principal is not None:
        request[PRINCIPAL] = principal
    elif not public:
        raise unauthenticated("user not authenticated")
    return await handler(request)
