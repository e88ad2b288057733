"""memos-markdown: tags, mentions, property, title and snippet extraction, and safe HTML rendering.

The hooks are thin: parsing and caching live in :mod:`.extract` (one cached walk per content feeds
payload, mentions and snippet) and :mod:`.render` (safe HTML). Each call returns fresh lists and
dicts, so callers may mutate what they get without touching the cache.

Both import markdown-it-py at the first memo parsed or rendered, so the idle server (and a process
that only lists its plugins) does without it.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from memos_core import hookimpl

from . import image_proxy


@hookimpl
def memos_extract_payload(content: str) -> dict[str, Any]:
    """``{"tags": [...], "property": {...}}`` with empty and false values omitted, as protojson stores it."""
    from .extract import analyze

    return analyze(content).payload()


@hookimpl
def memos_extract_mentions(content: str) -> list[str]:
    """Lowercased usernames mentioned in ``content``, deduplicated in first-seen order."""
    from .extract import analyze

    return list(analyze(content).mentions)


@hookimpl
def memos_generate_snippet(content: str) -> str:
    """Plain-text summary of at most 64 runes plus `` ...``."""
    from .extract import analyze

    return analyze(content).snippet


@hookimpl
def memos_render_markdown(content: str, app: web.Application | None, base_url: str) -> str:
    """Safe HTML for ``content``; external images go through the image proxy when it is on."""
    from .render import render_html

    return render_html(content, base_url, image_proxy.signer_of(app))


@hookimpl
def memos_register_routes(app: web.Application) -> None:
    image_proxy.register_routes(app)


@hookimpl
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]] | None:
    return image_proxy.lifetime if image_proxy.configure(app) is not None else None
