"""One walk over the token tree yields tags, mentions, property, title and snippet.

Snippets are computed for every memo of every list response, so the walk runs once per distinct
content and its result is kept in an LRU cache keyed by the content itself.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from markdown_it.token import Token

from .parser import MENTION_TOKEN, TAG_TOKEN, parse

SNIPPET_RUNES = 64
CACHE_SIZE = 4096

_CODE_BLOCKS = frozenset({"fence", "code_block"})


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything derived from one content; immutable because it is shared through the cache."""

    tags: tuple[str, ...]
    mentions: tuple[str, ...]
    property: tuple[tuple[str, Any], ...]
    snippet: str

    def payload(self) -> dict[str, Any]:
        """The ``memo.payload`` fragment as protojson writes it: false and empty values are omitted."""
        out: dict[str, Any] = {}
        if self.tags:
            out["tags"] = list(self.tags)
        if self.property:
            out["property"] = dict(self.property)
        return out


class _Walk:
    """Accumulates the results while visiting inline children in document order."""

    def __init__(self) -> None:
        self.tags: dict[str, None] = {}
        self.mentions: dict[str, None] = {}
        self.has_link = False
        self.has_code = False
        self.has_task_list = False
        self.has_incomplete = False

    def inline(self, children: list[Token], out: list[str], title: list[str] | None) -> None:
        """Collect from one inline run; plain text goes to ``out`` (snippet) and ``title`` (heading text)."""
        for tok in children:
            kind = tok.type
            if kind == "text":
                out.append(tok.content)
                if title is not None:
                    title.append(tok.content)
            elif kind == TAG_TOKEN:
                self.tags.setdefault(tok.content)
                out.append("#" + tok.content)
            elif kind == MENTION_TOKEN:
                self.mentions.setdefault(tok.content.lower())
                out.append("@" + tok.content)
            elif kind == "code_inline":
                self.has_code = True
                out.append(tok.content)
                if title is not None:
                    title.append(tok.content)
            elif kind in ("softbreak", "hardbreak"):
                out.append(" ")
                if title is not None:
                    title.append(" ")
            elif kind == "link_open":
                # markdown-it marks <url> autolinks and linkified bare URLs with info "auto".
                if tok.info != "auto":
                    self.has_link = True
            elif kind == "image" and tok.children:
                self.inline(tok.children, out, title)


def analyze_uncached(content: str) -> Analysis:
    """Parse ``content`` and derive every extracted field in a single pass."""
    tokens = parse(content)
    walk = _Walk()
    blocks: list[str] = []
    title = ""
    first_block = tokens[0] if tokens else None
    in_title = False
    for tok in tokens:
        kind = tok.type
        if kind == "inline":
            pieces: list[str] = []
            heading: list[str] | None = [] if in_title else None
            walk.inline(tok.children or [], pieces, heading)
            text = "".join(pieces).strip()
            if text:
                blocks.append(text)
            if heading is not None:
                title = "".join(heading).strip()
                in_title = False
        elif kind in _CODE_BLOCKS:
            walk.has_code = True
        elif kind == "list_item_open" and tok.meta and "checked" in tok.meta:
            walk.has_task_list = True
            if not tok.meta["checked"]:
                walk.has_incomplete = True
        elif tok is first_block and kind == "heading_open" and tok.tag == "h1":
            in_title = True

    prop: list[tuple[str, Any]] = []
    if walk.has_link:
        prop.append(("hasLink", True))
    if walk.has_task_list:
        prop.append(("hasTaskList", True))
    if walk.has_code:
        prop.append(("hasCode", True))
    if walk.has_incomplete:
        prop.append(("hasIncompleteTasks", True))
    if title:
        prop.append(("title", title))
    return Analysis(
        tags=tuple(walk.tags),
        mentions=tuple(walk.mentions),
        property=tuple(prop),
        snippet=make_snippet(" ".join(blocks)),
    )


analyze = lru_cache(maxsize=CACHE_SIZE)(analyze_uncached)


def make_snippet(text: str, limit: int = SNIPPET_RUNES) -> str:
    """Cut ``text`` to ``limit`` runes at the last whitespace and mark the cut with `` ...`` (upstream's rule)."""
    if len(text) <= limit:
        return text.strip()
    cut = text[:limit]
    last = max(cut.rfind(ch) for ch in " \t\n\r")
    if last > 0:
        cut = cut[:last]
    return (cut + " ...").strip()
