"""AuthService: sign-in, refresh, sign-out and the current user (SPEC §4.2-4.4).

The refresh token travels in the ``memos_refresh`` cookie. Responses send a real ``Set-Cookie``
and the same value as ``Grpc-Metadata-Set-Cookie`` (what upstream's REST gateway emits); requests
may carry it as a real cookie or as ``Grpc-Metadata-Cookie``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from http.cookies import CookieError, SimpleCookie

from aiohttp import web

from ...context import context_of, viewer_of
from ...errors import unauthenticated
from ...services import auth as auth_service
from .jsonutil import format_time, json_body, json_response
from .users import user_to_json

routes = web.RouteTableDef()

REFRESH_COOKIE = "memos_refresh"
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def refresh_cookie_of(request: web.Request) -> str | None:
    """The refresh token sent by the client: the ``memos_refresh`` cookie, else the same cookie
    inside ``Grpc-Metadata-Cookie``."""
    value = request.cookies.get(REFRESH_COOKIE)
    if value:
        return value
    header = request.headers.get("Grpc-Metadata-Cookie")
    if header:
        jar: SimpleCookie = SimpleCookie()
        try:
            jar.load(header)
        except CookieError:
            return None
        if REFRESH_COOKIE in jar and jar[REFRESH_COOKIE].value:
            return jar[REFRESH_COOKIE].value
    return None


def _is_https(request: web.Request) -> bool:
    if request.secure:
        return True
    if "https" in request.headers.get("X-Forwarded-Proto", "").lower():
        return True
    if "proto=https" in request.headers.get("Forwarded", "").lower().replace(" ", ""):
        return True
    return request.headers.get("Origin", "").lower().startswith("https://")


def _cookie_header(request: web.Request, value: str, expires: dt.datetime) -> str:
    header = (
        f"{REFRESH_COOKIE}={value}; Path=/; HttpOnly; "
        f"Expires={email.utils.format_datetime(expires, usegmt=True)}; SameSite=Lax"
    )
    return header + "; Secure" if _is_https(request) else header


def cookie_headers(request: web.Request, token: str, expires_at: int) -> dict[str, str]:
    """Headers that set the refresh cookie (both the browser and the gateway spelling)."""
    value = _cookie_header(request, token, dt.datetime.fromtimestamp(expires_at, dt.UTC))
    return {"Set-Cookie": value, "Grpc-Metadata-Set-Cookie": value}


def clear_cookie_headers(request: web.Request) -> dict[str, str]:
    """Headers that clear the refresh cookie (empty value, expired in 1970)."""
    value = _cookie_header(request, "", _EPOCH)
    return {"Set-Cookie": value, "Grpc-Metadata-Set-Cookie": value}


def _client(request: web.Request) -> auth_service.ClientInfo:
    return auth_service.ClientInfo.from_headers(request.headers, request.remote)


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
    session = await auth_service.refresh(context_of(request), refresh_cookie_of(request), _client(request))
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
