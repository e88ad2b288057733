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
