"""memos-httpgetter: link previews, and the server's one SSRF-guarded fetcher for user-given URLs.

* ``memos_http_fetcher``: other plugins (the markdown image proxy) fetch through
  :class:`~memos_httpgetter.fetcher.Fetcher`, so one piece of code applies the SSRF rules.
* ``GET /api/v1/markdown/link:metadata?link=…`` (a memos-py extension; upstream v0.22-v0.24 served
  it as ``MarkdownService.GetLinkMetadata``): the metadata of one URL, for signed-in callers.
* The web UI: a placeholder below each memo with a link, filled after the page loaded by
  ``link-preview.js`` from ``/web/link-preview`` (same origin), its image shown through the guarded
  ``/web/link-preview/image`` route.

Settings, routes and the SSRF rules are described in the package's README.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from collections.abc import AsyncIterator, Callable
from importlib import resources
from typing import Any

from aiohttp import web

from memos_core import (
    CONTEXT,
    ApiError,
    Code,
    Principal,
    authenticate,
    ensure_plugin_schema,
    error_response,
    hookimpl,
    no_db_connection,
    viewer_of,
)

from . import service
from . import store as tables
from .fetcher import Fetched, Fetcher
from .settings import Settings

__version__ = "0.1.0"
__all__ = ["HTTPGETTER", "Fetched", "Fetcher", "HttpGetter", "Settings"]

log = logging.getLogger("memos_httpgetter")

API_ROUTE = "/api/v1/markdown/link:metadata"
PREVIEW_ROUTE = "/web/link-preview"
JS_URL = "/httpgetter/static/link-preview.js"
CSS_URL = "/httpgetter/static/link-preview.css"
_STATIC = {
    JS_URL: ("link-preview.js", "text/javascript"),
    CSS_URL: ("link-preview.css", "text/css"),
}
_RASTER = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)
# Where a memo's first link is: code is not a link, nor is an image (it shows itself).
_CODE = re.compile(r"```.*?(?:```|\Z)|~~~.*?(?:~~~|\Z)|`[^`\n]*`", re.DOTALL)
_IMAGE = re.compile(r"!\[[^\]]*\]\([^)]*\)")
_LINK = re.compile(r"https?://[^\s<>()\[\]\"'`]+", re.IGNORECASE)


@dataclasses.dataclass
class HttpGetter:
    """Set on the app while it is built (app state freezes at start-up); filled in when it starts."""

    settings: Settings
    fetcher: Fetcher | None = None
    signer: service.ImageSigner | None = None


HTTPGETTER = web.AppKey("memos_httpgetter", HttpGetter)


# -- lifetime -------------------------------------------------------------------------------------
@hookimpl
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    state = app[HTTPGETTER] = HttpGetter(Settings.from_env())

    async def httpgetter_ctx(app: web.Application) -> AsyncIterator[None]:
        ctx = app[CONTEXT]
        await ensure_plugin_schema(ctx.store, tables.PLUGIN_NAME, tables.SCHEMA_VERSION, tables.metadata)
        state.signer = service.ImageSigner.from_secret(ctx.secret)
        state.fetcher = Fetcher(state.settings)
        if state.settings.allow_private:
            log.warning("MEMOS_HTTPGETTER_ALLOW_PRIVATE is on: link previews may reach loopback and private networks")
        try:
            yield
        finally:
            fetcher, state.fetcher = state.fetcher, None
            await fetcher.close()

    return httpgetter_ctx


@hookimpl
def memos_http_fetcher(app: web.Application) -> Fetcher | None:
    state = app.get(HTTPGETTER)
    return state.fetcher if state is not None else None


@hookimpl
def memos_register_routes(app: web.Application) -> None:
    app.router.add_get(API_ROUTE, get_link_metadata, name="httpgetter.link_metadata")
    # ``web.*`` names: memos-web's middleware resolves the viewer from the session cookie.
    app.router.add_get(PREVIEW_ROUTE, web_link_preview, name="web.httpgetter_preview")
    app.router.add_get(service.IMAGE_ROUTE, web_preview_image, name="web.httpgetter_image")
    for path in _STATIC:
        app.router.add_get(path, static_file)


# -- the web UI ------------------------------------------------------------------------------------
@hookimpl
def memos_web_extra_js_urls(request: web.Request) -> list[str] | None:
    return [JS_URL] if viewer_of(request) is not None else None  # previews are for signed-in viewers


@hookimpl
def memos_web_extra_css_urls(request: web.Request) -> list[str] | None:
    return [CSS_URL] if viewer_of(request) is not None else None


def first_link(content: str) -> str:
    """The first ``http(s)`` link of a memo's markdown outside code and images, or ``""``."""
    text = _IMAGE.sub(" ", _CODE.sub(" ", content or ""))
    match = _LINK.search(text)
    if not match:
        return ""
    url = match.group(0).rstrip(".,;:!?*_~")
    try:
        return service.normalize(url)
    except ApiError:
        return ""


