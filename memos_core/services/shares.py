"""Memo shares: bearer tokens that let anyone read one memo, whatever its visibility.

Managing a memo's shares needs write access to the memo (its creator or an admin, decided by
:func:`memos_core.services.access.check_write`); resolving a token needs nothing but the token.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING, Any

from ..errors import invalid, not_found
from ..store import memos as memos_store
from ..store import shares as store
from ..wire import format_time, time_field
from . import access
from .memos import new_uid, one_memo_json

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

#: Tokens are 22 characters; anything much longer cannot be one and is not looked up.
MAX_TOKEN_LENGTH = 64


def share_json(memo_uid: str, share: store.Share) -> dict[str, Any]:
    """OpenAPI ``MemoShare``; ``expireTime`` is omitted when the share never expires (protojson)."""
    out: dict[str, Any] = {"name": f"memos/{memo_uid}/shares/{share.uid}", "createTime": format_time(share.created_ts)}
    if share.expires_ts is not None:
        out["expireTime"] = format_time(share.expires_ts)
    return out


async def _writable_memo(ctx: Context, viewer: Principal | None, uid: str) -> memos_store.Memo:
    memo = await memos_store.get_memo(ctx.store, uid=uid)
    access.check_write(viewer, memo)
    return memo


async def create_share(ctx: Context, viewer: Principal | None, uid: str, body: dict[str, Any]) -> dict[str, Any]:
    """CreateMemoShare: ``expireTime`` is optional and must lie in the future."""
    memo = await _writable_memo(ctx, viewer, uid)
    now = int(time.time())
    expires = time_field(body, "expireTime", "expire_time")
    if expires is not None and expires <= now:
        raise invalid("expire_time must be in the future")
    async with ctx.store.transaction():
        share = await store.insert_share(
            ctx.store, uid=new_uid(), memo_id=memo.id, creator_id=viewer.id, created_ts=now, expires_ts=expires
        )
    return share_json(memo.uid, share)


async def list_shares(ctx: Context, viewer: Principal | None, uid: str) -> dict[str, Any]:
    """ListMemoShares: every share of the memo, expired ones included, oldest first."""
    memo = await _writable_memo(ctx, viewer, uid)
    return {"memoShares": [share_json(memo.uid, s) for s in await store.list_shares(ctx.store, memo.id)]}


async def delete_share(ctx: Context, viewer: Principal | None, uid: str, token: str) -> None:
    """DeleteMemoShare: a token of another memo is as unknown as a missing one (404)."""
    memo = await _writable_memo(ctx, viewer, uid)
    share = await _share(ctx, token)
    if share is None or share.memo_id != memo.id:
        raise not_found("memo share not found")
    async with ctx.store.transaction():
        await store.delete_share(ctx.store, share.id)


async def _share(ctx: Context, token: str) -> store.Share | None:
    if not token or len(token) > MAX_TOKEN_LENGTH:
        return None
    return await store.get_share(ctx.store, token)


async def memo_id_for_valid_token(ctx: Context, token: str) -> int | None:
    """The id of the memo an unexpired share ``token`` grants, else ``None``.

    For the file server's ``?share_token=``, which checks that the attachment belongs
    to this memo; like upstream it does not look at the memo's archived state.
    """
    share = await _share(ctx, token)
    if share is None or share.expired(int(time.time())):
        return None
    return share.memo_id


async def get_memo_by_share(ctx: Context, viewer: Principal | None, token: str) -> dict[str, Any]:
    """GetMemoByShare: the full memo for a valid token; unknown, expired or archived are all 404.

    The token replaces the visibility check for the memo itself; its relations are still filtered
    by what the caller may see.
    """
    memo_id = await memo_id_for_valid_token(ctx, token)
    memo = await memos_store.get_memo(ctx.store, id=memo_id) if memo_id is not None else None
    if memo is None or memo.row_status == access.ARCHIVED:
        raise not_found("memo share not found")
    return await one_memo_json(ctx, viewer, memo)
