"""Safe HTML rendering of memo markdown (RSS descriptions and any other server-side HTML).

Memo content is untrusted, so the renderer is built to fail closed: raw HTML is escaped instead
of passed through, every link and image URL must pass :func:`is_safe_url`, and tags and mentions
become links the server itself builds.
"""

from __future__ import annotations

from collections.abc import Sequence
from functools import lru_cache
from typing import Any
from urllib.parse import quote

from markdown_it.common.utils import escapeHtml
from markdown_it.token import Token

from .image_proxy import Signer
from .parser import MENTION_TOKEN, TAG_TOKEN, build_parser

CACHE_SIZE = 512
REL_EXTERNAL = "noopener noreferrer nofollow"

_SAFE_SCHEMES = frozenset({"http", "https", "mailto"})
_EXTERNAL_SCHEMES = frozenset({"http", "https"})


def url_scheme(url: str) -> str | None:
    """The scheme of ``url`` (lowercased), ``""`` for a relative URL, or ``None`` if it cannot be judged.

    Anything before a ``:`` that comes ahead of the first ``/``, ``?`` or ``#`` counts as a scheme,
    which is stricter than a browser (``java%09script:`` is refused rather than read as a path).
    Control characters and whitespace make the URL unjudgeable, since browsers strip them.
    """
    if any(ord(ch) <= 0x20 or 0x7F <= ord(ch) <= 0x9F or ch.isspace() for ch in url):
        return None
    colon = url.find(":")
    if colon < 0:
        return ""
    for stop in "/?#":
        at = url.find(stop)
        if 0 <= at < colon:
            return ""
    return url[:colon].lower()


def is_safe_url(url: str | None) -> bool:
    """Allow only http(s), mailto and relative URLs: no ``javascript:``, ``vbscript:``, ``data:``…"""
    if url is None:
        return False
    scheme = url_scheme(url)
    return scheme == "" or scheme in _SAFE_SCHEMES


def _is_external(url: str) -> bool:
    return url.startswith("//") or url_scheme(url) in _EXTERNAL_SCHEMES


def _link_open(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    token = tokens[idx]
    href = token.attrGet("href")
    href = href if isinstance(href, str) else None
    safe = is_safe_url(href)
    env.setdefault("memo_links", []).append(safe)
    if not safe:
        return ""
    assert href is not None
    html = f'<a href="{escapeHtml(href)}"'
    title = token.attrGet("title")
    if isinstance(title, str) and title:
        html += f' title="{escapeHtml(title)}"'
    if _is_external(href):
        html += f' rel="{REL_EXTERNAL}"'
    return html + ">"


def _link_close(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    stack = env.get("memo_links")
    return "</a>" if stack and stack.pop() else ""


def _inside_link(env: dict[str, Any]) -> bool:
    return bool(env.get("memo_links"))


def _image(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    token = tokens[idx]
    alt = self.renderInlineAsText(token.children or [], options, env)
    src = token.attrGet("src")
    if not isinstance(src, str) or not is_safe_url(src):
        return escapeHtml(alt)
    signer: Signer | None = env.get("image_signer")
    if signer is not None and _is_external(src):
        src = env["base_url"] + signer.proxied(src)
    html = f'<img src="{escapeHtml(src)}" alt="{escapeHtml(alt)}"'
    title = token.attrGet("title")
    if isinstance(title, str) and title:
        html += f' title="{escapeHtml(title)}"'
    return html + ">"


def _escape_inline_html(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    return escapeHtml(tokens[idx].content)


def _escape_block_html(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    return "<p>" + escapeHtml(tokens[idx].content.rstrip("\n")) + "</p>\n"


def _tag(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    tag = tokens[idx].content
    if _inside_link(env):  # no nested anchors
        return escapeHtml("#" + tag)
    href = f"{env['base_url']}/explore?tag={quote(tag, safe='')}"
    return f'<a class="tag" href="{escapeHtml(href)}">{escapeHtml("#" + tag)}</a>'


def _mention(self, tokens: Sequence[Token], idx: int, options, env: dict[str, Any]) -> str:
    name = tokens[idx].content
    if _inside_link(env):
        return escapeHtml("@" + name)
    href = escapeHtml(f"{env['base_url']}/u/{quote(name.lower(), safe='')}")
    return f'<a class="mention" href="{href}">{escapeHtml("@" + name)}</a>'


def _renderInlineAsText(self, tokens: Sequence[Token], options, env: dict[str, Any]) -> str:
    """Image alt text: like markdown-it's own, but keeping ``#tag``, ``@name`` and code text."""
    parts: list[str] = []
    for token in tokens:
        if token.type in ("text", "code_inline"):
            parts.append(token.content)
        elif token.type == TAG_TOKEN:
            parts.append("#" + token.content)
        elif token.type == MENTION_TOKEN:
            parts.append("@" + token.content)
        elif token.type == "image":
            parts.append(self.renderInlineAsText(token.children or [], options, env))
        elif token.type in ("softbreak", "hardbreak"):
            parts.append("\n")
    return "".join(parts)


def _build_renderer():
    md = build_parser()
    md.add_render_rule("link_open", _link_open)
    md.add_render_rule("link_close", _link_close)
    md.add_render_rule("image", _image)
    md.add_render_rule("html_inline", _escape_inline_html)
    md.add_render_rule("html_block", _escape_block_html)
    md.add_render_rule(TAG_TOKEN, _tag)
    md.add_render_rule(MENTION_TOKEN, _mention)
    md.renderer.renderInlineAsText = _renderInlineAsText.__get__(md.renderer)  # type: ignore[method-assign]
    return md


_MD = _build_renderer()


@lru_cache(maxsize=CACHE_SIZE)
def render_html(content: str, base_url: str = "", image_signer: Signer | None = None) -> str:
    """Render ``content`` to HTML that is safe to embed in a page or feed.

    Tag and mention links start with ``base_url``; with an ``image_signer``, external images point
    at the image proxy (also under ``base_url``) instead of their hosts.
    """
    return _MD.render(content, {"base_url": base_url.rstrip("/"), "image_signer": image_signer})
