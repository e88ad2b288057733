"""User statistics, as upstream answers them: GetUserStats and ListAllUserStats.

The source set is NORMAL, non-comment memos the caller may read. For one user that is PUBLIC for
anonymous callers, PUBLIC + PROTECTED for anyone else signed in (admins included: no bypass) and
everything for the user themself, which is exactly :func:`access.visible_clause` narrowed to that
creator; ListAllUserStats uses the same clause over all creators.
"""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import TYPE_CHECKING, Any

from ..errors import invalid
from ..store import stats as store
from ..store import tables
from ..wire import format_times
from . import access
from .users import get_user

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context


def stats_json(username: str, stats: store.UserStats | None) -> dict[str, Any]:
    """A ``UserStats`` message; every field emitted, even for a user without visible memos."""
    stats = stats or store.UserStats(username=username)
    return {
        "name": f"users/{username}/stats",
        "memoTypeStats": dict(stats.types),
        "tagCount": dict(stats.tags),
        "memoCreatedTimestamps": format_times(stats.created),
        # Upstream's odd format: the username with the numeric memo id.
        "pinnedMemos": [f"users/{username}/memos/{memo_id}" for memo_id in stats.pinned_ids],
        "totalMemoCount": stats.total,
    }


async def get_user_stats(ctx: Context, viewer: Principal | None, username: str) -> dict[str, Any]:
    user = await get_user(ctx, username)
    where = [tables.memo.c.creator_id == user.id, access.visible_clause(viewer)]
    found = await store.user_stats(ctx.store, where)
    return stats_json(user.username, found.get(user.id))


async def list_all_user_stats(ctx: Context, viewer: Principal | None) -> dict[str, Any]:
    """Stats of every user with at least one memo visible to the caller (order unspecified upstream;
    here by user id, so clients see a stable order)."""
    found = await store.user_stats(ctx.store, [access.visible_clause(viewer)])
    return {"stats": [stats_json(s.username, s) for _, s in sorted(found.items())]}


def _source(viewer: Principal | None, user_id: int | None, shared_only: bool = False) -> list[Any]:
    where = [access.visible_clause(viewer)]
    if user_id is not None:
        where.append(tables.memo.c.creator_id == user_id)
    if shared_only:  # what Explore lists: nobody's PRIVATE memos, the viewer's own included
        where.append(tables.memo.c.visibility.in_([access.PUBLIC, access.PROTECTED]))
    return where


async def memo_summary(
    ctx: Context, viewer: Principal | None, username: str | None = None, *, shared_only: bool = False
) -> dict[str, Any]:
    """What a sidebar shows: ``tagCount``, ``memoTypeStats`` and ``totalMemoCount`` of the memos
    the stats above count, for one user or (``username=None``) everyone, summed over creators.

    The same rows as :func:`get_user_stats`, from the grouped statements only: it never reads a
    row per memo, however many there are.
    """
    user_id = (await get_user(ctx, username)).id if username is not None else None
    found = await store.user_stats(ctx.store, _source(viewer, user_id, shared_only), timestamps=False)
    tags: Counter[str] = Counter()
    types: Counter[str] = Counter(dict.fromkeys(store.TYPE_FLAGS, 0))
    for stats in found.values():
        tags.update(stats.tags)
        types.update(stats.types)
    return {
        "tagCount": dict(tags),
        "memoTypeStats": dict(types),
        "totalMemoCount": sum(s.total for s in found.values()),
    }


#: The longest period :func:`memo_day_counts` answers for (a year view, with room to spare).
MAX_DAYS = 400


def offset_segments(zone: dt.tzinfo, start: int, end: int) -> list[tuple[int | None, int]]:
    """The UTC offset of ``zone`` over ``[start, end)``: ``(until, offset)`` pairs in time order,
    the last ``until`` being ``None``. Changes are found day by day, then to the second."""

    def offset(ts: int) -> int:
        delta = dt.datetime.fromtimestamp(ts, zone).utcoffset()
        return int(delta.total_seconds()) if delta is not None else 0

    segments: list[tuple[int | None, int]] = []
    current, t = offset(start), start
    while t < end:
        step = min(t + 86400, end)
        if offset(step) == current:
            t = step
            continue
        low, high = t, step  # offset(low) == current != offset(high): find the first changed second
        while high - low > 1:
            mid = (low + high) // 2
            low, high = (mid, high) if offset(mid) == current else (low, mid)
        segments.append((high, current))
        current, t = offset(high), high
    segments.append((None, current))
    return segments


async def memo_day_counts(
    ctx: Context,
    viewer: Principal | None,
    *,
    start: dt.date,
    end: dt.date,
    zone: dt.tzinfo,
    username: str | None = None,
    shared_only: bool = False,
) -> dict[str, int]:
    """Memos per local day (``{"2026-12-06": 3}``, days without memos left out) from ``start`` up
    to ``end`` (exclusive) in ``zone``: the memos :func:`get_user_stats` counts (one user's, or
    everyone's for ``username=None``), grouped by day in SQL. A calendar draws from this instead of
    one timestamp per memo."""
    if not start < end or (end - start).days > MAX_DAYS:
        raise invalid(f"the period must be 1 to {MAX_DAYS} days long")
    user_id = (await get_user(ctx, username)).id if username is not None else None
    first = int(dt.datetime.combine(start, dt.time(), zone).timestamp())
    last = int(dt.datetime.combine(end, dt.time(), zone).timestamp())
    segments = offset_segments(zone, first, last)
    return await store.memo_day_counts(ctx.store, _source(viewer, user_id, shared_only), first, last, segments)


async def instance_stats(ctx: Context, viewer: Principal | None) -> dict[str, Any]:
    """Instance totals for administrators (a memos-py extension: upstream has no instance-stats RPC).

    Counts are of rows, not of what anyone may read; comments are counted apart from memos. Int64
    values are JSON strings, as protojson writes them.
    """
    access.check_admin(viewer)
    totals = await store.instance_stats(ctx.store)
    memo_counts: dict[str, dict[str, int]] = {}
    for (row_status, visibility), n in sorted(totals.memos.items()):
        memo_counts.setdefault(row_status, {})[visibility] = n
    return {
        "name": "instance/stats",
        "userCount": sum(totals.users.values()),
        "userRoleCounts": dict(sorted(totals.users.items())),
        "archivedUserCount": totals.archived_users,
        "memoCount": sum(n for (row_status, _), n in totals.memos.items() if row_status == access.NORMAL),
        "archivedMemoCount": sum(n for (row_status, _), n in totals.memos.items() if row_status == access.ARCHIVED),
        "memoVisibilityCounts": memo_counts,
        "commentCount": totals.comments,
        "attachmentCount": totals.attachments,
        "attachmentSizeBytes": str(totals.attachment_bytes),
    }
