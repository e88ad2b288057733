"""How instance settings style every page: tag colours (the TAGS setting) and the logo.

Tag colours are drawn without inline styles (the page's Content-Security-Policy forbids ``style``
attributes): each coloured tag pattern gets a class (``tag-color-<n>``, ``n`` its position among
the setting's sorted patterns) and the colours are served as a generated stylesheet,
``/web/tags.css``. Tag links on cards and in the
sidebar carry the class of the first pattern their tag fully matches (patterns are anchored, as
upstream's clients match them).
"""

from __future__ import annotations

import dataclasses
import hashlib
import html
import re
from collections.abc import Callable
from typing import Any
from urllib.parse import unquote

from memos_core.services import instance

#: Uploaded logo types, kept in the GENERAL setting as a data URI and served by ``/web/logo``.
LOGO_TYPES = frozenset({"image/png", "image/jpeg", "image/gif", "image/webp"})
DATA_URI = re.compile(r"^data:(image/[a-z0-9.+-]+);base64,(.*)$", re.DOTALL)


def logo_src(logo: str) -> str:
    """Where pages load the logo from: an uploaded image through ``/web/logo`` (versioned by its
    content), so pages stay small; a URL (or another data URI, set through the API) as it is."""
    m = DATA_URI.match(logo or "")
    if m is not None and m.group(1) in LOGO_TYPES:
        return "/web/logo?v=" + hashlib.sha256(logo.encode()).hexdigest()[:10]
    return logo or ""


@dataclasses.dataclass(frozen=True)
class ColorRule:
    index: int
    pattern: re.Pattern[str]
    rgb: tuple[int, int, int]
    alpha: float | None  # None: opaque (google.type.Color without alpha)

    @property
    def css_class(self) -> str:
        return f"tag-color-{self.index}"


def channel(value: Any) -> int:
    """A google.type.Color component (0 to 1) as 0 to 255."""
    try:
        f = float(value or 0)
    except (TypeError, ValueError):
        f = 0.0
    return round(min(max(f, 0.0), 1.0) * 255)


def rules(tags_setting: dict[str, Any]) -> list[ColorRule]:
    """The coloured patterns of a TAGS setting (as ``instance.get_setting`` reads it), in order."""
    out = []
    for index, (pattern, meta) in enumerate(sorted((tags_setting.get("tags") or {}).items())):
        color = meta.get("backgroundColor") if isinstance(meta, dict) else None
        if not isinstance(color, dict):
            continue
        try:
            compiled = re.compile(pattern)
        except re.error:
            continue  # validated on write; an old stored value must not break the page
        alpha = color.get("alpha")
        out.append(
            ColorRule(
                index,
                compiled,
                (channel(color.get("red")), channel(color.get("green")), channel(color.get("blue"))),
                None if alpha is None else min(max(float(alpha), 0.0), 1.0),
            )
        )
    return out


def class_for(color_rules: list[ColorRule], tag: str) -> str:
    """The class of the first pattern ``tag`` fully matches, else ``""``."""
    return next((r.css_class for r in color_rules if r.pattern.fullmatch(tag)), "")


def classifier(color_rules: list[ColorRule]) -> Callable[[str], str]:
    """``class_for`` bound to ``color_rules``, for templates."""
    return lambda tag: class_for(color_rules, tag)


def _luminance(rgb: tuple[int, int, int]) -> float:
    def linear(c: int) -> float:
        s = c / 255
        return s / 12.92 if s <= 0.04045 else ((s + 0.055) / 1.055) ** 2.4

    r, g, b = (linear(c) for c in rgb)
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def text_color(rgb: tuple[int, int, int]) -> str:
    """Black or white, whichever contrasts more with ``rgb`` (WCAG contrast ratio)."""
    lum = _luminance(rgb)
    return "#000000" if (lum + 0.05) / 0.05 >= 1.05 / (lum + 0.05) else "#ffffff"


def stylesheet(color_rules: list[ColorRule]) -> str:
    """The CSS for ``color_rules``. A translucent colour keeps the theme's text colour; an opaque
    (or nearly) one gets black or white text, whichever is readable on it."""
    lines = ["/* Tag colours of this instance (Settings > Tags). */"]
    for r in color_rules:
        red, green, blue = r.rgb
        alpha = 1.0 if r.alpha is None else r.alpha
        decl = f"background-color: rgb({red} {green} {blue} / {alpha:g});"
        if alpha >= 0.6:
            decl += f" color: {text_color(r.rgb)};"
        lines.append(f".{r.css_class}, .markdown a.{r.css_class} {{ {decl} border-radius: 6px; padding: 0 .25rem; }}")
    return "\n".join(lines) + "\n"


_TAG_LINK = re.compile(r'<a class="tag" href="([^"]*?\?tag=([^"&]*))">')


def color_tag_links(markup: str, color_rules: list[ColorRule]) -> str:
    """The markdown renderer's tag links (``<a class="tag" href="...?tag=NAME">``) with their colour
    class added."""
    if not color_rules:
        return markup

    def add(m: re.Match[str]) -> str:
        css_class = class_for(color_rules, unquote(html.unescape(m.group(2))))
        return f'<a class="tag {css_class}" href="{m.group(1)}">' if css_class else m.group(0)

    return _TAG_LINK.sub(add, markup)


async def page_context(store: Any, general: dict[str, Any], memo_setting: dict[str, Any]) -> dict[str, Any]:
    """What every page's frame draws from the instance settings: the tag colour stylesheet and
    classes, the logo, and whether a double-click on a memo edits it."""
    color_rules = rules(await instance.get_setting(store, "TAGS"))
    return {
        "tag_class": classifier(color_rules),
        "tags_css": bool(color_rules),
        "logo_src": logo_src((general.get("customProfile") or {}).get("logoUrl") or ""),
        "dblclick_edit": bool(memo_setting.get("enableDoubleClickEdit")),
    }
