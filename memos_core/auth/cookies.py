"""The refresh-token cookie shared by the REST API, the file server and the web UI.

The refresh token travels in the ``memos_refresh`` cookie (HttpOnly, ``SameSite=Lax``, ``Secure``
behind https). Responses send a real ``Set-Cookie`` and the same value as
``Grpc-Metadata-Set-Cookie`` (what upstream's REST gateway emits); requests may carry it as a real
cookie or as ``Grpc-Metadata-Cookie``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
from http.cookies import CookieError, SimpleCookie

from aiohttp import web

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
