"""The plugin's tables: the link-metadata cache and the per-user rate limit, shared by all instances.

Both live in the database (created by :func:`memos_core.ensure_plugin_schema`), so every app process
on it answers from one cache and counts against one budget. Times are epoch milliseconds.

* ``memos_py_httpgetter_link``: one row per URL (keyed by its SHA-256): the outcome of the last
  fetch as JSON (the metadata, or the error's code and message) and when it expires. Writing a
  row also deletes a bounded batch of expired ones, so the table stays about as large as the set
  of links read within a TTL.
* ``memos_py_httpgetter_rate``: fetches per user and fixed window (``hits``), incremented by one
  upsert, so concurrent requests on several instances each see their own count.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import sqlalchemy as sa

PLUGIN_NAME = "httpgetter"
SCHEMA_VERSION = 1
PRUNE_BATCH = 200

metadata = sa.MetaData()
link = sa.Table(
    "memos_py_httpgetter_link",
    metadata,
    sa.Column("url_hash", sa.String(64), primary_key=True),  # VARCHAR: MySQL cannot index TEXT keys
    sa.Column("url", sa.Text, nullable=False),
    sa.Column("result", sa.Text, nullable=False),
    sa.Column("fetched_ms", sa.BigInteger, nullable=False),
    sa.Column("expires_ms", sa.BigInteger, nullable=False),
    sa.Index("idx_memos_py_httpgetter_link_expires", "expires_ms"),
)
rate = sa.Table(
    "memos_py_httpgetter_rate",
    metadata,
    sa.Column("user_id", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("window_ms", sa.BigInteger, primary_key=True, autoincrement=False),
    sa.Column("hits", sa.Integer, nullable=False),
)


def url_hash(url: str) -> str:
    return hashlib.sha256(url.encode()).hexdigest()


# -- the cache ----------------------------------------------------------------------------------
async def cached(store: Any, url: str, now_ms: int) -> dict[str, Any] | None:
    """The stored outcome for ``url`` if it has not expired: ``{"ok": True, "data": {...}}`` or
    ``{"ok": False, "code": int, "message": str}``."""
    query = sa.select(link.c.result).where(link.c.url_hash == url_hash(url), link.c.expires_ms > now_ms)
    value = await store.fetch_val(query)
    if value is None:
        return None
    try:
        result = json.loads(value)
    except ValueError:
        return None
    return result if isinstance(result, dict) else None


async def remember(store: Any, url: str, result: dict[str, Any], now_ms: int, ttl_s: int) -> None:
    """Store ``result`` for ``url`` until ``ttl_s`` from now, then prune a batch of expired rows."""
    values = {
        "url_hash": url_hash(url),
        "url": url,
        "result": json.dumps(result, ensure_ascii=False, separators=(",", ":")),
        "fetched_ms": now_ms,
        "expires_ms": now_ms + ttl_s * 1000,
    }
    async with store.transaction():
        await store.execute(
            store.driver.upsert(link, values, ["url_hash"], ["url", "result", "fetched_ms", "expires_ms"])
        )
    async with store.transaction():
        await store.execute(_prune_links(store, now_ms))


def _prune_links(store: Any, now_ms: int) -> Any:
    if store.driver.name == "mysql":
        # MariaDB/MySQL refuse LIMIT in an IN subquery on the table deleted from, but bound a DELETE.
        return sa.text(
            f"DELETE FROM {link.name} WHERE expires_ms <= :now ORDER BY expires_ms LIMIT {PRUNE_BATCH}"
        ).bindparams(now=now_ms)
    oldest = sa.select(link.c.url_hash).where(link.c.expires_ms <= now_ms).order_by(link.c.expires_ms)
    oldest = oldest.limit(PRUNE_BATCH)
    if store.driver.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    return sa.delete(link).where(link.c.url_hash.in_(oldest))


# -- the rate limit -----------------------------------------------------------------------------
async def take(store: Any, user_id: int, now_ms: int, limit: int, window_s: int) -> int:
    """Count one fetch for ``user_id`` in the current window; return 0 if it is within ``limit``,
    else the seconds until the window ends (for ``Retry-After``)."""
    window_ms = window_s * 1000
    start = now_ms - now_ms % window_ms
    insert = store.driver.insert(rate).values(user_id=user_id, window_ms=start, hits=1)
    if store.driver.name == "mysql":
        upsert = insert.on_duplicate_key_update(hits=rate.c.hits + 1)
    else:
        upsert = insert.on_conflict_do_update(index_elements=["user_id", "window_ms"], set_={"hits": rate.c.hits + 1})
    mine = (rate.c.user_id == user_id) & (rate.c.window_ms == start)
    async with store.transaction():
        await store.execute(upsert)  # the row is now locked by this transaction until it ends
        hits = int(await store.fetch_val(sa.select(rate.c.hits).where(mine)) or 0)
    if hits == 1:  # the user's first fetch in this window: their older windows are done with
        async with store.transaction():
            await store.execute(sa.delete(rate).where(rate.c.user_id == user_id, rate.c.window_ms < start))
    if hits <= limit:
        return 0
    return max(1, -(-(start + window_ms - now_ms) // 1000))
