"""The list pages' sidebar: calendar (month and year), tags (flat or tree), shortcuts.

Its numbers come from grouped SQL in the stats service (tag and type counts, memos per day), never
from loading the memos. Shortcuts are created, edited and deleted through plain forms posting
under ``/web/shortcuts``; a refused one (say an invalid filter) comes back as the same form with
the message and what was typed, or as JSON ``{"message"}`` for the page's script.
"""

from __future__ import annotations

import calendar
import datetime as dt
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from aiohttp import web

from memos_core import ApiError, context_of, viewer_of
from memos_core.services import instance as instance_service
from memos_core.services import shortcuts as shortcut_service
from memos_core.services import stats as stats_service

from .. import i18n
from ..filters import Filters
from ..i18n import gettext as _
from ..render import render, zone_of
from ..security import signed_in, wants_fragment
from ..urls import safe_redirect

routes = web.RouteTableDef()

#: The tag list's mode ("flat" or "tree"), remembered per browser.
TAG_MODE_COOKIE = "memos_tags"
TAG_MODES = ("flat", "tree")


def week_start(offset: int) -> tuple[calendar.Calendar, list[dict[str, str]]]:
    """A calendar whose weeks begin on the instance's week start day (``weekStartDayOffset``,
    0 for Sunday to 6 for Saturday) and the weekday names in that order, in the viewer's language
    (``{"short", "narrow", "wide"}``)."""
    offset = offset if isinstance(offset, int) and 0 <= offset <= 6 else 0
    first = (offset - 1) % 7  # Python's and Babel's weekdays start on Monday
    return calendar.Calendar(firstweekday=first), i18n.weekday_names(first)


async def sidebar_context(
    request: web.Request, filters: Filters, *, stats_user: str | None, shared_only: bool = False
) -> dict[str, Any]:
    """Everything the sidebar draws for a list page: tags, memo types and the calendar, counted
    over ``stats_user``'s memos (or everyone's) as the viewer may see them (``shared_only``: not
    PRIVATE ones, as Explore lists)."""
    ctx = context_of(request)
    viewer = viewer_of(request)
    summary = await stats_service.memo_summary(ctx, viewer, stats_user, shared_only=shared_only)
    zone = zone_of(filters.tz)
    today = dt.datetime.now(zone).date()

    async def counts(start: dt.date, end: dt.date) -> dict[str, int]:
        return await stats_service.memo_day_counts(
            ctx, viewer, start=start, end=end, zone=zone, username=stats_user, shared_only=shared_only
        )

    offset = (await instance_service.general(ctx.store))["weekStartDayOffset"]
    if request.query.get("calendar") == "year":
        cal = await year_calendar(counts, filters, request.path, today, request.query.get("year", ""), offset)
    else:
        cal = await month_calendar(counts, filters, request.path, today, offset)
    mode = request.cookies.get(TAG_MODE_COOKIE, "")
    return {
        "tags": sorted(summary["tagCount"].items(), key=lambda kv: (-kv[1], kv[0])),
        "tag_tree": tag_tree(summary["tagCount"]),
        "tag_mode": mode if mode in TAG_MODES else "flat",
        "calendar": cal,
        "memo_types": summary["memoTypeStats"],
    }


def tag_tree(counts: dict[str, int]) -> list[dict[str, Any]]:
    """``{"a/b": 2, "a": 1}`` -> nested nodes ``{"name", "path", "count", "children"}`` for the tree
    view; ``count`` is the memos tagged with exactly that path (a parent may have none itself)."""
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


def _with(url: str, **params: str) -> str:
    """``url`` with ``params`` added to its query."""
    return url + ("&" if "?" in url else "?") + urlencode(params)


