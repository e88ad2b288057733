"""Inbox rows (user notifications) with their sender and receiver usernames.

Rows are written by the memo service (:func:`memos_core.store.memos.insert_inbox`); these are the
reads and the receiver's own changes. Inner joins drop rows whose sender or receiver is gone.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import sqlalchemy as sa

from . import tables
from .memos import Memo, loads, select_memos

ib = tables.inbox
sender = tables.user.alias("sender")
receiver = tables.user.alias("receiver")


@dataclasses.dataclass
class Notice:
    id: int
    created_ts: int
    sender_id: int
    receiver_id: int
    receiver: str  # username
    status: str
    message: dict[str, Any]


def _select() -> sa.Select:
    return sa.select(*ib.c, receiver.c.username.label("receiver")).select_from(
        ib.join(sender, sender.c.id == ib.c.sender_id).join(receiver, receiver.c.id == ib.c.receiver_id)
    )


def _notice(row: Any) -> Notice:
    return Notice(
        id=row["id"],
        created_ts=int(row["created_ts"] or 0),
        sender_id=row["sender_id"],
        receiver_id=row["receiver_id"],
        receiver=row["receiver"],
        status=row["status"],
        message=loads(row["message"]),
    )


async def list_for_receiver(store, receiver_id: int) -> list[Notice]:
    """Everything addressed to ``receiver_id``, newest first (no paging, as upstream)."""
    q = _select().where(ib.c.receiver_id == receiver_id).order_by(ib.c.created_ts.desc(), ib.c.id.desc())
    return [_notice(r) for r in await store.fetch_all(q)]


async def count_unread(store, receiver_id: int) -> int:
    """UNREAD notices addressed to ``receiver_id`` whose sender still exists (what the list shows)."""
    q = sa.select(sa.func.count()).select_from(
        _select().where(ib.c.receiver_id == receiver_id, ib.c.status == "UNREAD").subquery()
    )
    return int(await store.fetch_val(q) or 0)


async def get(store, notice_id: int, receiver_id: int) -> Notice | None:
    row = await store.fetch_one(_select().where(ib.c.id == notice_id, ib.c.receiver_id == receiver_id))
    return _notice(row) if row else None


async def set_status(store, notice_id: int, status: str) -> None:
    await store.execute(ib.update().where(ib.c.id == notice_id).values(status=status))


async def delete(store, notice_id: int) -> None:
    await store.execute(ib.delete().where(ib.c.id == notice_id))


async def memos_by_ids(store, ids: Iterable[int]) -> dict[int, Memo]:
    """Memos referenced by a page of notices, one query (their creators' rows must exist)."""
    ids = sorted(set(ids))
    if not ids:
        return {}
    rows = await store.fetch_all(select_memos().where(tables.memo.c.id.in_(ids)))
    return {r["id"]: Memo.from_row(r) for r in rows}
