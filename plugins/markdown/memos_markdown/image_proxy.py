"""An optional proxy for external images in rendered HTML.

With ``MEMOS_MARKDOWN_IMAGE_PROXY=1`` the renderer points every external (``http``, ``https`` or
protocol-relative) image at ``/markdown/image-proxy?url=…&sig=…`` instead of the remote host, so
readers of a feed or page never contact third-party hosts themselves (no IP or referrer leaks, no
mixed content). Only URLs the renderer signed are fetched: the signature is an HMAC keyed from the
instance secret, which every instance sharing the database also holds, so the server is not an
open proxy and any instance can serve any signed URL.

Fetching goes through the server's one SSRF-guarded fetcher, which the ``memos_http_fetcher`` hook
provides (the memos-httpgetter plugin): the destination must be a public address (checked for IP
literals and for every DNS answer, and the connection goes to the checked address, so a rebinding
DNS server cannot swap it afterwards), redirects are followed hop by hop with the same checks, and
the answer must be a raster image within the size and time limits. SVG is refused: it can carry
script. Without such a fetcher the route answers 503 and says so.

Settings (environment, read when the app is built):

* ``MEMOS_MARKDOWN_IMAGE_PROXY=1``: rewrite external images and serve the proxy route (default off:
  images link to their hosts directly).
* ``MEMOS_MARKDOWN_IMAGE_PROXY_MAX_BYTES`` (default 10 MiB) and
  ``MEMOS_MARKDOWN_IMAGE_PROXY_TIMEOUT`` (seconds, default 10): limits per image.
* ``MEMOS_MARKDOWN_IMAGE_PROXY_ALLOW_PRIVATE=1``: also fetch from loopback and private networks.
  For tests and closed networks only: it lets anyone who can write a memo reach internal hosts.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import os
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import quote

import aiohttp
from aiohttp import web

from memos_core import CONTEXT, ApiError, Code, error_response, no_db_connection

log = logging.getLogger("memos_markdown.image_proxy")

ROUTE = "/markdown/image-proxy"
MAX_REDIRECTS = 3
CHUNK = 64 * 1024
USER_AGENT = "memos-py image proxy"
CACHE_CONTROL = "public, max-age=86400"
# The body is an image and nothing else: no script, no plugins, no sniffing into HTML.
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; sandbox"
_REFUSED_TYPES = frozenset({"image/svg+xml"})


@dataclasses.dataclass(frozen=True)
class Settings:
    enabled: bool = False
    allow_private: bool = False
    max_bytes: int = 10 * 1024 * 1024
    timeout: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Settings:
        env = dict(os.environ if env is None else env)
        get = lambda name, default: env.get(f"MEMOS_MARKDOWN_IMAGE_PROXY{name}", "").strip() or default  # noqa: E731
        flag = lambda name: get(name, "0").lower() in ("1", "true", "yes", "on")  # noqa: E731
        settings = cls(
            enabled=flag(""),
            allow_private=flag("_ALLOW_PRIVATE"),
            max_bytes=int(get("_MAX_BYTES", str(cls.max_bytes))),
            timeout=float(get("_TIMEOUT", str(cls.timeout))),
        )
        if settings.max_bytes <= 0 or settings.timeout <= 0:
            raise ValueError("MEMOS_MARKDOWN_IMAGE_PROXY_MAX_BYTES and _TIMEOUT must be positive")
        return settings


@dataclasses.dataclass(frozen=True)
class Signer:
    """Turns an external image URL into a signed proxy URL, and checks such signatures.

    Hashable, so rendered HTML can be cached per (content, base URL, signer).
    """

    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> Signer:
        # A key of its own, so a proxy signature can never be replayed as anything else.
        return cls(hmac.new(secret.encode(), b"memos-markdown image proxy v1", hashlib.sha256).digest())

    def sign(self, url: str) -> str:
        return hmac.new(self.key, url.encode(), hashlib.sha256).hexdigest()[:32]

    def verify(self, url: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(url), signature)

    def proxied(self, src: str) -> str:
        """The proxy path for ``src`` (a protocol-relative ``//host/x`` is fetched over https)."""
        url = "https:" + src if src.startswith("//") else src
        return f"{ROUTE}?url={quote(url, safe='')}&sig={self.sign(url)}"


@dataclasses.dataclass
class Proxy:
    """Set on the app before it starts (app state is frozen afterwards); filled in at start-up."""

    settings: Settings
    signer: Signer | None = None


IMAGE_PROXY = web.AppKey("memos_markdown.image_proxy", Proxy)


# -- the route ----------------------------------------------------------------------------------
@no_db_connection
async def image_proxy(request: web.Request) -> web.StreamResponse:
    """``GET /markdown/image-proxy?url=…&sig=…``: stream a signed external image."""
    try:
        return await _proxy(request)
    except ApiError as e:
        response = error_response(e.code, e.message, e.headers)
        response.headers["Cache-Control"] = "no-store"
        return response


async def _proxy(request: web.Request) -> web.StreamResponse:
    proxy = request.config_dict[IMAGE_PROXY]
    url = request.query.get("url", "")
    signature = request.query.get("sig", "")
    if not url or not signature:
        raise ApiError(Code.INVALID_ARGUMENT, "url and sig are required")
    if proxy.signer is None:
        raise ApiError(Code.UNAVAILABLE, "the image proxy is starting")
    if not proxy.signer.verify(url, signature):
        raise ApiError(Code.PERMISSION_DENIED, "invalid image proxy signature")
    fetcher = await request.config_dict[CONTEXT].first("memos_http_fetcher", app=request.app)
    if fetcher is None:
        raise ApiError(
            Code.UNAVAILABLE, "the image proxy needs a guarded HTTP fetcher: install the memos-httpgetter plugin"
        )

    settings = proxy.settings
    async with fetcher.open(
        url,
        headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
        timeout=settings.timeout,
        max_redirects=MAX_REDIRECTS,
        allow_private=settings.allow_private,
    ) as upstream:
        return await _relay(request, upstream, url, settings)


async def _relay(
    request: web.Request, upstream: aiohttp.ClientResponse, url: str, settings: Settings
) -> web.StreamResponse:
    """Stream ``upstream`` to the client if it is a raster image within the limits."""
    if upstream.status != 200:
        raise ApiError(Code.UNAVAILABLE, f"the image host answered {upstream.status}")
    content_type = upstream.headers.get("Content-Type", "").split(";", 1)[0].strip().lower()
    if not content_type.startswith("image/") or content_type in _REFUSED_TYPES:
        raise ApiError(Code.FAILED_PRECONDITION, f"the URL does not point to a raster image ({content_type})")
    length = upstream.content_length
    if length is not None and length > settings.max_bytes:
        raise ApiError(Code.FAILED_PRECONDITION, f"the image is larger than {settings.max_bytes} bytes")

    response = web.StreamResponse(
        headers={
            "Content-Type": content_type,
            "Cache-Control": CACHE_CONTROL,
            "X-Content-Type-Options": "nosniff",
            "Content-Security-Policy": CSP,
        }
    )
    for name in ("ETag", "Last-Modified"):
        if name in upstream.headers:
            response.headers[name] = upstream.headers[name]
    if length is not None and "Content-Encoding" not in upstream.headers:
        response.content_length = length  # else it is the compressed length; we send decoded bytes
    await response.prepare(request)
    sent = 0
    try:
        async for chunk in upstream.content.iter_chunked(CHUNK):
            sent += len(chunk)
            if sent > settings.max_bytes:
                # Headers are out: the only honest signal left is a cut connection.
                log.warning("image %s exceeded %d bytes; connection closed", url, settings.max_bytes)
                _cut(request)
                return response
            await response.write(chunk)
    except (aiohttp.ClientError, TimeoutError):
        log.warning("image %s broke off while streaming", url)
        _cut(request)
        return response
    await response.write_eof()
    return response


def _cut(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


# -- wiring -------------------------------------------------------------------------------------
def configure(app: web.Application) -> Proxy | None:
    """Read the settings once per app; the proxy state when it is on, else ``None``.

    Both start-up hooks call this (in whichever order the core calls them), before app state freezes.
    """
    if IMAGE_PROXY not in app:
        settings = Settings.from_env()
        if not settings.enabled:
            return None
        app[IMAGE_PROXY] = Proxy(settings)
    return app[IMAGE_PROXY]


def register_routes(app: web.Application) -> None:
    if configure(app) is not None:
        app.router.add_get(ROUTE, image_proxy)


async def lifetime(app: web.Application) -> AsyncIterator[None]:
    """Key the signer from the instance secret (read at start-up). Fetching goes through the
    ``memos_http_fetcher`` hook, asked per request: that plugin starts in its own time."""
    proxy = app[IMAGE_PROXY]
    proxy.signer = Signer.from_secret(app[CONTEXT].secret)
    yield


def signer_of(app: Any) -> Signer | None:
    """The signer when the proxy is on and started, else ``None`` (images then link directly)."""
    if app is None:
        return None
    proxy = app.get(IMAGE_PROXY)
    return proxy.signer if proxy is not None else None
