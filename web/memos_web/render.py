"""Templates: the Jinja environment, what every page knows, and memos made ready to draw.

Pages get the API's own JSON shapes from the services and add only what drawing needs (rendered
HTML, the creator's user, which controls the viewer may use), so REST, MCP and the pages can never
disagree about what a memo is.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from typing import Any
from urllib.parse import unquote
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import aiohttp_jinja2
import jinja2
from aiohttp import web
from markupsafe import Markup

from memos_core import User, context_of, viewer_of
from memos_core.services import access, instance, notifications
from memos_core.services import memos as memo_service
from memos_core.services import users as users_service

from . import instance_style, plugin_ui, themes
from .assets import Assets
from .i18n import activate as use_language
from .security import csrf_token

JINJA = web.AppKey("memos_web_jinja", jinja2.Environment)
_PREFS = web.RequestKey("memos_web_prefs", dict)
ASSETS = web.AppKey("memos_web_assets", Assets)
TZ_COOKIE = "memos_tz"


@dataclasses.dataclass
class MemoView:
    """A memo as a card draws it: the API JSON plus what the page adds."""

    memo: dict[str, Any]
    html: Markup
    creator: User | None
    can_write: bool
    comments: list[dict[str, Any]]
    blurred_by: str = ""  # the tag whose TAGS setting asks to blur the content until clicked
    latest_comments: list[dict[str, Any]] = dataclasses.field(default_factory=list)
    actions: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # plugins' menu items
    extra: Markup = dataclasses.field(default_factory=Markup)  # plugins' content below the body

    @property
    def uid(self) -> str:
        return self.memo["name"].removeprefix("memos/")

    @property
    def url(self) -> str:
        return "/" + self.memo["name"]

    @property
    def search_snippet(self) -> Markup | None:
        """A search result's excerpt: the search service built it HTML-safe (content escaped piece by
        piece, ``<mark>`` around matches), so it goes into the page as markup as it is."""
        found = self.memo.get("searchSnippet")
        return Markup(found) if found else None

    def __getitem__(self, key: str) -> Any:
        return self.memo[key]


def setup(app: web.Application, assets: Assets) -> None:
    env = aiohttp_jinja2.setup(
        app,
        app_key=JINJA,
        loader=jinja2.PackageLoader("memos_web", "templates"),
        autoescape=jinja2.select_autoescape(("html", "xml"), default=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    app[ASSETS] = assets
    env.globals["asset"] = assets.url
    env.filters["when"] = format_when
    env.filters["iso"] = lambda t: t
    env.filters["initial"] = lambda name: (name or "?")[:1].upper()
    env.globals["tag_class"] = lambda tag: ""  # pages get the TAGS setting's (instance_style.page_context)


def format_when(rfc3339: str, tz: str = "UTC") -> str:
    """``2026-12-06T09:30:00Z`` -> ``2026-12-06 09:30`` in the viewer's zone."""
    try:
        t = dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return rfc3339
    return t.astimezone(zone_of(tz)).strftime("%Y-%m-%d %H:%M")


def zone_of(name: str) -> dt.tzinfo:
    try:
        return ZoneInfo(name) if name else dt.UTC
    except (ZoneInfoNotFoundError, ValueError):
        return dt.UTC


def viewer_zone(request: web.Request) -> str:
    """The viewer's IANA time zone, as the page's script reported it (a cookie), else UTC."""
    name = unquote(request.cookies.get(TZ_COOKIE, ""))  # the script percent-encodes the slash
    return name if name and isinstance(zone_of(name), ZoneInfo) else "UTC"


async def user_preferences(request: web.Request) -> dict[str, Any]:
    """The viewer's GENERAL setting (language, theme, default visibility), read once per request."""
    viewer = viewer_of(request)
    if viewer is None:
        return dict(users_service.GENERAL_DEFAULT)
    if _PREFS not in request:
        _, value = await users_service.get_user_setting(context_of(request), viewer, viewer.user.username, "GENERAL")
        request[_PREFS] = value.get("generalSetting", value)
    return request[_PREFS]


async def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, *, status: int = 200
) -> web.Response:
    """Render a whole page with what every page knows (viewer, instance, theme, CSRF token)."""
    ctx = context_of(request)
    store = ctx.store
    viewer = viewer_of(request)
    general = await instance.general(store)
    memo_setting = await instance.memo_related(store)
    prefs = await user_preferences(request)
    if viewer is not None:
        theme = themes.from_setting(prefs.get("theme"))
    else:
        theme = themes.from_cookie(request.cookies.get(themes.THEME_COOKIE))
    data = {
        "request": request,
        "lang": await use_language(request),
        "viewer": viewer.user if viewer else None,
        "is_admin": bool(viewer and viewer.is_admin),
        "csrf_token": csrf_token(request),
        "instance": general,
        "instance_name": (general.get("customProfile") or {}).get("title") or "Memos",
        "theme": theme,
        "theme_colors": themes.COLORS,
        "tz": viewer_zone(request),
        "path": request.path,
        "prefs": prefs,
        "unread": 0,
        "reaction_choices": memo_setting.get("reactions", []),
    }
    data.update(await instance_style.page_context(store, general, memo_setting))
    if viewer is not None:
        data["unread"] = await unread_count(request)
    data.update(await plugin_ui.page_context(request))
    data.update(context or {})
    response = aiohttp_jinja2.render_template(template, request, data, app_key=JINJA, status=status)
    response.enable_compression()
    return response


