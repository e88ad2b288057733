"""Link metadata for a signed-in user: the cache first, then the rate limit, then a guarded fetch.

Routes stay thin: they authenticate, call :func:`link_metadata` and serialise. Errors are
:class:`memos_core.ApiError` in the Memos codes: a bad URL is INVALID_ARGUMENT, a destination the
SSRF rules refuse PERMISSION_DENIED, a user over their budget RESOURCE_EXHAUSTED (with
``Retry-After``), a page that could not be read UNAVAILABLE, DEADLINE_EXCEEDED or
FAILED_PRECONDITION (not HTML). What the remote side caused is remembered for a short while (the
failure TTL), so a dead link is not fetched again on every view.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import logging
import time
from typing import Any
from urllib.parse import quote, urlsplit, urlunsplit

import aiohttp

from memos_core import ApiError, Code

from . import store as tables
from .fetcher import Fetcher
from .meta import MAX_URL, HeadReader, LinkMetadata, is_html, youtube_thumbnail
from .settings import Settings

log = logging.getLogger("memos_httpgetter")

#: Codes of failures worth remembering: the remote side's doing, not the request's.
_REMEMBERED = frozenset({Code.UNAVAILABLE, Code.DEADLINE_EXCEEDED, Code.FAILED_PRECONDITION, Code.PERMISSION_DENIED})
IMAGE_ROUTE = "/web/link-preview/image"


@dataclasses.dataclass(frozen=True)
class ImageSigner:
    """Signs preview-image URLs for :data:`IMAGE_ROUTE`, keyed from the instance secret (which every
    instance on the database shares), so the image route fetches only what a preview named."""

    key: bytes

    @classmethod
    def from_secret(cls, secret: str) -> ImageSigner:
        return cls(hmac.new(secret.encode(), b"memos-httpgetter preview image v1", hashlib.sha256).digest())

    def sign(self, url: str) -> str:
        return hmac.new(self.key, url.encode(), hashlib.sha256).hexdigest()[:32]

    def verify(self, url: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(url), signature)

    def path(self, url: str) -> str:
        return f"{IMAGE_ROUTE}?url={quote(url, safe='')}&sig={self.sign(url)}"


def normalize(url: Any) -> str:
    """The URL as it is fetched and cached: trimmed, without its fragment; INVALID_ARGUMENT unless
    it is an absolute ``http(s)`` URL with a host."""
    if not isinstance(url, str) or not url.strip():
        raise ApiError(Code.INVALID_ARGUMENT, "link is required")
    url = url.strip()
    if len(url) > MAX_URL:
        raise ApiError(Code.INVALID_ARGUMENT, f"the link is longer than {MAX_URL} characters")
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - raises ValueError on a bad port
    except ValueError as e:
        raise ApiError(Code.INVALID_ARGUMENT, f"invalid link: {e}") from None
    if parts.scheme.lower() not in ("http", "https") or not parts.hostname:
        raise ApiError(Code.INVALID_ARGUMENT, "the link must be an http or https URL with a host")
    return urlunsplit(parts._replace(fragment=""))


def _now_ms() -> int:
    return int(time.time() * 1000)


async def link_metadata(
    store: Any, fetcher: Fetcher, settings: Settings, user_id: int, url: Any, *, now_ms: int | None = None
) -> dict[str, Any]:
    """The metadata of ``url`` as the API shows it (``title``, ``description``, ``image``,
    ``siteName``, ``url``), from the cache or fetched now on ``user_id``'s budget."""
    url = normalize(url)
    fetcher.check_literal(url)  # an IP literal that is refused costs nothing and is not cached
    now = _now_ms() if now_ms is None else now_ms
    hit = await tables.cached(store, url, now)
    if hit is not None:
        if hit.get("ok"):
            return dict(hit.get("data") or {})
        raise ApiError(Code(int(hit.get("code", Code.UNAVAILABLE))), str(hit.get("message") or "the link failed"))

    retry_after = await tables.take(store, user_id, now, settings.rate_limit, settings.rate_window)
    if retry_after:
        raise ApiError(
            Code.RESOURCE_EXHAUSTED,
            f"too many link previews: at most {settings.rate_limit} every {settings.rate_window} s",
            headers={"Retry-After": str(retry_after)},
        )
    try:
        found = await fetch_metadata(fetcher, url)
    except ApiError as e:
        if e.code in _REMEMBERED:
            failure = {"ok": False, "code": int(e.code), "message": e.message}
            await tables.remember(store, url, failure, now, settings.failure_ttl)
        raise
    data = {
        "title": found.title,
        "description": found.description,
        "image": found.image,
        "siteName": found.site_name,
        "url": found.url,
    }
    await tables.remember(store, url, {"ok": True, "data": data}, now, settings.cache_ttl)
    return data


async def fetch_metadata(fetcher: Fetcher, url: str) -> LinkMetadata:
    """Fetch ``url`` and read its head (at most the byte cap); the image is dropped unless it
    passes the SSRF rules too (it may be fetched later, by the image route or a client)."""
    cap = fetcher.settings.max_bytes
    headers = {"Accept": "text/html,application/xhtml+xml;q=0.9,*/*;q=0.1"}
    async with fetcher.open(url, headers=headers) as response:
        if response.status != 200:
            raise ApiError(Code.UNAVAILABLE, f"the page answered HTTP {response.status}")
        content_type = response.headers.get("Content-Type", "")
        if not is_html(content_type):
            shown = content_type.split(";", 1)[0].strip() or "no content type"
            raise ApiError(Code.FAILED_PRECONDITION, f"the link is not an HTML page ({shown})")
        reader = HeadReader(content_type)
        read = 0
        try:
            async for chunk in response.content.iter_chunked(16 * 1024):
                chunk = chunk[: cap - read]
                read += len(chunk)
                reader.feed(chunk)
                if reader.done or read >= cap:
                    break
        except TimeoutError:
            raise ApiError(Code.DEADLINE_EXCEEDED, "the page did not arrive in time") from None
        except aiohttp.ClientError as e:
            raise ApiError(Code.UNAVAILABLE, f"the page broke off: {e}") from None
        found = reader.result(str(response.url))
    image = youtube_thumbnail(url) or youtube_thumbnail(found.url) or found.image
    if image:
        try:
            await fetcher.check(image)
        except ApiError as e:
            log.info("preview image %s of %s dropped: %s", image, url, e.message)
            image = ""
    return dataclasses.replace(found, image=image)
