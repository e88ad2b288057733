"""Who is asking, and may they: the web UI's session, CSRF, origin and response-header rules.

One middleware applies them to every route this package owns (route names start with ``web.``):

* **Session.** Pages authenticate with the same HttpOnly ``memos_refresh`` cookie the REST API
  sets at sign-in; it is checked against the database on every request, so revoking a session
  (sign-out, password change, archived user) ends it at once on every instance. No token is ever
  readable by JavaScript.
* **CSRF.** Every state-changing request carries a token (form field ``csrf_token`` or header
  ``X-CSRF-Token``) that is an HMAC of the random ``memos_csrf`` cookie under the instance secret,
  and its ``Origin`` (else ``Referer``), when sent, must be this site. Cookies are ``SameSite=Lax``.
* **Headers.** A strict Content-Security-Policy (no inline script, no eval), ``nosniff``, no
  framing, and ``no-store`` on pages, which may show private memos. A handler may set a stricter
  value of one of them itself (the password reset page sends no ``Referer`` at all), which is kept.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import urlsplit

from aiohttp import web

from memos_core import CONTEXT, ApiError, Code, Principal, context_of, viewer_of
from memos_core.auth import PRINCIPAL
from memos_core.auth.cookies import refresh_cookie_of
from memos_core.services import auth as auth_service
from memos_core.services import instance

from .i18n import activate as use_language

log = logging.getLogger(__name__)

CSRF_COOKIE = "memos_csrf"
CSRF_FIELD = "csrf_token"
CSRF_HEADER = "X-CSRF-Token"
_NEW_CSRF = web.RequestKey("memos_web_new_csrf", str)
_SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
#: Routes a new instance without an admin still answers (every other page leads to sign-up).
_SETUP_ROUTES = frozenset({"web.signup", "web.manifest", "web.live"})

CSP = "; ".join(
    (
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' data: blob: https: http:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "font-src 'self'",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
        "manifest-src 'self'",
    )
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
}

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
ErrorRenderer = Callable[[web.Request, int, str], Awaitable[web.StreamResponse]]


def is_web_route(request: web.Request) -> bool:
    route = getattr(request.match_info, "route", None)
    name = getattr(route, "name", None) or ""
    return name.startswith("web.")


def wants_fragment(request: web.Request) -> bool:
    """A request from the page's own script (it asks for a fragment or JSON, not a whole page)."""
    return request.headers.get("X-Requested-With") == "memos-web"


def _csrf_secret(request: web.Request) -> bytes:
    return hashlib.sha256(("memos-web-csrf:" + request.config_dict[CONTEXT].secret).encode()).digest()


def _csrf_cookie(request: web.Request) -> str:
    value = request.cookies.get(CSRF_COOKIE, "")
    if len(value) < 32:
        value = request.get(_NEW_CSRF) or secrets.token_urlsafe(32)
        request[_NEW_CSRF] = value
    return value


def csrf_token(request: web.Request) -> str:
    """The CSRF token to embed in this page's forms (minting the cookie it is bound to if needed)."""
    return hmac.new(_csrf_secret(request), _csrf_cookie(request).encode(), hashlib.sha256).hexdigest()


def _same_origin(request: web.Request, value: str) -> bool:
    parts = urlsplit(value)
    if not parts.netloc:
        return False
    if parts.netloc.lower() == (request.host or "").lower():
        return True
    instance_url = request.config_dict[CONTEXT].config.instance_url or ""
    if instance_url:
        own = urlsplit(instance_url)
        return (parts.scheme, parts.netloc.lower()) == (own.scheme, own.netloc.lower())
    return False


async def check_csrf(request: web.Request) -> None:
    """Refuse a state-changing request without a valid token, or from another site."""
    origin = request.headers.get("Origin")
    if origin is not None and origin != "null":
        if not _same_origin(request, origin):
            raise ApiError(Code.PERMISSION_DENIED, "cross-site request refused")
    elif request.headers.get("Referer") and not _same_origin(request, request.headers["Referer"]):
        raise ApiError(Code.PERMISSION_DENIED, "cross-site request refused")
    sent = request.headers.get(CSRF_HEADER, "")
    if not sent and request.content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        form = await request.post()
        field = form.get(CSRF_FIELD, "")
        sent = field if isinstance(field, str) else ""
    cookie = request.cookies.get(CSRF_COOKIE, "")
    expected = hmac.new(_csrf_secret(request), cookie.encode(), hashlib.sha256).hexdigest()
    if not cookie or not hmac.compare_digest(sent, expected):
        raise ApiError(Code.PERMISSION_DENIED, "the form expired or did not come from this site: reload and try again")


def _set_csrf_cookie(request: web.Request, response: web.StreamResponse) -> None:
    value = request.get(_NEW_CSRF)
    if value and not response.prepared:
        response.set_cookie(
            CSRF_COOKIE, value, path="/", httponly=True, samesite="Lax", secure=request.secure, max_age=400 * 86400
        )


def make_middleware(render_error: ErrorRenderer):
    """The middleware; ``render_error(request, status, message)`` draws error pages in the app's look."""

    @web.middleware
    async def web_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not is_web_route(request):
            return await handler(request)
        ctx = context_of(request)
        principal: Principal | None = await auth_service.session_principal(ctx, refresh_cookie_of(request))
        if principal is not None:
            request[PRINCIPAL] = principal
        elif (
            request.method == "GET"
            and request.match_info.route.name not in _SETUP_ROUTES
            and await instance.latest_admin(ctx.store) is None
        ):
            raise web.HTTPFound("/auth/signup")  # a new instance: the first account becomes its admin
        await use_language(request)  # before the handler: its messages and error pages speak it
        try:
            if request.method not in _SAFE_METHODS:
                await check_csrf(request)
            response = await handler(request)
        except ApiError as e:
            response = await render_error(request, e.code.http_status, e.message)
        except web.HTTPException as e:
            if e.status >= 400 and not wants_fragment(request):
                response = await render_error(request, e.status, e.reason)
            else:
                raise
        except Exception:
            # A bug: logged with its traceback for the admin, a plain 500 page for the visitor.
            log.exception("page %s %s failed", request.method, request.path)
            response = await render_error(request, 500, "Something went wrong on the server; it has been logged.")
        _set_csrf_cookie(request, response)
        if not response.prepared:
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)  # a handler may have set a stricter one
            response.headers.setdefault("Cache-Control", "no-store")
        return response

    return web_middleware


def signed_in(request: web.Request) -> Principal:
    """The page's viewer, or a redirect to the sign-in page that comes back here afterwards."""
    viewer = viewer_of(request)
    if viewer is None:
        from .urls import signin_url

        raise web.HTTPFound(signin_url(request.path_qs))
    return viewer
