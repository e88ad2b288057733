"""The API's authentication middleware: resolve the caller once, enforce the access list."""

from __future__ import annotations

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from ..context import context_of
from ..errors import ApiError, unauthenticated
from . import PRINCIPAL, Principal
from .acl import is_public


async def authenticate(request: web.Request, *, required: bool = True) -> Principal | None:
    """The caller of ``request`` as the API's middleware resolves it (``memos_authenticate``), also
    kept where :func:`memos_core.viewer_of` finds it. For plugins' own routes, which the API's
    middleware does not cover: with ``required`` an anonymous caller is 401, an invalid credential
    always is (raised as :class:`memos_core.ApiError`)."""
    existing = request.get(PRINCIPAL)
    if existing is not None:
        return existing
    ctx = context_of(request)
    principal = await ctx.first("memos_authenticate", app=ctx.app, request=request)
    if principal is None:
        if required:
            raise unauthenticated("user not authenticated")
        return None
    request[PRINCIPAL] = principal
    return principal


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