def _level(count: int, busiest: int) -> int:
    """Shade 0 (no memos) to 4 (the busiest day of the period shown)."""
    return 0 if not count else min(4, 1 + (count * 4 - 1) // max(busiest, 1))


def _shown_month(filters: Filters, today: dt.date) -> dt.date:
    shown = filters.get("month") or (filters.get("day") or today.isoformat())[:7]
    try:
        year, month = (int(x) for x in shown.split("-")[:2])
        return dt.date(year, month, 1)
    except ValueError:
        return today.replace(day=1)


async def month_calendar(
    counts: Any, filters: Filters, path: str, today: dt.date, week_offset: int = 0
) -> dict[str, Any]:
    """A month grid of memo counts per day; the month shown is ``?month=`` (or ``?day=``'s) or this one."""
    first = _shown_month(filters, today)
    cal, weekdays = week_start(week_offset)
    grid = cal.monthdatescalendar(first.year, first.month)
    per_day = await counts(grid[0][0], grid[-1][-1] + dt.timedelta(days=1))
    busiest = max(per_day.values(), default=0)
    prev_month = (first - dt.timedelta(days=1)).replace(day=1)
    next_month = (first + dt.timedelta(days=32)).replace(day=1)
    weeks = []
    for week in grid:
        cells = []
        for day in week:
            key = day.isoformat()
            count = per_day.get(key, 0)
            cells.append(
                {
                    "date": key,
                    "day": day.day,
                    "count": count,
                    "level": _level(count, busiest),
                    "outside": day.month != first.month,
                    "today": day == today,
                    "selected": filters.get("day") == key,
                    "url": filters.url(path, add=("day", key)),
                }
            )
        weeks.append(cells)
    return {
        "view": "month",
        "title": i18n.month_label(first),
        "weeks": weeks,
        "prev_url": f"{path}?month={prev_month:%Y-%m}",
        "next_url": f"{path}?month={next_month:%Y-%m}",
        "prev_label": _("Previous month"),
        "next_label": _("Next month"),
        "weekdays": weekdays,
        "toggle_url": _with(filters.url(path), calendar="year", year=str(first.year)),
    }


async def year_calendar(
    counts: Any, filters: Filters, path: str, today: dt.date, wanted: str, week_offset: int = 0
) -> dict[str, Any]:
    """Twelve small months shaded by memos per day (one grouped query for the whole year). Day links
    filter to that day and keep the year view; ``?year=`` picks the year, else the filtered one."""
    year = int(wanted) if wanted.isdigit() and 1970 <= int(wanted) <= 9998 else _shown_month(filters, today).year
    per_day = await counts(dt.date(year, 1, 1), dt.date(year + 1, 1, 1))
    busiest = max(per_day.values(), default=0)
    cal, weekdays = week_start(week_offset)
    months = []
    for month in range(1, 13):
        weeks = []
        for week in cal.monthdatescalendar(year, month):
            cells = []
            for day in week:
                if day.month != month:
                    cells.append(None)
                    continue
                key = day.isoformat()
                count = per_day.get(key, 0)
                cells.append(
                    {
                        "date": key,
                        "count": count,
                        "level": _level(count, busiest),
                        "today": day == today,
                        "selected": filters.get("day") == key,
                        "url": _with(filters.url(path, add=("day", key)), calendar="year", year=str(year)),
                    }
                )
            weeks.append(cells)
        months.append({"title": i18n.month_label(dt.date(year, month, 1), with_year=False), "weeks": weeks})
    return {
        "view": "year",
        "title": str(year),
        "months": months,
        "total": sum(per_day.values()),
        "prev_url": _with(filters.url(path), calendar="year", year=str(year - 1)),
        "next_url": _with(filters.url(path), calendar="year", year=str(year + 1)),
        "prev_label": _("Previous year"),
        "next_label": _("Next year"),
        "weekdays": weekdays,
        "toggle_url": filters.url(path),
    }


# -- tag list mode ---------------------------------------------------------------------------------
@routes.post("/web/sidebar/tags", name="web.sidebar.tags")
async def tag_mode(request: web.Request) -> web.StreamResponse:
    """Remember the tag list's mode in a cookie and go back (a plain form, no script needed)."""
    form = await request.post()
    mode = str(form.get("mode", ""))
    response = web.HTTPSeeOther(safe_redirect(str(form.get("next", "")), "/home"))
    if mode in TAG_MODES:
        response.set_cookie(
            TAG_MODE_COOKIE, mode, path="/", max_age=400 * 86400, samesite="Lax", httponly=True, secure=request.secure
        )
    raise response


# -- shortcuts -------------------------------------------------------------------------------------
def _id_of(shortcut: dict[str, Any]) -> str:
    return shortcut["name"].rsplit("/", 1)[-1]


def _back(next_url: str, *, select: str = "", drop: str = "") -> str:
    """Where a shortcut form returns: its page, showing ``select`` (a new shortcut) or no longer
    showing ``drop`` (a deleted one)."""
    target = safe_redirect(next_url, "/home")
    parts = urlsplit(target)
    if select:
        return f"{parts.path}?{urlencode({'shortcut': select})}"
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not (k == "shortcut" and v == drop)]
    return parts.path + (f"?{urlencode(query)}" if query else "")


async def _shortcut_form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    values = {k: form.get(k, "") for k in ("title", "filter", "next")}
    return {k: v if isinstance(v, str) else "" for k, v in values.items()}


async def _refused(
    request: web.Request, error: ApiError, form: dict[str, str], *, action: str, heading: str
) -> web.StreamResponse:
    """A refused shortcut: the message beside the form as it was typed (JSON for the script)."""
    if wants_fragment(request):
        return web.json_response({"message": error.message}, status=error.code.http_status)
    return await render(
        request,
        "shortcut_form.html",
        {"error": error.message, "form": form, "action": action, "heading": heading, "back": _back(form["next"])},
        status=error.code.http_status,
    )


def _done(request: web.Request, target: str, **extra: Any) -> web.StreamResponse:
    if wants_fragment(request):
        return web.json_response({"redirect": target, **extra})
    raise web.HTTPSeeOther(target)


@routes.post("/web/shortcuts", name="web.shortcut.create")
async def create_shortcut(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    form = await _shortcut_form(request)
    body = {"title": form["title"].strip(), "filter": form["filter"].strip()}
    try:
        created = await shortcut_service.create_shortcut(context_of(request), viewer, viewer.user.username, body)
    except ApiError as e:
        return await _refused(request, e, form, action="/web/shortcuts", heading=_("New shortcut"))
    return _done(request, _back(form["next"], select=_id_of(created)), shortcut=created)


@routes.post("/web/shortcuts/{id}", name="web.shortcut.update")
async def update_shortcut(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    shortcut_id = request.match_info["id"]
    form = await _shortcut_form(request)
    body = {"title": form["title"].strip(), "filter": form["filter"].strip()}
    try:
        updated = await shortcut_service.update_shortcut(
            context_of(request), viewer, viewer.user.username, shortcut_id, body, ["title", "filter"]
        )
    except ApiError as e:
        if e.code.http_status == 404:
            raise
        return await _refused(request, e, form, action=f"/web/shortcuts/{shortcut_id}", heading=_("Edit shortcut"))
    return _done(request, _back(form["next"]), shortcut=updated)


@routes.post("/web/shortcuts/{id}/delete", name="web.shortcut.delete")
async def delete_shortcut(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    shortcut_id = request.match_info["id"]
    form = await _shortcut_form(request)
    await shortcut_service.delete_shortcut(context_of(request), viewer, viewer.user.username, shortcut_id)
    return _done(request, _back(form["next"], drop=shortcut_id), deleted=True)
