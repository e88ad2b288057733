"""The s3-presign job: only stale rows get new links; payload extras and order survive."""

from __future__ import annotations

import asyncio
import datetime as dt
import json
from typing import Any

import aiohttp
import sqlalchemy as sa
from memos_storage_s3 import refresh_presigned_urls
from memos_storage_s3.backend import format_time, parse_time

from memos_core import CONTEXT, tables

NOW = dt.datetime(2030, 6, 1, 12, 0, 0, tzinfo=dt.UTC)
MOTION = {"family": "APPLE_LIVE_PHOTO", "role": "STILL", "groupId": "g1"}


async def insert(ctx: Any, uid: str, *, storage_type: str = "S3", payload: Any = None, reference: str = "old") -> None:
    now = 1_700_000_000
    async with ctx.store.connection(), ctx.store.transaction():
        await ctx.store.execute(
            tables.attachment.insert().values(
                uid=uid,
                creator_id=1,
                created_ts=now,
                updated_ts=now,
                filename=f"{uid}.txt",
                type="text/plain",
                size=4,
                storage_type=storage_type,
                reference=reference,
                payload=json.dumps(payload or {}),
            )
        )


async def rows(ctx: Any) -> dict[str, dict[str, Any]]:
    t = tables.attachment
    async with ctx.store.connection():
        found = await ctx.store.fetch_all(sa.select(t.c.uid, t.c.reference, t.c.payload, t.c.updated_ts))
    return {r._mapping["uid"]: {**r._mapping, "payload": json.loads(r._mapping["payload"])} for r in found}


def s3_object(s3_server: Any, key: str, presigned: dt.datetime | None, **config: Any) -> dict[str, Any]:
    obj: dict[str, Any] = {"s3Config": s3_server.s3_config(**config), "key": key}
    if presigned is not None:
        obj["lastPresignedTime"] = format_time(presigned)
    return obj


async def test_only_stale_rows_are_presigned_again(ctx, s3_server, key_prefix):
    key = f"{key_prefix}/stale.txt"
    s3_server.boto().put_object(Bucket=s3_server.bucket, Key=key, Body=b"data")
    await insert(
        ctx, "stale", payload={"s3Object": s3_object(s3_server, key, NOW - dt.timedelta(days=5)), "motionMedia": MOTION}
    )
    await insert(ctx, "edge", payload={"s3Object": s3_object(s3_server, key, NOW - dt.timedelta(days=4))})
    await insert(ctx, "fresh", payload={"s3Object": s3_object(s3_server, key, NOW - dt.timedelta(days=3, hours=23))})
    await insert(ctx, "never", payload={"s3Object": s3_object(s3_server, key, None)})
    await insert(ctx, "no-object", payload={"motionMedia": MOTION})
    await insert(ctx, "local", storage_type="LOCAL", payload={"s3Object": s3_object(s3_server, key, None)})
    before = await rows(ctx)

    async with ctx.store.connection():
        refreshed = await refresh_presigned_urls(ctx, now=NOW, page_size=2)  # pages of 2 exercise the paging
    assert refreshed == 3

    after = await rows(ctx)
    for uid in ("stale", "edge", "never"):
        s3obj = after[uid]["payload"]["s3Object"]
        assert after[uid]["reference"].startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key}?"), uid
        assert parse_time(s3obj["lastPresignedTime"]) == NOW
        assert s3obj["key"] == key and s3obj["s3Config"] == s3_server.s3_config()
        assert after[uid]["updated_ts"] == before[uid]["updated_ts"]  # attachment order follows updated_ts
    assert after["stale"]["payload"]["motionMedia"] == MOTION  # upstream drops it; kept here
    for uid in ("fresh", "no-object", "local"):
        assert after[uid] == before[uid], uid

    # The new link works.
    async with aiohttp.ClientSession() as http, http.get(after["stale"]["reference"]) as resp:
        assert resp.status == 200 and await resp.read() == b"data"

    # A second run in the same window finds nothing to do.
    async with ctx.store.connection():
        assert await refresh_presigned_urls(ctx, now=NOW + dt.timedelta(minutes=30)) == 0


async def test_rows_without_their_config_are_signed_with_the_setting(ctx, s3_server, key_prefix):
    async with ctx.store.connection(), ctx.store.transaction():
        await ctx.store.execute(
            tables.system_setting.insert().values(name="STORAGE", value=json.dumps(s3_server.setting()), description="")
        )
    await insert(ctx, "bare", payload={"s3Object": {"key": f"{key_prefix}/bare.txt"}})
    await insert(ctx, "broken", payload={"s3Object": {"key": "k", "s3Config": {"bucket": "b", "endpoint": "::bad"}}})
    async with ctx.store.connection():
        assert await refresh_presigned_urls(ctx, now=NOW) == 1  # the unsignable row is logged and skipped
    after = await rows(ctx)
    assert after["bare"]["reference"].startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key_prefix}/bare.txt?")
    assert after["bare"]["payload"]["s3Object"]["s3Config"] == s3_server.s3_config()  # written back, as upstream
    assert after["broken"]["reference"] == "old"


async def test_the_scheduler_runs_the_job_at_startup(aiohttp_client, memos_config, s3_server, key_prefix):
    from memos_core.app import create_app

    first = await aiohttp_client(create_app(memos_config))
    old = dt.datetime.now(dt.UTC) - dt.timedelta(days=6)
    await insert(first.app[CONTEXT], "old", payload={"s3Object": s3_object(s3_server, f"{key_prefix}/o.txt", old)})
    await first.close()

    second = await aiohttp_client(create_app(memos_config))  # a restart: the start-up run re-signs
    ctx = second.app[CONTEXT]
    for _ in range(100):
        row = (await rows(ctx))["old"]
        if row["reference"] != "old":
            break
        await asyncio.sleep(0.05)
    assert row["reference"].startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key_prefix}/o.txt?")
    presigned = parse_time(row["payload"]["s3Object"]["lastPresignedTime"])
    assert presigned is not None and presigned > old + dt.timedelta(days=5)
