"""URL helpers: where sign-in returns to, and which redirects are safe to follow."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from aiohttp import web

from memos_core import CONTEXT


def safe_redirect(target: str | None, default: str = "/home") -> str:
    """``target`` if it is a path on this site (``/x``), else ``default``: never an open redirect.

    Refuses scheme-relative (``//evil``) and backslash (``/\\evil``) forms that browsers treat as
    another host, and anything with a scheme or host.
    """
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return default
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or any(c in target for c in "\r\n\t\\"):
        return default
    return target


def signin_url(next_path: str) -> str:
    return "/auth?redirect=" + quote(safe_redirect(next_path), safe="/")


def memo_url(memo_name: str) -> str:
    """``memos/abc`` -> ``/memos/abc``."""
    return "/" + memo_name


def site_url(request: web.Request) -> str:
    """This site's origin: the configured instance URL, else what the browser used to reach us."""
    configured = request.config_dict[CONTEXT].config.instance_url
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"
