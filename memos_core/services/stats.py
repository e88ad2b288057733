"""User statistics (SPEC §5.4): GetUserStats and ListAllUserStats.

The source set is NORMAL, non-comment memos the caller may read. For one user that is PUBLIC for
anonymous callers, PUBLIC + PROTECTED for anyone else signed in (admins included: no bypass) and
everything for the user themself, which is exactly :func:`access.visible_clause` narrowed to that
creator; ListAllUserStats uses the same clause over all creators.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ..api.v1.jsonutil import format_time
from ..store import stats as store
from ..store import tables
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
        "memoCreatedTimestamps": [format_time(ts) for ts in stats.created],
        # Upstream's odd format: the username with the numeric memo id (SPEC §5.4).
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
