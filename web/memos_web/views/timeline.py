"""List pages: home, explore, archived and profiles, with the sidebar's filters and stats."""

from __future__ import annotations

import calendar
import datetime as dt
from collections import Counter
from typing import Any

from aiohttp import web

from memos_core import context_of, viewer_of
from memos_core.services import memos as memo_service
from memos_core.services import shortcuts as shortcut_service
from memos_core.services import stats as stats_service
from memos_core.services import users as users_service

from ..filters import Filters
from ..render import memo_views, render, render_fragment, viewer_zone, zone_of
from ..security import signed_in, wants_fragment

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
    filters = Filters(request.query, tz)
    shortcuts: list[dict[str, Any]] = []
    if viewer is not None:
        shortcuts = await shortcut_service.list_shortcuts(ctx, viewer, viewer.user.username)
    shortcut_filter, active_shortcut = _shortcut_filter(shortcuts, request.query.get("shortcut", ""))
    expression = filters.expression(base_filter, shortcut_filter)
    data = await memo_service.list_memos(
        ctx,
        viewer,
        page_size=PAGE_SIZE,
        page_token=request.query.get("pageToken", ""),
        state=state,
        order_by="pinned desc, create_time desc" if scope in ("home", "profile") else "create_time desc",
        filter=expression,
    )
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
    }
    if wants_fragment(request):
        return await render_fragment(request, "fragments/memo_page.html", context)
    if stats_user is not None:
        stats = await stats_service.get_user_stats(ctx, viewer, stats_user)
    else:
        stats = _merge(await stats_service.list_all_user_stats(ctx, viewer))
    context["tags"] = sorted(stats["tagCount"].items(), key=lambda kv: (-kv[1], kv[0]))
    context["tag_tree"] = tag_tree(stats["tagCount"])
    context["calendar"] = month_calendar(stats["memoCreatedTimestamps"], filters, request.path, tz)
    context["memo_types"] = stats["memoTypeStats"]
    context.update(extra or {})
    return await render(request, template, context)


def _merge(all_stats: dict[str, Any]) -> dict[str, Any]:
    tags: Counter[str] = Counter()
    types: Counter[str] = Counter()
    created: list[str] = []
    for s in all_stats["stats"]:
        tags.update(s["tagCount"])
        types.update(s["memoTypeStats"])
        created += s["memoCreatedTimestamps"]
    return {"tagCount": dict(tags), "memoTypeStats": dict(types), "memoCreatedTimestamps": created}


def tag_tree(counts: dict[str, int]) -> list[dict[str, Any]]:
    """``{"a/b": 2, "a": 1}`` -> nested nodes ``{"name", "path", "count", "children"}`` for the tree view."""
    root: dict[str, Any] = {"children": {}}
    for tag, count in counts.items():
        node = root
        parts = tag.split("/")
        for i, part in enumerate(parts):
            node = node["children"].setdefault(
                part, {"name": part, "path": "/".join(parts[: i + 1]), "count": 0, "children": {}}
            )
        node["count"] += count

    def listed(node: dict[str, Any]) -> list[dict[str, Any]]:
        return [
            {**child, "children": listed(child)}
            for _, child in sorted(node["children"].items(), key=lambda kv: kv[0].lower())
        ]

    return listed(root)


def month_calendar(timestamps: list[str], filters: Filters, path: str, tz: str) -> dict[str, Any]:
    """A month grid of memo counts per day; the month shown is ``?month=`` or the current one."""
    zone = zone_of(tz)
    per_day: Counter[str] = Counter()
    for ts in timestamps:
        t = dt.datetime.fromisoformat(ts.replace("Z", "+00:00")).astimezone(zone)
        per_day[t.strftime("%Y-%m-%d")] += 1
    today = dt.datetime.now(zone).date()
    shown = filters.get("month") or (filters.get("day") or today.isoformat())[:7]
    try:
        year, month = (int(x) for x in shown.split("-"))
        first = dt.date(year, month, 1)
    except ValueError:
        first = today.replace(day=1)
    prev_month = (first - dt.timedelta(days=1)).replace(day=1)
    next_month = (first + dt.timedelta(days=32)).replace(day=1)
    busiest = max(per_day.values(), default=0)
    weeks = []
    for week in calendar.Calendar(firstweekday=6).monthdatescalendar(first.year, first.month):
        cells = []
        for day in week:
            key = day.isoformat()
            count = per_day.get(key, 0)
            level = 0 if not count else min(4, 1 + (count * 4 - 1) // max(busiest, 1))
            cells.append(
                {
                    "date": key,
                    "day": day.day,
                    "count": count,
                    "level": level,
                    "outside": day.month != first.month,
                    "today": day == today,
                    "selected": filters.get("day") == key,
                    "url": filters.url(path, add=("day", key)),
                }
            )
        weeks.append(cells)
    return {
        "title": first.strftime("%B %Y"),
        "weeks": weeks,
        "prev_url": f"{path}?month={prev_month:%Y-%m}",
        "next_url": f"{path}?month={next_month:%Y-%m}",
        "weekdays": ["Su", "Mo", "Tu", "We", "Th", "Fr", "Sa"],
    }


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
