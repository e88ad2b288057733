"""AuthService: sign-in, refresh, sign-out and the current user, as upstream's AuthService.

The refresh-token cookie itself lives in :mod:`memos_core.auth.cookies`, shared with the file
server and the web UI.
"""

from __future__ import annotations

from aiohttp import web

from ...auth.cookies import REFRESH_COOKIE, clear_cookie_headers, cookie_headers, refresh_cookie_of
from ...clientip import client_ip
from ...context import context_of, viewer_of
from ...errors import ApiError, Code, unauthenticated
from ...services import auth as auth_service
from ...services import password_reset
from ...services.users import user_to_json
from ...wire import format_time
from .jsonutil import json_body, json_response

routes = web.RouteTableDef()

__all__ = ["REFRESH_COOKIE", "clear_cookie_headers", "cookie_headers", "refresh_cookie_of", "routes"]


def _client(request: web.Request) -> auth_service.ClientInfo:
    return auth_service.ClientInfo.from_headers(request.headers, client_ip(request))


@routes.post("/auth/signin", name="AuthService.SignIn")
async def sign_in(request: web.Request) -> web.Response:
    body = await json_body(request)
    session = await auth_service.sign_in(context_of(request), body, _client(request))
    resp = json_response(
        {
            "user": user_to_json(session.user, session.user),
            "accessToken": session.access_token,
            "accessTokenExpiresAt": format_time(session.access_expires_at),
        }
    )
    resp.headers.update(cookie_headers(request, session.refresh_token, session.refresh_expires_at))
    return resp


@routes.post("/auth/refresh", name="AuthService.RefreshToken")
async def refresh_token(request: web.Request) -> web.Response:
    await json_body(request)  # RefreshTokenRequest is empty, but must be valid JSON if sent
    try:
        session = await auth_service.refresh(context_of(request), refresh_cookie_of(request), _client(request))
    except ApiError as e:
        if e.code is Code.UNAUTHENTICATED:  # missing, forged, expired or revoked: the cookie is dead
            e.headers.update(clear_cookie_headers(request))
        raise
    resp = json_response({"accessToken": session.access_token, "expiresAt": format_time(session.access_expires_at)})
    resp.headers.update(cookie_headers(request, session.refresh_token, session.refresh_expires_at))
    return resp


@routes.post("/auth/signout", name="AuthService.SignOut")
async def sign_out(request: web.Request) -> web.Response:
    await auth_service.sign_out(context_of(request), refresh_cookie_of(request))
    resp = json_response({})
    resp.headers.update(clear_cookie_headers(request))
    return resp


@routes.get("/auth/me", name="AuthService.GetCurrentUser")
async def get_current_user(request: web.Request) -> web.Response:
    viewer = viewer_of(request)
    if viewer is None:
        err = unauthenticated("user not authenticated")
        err.headers.update(clear_cookie_headers(request))
        raise err
    return json_response({"user": user_to_json(viewer.user, viewer)})


# -- password recovery (memos-py extensions; docs/api-extensions.md) ---------------------------------
@routes.post("/auth/password:forgot", name="AuthService.ForgotPassword")
async def forgot_password(request: web.Request) -> web.Response:
    """``{"identifier": username or email}`` -> ``{}`` whether or not an account matched."""
    body = await json_body(request)
    identifier = body.get("identifier", body.get("username", body.get("email")))
    await password_reset.request_reset(context_of(request), identifier, client_ip(request))
    return json_response({})


@routes.post("/auth/password:reset", name="AuthService.ResetPassword")
async def reset_password(request: web.Request) -> web.Response:
    """``{"token", "newPassword"}`` -> ``{}``; every sign-in session of the account ends."""
    body = await json_body(request)
    password = body.get("newPassword", body.get("new_password"))
    await password_reset.reset_password(context_of(request), body.get("token"), password, client_ip(request))
    return json_response({})