async def render_fragment(request: web.Request, template: str, context: dict[str, Any]) -> web.Response:
    """A piece of a page for the page's script to swap in (same template macros, no layout)."""
    viewer = viewer_of(request)
    data = {
        "request": request,
        "viewer": viewer.user if viewer else None,
        "is_admin": bool(viewer and viewer.is_admin),
        "csrf_token": csrf_token(request),
        "lang": await use_language(request),
        "tz": viewer_zone(request),
        "path": request.path,
        "reaction_choices": (await instance.memo_related(context_of(request).store)).get("reactions", []),
    }
    data.update(context)
    response = aiohttp_jinja2.render_template(template, request, data, app_key=JINJA)
    response.enable_compression()
    return response


async def unread_count(request: web.Request) -> int:
    return await notifications.unread_count(context_of(request), viewer_of(request))


_ALIGN_STYLE = re.compile(r' style="text-align:(left|right|center)"')
_TAG_HREF = 'href="/explore?tag='
_LIST_PAGES = ("/home", "/explore", "/archived")


def tag_base(request: web.Request) -> str:
    """Where a memo's tag links lead: the list being read (so a private memo's tag filters Home,
    where it is, rather than Explore, where it is not), else Home or Explore."""
    path = request.path
    if path in _LIST_PAGES or path.startswith("/u/"):
        return path
    return "/home" if viewer_of(request) is not None else "/explore"


def for_pages(html: str, tags_to: str, tag_colors: list[instance_style.ColorRule] | None = None) -> str:
    """The markdown plugin's HTML fitted to the pages: table alignment as classes (the CSP allows
    no inline style), tag links filtering ``tags_to`` and coloured by the TAGS setting."""
    html = _ALIGN_STYLE.sub(r' class="align-\1"', html)
    html = instance_style.color_tag_links(html, tag_colors or [])
    if tags_to != "/explore":
        html = html.replace(_TAG_HREF, f'href="{tags_to}?tag=')
    return html


async def memo_views(
    request: web.Request, memos: list[dict[str, Any]], *, comment_previews: bool = True
) -> list[MemoView]:
    """Draw-ready memos: markdown rendered by the markdown plugin, creators in one query, and (for
    lists) the newest comments of each memo in one more."""
    ctx = context_of(request)
    viewer = viewer_of(request)
    previews: dict[str, list[dict[str, Any]]] = {}
    if comment_previews and memos:
        previews = await memo_service.latest_comments(ctx, viewer, [m["name"] for m in memos])
    usernames = sorted(
        {m["creator"].removeprefix("users/") for m in memos}
        | {c["creator"].removeprefix("users/") for cs in previews.values() for c in cs}
    )
    creators = {u.username: u for u in await users_service.batch_get_users(ctx, usernames)}
    tags_setting = await instance.get_setting(ctx.store, "TAGS")
    blur, tag_colors = blur_patterns(tags_setting), instance_style.rules(tags_setting)
    tags_to = tag_base(request)
    out = []
    for memo in memos:
        creator = memo["creator"].removeprefix("users/")
        html = await ctx.first("memos_render_markdown", content=memo["content"], app=ctx.app, base_url="")
        comments = [
            r
            for r in memo.get("relations", [])
            if r.get("type") == "COMMENT" and r["relatedMemo"]["name"] == memo["name"]
        ]
        out.append(
            MemoView(
                memo=memo,
                html=Markup(for_pages(html or "", tags_to, tag_colors)),
                creator=creators.get(creator),
                can_write=access.may_write(viewer, creator),
                comments=comments,
                latest_comments=[
                    {**c, "author": creators.get(c["creator"].removeprefix("users/"))}
                    for c in previews.get(memo["name"], [])
                ],
                blurred_by=next((t for t in memo.get("tags", []) if any(p.fullmatch(t) for p in blur)), ""),
                actions=await plugin_ui.memo_actions(request, memo),
                extra=await plugin_ui.memo_extra(request, memo),
            )
        )
    return out


def blur_patterns(tags_setting: dict[str, Any]) -> list[re.Pattern[str]]:
    """The TAGS setting's patterns whose memos are blurred until clicked (anchored, as clients do)."""
    out = []
    for pattern, meta in (tags_setting.get("tags") or {}).items():
        if isinstance(meta, dict) and meta.get("blurContent"):
            try:
                out.append(re.compile(pattern))
            except re.error:
                continue  # validated on write; an old stored value must not break the page
    return out
