"""User notifications, the inbox: list, update status, delete; the receiver only.

A notice names memos by id; its payload (memo names and snippets) is shown only while every memo
it names exists and is readable by the viewer (:mod:`access`), so a notice never leaks a memo the
receiver may no longer see. Senders and memos are loaded once per call, never per row.
"""

from __future__ import annotations

import dataclasses
from typing import TYPE_CHECKING, Any

from ..errors import ApiError, denied, invalid, not_found, unauthenticated
from ..store import inbox as store
from ..store import users as users_store
from ..store.memos import Memo
from ..store.users import User
from ..wire import enum_value, required_mask
from . import access
from .memos import snippet
from .users import get_user

if TYPE_CHECKING:
    from ..auth import Principal
    from ..context import Context

STATUSES = {1: "UNREAD", 2: "ARCHIVED"}
UPDATE_PATHS = ("status",)
#: Output-only fields a client may echo back; dropped when the mask is derived from the body.
_READ_ONLY = {"name", "sender", "sender_user", "create_time", "type", "memo_comment", "memo_mention", "update_mask"}
#: Message type -> the message (and API) field holding its payload.
PAYLOAD_FIELDS = {"MEMO_COMMENT": "memoComment", "MEMO_MENTION": "memoMention"}


@dataclasses.dataclass
class Notification:
    notice: store.Notice
    sender: User
    type: str
    payload: dict[str, Any] | None  # the API payload, or None when omitted


async def _receiver(ctx: Context, viewer: Principal | None, username: str) -> User:
    """The path user, who must be the caller (admins included in the refusal)."""
    if viewer is None:
        raise unauthenticated("user not authenticated")
    user = await get_user(ctx, username)
    if viewer.id != user.id:
        raise denied("permission denied")
    return user


def _ids(message: dict[str, Any]) -> tuple[str, int | None, int | None]:
    kind = message.get("type") if message.get("type") in PAYLOAD_FIELDS else "TYPE_UNSPECIFIED"
    body = message.get(PAYLOAD_FIELDS.get(kind, ""), {})
    body = body if isinstance(body, dict) else {}

    def num(key: str) -> int | None:
        try:
            return int(body[key]) if body.get(key) not in (None, "", 0, "0") else None
        except (TypeError, ValueError):
            return None

    return kind, num("memoId"), num("relatedMemoId")


def _readable(viewer: Principal, memo: Memo | None) -> bool:
    try:
        access.check_read(viewer, memo)
    except ApiError:
        return False
    return True


async def _build(ctx: Context, viewer: Principal, notices: list[store.Notice]) -> list[Notification]:
    parsed = [(n, *_ids(n.message)) for n in notices]
    memo_ids = {i for _, _, a, b in parsed for i in (a, b) if i is not None}
    memos = await store.memos_by_ids(ctx.store, memo_ids)
    senders = await users_store.get_users_by_ids(ctx.store, {n.sender_id for n in notices})
    out = []
    for notice, kind, memo_id, related_id in parsed:
        sender = senders.get(notice.sender_id)
        if sender is None:  # deleted between the two reads
            continue
        payload = None
        memo = memos.get(memo_id) if memo_id is not None else None
        related = memos.get(related_id) if related_id is not None else None
        if kind in PAYLOAD_FIELDS and _readable(viewer, memo) and (related_id is None or _readable(viewer, related)):
            payload = {
                "memo": memo.name,
                "relatedMemo": related.name if related is not None else "",
                "memoSnippet": await snippet(ctx, memo.content),
                "relatedMemoSnippet": await snippet(ctx, related.content) if related is not None else "",
            }
        out.append(Notification(notice, sender, kind, payload))
    return out


async def list_notifications(ctx: Context, viewer: Principal | None, username: str) -> list[Notification]:
    user = await _receiver(ctx, viewer, username)
    return await _build(ctx, viewer, await store.list_for_receiver(ctx.store, user.id))


async def unread_count(ctx: Context, viewer: Principal | None) -> int:
    """How many unread notifications the viewer has (one COUNT; a page's inbox badge)."""
    if viewer is None:
        return 0
    return await store.count_unread(ctx.store, viewer.id)


def _notice_id(raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise invalid(f"invalid notification id: {raw!r}") from None
    if value <= 0:
        raise invalid(f"invalid notification id: {raw!r}")
    return value


async def _notice(ctx: Context, user: User, raw_id: str) -> store.Notice:
    notice = await store.get(ctx.store, _notice_id(raw_id), user.id)
    if notice is None:
        raise not_found("notification not found")
    return notice


def _mask(body: dict[str, Any], mask: list[str] | None) -> list[str]:
    """The explicit mask, or the body's fields (what the REST gateway derives); empty is a 400
    (upstream panics on a nil mask and writes an empty status for an empty one)."""
    mask = required_mask(mask, body, _READ_ONLY)
    for path in mask:
        if path not in UPDATE_PATHS:
            raise invalid(f"invalid update path: {path}")
    return mask


async def update_notification(
    ctx: Context, viewer: Principal | None, username: str, raw_id: str, body: dict[str, Any], mask: list[str] | None
) -> Notification:
    user = await _receiver(ctx, viewer, username)
    _mask(body, mask)
    status = enum_value(body.get("status"), STATUSES, "status")
    if status is None:
        raise invalid("status must be UNREAD or ARCHIVED")
    async with ctx.store.transaction():
        notice = await _notice(ctx, user, raw_id)
        await store.set_status(ctx.store, notice.id, status)
    notice.status = status
    built = await _build(ctx, viewer, [notice])
    if not built:
        raise not_found("notification not found")
    return built[0]


async def delete_notification(ctx: Context, viewer: Principal | None, username: str, raw_id: str) -> None:
    user = await _receiver(ctx, viewer, username)
    async with ctx.store.transaction():
        notice = await _notice(ctx, user, raw_id)
        await store.delete(ctx.store, notice.id)
