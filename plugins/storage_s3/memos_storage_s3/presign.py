"""The presign runner: keep the 5-day links in ``attachment.reference`` fresh.

Runs at start-up and every 12 hours. A row presigned less than 4 days ago is left alone, so every
link is renewed at least a day before it expires. Unlike upstream, the rewritten payload keeps
``motionMedia`` (upstream drops it, losing Live Photo grouping), and ``updated_ts`` is untouched
because attachment order follows it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import sqlalchemy as sa
from aiohttp import web

from memos_core import CONTEXT, tables

from .backend import S3Storage, columns, current_config, load_payload, parse_time, s3_object_payload
from .client import S3Config, presign_get

log = logging.getLogger("memos_storage_s3")

JOB_NAME = "s3-presign"
JOB_SPEC = "0 */12 * * *"
PAGE_SIZE = 100
FRESH_FOR = dt.timedelta(days=4)


async def presign_job(app: web.Application) -> None:
    refreshed = await refresh_presigned_urls(app[CONTEXT])
    if refreshed:
        log.info("s3-presign: refreshed %d presigned link(s)", refreshed)


async def refresh_presigned_urls(ctx: Any, *, now: dt.datetime | None = None, page_size: int = PAGE_SIZE) -> int:
    """Re-sign stale S3 rows page by page (keyset on ``id``); return how many were rewritten.

    A row whose config cannot sign is logged and skipped so one bad row does not stop the rest.
    """
    now = now or dt.datetime.now(dt.UTC)
    t = tables.attachment
    storage = S3Storage()
    last_id = 0
    refreshed = 0
    fallback: S3Config | None = None  # the STORAGE setting's config, read once if a row lacks its own
    while True:
        rows = await ctx.store.fetch_all(
            sa.select(t.c.id, t.c.uid, t.c.payload)
            .where(t.c.storage_type == "S3", t.c.id > last_id)
            .order_by(t.c.id)
            .limit(page_size)
        )
        if not rows:
            return refreshed
        last_id = columns(rows[-1])["id"]
        updates: list[tuple[int, str, str]] = []
        for record in rows:
            row = columns(record)
            payload = load_payload(row["payload"])
            s3_object = payload.get("s3Object")
            if not isinstance(s3_object, dict) or not s3_object.get("key"):
                continue
            last = parse_time(s3_object.get("lastPresignedTime"))
            if last is not None and now - last < FRESH_FOR:
                continue
            try:
                if s3_object.get("s3Config"):
                    config = S3Config.from_json(s3_object["s3Config"])
                else:
                    fallback = fallback or await current_config(ctx)
                    config = fallback
                url = await _presign(ctx, storage, config, s3_object["key"])
            except Exception:
                log.exception("s3-presign: cannot presign attachment %s", row["uid"])
                continue
            payload["s3Object"] = {**s3_object, **s3_object_payload(config, s3_object["key"], now)}
            updates.append((row["id"], url, json.dumps(payload, separators=(",", ":"))))
        if updates:
            await _write(ctx, updates)
            refreshed += len(updates)
        if len(rows) < page_size:
            return refreshed


async def _presign(ctx: Any, storage: S3Storage, config: S3Config, key: str) -> str:
    async with storage.client(ctx, config) as client:
        return await presign_get(client, config.bucket, key)


async def _write(ctx: Any, updates: list[tuple[int, str, str]]) -> None:
    """One UPDATE per page: CASE on ``id`` sets each row's own reference and payload."""
    t = tables.attachment
    ids = [u[0] for u in updates]
    stmt = (
        t.update()
        .where(t.c.id.in_(ids), t.c.storage_type == "S3")
        .values(
            reference=sa.case({i: ref for i, ref, _ in updates}, value=t.c.id, else_=t.c.reference),
            payload=sa.case({i: payload for i, _, payload in updates}, value=t.c.id, else_=t.c.payload),
        )
    )
    async with ctx.store.transaction():
        await ctx.store.execute(stmt)


__all__ = ["JOB_NAME", "JOB_SPEC", "presign_job", "refresh_presigned_urls"]
