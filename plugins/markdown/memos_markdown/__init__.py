"""memos-markdown: tags, mentions, property, title and snippet extraction, and safe HTML rendering.

The hooks are thin: parsing and caching live in :mod:`.extract` (one cached walk per content feeds
payload, mentions and snippet) and :mod:`.render` (safe HTML). Each call returns fresh lists and
dicts, so callers may mutate what they get without touching the cache.
"""

from __future__ import annotations

from typing import Any

from memos_core import hookimpl

from .extract import analyze
from .render import render_html


@hookimpl
def memos_extract_payload(content: str) -> dict[str, Any]:
    """``{"tags": [...], "property": {...}}`` with empty and false values omitted, as protojson stores it."""
    return analyze(content).payload()


@hookimpl
def memos_extract_mentions(content: str) -> list[str]:
    """Lowercased usernames mentioned in ``content``, deduplicated in first-seen order."""
    return list(analyze(content).mentions)


@hookimpl
def memos_generate_snippet(content: str) -> str:
    """Plain-text summary of at most 64 runes plus `` ...``."""
    return analyze(content).snippet


@hookimpl
def memos_render_markdown(content: str) -> str:
    """Safe HTML for ``content``."""
    return render_html(content)