@hookimpl
def memos_web_memo_extra(request: web.Request, memo: dict[str, Any]) -> Any:
    # Once per card: computed from the memo at hand; the script fetches the preview later.
    from markupsafe import Markup  # memos-web, the only caller, brings it

    if viewer_of(request) is None:
        return None
    url = first_link(memo.get("content", ""))
    if not url:
        return None
    return Markup('<div class="link-preview" data-link-preview="{}"></div>').format(url)


# -- routes --------------------------------------------------------------------------------------
def _state(request: web.Request) -> tuple[HttpGetter, Fetcher]:
    state = request.config_dict[HTTPGETTER]
    if state.fetcher is None:
        raise ApiError(Code.UNAVAILABLE, "link previews are starting")
    return state, state.fetcher


async def _metadata(request: web.Request, viewer: Principal, url: Any) -> dict[str, Any]:
    state, fetcher = _state(request)
    store = request.config_dict[CONTEXT].store
    return await service.link_metadata(store, fetcher, state.settings, viewer.user.id, url)


def _failed(e: ApiError) -> web.Response:
    response = error_response(e.code, e.message, e.headers, status=e.status)
    response.headers["Cache-Control"] = "no-store"
    return response


@no_db_connection  # the fetch may take seconds: statements take a pooled connection each
async def get_link_metadata(request: web.Request) -> web.Response:
    """``GET /api/v1/markdown/link:metadata?link=…``: upstream's ``LinkMetadata`` (``title``,
    ``description``, ``image``) plus ``siteName`` and ``url`` (the final URL). Signed-in only."""
    try:
        viewer = await authenticate(request)  # as the API does: anonymous or invalid -> 401
        data = await _metadata(request, viewer, request.query.get("link"))
    except ApiError as e:
        return _failed(e)
    return web.json_response(data, headers={"Cache-Control": "private, max-age=300"})


@no_db_connection
async def web_link_preview(request: web.Request) -> web.Response:
    """``GET /web/link-preview?url=…``: the card's data for the page's script; the image is a signed
    path of :data:`service.IMAGE_ROUTE` (same origin, as the pages' CSP wants)."""
    try:
        viewer = viewer_of(request)
        if viewer is None:
            raise ApiError(Code.UNAUTHENTICATED, "user not authenticated")
        data = await _metadata(request, viewer, request.query.get("url"))
        state, _ = _state(request)
        if data.get("image") and state.signer is not None:
            data["image"] = state.signer.path(data["image"])
        else:
            data["image"] = ""
    except ApiError as e:
        return _failed(e)
    return web.json_response(data, headers={"Cache-Control": "private, max-age=300"})


@no_db_connection
async def web_preview_image(request: web.Request) -> web.Response:
    """``GET /web/link-preview/image?url=…&sig=…``: a preview image, fetched through the guard and
    served from this site: PNG, JPEG, GIF or WebP (by its bytes), within the image byte cap."""
    try:
        if viewer_of(request) is None:
            raise ApiError(Code.UNAUTHENTICATED, "user not authenticated")
        state, fetcher = _state(request)
        url, signature = request.query.get("url", ""), request.query.get("sig", "")
        if not url or not signature:
            raise ApiError(Code.INVALID_ARGUMENT, "url and sig are required")
        if state.signer is None or not state.signer.verify(url, signature):
            raise ApiError(Code.PERMISSION_DENIED, "invalid preview image signature")
        cap = state.settings.image_max_bytes
        fetched = await fetcher.get(url, max_bytes=cap, headers={"Accept": "image/png,image/jpeg,image/gif,image/webp"})
        if fetched.status != 200:
            raise ApiError(Code.UNAVAILABLE, f"the image host answered HTTP {fetched.status}")
        if fetched.truncated:
            raise ApiError(Code.FAILED_PRECONDITION, f"the image is larger than {cap} bytes")
        kind = raster_type(fetched.body)
        if kind is None:
            raise ApiError(Code.FAILED_PRECONDITION, "the preview image is not a PNG, JPEG, GIF or WebP image")
    except ApiError as e:
        return _failed(e)
    return web.Response(
        body=fetched.body,
        content_type=kind,
        headers={
            "Cache-Control": "private, max-age=86400",
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


def raster_type(body: bytes) -> str | None:
    """The image type the bytes are (never what the remote host claims): SVG and HTML are not."""
    for magic, kind in _RASTER:
        if body.startswith(magic):
            return kind
    if body[:4] == b"RIFF" and body[8:12] == b"WEBP":
        return "image/webp"
    return None


@no_db_connection
async def static_file(request: web.Request) -> web.Response:
    name, content_type = _STATIC[request.path]
    text = resources.files(__package__).joinpath("static", name).read_text(encoding="utf-8")
    return web.Response(text=text, content_type=content_type, headers={"Cache-Control": "public, max-age=3600"})
