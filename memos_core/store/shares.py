"""Memo share rows (``memo_share``): opaque tokens granting read access to one memo.

Deleting a memo removes its shares in :func:`memos_core.store.memos.delete_memos`.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import sqlalchemy as sa

from . import tables

s = tables.memo_share


@dataclasses.dataclass
class Share:
    id: int
    uid: str  # the token
    memo_id: int
    creator_id: int
    created_ts: int
    expires_ts: int | None  # None: never expires

    @classmethod
    def from_row(cls, row: Any) -> Share:
        expires = row["expires_ts"]
        return cls(
            id=row["id"],
            uid=row["uid"],
            memo_id=row["memo_id"],
            creator_id=row["creator_id"],
            created_ts=int(row["created_ts"] or 0),
            expires_ts=None if expires is None else int(expires),
        )

    def expired(self, now: int) -> bool:
        """A share still works during its expiry second (upstream compares ``now > expiry``)."""
        return self.expires_ts is not None and now > self.expires_ts


async def insert_share(
    store, *, uid: str, memo_id: int, creator_id: int, created_ts: int, expires_ts: int | None
) -> Share:
    share_id = await store.execute(
        s.insert().values(uid=uid, memo_id=memo_id, creator_id=creator_id, created_ts=created_ts, expires_ts=expires_ts)
    )
    return Share(share_id, uid, memo_id, creator_id, created_ts, expires_ts)


async def get_share(store, uid: str) -> Share | None:
    row = await store.fetch_one(sa.select(*s.c).where(s.c.uid == uid))
    return Share.from_row(row) if row else None


async def list_shares(store, memo_id: int) -> list[Share]:
    """Shares of one memo, oldest first."""
    rows = await store.fetch_all(sa.select(*s.c).where(s.c.memo_id == memo_id).order_by(s.c.id.asc()))
    return [Share.from_row(r) for r in rows]


async def delete_share(store, share_id: int) -> None:
    await store.execute(s.delete().where(s.c.id == share_id))
