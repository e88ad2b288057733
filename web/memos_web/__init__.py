"""memos-web: the browser face of memos-py, a plugin like any other.

Server-rendered pages (aiohttp-jinja2, autoescaped) at upstream Memos' own URLs, over the core's
services, so pages, REST and MCP share one set of access rules. Reading and writing work without
JavaScript; small hand-written ES modules make it pleasant. See ``security`` for sessions, CSRF
and headers, ``assets`` for static files, ``views`` for the pages.
"""

from __future__ import annotations

from http import HTTPStatus

from aiohttp import web
from aiohttp.web_urldispatcher import MatchInfoError

from memos_core import hookimpl

from . import i18n
from .assets import PREFIX, Assets
from .i18n import gettext as _
from .render import ASSETS, JINJA, render, setup
from .security import make_middleware, wants_fragment
from .views import ROUTES

__all__ = ["memos_register_routes"]

_API_PREFIXES = ("/api/", "/file/", "/mcp", "/healthz", "/static/")
_PHRASES = frozenset(s.phrase for s in HTTPStatus)


async def render_error(request: web.Request, status: int, message: str) -> web.StreamResponse:
    """An error in the app's look (or JSON for the page's own script), with the right status."""
    if wants_fragment(request):
        return web.json_response({"message": message}, status=status)
    if message in _PHRASES:  # aiohttp's bare reason ("Not Found"): say it in the page's language
        message = _("This page does not exist.") if status == 404 else ""
    titles = {
        400: _("Bad request"),
        401: _("Sign in required"),
        403: _("Forbidden"),
        404: _("Not found"),
        405: _("Method not allowed"),
        413: _("Too large"),
        429: _("Slow down"),
    }
    return await render(
        request,
        "error.html",
        {"status": status, "title": titles.get(status, _("Something went wrong")), "message": message},
        status=status,
    )


@web.middleware
async def not_found_page(request: web.Request, handler):
    """Unknown paths a browser asks for get the app's 404 page; API clients keep their JSON 404."""
    if not isinstance(request.match_info, MatchInfoError) or request.match_info.http_exception.status != 404:
        return await handler(request)
    if (
        request.method not in ("GET", "HEAD")
        or request.path.startswith(_API_PREFIXES)
        or "text/html" not in request.headers.get("Accept", "")
    ):
        return await handler(request)
    await i18n.activate(request)
    response = await render_error(request, 404, _("This page does not exist."))
    response.headers.update(_page_headers())
    return response


def _page_headers() -> dict[str, str]:
    from .security import SECURITY_HEADERS

    return {**SECURITY_HEADERS, "Cache-Control": "no-store"}


@hookimpl
def memos_register_routes(app: web.Application) -> None:
    assets = Assets()
    setup(app, assets)
    i18n.install(app[JINJA])
    app.middlewares.append(not_found_page)
    app.middlewares.append(make_middleware(render_error))
    app.router.add_get(PREFIX + "{path:.+}", assets.handle, name="static.web")
    app.router.add_get("/manifest.webmanifest", manifest, name="web.manifest")
    app.router.add_routes(i18n.routes)
    for table in ROUTES:
        app.router.add_routes(table)


async def manifest(request: web.Request) -> web.Response:
    """The web app manifest (installable on phones), with the hashed icon URLs of this release."""
    assets = request.config_dict[ASSETS]
    body = {
        "name": "Memos",
        "short_name": "Memos",
        "start_url": "/home",
        "display": "standalone",
        "background_color": "#f4f4f5",
        "theme_color": "#18181b",
        "icons": [
            {"src": assets.url("icon.svg"), "sizes": "any", "type": "image/svg+xml"},
            {"src": assets.url("icon-192.png"), "sizes": "192x192", "type": "image/png"},
            {"src": assets.url("icon-512.png"), "sizes": "512x512", "type": "image/png"},
        ],
    }
    return web.json_response(body, content_type="application/manifest+json", headers={"Cache-Control": "no-cache"})
