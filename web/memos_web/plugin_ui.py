"""What plugins add to the pages, through the ``memos_web_*`` hooks of ``memos_core.hookspecs``.

The hooks are called through the core's context (``ctx.all``), which awaits async implementations
in pluggy's order. Everything a plugin answers is checked here before a template sees it: URLs the
page would load must be on this site (the CSP allows only 'self', and a refused stylesheet would
only be a console error), links must be http(s) or site paths (never ``javascript:``), HTML is
drawn as it is only when it is ``Markup``. A refused item is dropped and logged, never drawn.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from aiohttp import web
from markupsafe import Markup, escape

from memos_core import context_of, viewer_of

log = logging.getLogger(__name__)

_SECTION_ID = re.compile(r"[a-z][a-z0-9-]{0,63}")
_WARNED = web.RequestKey("memos_web_plugin_warnings", set)


def _warn(request: web.Request, message: str, *args: Any) -> None:
    """Log a refused item once per page (not once per card)."""
    text = message % args
    warned = request.get(_WARNED)
    if warned is None:
        warned = request[_WARNED] = set()
    if text not in warned:
        warned.add(text)
        log.warning("%s", text)


def is_site_path(url: Any) -> bool:
    """A URL path on this site: one leading ``/``, not ``//host`` (protocol-relative) nor ``/\\host``
    (which browsers read as ``//host``)."""
    return isinstance(url, str) and url.startswith("/") and not url.startswith(("//", "/\\"))


def is_link(url: Any) -> bool:
    """Something a plain link may point to: a site path or an http(s) URL."""
    return is_site_path(url) or (isinstance(url, str) and url.lower().startswith(("http://", "https://")))


async def _call(request: web.Request, hook: str, **kwargs: Any) -> list[Any]:
    """The hook's answers; a plugin that raises is logged and its hook contributes nothing to this
    page, which still renders (a broken extension must not take the UI down with it)."""
    try:
        return await context_of(request).all(hook, request=request, **kwargs)
    except Exception:
        log.exception("%s failed; the page is drawn without its plugins' items", hook)
        return []


def _items(results: list[Any]) -> list[Any]:
    """The implementations' answers, flattened: each returned a list (or one item)."""
    out: list[Any] = []
    for result in results:
        if isinstance(result, list | tuple):
            out.extend(result)
        else:
            out.append(result)
    return out


def _label(item: Any) -> str:
    label = item.get("label") if isinstance(item, dict) else None
    return label.strip() if isinstance(label, str) else ""


async def css_urls(request: web.Request) -> list[str]:
    out: list[str] = []
    for url in _items(await _call(request, "memos_web_extra_css_urls")):
        if not is_site_path(url):
            _warn(request, "memos_web_extra_css_urls: dropped %r (only paths on this site, starting with '/')", url)
        elif url not in out:
            out.append(url)
    return out


async def js_urls(request: web.Request) -> list[dict[str, Any]]:
    """``[{"url", "module"}]``; a plain string is a classic (deferred) script."""
    out: list[dict[str, Any]] = []
    for item in _items(await _call(request, "memos_web_extra_js_urls")):
        script = {"url": item.get("url"), "module": bool(item.get("module"))} if isinstance(item, dict) else item
        url = script["url"] if isinstance(script, dict) else script
        if not is_site_path(url):
            _warn(request, "memos_web_extra_js_urls: dropped %r (only paths on this site, starting with '/')", item)
        elif all(s["url"] != url for s in out):
            out.append(script if isinstance(script, dict) else {"url": url, "module": False})
    return out


async def nav_items(request: web.Request) -> list[dict[str, Any]]:
    out = []
    for item in _items(await _call(request, "memos_web_nav_items")):
        href = item.get("href") if isinstance(item, dict) else None
        if not _label(item) or not is_link(href):
            _warn(request, "memos_web_nav_items: dropped %r (needs a label and an http(s) or site href)", item)
            continue
        out.append({"label": _label(item), "href": href})
    return out


async def page_context(request: web.Request) -> dict[str, Any]:
    """What ``base.html`` draws from plugins on every page."""
    return {
        "plugin_css": await css_urls(request),
        "plugin_js": await js_urls(request),
        "plugin_nav": await nav_items(request),
    }


def _html(value: Any) -> Markup:
    """Markup (anything with ``__html__``) as it is; anything else as escaped text."""
    return escape(value)


async def memo_actions(request: web.Request, memo: dict[str, Any]) -> list[dict[str, Any]]:
    """Menu items for one card: ``{"label", "href"}`` links or ``{"label", "action"}`` forms."""
    out = []
    for item in _items(await _call(request, "memos_web_memo_actions", memo=memo)):
        if not isinstance(item, dict) or not _label(item):
            _warn(request, "memos_web_memo_actions: dropped %r (needs a label)", item)
        elif "action" in item and is_site_path(item["action"]):
            out.append({"label": _label(item), "action": item["action"]})
        elif "action" not in item and is_link(item.get("href")):
            out.append({"label": _label(item), "href": item["href"]})
        else:
            _warn(
                request,
                "memos_web_memo_actions: dropped %r (action: a path on this site; href: a path or an http(s) URL)",
                item,
            )
    return out


async def memo_extra(request: web.Request, memo: dict[str, Any]) -> Markup:
    parts = await _call(request, "memos_web_memo_extra", memo=memo)
    return Markup("").join(_html(p) for p in parts if p != "")


async def settings_sections(request: web.Request, csrf_token: str, taken: set[str]) -> list[dict[str, Any]]:
    """Plugin sections for the settings page: ``{"id", "title", "html", "admin"}``; ``taken`` holds
    the ids the page already uses. Admin sections are left out for other viewers."""
    viewer = viewer_of(request)
    is_admin = bool(viewer and viewer.is_admin)
    seen = set(taken)
    out = []
    results = await _call(request, "memos_web_settings_sections", csrf_token=csrf_token)
    for item in _items(results):
        sid = item.get("id") if isinstance(item, dict) else None
        title = item.get("title") if isinstance(item, dict) else None
        if not isinstance(sid, str) or not _SECTION_ID.fullmatch(sid) or sid in seen:
            _warn(request, "memos_web_settings_sections: dropped %r (its id must be a new [a-z][a-z0-9-]* name)", item)
            continue
        if not isinstance(title, str) or not title.strip():
            _warn(request, "memos_web_settings_sections: dropped %r (it needs a title)", item)
            continue
        admin = bool(item.get("admin"))
        if admin and not is_admin:
            continue
        seen.add(sid)
        out.append({"id": sid, "title": title.strip(), "html": _html(item.get("html", "")), "admin": admin})
    return out
