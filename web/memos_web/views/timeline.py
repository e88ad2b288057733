"""List pages: home, explore, archived and profiles, with the sidebar's filters and stats."""

from __future__ import annotations

from typing import Any

from aiohttp import web

from memos_core import ApiError, context_of, viewer_of
from memos_core.services import memos as memo_service
from memos_core.services import shortcuts as shortcut_service
from memos_core.services import users as users_service

from ..filters import Filters
from ..render import memo_views, render, render_fragment, viewer_zone
from ..security import signed_in, wants_fragment
from . import sidebar

routes = web.RouteTableDef()
PAGE_SIZE = 16


@routes.get("/", name="web.root")
async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPFound("/home" if viewer_of(request) is not None else "/explore")


def _shortcut_filter(shortcuts: list[dict[str, Any]], wanted: str) -> tuple[str, dict[str, Any] | None]:
    for s in shortcuts:
        if wanted and s["name"].rsplit("/", 1)[-1] == wanted:
            return s["filter"], s
    return "", None


async def _list_page(
    request: web.Request,
    *,
    template: str,
    scope: str,
    base_filter: str = "",
    state: str = "NORMAL",
    stats_user: str | None = None,
    extra: dict[str, Any] | None = None,
) -> web.StreamResponse:
    ctx = context_of(request)
    viewer = viewer_of(request)
    tz = viewer_zone(request)
    modes = ctx.search_modes.labels()
    filters = Filters(request.query, tz, modes)
    shortcuts: list[dict[str, Any]] = []
    if viewer is not None:
        shortcuts = await shortcut_service.list_shortcuts(ctx, viewer, viewer.user.username)
    shortcut_filter, active_shortcut = _shortcut_filter(shortcuts, request.query.get("shortcut", ""))
    expression = filters.expression(base_filter, shortcut_filter)
    search_error = ""
    try:
        # With words in the search box, ListMemos' search: best match first (orderBy does not apply),
        # the chips' filter ANDed, each memo with its highlighted searchSnippet.
        data = await memo_service.list_memos(
            ctx,
            viewer,
            page_size=PAGE_SIZE,
            page_token=request.query.get("pageToken", ""),
            state=state,
            order_by="pinned desc, create_time desc" if scope in ("home", "profile") else "create_time desc",
            filter=expression,
            search=filters.search,
            search_mode=filters.search_mode,
        )
    except ApiError as e:
        # A search the service refuses (too long, too many terms) is the reader's to fix: the page
        # says why, with the search box and chips to change it. Anything else is the error page's.
        if filters.search is None or wants_fragment(request) or (e.status or e.code.http_status) != 400:
            raise
        data, search_error = {"memos": [], "nextPageToken": ""}, e.message
    memos = await memo_views(request, data["memos"])
    context = {
        "scope": scope,
        "memos": memos,
        "next_url": filters.url(request.path, add=("pageToken", data["nextPageToken"]))
        if data["nextPageToken"]
        else "",
        "filters": filters,
        "chips": filters.chips(request.path),
        "shortcuts": shortcuts,
        "active_shortcut": active_shortcut,
        "search_error": search_error,
        "search_modes": modes if len(modes) > 1 else {},
    }
    if wants_fragment(request):
        return await render_fragment(request, "fragments/memo_page.html", context)
    context.update(
        await sidebar.sidebar_context(request, filters, stats_user=stats_user, shared_only=scope == "explore")
    )
    context.update(extra or {})
    return await render(request, template, context, status=400 if search_error else 200)


@routes.get("/home", name="web.home")
async def home(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    return await _list_page(
        request,
        template="home.html",
        scope="home",
        base_filter=f"creator_id == {viewer.id}",
        stats_user=viewer.user.username,
    )


@routes.get("/explore", name="web.explore")
async def explore(request: web.Request) -> web.StreamResponse:
    visible = '["PUBLIC", "PROTECTED"]' if viewer_of(request) is not None else '["PUBLIC"]'
    return await _list_page(request, template="explore.html", scope="explore", base_filter=f"visibility in {visible}")


@routes.get("/archived", name="web.archived")
async def archived(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    return await _list_page(
        request,
        template="archived.html",
        scope="archived",
        state="ARCHIVED",
        base_filter=f"creator_id == {viewer.id}",
        stats_user=viewer.user.username,
    )


@routes.get("/u/{username}", name="web.profile")
async def profile(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    user = await users_service.get_user(ctx, request.match_info["username"])
    return await _list_page(
        request,
        template="profile.html",
        scope="profile",
        base_filter=f"creator_id == {user.id}",
        stats_user=user.username,
        extra={"profile": user},
    )
