"""Attachment rows. Rows come back as plain dicts without the blob, each with
``memo_uid`` (the linked memo's uid or ``None``) from one outer join, so callers never look memos
up one by one. Blobs are read only by the DATABASE backend, through :func:`get_blob`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import sqlalchemy as sa

from . import tables

att = tables.attachment
m = tables.memo
META = [c for c in att.c if c.name != "blob"]


def _select() -> sa.Select:
    return sa.select(*META, m.c.uid.label("memo_uid")).select_from(att.outerjoin(m, m.c.id == att.c.memo_id))


def _rows(records: Iterable[Any]) -> list[dict[str, Any]]:
    return [dict(r._mapping) for r in records]


async def get(store, uid: str) -> dict[str, Any] | None:
    row = await store.fetch_one(_select().where(att.c.uid == uid))
    return dict(row._mapping) if row else None


async def get_many(store, uids: Iterable[str]) -> dict[str, dict[str, Any]]:
    uids = sorted(set(uids))
    if not uids:
        return {}
    return {r["uid"]: r for r in _rows(await store.fetch_all(_select().where(att.c.uid.in_(uids))))}


async def uid_exists(store, uid: str) -> bool:
    return await store.fetch_val(sa.select(att.c.id).where(att.c.uid == uid)) is not None


async def get_blob(store, attachment_id: int) -> bytes | None:
    return await store.fetch_val(sa.select(att.c.blob).where(att.c.id == attachment_id))


async def list_for_creator(
    store, creator_id: int, where: Sequence[Any], limit: int, offset: int
) -> list[dict[str, Any]]:
    """ListAttachments: the creator's own, ``updated_ts DESC`` (id breaks ties so pages are stable)."""
    q = (
        _select()
        .where(att.c.creator_id == creator_id, *where)
        .order_by(att.c.updated_ts.desc(), att.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return _rows(await store.fetch_all(q))


async def count_for_creator(store, creator_id: int, where: Sequence[Any]) -> int:
    """How many of the creator's attachments match ``where`` (one COUNT)."""
    q = sa.select(sa.func.count()).select_from(att).where(att.c.creator_id == creator_id, *where)
    return int(await store.fetch_val(q) or 0)


async def for_memos(store, memo_ids: Sequence[int]) -> list[dict[str, Any]]:
    """Rows linked to ``memo_ids``, newest update first (the order memos embed them in)."""
    if not memo_ids:
        return []
    q = _select().where(att.c.memo_id.in_(list(memo_ids))).order_by(att.c.updated_ts.desc(), att.c.id.desc())
    return _rows(await store.fetch_all(q))


async def with_payload_text(store, creator_ids: Iterable[int], needles: Iterable[str]) -> list[dict[str, Any]]:
    """Rows of ``creator_ids`` whose payload JSON text contains any of ``needles`` (a narrowing scan;
    the caller checks the decoded payload)."""
    needles = sorted(set(needles))
    if not needles:
        return []
    q = _select().where(
        att.c.creator_id.in_(sorted(set(creator_ids))),
        sa.or_(*[att.c.payload.contains(n, autoescape=True) for n in needles]),
    )
    return _rows(await store.fetch_all(q))


async def insert(store, **values: Any) -> int:
    return await store.execute(att.insert().values(**values))


async def update(store, attachment_id: int, values: dict[str, Any]) -> None:
    if values:
        await store.execute(att.update().where(att.c.id == attachment_id).values(**values))


async def delete_ids(store, ids: Sequence[int]) -> None:
    if ids:
        await store.execute(att.delete().where(att.c.id.in_(list(ids))))


async def link(store, memo_id: int, ordered_uids: Sequence[str], now: int) -> list[dict[str, Any]]:
    """SetMemoAttachments: link exactly ``ordered_uids`` (first = newest), delete the memo's other
    rows, and return those deleted rows so their bytes can be removed after commit."""
    q = _select().where(att.c.memo_id == memo_id)
    if ordered_uids:
        q = q.where(att.c.uid.notin_(list(ordered_uids)))
    removed = _rows(await store.fetch_all(q))
    await delete_ids(store, [r["id"] for r in removed])
    if ordered_uids:
        # Typed binds, so each stamp is converted like any other time value (FROM_UNIXTIME on MySQL).
        stamps = {uid: sa.literal(now - i, att.c.updated_ts.type) for i, uid in enumerate(ordered_uids)}
        await store.execute(
            att.update()
            .where(att.c.uid.in_(list(ordered_uids)))
            .values(memo_id=memo_id, updated_ts=sa.case(stamps, value=att.c.uid, else_=att.c.updated_ts))
        )
    return removed


async def orphans(store, created_before: int, limit: int = 500) -> list[dict[str, Any]]:
    """Rows linked to no (existing) memo and created before ``created_before``."""
    q = _select().where(m.c.id.is_(None), att.c.created_ts < created_before).order_by(att.c.id).limit(limit)
    return _rows(await store.fetch_all(q))
