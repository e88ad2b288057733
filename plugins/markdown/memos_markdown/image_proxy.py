"""An optional proxy for external images in rendered HTML.

With ``MEMOS_MARKDOWN_IMAGE_PROXY=1`` the renderer points every external (``http``, ``https`` or
protocol-relative) image at ``/markdown/image-proxy?url=…&sig=…`` instead of the remote host, so
readers of a feed or page never contact third-party hosts themselves (no IP or referrer leaks, no
mixed content). Only URLs the renderer signed are fetched: the signature is an HMAC keyed from the
instance secret, which every instance sharing the database also holds, so the server is not an
open proxy and any instance can serve any signed URL.

Fetching is guarded against server-side request forgery: the destination must be a public address
(checked for IP literals and for every DNS answer, and the connection goes to the checked address,
so a rebinding DNS server cannot swap it afterwards), redirects are followed by hand with the same
checks, and the answer must be a raster image within the size and time limits. SVG is refused: it
can carry script.

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
from urllib.parse import quote, urljoin

import aiohttp
from aiohttp import web

from memos_core import CONTEXT, ApiError, Code, error_response, netguard, no_db_connection

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
    session: aiohttp.ClientSession | None = None


IMAGE_PROXY = web.AppKey("memos_markdown.image_proxy", Proxy)


# -- destination checks -------------------------------------------------------------------------
def check_url(url: str, allow_private: bool) -> None:
    """The core's URL check (:func:`memos_core.netguard.check_url`) in Memos error terms."""
    try:
        netguard.check_url(url, allow_private)
    except netguard.BadURL as e:
        raise ApiError(Code.INVALID_ARGUMENT, f"invalid image URL: {e}") from None
    except netguard.DestinationRefused:
        raise ApiError(Code.PERMISSION_DENIED, "the image host is not a public address") from None


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
    if proxy.signer is None or proxy.session is None:
        raise ApiError(Code.UNAVAILABLE, "the image proxy is starting")
    if not proxy.signer.verify(url, signature):
        raise ApiError(Code.PERMISSION_DENIED, "invalid image proxy signature")

    settings = proxy.settings
    upstream = await _fetch(proxy.session, url, settings)
    try:
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
    finally:
        upstream.release()


def _cut(request: web.Request) -> None:
    if request.transport is not None:
        request.transport.close()


async def _fetch(session: aiohttp.ClientSession, url: str, settings: Settings) -> aiohttp.ClientResponse:
    """GET ``url``, following at most :data:`MAX_REDIRECTS` redirects, each destination checked."""
    for _ in range(MAX_REDIRECTS + 1):
        check_url(url, settings.allow_private)
        try:
            upstream = await session.get(url, allow_redirects=False)
        except aiohttp.ClientConnectorError as e:
            if isinstance(e.os_error, netguard.DestinationRefused):
                raise ApiError(Code.PERMISSION_DENIED, "the image host is not a public address") from None
            raise ApiError(Code.UNAVAILABLE, f"cannot reach the image host: {e.os_error}") from None
        except aiohttp.InvalidURL as e:
            raise ApiError(Code.INVALID_ARGUMENT, f"invalid image URL: {e}") from None
        except TimeoutError:
            raise ApiError(Code.DEADLINE_EXCEEDED, "the image host did not answer in time") from None
        except aiohttp.ClientError as e:
            raise ApiError(Code.UNAVAILABLE, f"cannot fetch the image: {e}") from None
        if upstream.status in (301, 302, 303, 307, 308) and "Location" in upstream.headers:
            location = upstream.headers["Location"]
            upstream.release()
            url = urljoin(url, location)
            continue
        if upstream.status != 200:
            upstream.release()
            raise ApiError(Code.UNAVAILABLE, f"the image host answered {upstream.status}")
        return upstream
    raise ApiError(Code.UNAVAILABLE, f"more than {MAX_REDIRECTS} redirects")


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
    """Key the signer from the instance secret (read at start-up) and hold the HTTP client."""
    proxy = app[IMAGE_PROXY]
    settings = proxy.settings
    proxy.signer = Signer.from_secret(app[CONTEXT].secret)
    proxy.session = netguard.guarded_session(
        allow_private=settings.allow_private,
        timeout=settings.timeout,
        headers={"User-Agent": USER_AGENT, "Accept": "image/*"},
    )
    try:
        yield
    finally:
        await proxy.session.close()
        proxy.session = None


def signer_of(app: Any) -> Signer | None:
    """The signer when the proxy is on and started, else ``None`` (images then link directly)."""
    if app is None:
        return None
    proxy = app.get(IMAGE_PROXY)
    return proxy.signer if proxy is not None else None
