"""Password recovery pages: "forgot password" and the form a reset link opens.

Both call :mod:`memos_core.services.password_reset`, which owns the flow (one answer whatever
matched, single-use tokens, rate limits, sessions ended); these pages only ask and show. The link
in the mail opens ``password_reset.RESET_PATH`` with the token in its query, so that page sends no
``Referer`` anywhere (``Referrer-Policy: no-referrer``) and keeps the token in a hidden field for
the form's post, never in another URL.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from babel.dates import format_timedelta

from memos_core import ApiError, Code, context_of
from memos_core.auth.cookies import clear_cookie_headers
from memos_core.clientip import client_ip
from memos_core.services import password_reset

from .. import i18n
from ..i18n import gettext as _
from ..render import render

routes = web.RouteTableDef()

FORGOT_PATH = "/auth/forgot-password"
#: Where a successful reset lands: the sign-in page, saying the password changed.
CHANGED_NOTICE = "password-changed"
NO_REFERRER = {"Referrer-Policy": "no-referrer"}


def _wait_label(error: ApiError) -> str:
    """How long a refused visitor waits, in their language ("55 minutes")."""
    try:
        seconds = max(1, int(error.headers.get("Retry-After", "60")))
    except ValueError:
        seconds = 60
    return format_timedelta(seconds, threshold=1, locale=i18n.current().locale)


def _too_many(error: ApiError) -> str:
    return _("Too many attempts. Try again in %(wait)s.", wait=_wait_label(error))


async def _forgot_page(
    request: web.Request, *, status: int = 200, headers: dict[str, str] | None = None, **data: Any
) -> web.Response:
    page = {"available": False, "sent": False, "error": "", "identifier": "", **data}
    response = await render(request, "forgot_password.html", page, status=status)
    response.headers.update(headers or {})
    return response


@routes.get(FORGOT_PATH, name="web.forgot_password")
async def forgot_page(request: web.Request) -> web.StreamResponse:
    if request.query.get("sent"):
        return await _forgot_page(request, sent=True)
    return await _forgot_page(request, available=await password_reset.available(context_of(request)))


@routes.post(FORGOT_PATH, name="web.forgot_password.submit")
async def forgot_submit(request: web.Request) -> web.StreamResponse:
    """Ask for a link; the answer is the same whether or not an account matched."""
    ctx = context_of(request)
    form = await request.post()
    identifier = form.get("identifier", "")
    identifier = identifier.strip() if isinstance(identifier, str) else ""
    try:
        await password_reset.request_reset(ctx, identifier, client_ip(request))
    except ApiError as e:
        page: dict[str, Any] = {"available": True, "identifier": identifier, "status": e.code.http_status}
        if e.code == Code.FAILED_PRECONDITION:
            page.update(available=False, error=_("Password recovery is not available on this instance."))
        elif e.code == Code.RESOURCE_EXHAUSTED:
            page.update(error=_too_many(e), headers={"Retry-After": e.headers.get("Retry-After", "60")})
        elif not identifier:
            page.update(error=_("Enter your username or email address."))
        else:
            page.update(error=e.message)  # too long, say: the service says how long it may be
        return await _forgot_page(request, **page)
    raise web.HTTPSeeOther(FORGOT_PATH + "?sent=1")  # a reload does not ask again


async def _reset_page(
    request: web.Request, token: str, username: str, *, status: int = 200, error: str = ""
) -> web.Response:
    """The new-password form for ``token`` (which opens ``username``'s account), or, without a
    username, the page saying the link does not work (the token is not drawn back into it)."""
    page = {"token": token if username else "", "username": username, "error": error}
    if not username and status == 200:
        status = 400
    response = await render(request, "reset_password.html", page, status=status)
    response.headers.update(NO_REFERRER)
    return response


@routes.get(password_reset.RESET_PATH, name="web.reset_password")
async def reset_page(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "")
    user = await password_reset.check_token(context_of(request), token)
    return await _reset_page(request, token, user.username if user else "")


@routes.post(password_reset.RESET_PATH, name="web.reset_password.submit")
async def reset_submit(request: web.Request) -> web.StreamResponse:
    """Set the new password (typed twice), then off to sign in with it: every session, this
    browser's included, was ended by the reset."""
    ctx = context_of(request)
    form = await request.post()

    def text(name: str) -> str:
        value = form.get(name, "")
        return value if isinstance(value, str) else ""

    token, password = text("token"), text("password")
    if password != text("password_confirm"):
        user = await password_reset.check_token(ctx, token)
        error = _("The passwords do not match.") if user else ""
        return await _reset_page(request, token, user.username if user else "", status=400, error=error)
    try:
        await password_reset.reset_password(ctx, token, password, client_ip(request))
    except ApiError as e:
        user = await password_reset.check_token(ctx, token)
        name = user.username if user else ""
        if e.code == Code.RESOURCE_EXHAUSTED:
            response = await _reset_page(request, token, name, status=429, error=_too_many(e))
            response.headers["Retry-After"] = e.headers.get("Retry-After", "60")
            return response
        # With a link that still works, the password was refused: the service's message says why.
        return await _reset_page(request, token, name, status=e.code.http_status, error=e.message if user else "")
    response = web.HTTPSeeOther(f"/auth?notice={CHANGED_NOTICE}")
    response.headers.update(clear_cookie_headers(request))
    response.headers.pop("Grpc-Metadata-Set-Cookie", None)
    raise response
