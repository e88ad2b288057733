"""``POST /web/preferences/theme``: the theme switcher in the navigation rail.

A plain form (select + submit, then back to the page) that the page's script submits at once on
change. The choice goes to the user's GENERAL setting (upstream's values, see ``themes``) when
signed in, and always to the ``memos_theme`` cookie, so the pages keep it after signing out too.
"""

from __future__ import annotations

from aiohttp import web

from memos_core import ApiError, Code, context_of, viewer_of
from memos_core.services import users as users_service

from .. import themes
from ..security import wants_fragment
from ..urls import safe_redirect

routes = web.RouteTableDef()
#: How long the visitor's choice is kept (the longest lifetime browsers allow).
COOKIE_DAYS = 400


@routes.post("/web/preferences/theme", name="web.preferences.theme")
async def set_theme(request: web.Request) -> web.StreamResponse:
    form = await request.post()
    choice = str(form.get("theme", ""))
    if choice not in themes.THEMES:
        raise ApiError(Code.INVALID_ARGUMENT, f"theme must be one of {', '.join(themes.THEMES)}")
    viewer = viewer_of(request)
    if viewer is not None:
        body = {"generalSetting": {"theme": themes.STORED[choice]}}
        await users_service.update_user_setting(
            context_of(request), viewer, viewer.user.username, "GENERAL", body, ["theme"]
        )
    if wants_fragment(request):
        response: web.StreamResponse = web.json_response({"theme": choice})
    else:
        response = web.HTTPSeeOther(safe_redirect(str(form.get("next", "")), "/"))
    remember_theme(request, response, choice)
    if isinstance(response, web.HTTPException):
        raise response
    return response


def remember_theme(request: web.Request, response: web.StreamResponse, choice: str) -> None:
    """Keep ``choice`` in the ``memos_theme`` cookie too (the pages keep it after signing out)."""
    response.set_cookie(
        themes.THEME_COOKIE,
        choice,
        path="/",
        max_age=COOKIE_DAYS * 86400,
        httponly=True,
        samesite="Lax",
        secure=request.secure,
    )
