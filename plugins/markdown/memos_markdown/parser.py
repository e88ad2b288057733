"""The shared markdown-it parser: GFM-like syntax plus the Memos ``#tag`` and ``@mention`` inline rules.

Memos parses with goldmark, whose tag and mention parsers run as inline parsers ahead of links.
markdown-it gives the same guarantee when our rules sit in the inline ruler: code spans, autolinks,
raw HTML and link destinations are consumed by their own rules before a ``#`` or ``@`` inside them
is ever looked at, so tags and mentions only come from inline text.
"""

from __future__ import annotations

import unicodedata

from linkify_it import LinkifyIt
from markdown_it import MarkdownIt
from markdown_it.rules_inline import StateInline
from markdown_it.token import Token

MAX_TAG_RUNES = 100
MAX_MENTION_RUNES = 32

TAG_TOKEN = "memo_tag"
MENTION_TOKEN = "memo_mention"

_TAG_EXTRA = frozenset("_-/&\u200d")
# GFM starts an extended www autolink after these characters (or whitespace / line start).
_WWW_PREFIX_CHARS = "*_~("


def is_tag_char(ch: str) -> bool:
    """Letters, numbers, symbols (emoji, ``+<=>^`|~$``), marks, ZWJ and ``_ - / &``, as upstream allows."""
    if ch.isalnum() or ch in _TAG_EXTRA:
        return True
    return unicodedata.category(ch)[0] in "LNSM"


def _is_mention_char(ch: str) -> bool:
    return ch == "-" or unicodedata.category(ch)[0] in "LN"


def _is_mention_boundary(ch: str) -> bool:
    """Whitespace, punctuation or symbol: keeps ``me@example.com`` from reading as a mention."""
    return ch.isspace() or unicodedata.category(ch)[0] in "PS"


def _inside_www_link(src: str, pos: int) -> bool:
    """Whether ``pos`` lies in a ``www.`` autolink that core linkify will only pick up after inline parsing.

    Scheme links (``https://h/#x``) are consumed by the inline linkify rule before ``#`` is reached;
    ``www.h/#x`` links are found later, so without this check their fragment would become a tag.
    """
    start = pos
    while start > 0 and not src[start - 1].isspace():
        start -= 1
    word = src[start:pos].lstrip(_WWW_PREFIX_CHARS)
    return word[:4].lower() == "www."


def _tag_rule(state: StateInline, silent: bool) -> bool:
    src, pos, end = state.src, state.pos, state.posMax
    if src[pos] != "#" or pos + 1 >= end or src[pos + 1] in "# ":
        return False
    i = pos + 1
    limit = min(end, i + MAX_TAG_RUNES)
    while i < limit and is_tag_char(src[i]):
        i += 1
    if i == pos + 1 or _inside_www_link(src, pos):
        return False
    if not silent:
        token = state.push(TAG_TOKEN, "", 0)
        token.content = src[pos + 1 : i]
        token.markup = "#"
    state.pos = i
    return True


def _mention_rule(state: StateInline, silent: bool) -> bool:
    src, pos, end = state.src, state.pos, state.posMax
    if src[pos] != "@" or (pos > 0 and not _is_mention_boundary(src[pos - 1])):
        return False
    i = pos + 1
    limit = min(end, i + MAX_MENTION_RUNES)
    has_alnum = False
    while i < limit and _is_mention_char(src[i]):
        has_alnum = has_alnum or src[i] != "-"
        i += 1
    if not has_alnum or _inside_www_link(src, pos):
        return False
    if not silent:
        token = state.push(MENTION_TOKEN, "", 0)
        token.content = src[pos + 1 : i]
        token.markup = "@"
    state.pos = i
    return True


class _GfmLinkify(LinkifyIt):
    """linkify-it limited to GFM's extended autolinks: schemes, ``www.`` hosts and e-mail addresses.

    linkify-it's fuzzy mode also links bare ``example.com``, which GFM (and so Memos) leaves as text;
    turning fuzzy mode off would lose ``www.`` links too, so the bare-host matches are filtered out.
    """

    def match(self, text: str):  # type: ignore[override]
        found = super().match(text)
        if not found:
            return found
        return [m for m in found if m.schema or m.text[:4].lower() == "www."] or None


def build_parser() -> MarkdownIt:
    """A fresh markdown-it instance configured like upstream's goldmark (GFM, raw HTML parsed, not trusted).

    Raw HTML is *parsed* (so ``#x`` inside ``<a href="#x">`` is not a tag, as upstream) and escaped at
    render time. Link validation is left open here so the token tree mirrors goldmark's (a
    ``[x](javascript:…)`` link still counts for ``hasLink``); the renderer applies the URL allowlist.
    """
    md = MarkdownIt(
        "gfm-like",
        {"html": True, "tasklists": True, "tasklists_editable": False, "strikethrough_single_tilde": True},
    )
    md.linkify = _GfmLinkify()
    md.validateLink = lambda url: True  # type: ignore[method-assign]
    md.inline.ruler.before("link", TAG_TOKEN, _tag_rule)
    md.inline.ruler.before("link", MENTION_TOKEN, _mention_rule)
    return md


MD = build_parser()


def parse(content: str) -> list[Token]:
    """Parse ``content`` into markdown-it block tokens (inline tokens carry their children)."""
    return MD.parse(content)
