"""The S3 backend against moto's server: uploads, streamed and ranged reads, links, deletes, addressing."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from typing import Any

import aiohttp
import memos_storage_s3
import pytest
from aiohttp.abc import AbstractResolver, ResolveResult
from memos_storage_s3 import CLIENTS, ClientPool, S3Config, S3Storage, backend
from memos_storage_s3.backend import format_time, parse_time

from memos_core import ApiError, Code, Download, StoredObject
from memos_core import expand_path_template as expand


async def byte_chunks(data: bytes, sizes: list[int]) -> Any:
    """Yield ``data`` in pieces of the given sizes (cycled), as an upload stream would."""
    pos = i = 0
    while pos < len(data):
        size = sizes[i % len(sizes)]
        yield data[pos : pos + size]
        pos += size
        i += 1


async def collect(chunks: Any) -> bytes:
    out = bytearray()
    async for chunk in chunks:
        out += chunk
    return bytes(out)


async def fetch(url: str, **kwargs: Any) -> tuple[int, bytes]:
    async with aiohttp.ClientSession(**kwargs) as http, http.get(url) as resp:
        return resp.status, await resp.read()


def row_of(stored: StoredObject, *, mime: str = "text/plain", uid: str = "att1") -> dict[str, Any]:
    """The attachment row the API would insert for ``stored`` (payload as the JSON text column)."""
    import json

    return {
        "uid": uid,
        "type": mime,
        "size": stored.size,
        "storage_type": stored.storage_type,
        "reference": stored.reference,
        "payload": json.dumps(stored.payload),
        "updated_ts": 1,
    }


def s3(ctx: Any) -> S3Storage:
    backend_ = ctx.storages.get("S3")
    assert isinstance(backend_, S3Storage)
    return backend_


# -- registration --------------------------------------------------------------------------------


async def test_plugin_loads_through_its_entry_point(memos_client, ctx):
    infos = {i.name: i for i in ctx.plugins.infos}
    assert infos["storage-s3"].distribution == "memos-storage-s3"
    assert {"memos_register_storage", "memos_register_runners", "memos_cleanup_ctx"} <= set(infos["storage-s3"].hooks)
    assert "S3" in ctx.storages.names()
    assert isinstance(memos_client.app[CLIENTS], ClientPool)

    jobs: list[tuple[str, str, Any]] = []
    await ctx.all("memos_register_runners", register=lambda *job: jobs.append(job))
    mine = {name: (spec, fn) for name, spec, fn in jobs if name.startswith("s3-presign")}
    assert mine == {
        "s3-presign": ("0 */12 * * *", memos_storage_s3.presign_job),
        "s3-presign.startup": ("@startup", memos_storage_s3.presign_job),
    }


async def test_client_pool_is_closed_with_the_app(aiohttp_client, memos_app, s3_server):
    client = await aiohttp_client(memos_app)
    pool = memos_app[CLIENTS]
    await pool.get(S3Config.from_json(s3_server.s3_config()))
    await pool.get(S3Config.from_json(s3_server.s3_config()))  # same config, same client
    assert len(pool) == 1
    await client.close()
    assert len(pool) == 0
    with pytest.raises(RuntimeError):
        await pool.get(S3Config.from_json(s3_server.s3_config()))


# -- save / open / delete ------------------------------------------------------------------------


async def test_small_upload_is_one_put_with_its_content_type(ctx, s3_server, key_prefix):
    data = b"hello, s3 world!" * 10
    stored = await s3(ctx).save(
        ctx,
        uid="att1",
        filename="note.txt",
        content_type="text/plain",
        chunks=byte_chunks(data, [7, 100]),
        setting=s3_server.setting(f"{key_prefix}/{{year}}/{{filename}}"),
    )
    year = dt.datetime.now().year
    key = f"{key_prefix}/{year}/note.txt"
    assert stored.storage_type == "S3"
    assert stored.size == len(data)
    assert stored.blob is None
    s3_object = stored.payload["s3Object"]
    assert s3_object["key"] == key
    assert s3_object["s3Config"] == s3_server.s3_config()  # upstream keeps the config, secret included
    presigned = parse_time(s3_object["lastPresignedTime"])
    assert presigned is not None
    assert abs((dt.datetime.now(dt.UTC) - presigned).total_seconds()) < 5

    head = s3_server.boto().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentType"] == "text/plain"
    assert head["ContentLength"] == len(data)
    assert "-" not in head["ETag"]  # a plain PutObject, not a multipart upload

    # The reference is a presigned GET URL that serves the bytes, valid for five days.
    assert stored.reference.startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key}?")
    assert "X-Amz-Expires=432000" in stored.reference
    assert await fetch(stored.reference) == (200, data)


async def test_default_template_and_unnamed_content_type(ctx, s3_server):
    stored = await s3(ctx).save(
        ctx,
        uid="a",
        filename="x.bin",
        content_type="",
        chunks=byte_chunks(b"\x00\x01", [1]),
        setting=s3_server.setting(),
    )
    key = stored.payload["s3Object"]["key"]
    assert re.fullmatch(r"assets/\d{10}_[0-9a-f-]{36}_x\.bin", key)
    head = s3_server.boto().head_object(Bucket=s3_server.bucket, Key=key)
    assert head["ContentType"] == "application/octet-stream"


async def test_large_upload_is_streamed_as_multipart(ctx, s3_server, key_prefix, monkeypatch):
    monkeypatch.setattr(backend, "PART_SIZE", 5 * 1024 * 1024)  # the S3 minimum, to keep the test small
    data = os.urandom(11 * 1024 * 1024 + 123)
    stored = await s3(ctx).save(
        ctx,
        uid="big",
        filename="big.bin",
        content_type="application/zip",
        chunks=byte_chunks(data, [1024 * 1024 + 7, 65536]),
        setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
    )
    assert stored.size == len(data)
    head = s3_server.boto().head_object(Bucket=s3_server.bucket, Key=f"{key_prefix}/big.bin")
    assert head["ETag"].strip('"').endswith("-3")  # parts of 5 MiB, 5 MiB and the rest
    assert head["ContentType"] == "application/zip"
    assert head["ContentLength"] == len(data)

    download = await s3(ctx).open(ctx, row_of(stored, mime="application/zip"))
    assert download.redirect is None and download.size == len(data)
    assert await collect(download.chunks(None, None)) == data
    boundary = 5 * 1024 * 1024
    assert await collect(download.chunks(boundary - 10, boundary + 9)) == data[boundary - 10 : boundary + 10]


async def test_a_failed_multipart_upload_is_aborted(ctx, s3_server, key_prefix, monkeypatch):
    monkeypatch.setattr(backend, "PART_SIZE", 5 * 1024 * 1024)

    async def broken() -> Any:
        yield os.urandom(6 * 1024 * 1024)
        raise ConnectionResetError("client went away")

    with pytest.raises(ConnectionResetError):
        await s3(ctx).save(
            ctx,
            uid="x",
            filename="x.bin",
            content_type="application/octet-stream",
            chunks=broken(),
            setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
        )
    uploads = s3_server.boto().list_multipart_uploads(Bucket=s3_server.bucket, Prefix=key_prefix)
    assert uploads.get("Uploads", []) == []
    listed = s3_server.boto().list_objects_v2(Bucket=s3_server.bucket, Prefix=key_prefix)
    assert listed.get("KeyCount", 0) == 0


async def test_open_streams_whole_and_ranges(ctx, s3_server, key_prefix):
    data = bytes(range(256)) * 1000
    stored = await s3(ctx).save(
        ctx,
        uid="r",
        filename="r.pdf",
        content_type="application/pdf",
        chunks=byte_chunks(data, [4096]),
        setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
    )
    download = await s3(ctx).open(ctx, row_of(stored, mime="application/pdf"))
    assert isinstance(download, Download)
    assert download.redirect is None and download.size == len(data)
    assert download.modified_ts and abs(download.modified_ts - dt.datetime.now().timestamp()) < 60

    pieces = [chunk async for chunk in download.chunks(None, None)]
    assert b"".join(pieces) == data
    assert max(len(p) for p in pieces) <= backend.READ_SIZE  # streamed, not read whole
    assert await collect(download.chunks(0, 0)) == data[:1]
    assert await collect(download.chunks(10, 19)) == data[10:20]
    assert await collect(download.chunks(len(data) - 5, None)) == data[-5:]
    assert await collect(download.chunks(None, 99)) == data[:100]


@pytest.mark.parametrize("mime", ["video/mp4", "audio/mpeg"])
async def test_media_reads_redirect_to_a_fresh_presigned_url(ctx, s3_server, key_prefix, mime):
    data = b"media-bytes" * 50
    stored = await s3(ctx).save(
        ctx,
        uid="m",
        filename="clip",
        content_type=mime,
        chunks=byte_chunks(data, [64]),
        setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
    )
    download = await s3(ctx).open(ctx, row_of(stored, mime=mime))
    assert download.chunks is None and download.redirect
    assert download.redirect.startswith(f"{s3_server.endpoint}/{s3_server.bucket}/{key_prefix}/clip?")
    assert await fetch(download.redirect) == (200, data)


async def test_redirect_all_redirects_other_types_too(ctx, s3_server, key_prefix):
    stored = await s3(ctx).save(
        ctx,
        uid="p",
        filename="p.txt",
        content_type="text/plain",
        chunks=byte_chunks(b"plain", [5]),
        setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
    )
    download = await S3Storage(redirect_all=True).open(ctx, row_of(stored))
    assert download.redirect and await fetch(download.redirect) == (200, b"plain")


async def test_delete_removes_the_object_and_tolerates_missing_ones(ctx, s3_server, key_prefix):
    stored = await s3(ctx).save(
        ctx,
        uid="d",
        filename="d.txt",
        content_type="text/plain",
        chunks=byte_chunks(b"bye", [3]),
        setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
    )
    row = row_of(stored)
    await s3(ctx).delete(ctx, row)
    listed = s3_server.boto().list_objects_v2(Bucket=s3_server.bucket, Prefix=key_prefix)
    assert listed.get("KeyCount", 0) == 0
    await s3(ctx).delete(ctx, row)  # already gone: not an error
    await s3(ctx).delete(ctx, {**row, "payload": "{}"})  # no object recorded: nothing to do
    with pytest.raises(ApiError) as err:
        await s3(ctx).open(ctx, row)
    assert err.value.code == Code.NOT_FOUND


async def test_rows_without_a_stored_config_use_the_storage_setting(ctx, s3_server, key_prefix):
    import json

    import sqlalchemy as sa

    from memos_core import tables

    s3_server.boto().put_object(Bucket=s3_server.bucket, Key=f"{key_prefix}/old.txt", Body=b"legacy")
    async with ctx.store.connection(), ctx.store.transaction():
        await ctx.store.execute(sa.delete(tables.system_setting).where(tables.system_setting.c.name == "STORAGE"))
        await ctx.store.execute(
            tables.system_setting.insert().values(name="STORAGE", value=json.dumps(s3_server.setting()), description="")
        )
    row = {"type": "text/plain", "payload": json.dumps({"s3Object": {"key": f"{key_prefix}/old.txt"}})}
    download = await s3(ctx).open(ctx, row)
    assert await collect(download.chunks(None, None)) == b"legacy"


async def test_save_rejects_an_incomplete_config(ctx, s3_server):
    for broken in ({"bucket": ""}, {"accessKeySecret": ""}):
        with pytest.raises(ApiError) as err:
            await s3(ctx).save(
                ctx,
                uid="u",
                filename="f",
                content_type="text/plain",
                chunks=byte_chunks(b"x", [1]),
                setting=s3_server.setting(**broken),
            )
        assert err.value.code == Code.FAILED_PRECONDITION


async def test_works_without_an_app_pool(s3_server, key_prefix):
    """A bare context (no app) gets a short-lived client, e.g. for scripts."""

    class Bare:
        app = None

    bare = Bare()
    stored = await S3Storage().save(
        bare,
        uid="b",
        filename="b.txt",
        content_type="text/plain",
        chunks=byte_chunks(b"bare", [4]),
        setting=s3_server.setting(f"{key_prefix}/{{filename}}"),
    )
    download = await S3Storage().open(bare, row_of(stored))
    assert await collect(download.chunks(1, 2)) == b"ar"


# -- addressing ----------------------------------------------------------------------------------


class LocalhostResolver(AbstractResolver):
    """Resolve every ``*.localhost`` name to 127.0.0.1 (the system resolver may not)."""

    async def resolve(self, host: str, port: int = 0, family: int = socket.AF_INET) -> list[ResolveResult]:
        assert host == "localhost" or host.endswith(".localhost"), host
        return [{"hostname": host, "host": "127.0.0.1", "port": port, "family": socket.AF_INET, "proto": 0, "flags": 0}]

    async def close(self) -> None:
        pass


async def test_path_style_urls_put_the_bucket_in_the_path(s3_server):
    pool = ClientPool()
    try:
        config = S3Config.from_json(s3_server.s3_config(endpoint=f"http://localhost:{s3_server.port}"))
        url = await memos_storage_s3.client.presign_get(await pool.get(config), config.bucket, "a b/c.txt")
    finally:
        await pool.close()
    assert url.startswith(f"http://localhost:{s3_server.port}/{s3_server.bucket}/a%20b/c.txt?")


async def test_virtual_host_urls_put_the_bucket_in_the_host(ctx, s3_server, key_prefix, monkeypatch):
    setting = s3_server.setting(
        f"{key_prefix}/{{filename}}", endpoint=f"http://localhost:{s3_server.port}", usePathStyle=False
    )
    pool = ClientPool(connector_args={"resolver": LocalhostResolver()})
    monkeypatch.setattr(backend.S3Storage, "client", _pool_client(pool))
    try:
        stored = await S3Storage().save(
            ctx,
            uid="v",
            filename="v.txt",
            content_type="text/plain",
            chunks=byte_chunks(b"virtual", [3]),
            setting=setting,
        )
        assert stored.reference.startswith(f"http://{s3_server.bucket}.localhost:{s3_server.port}/{key_prefix}/v.txt?")
        assert "usePathStyle" not in stored.payload["s3Object"]["s3Config"]  # false is omitted, as protojson does
        download = await S3Storage().open(ctx, row_of(stored))
        assert await collect(download.chunks(None, None)) == b"virtual"
    finally:
        await pool.close()
    connector = aiohttp.TCPConnector(resolver=LocalhostResolver())
    assert await fetch(stored.reference, connector=connector) == (200, b"virtual")
    # The object really landed in the bucket named by the host.
    assert s3_server.boto().get_object(Bucket=s3_server.bucket, Key=f"{key_prefix}/v.txt")["Body"].read() == b"virtual"


def _pool_client(pool: ClientPool) -> Any:
    import contextlib

    @contextlib.asynccontextmanager
    async def client(self: S3Storage, ctx: Any, config: S3Config) -> Any:
        yield await pool.get(config)

    return client


def test_config_endpoints_and_json():
    assert S3Config(endpoint="s3.example.com").endpoint_url == "https://s3.example.com"
    assert S3Config(endpoint="http://minio:9000/").endpoint_url == "http://minio:9000"
    assert S3Config().endpoint_url is None  # AWS itself
    raw = {"accessKeyId": "k", "accessKeySecret": "s", "bucket": "b", "usePathStyle": True, "unknown": 1}
    assert S3Config.from_json(raw).to_json() == {k: v for k, v in raw.items() if k != "unknown"}


# -- helpers -------------------------------------------------------------------------------------


def test_template_expansion():
    now = dt.datetime(2024, 3, 5, 7, 8, 9).timestamp()  # local time, as upstream formats it
    ids = iter(["u1", "u2"])
    assert (
        expand(
            "{year}/{month}/{day}/{hour}{minute}{second}/{timestamp}_{uuid}_{uuid}_{filename}",
            "a.png",
            now=now,
            new_uuid=lambda: next(ids),
        )
        == f"2024/03/05/070809/{int(now)}_u1_u2_a.png"
    )
    assert expand("files/{unknown}/{Year}", "a.png", now=now) == "files/{unknown}/{Year}/a.png"
    assert expand("x/{filename}", "{year}.txt", now=now) == "x/{year}.txt"  # values are not expanded again
    assert re.fullmatch(r"assets/\d+_[0-9a-f-]{36}_a\.png", expand("", "a.png"))


def test_presigned_times_round_trip_protojson():
    when = dt.datetime(2024, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert format_time(when) == "2024-01-02T03:04:05Z"
    assert parse_time("2024-01-02T03:04:05Z") == when
    assert parse_time("2024-01-02T03:04:05.123456789Z") == when.replace(microsecond=123456)
    assert parse_time("2024-01-02T05:04:05+02:00") == when
    assert parse_time("") is None and parse_time("yesterday") is None and parse_time(None) is None
