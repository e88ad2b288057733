"""The ``S3`` storage backend: uploads (multipart when large), streamed reads, presigned links."""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import re
from collections.abc import AsyncIterator, Mapping
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiohttp import web

from memos_core import ApiError, Code, Download, StoredObject, expand_path_template, tables

from .client import ClientPool, ConfigError, S3Config, check_config, presign_get

if TYPE_CHECKING:
    from botocore.exceptions import ClientError

log = logging.getLogger("memos_storage_s3")

#: Part size of multipart uploads; S3 needs at least 5 MiB for every part but the last.
PART_SIZE = 8 * 1024 * 1024
#: Read size when streaming an object to a client.
READ_SIZE = 64 * 1024

CLIENTS = web.AppKey("memos_storage_s3_clients", ClientPool)


# -- payload helpers --------------------------------------------------------------------------


def format_time(when: dt.datetime) -> str:
    """protojson Timestamp: RFC 3339 in UTC with a ``Z``."""
    when = when.astimezone(dt.UTC).replace(microsecond=0)
    return when.strftime("%Y-%m-%dT%H:%M:%SZ")


_FRACTION = re.compile(r"\.(\d+)")


def parse_time(value: Any) -> dt.datetime | None:
    """Read a protojson Timestamp (nanosecond fractions and offsets allowed); ``None`` if unreadable."""
    if not isinstance(value, str) or not value:
        return None
    text = _FRACTION.sub(lambda m: "." + m.group(1)[:6].ljust(6, "0"), value.strip(), count=1)
    try:
        parsed = dt.datetime.fromisoformat(text.replace("z", "Z"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def columns(row: Any) -> Mapping[str, Any]:
    """A row as a mapping, whether a plain dict or a database record."""
    return row._mapping if hasattr(row, "_mapping") else row


def load_payload(raw: Any) -> dict[str, Any]:
    if isinstance(raw, Mapping):
        return dict(raw)
    try:
        value = json.loads(raw or "{}")
    except (TypeError, ValueError):
        return {}
    return value if isinstance(value, dict) else {}


def s3_object_payload(config: S3Config, key: str, presigned_at: dt.datetime) -> dict[str, Any]:
    """``payload.s3Object``; the config (secret included) is kept for wire/DB compatibility with upstream."""
    return {"s3Config": config.to_json(), "key": key, "lastPresignedTime": format_time(presigned_at)}


def _client_error() -> type[ClientError]:
    """botocore's ClientError, imported here because botocore loads with the first client."""
    from botocore.exceptions import ClientError

    return ClientError


def _is_missing(exc: ClientError) -> bool:
    error = exc.response.get("Error", {})
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return error.get("Code") in ("NoSuchKey", "NotFound", "404", "NoSuchBucket") or status == 404


# -- the backend ------------------------------------------------------------------------------


class S3Storage:
    """Registered as ``S3``. Clients come from the app's :data:`CLIENTS` pool.

    ``redirect_all`` sends every read to a presigned URL instead of proxying non-media files.
    """

    def __init__(self, *, redirect_all: bool = False) -> None:
        self.redirect_all = redirect_all

    # -- clients ---------------------------------------------------------------------------
    @contextlib.asynccontextmanager
    async def client(self, ctx: Any, config: S3Config) -> AsyncIterator[Any]:
        """A pooled client; without an app pool (a bare context), a short-lived one."""
        app = getattr(ctx, "app", None)
        pool = app.get(CLIENTS) if app is not None else None
        if pool is not None:
            yield await pool.get(config)
            return
        pool = ClientPool()
        try:
            yield await pool.get(config)
        finally:
            await pool.close()

    async def row_config(self, ctx: Any, s3_object: Mapping[str, Any]) -> S3Config:
        """The config stored with the row, or else the current STORAGE setting's (older rows)."""
        if s3_object.get("s3Config"):
            return S3Config.from_json(s3_object["s3Config"])
        return await current_config(ctx)

    # -- the contract ----------------------------------------------------------------------
    async def save(
        self,
        ctx: Any,
        *,
        uid: str,
        filename: str,
        content_type: str,
        chunks: AsyncIterator[bytes],
        setting: Mapping[str, Any],
    ) -> StoredObject:
        config = S3Config.from_json(setting.get("s3Config"))
        try:
            check_config(config)
        except ConfigError as exc:
            raise ApiError(Code.FAILED_PRECONDITION, str(exc)) from exc
        key = expand_path_template(str(setting.get("filepathTemplate") or ""), filename)
        async with self.client(ctx, config) as client:
            size = await upload(client, config.bucket, key, content_type or "application/octet-stream", chunks)
            now = dt.datetime.now(dt.UTC)
            url = await presign_get(client, config.bucket, key)
        return StoredObject(
            storage_type="S3",
            reference=url,
            size=size,
            payload={"s3Object": s3_object_payload(config, key, now)},
        )

    async def open(self, ctx: Any, row: Mapping[str, Any]) -> Download:
        row = columns(row)
        s3_object = load_payload(row.get("payload")).get("s3Object") or {}
        key = s3_object.get("key")
        if not key:
            raise ApiError(Code.NOT_FOUND, "attachment has no S3 object key")
        config = await self.row_config(ctx, s3_object)
        mime = str(row.get("type") or "")
        async with self.client(ctx, config) as client:
            if self.redirect_all or mime.startswith(("video/", "audio/")):
                return Download(redirect=await presign_get(client, config.bucket, key), size=row.get("size"))
            try:
                head = await client.head_object(Bucket=config.bucket, Key=key)
            except _client_error() as exc:
                if _is_missing(exc):
                    raise ApiError(Code.NOT_FOUND, "attachment object not found") from exc
                raise
        modified = head.get("LastModified")
        return Download(
            size=int(head["ContentLength"]),
            chunks=self._reader(ctx, config, key),
            modified_ts=int(modified.timestamp()) if modified else row.get("updated_ts"),
        )

    def _reader(self, ctx: Any, config: S3Config, key: str) -> Any:
        def chunks(start: int | None = None, end: int | None = None) -> AsyncIterator[bytes]:
            return self._stream(ctx, config, key, start, end)

        return chunks

    async def _stream(
        self, ctx: Any, config: S3Config, key: str, start: int | None, end: int | None
    ) -> AsyncIterator[bytes]:
        params: dict[str, Any] = {"Bucket": config.bucket, "Key": key}
        if start is not None or end is not None:
            params["Range"] = f"bytes={start or 0}-{'' if end is None else end}"
        async with self.client(ctx, config) as client:
            response = await client.get_object(**params)
            async with response["Body"] as body:
                async for chunk in body.iter_chunks(READ_SIZE):
                    yield chunk

    async def delete(self, ctx: Any, row: Mapping[str, Any]) -> None:
        row = columns(row)
        s3_object = load_payload(row.get("payload")).get("s3Object") or {}
        key = s3_object.get("key")
        if not key:
            return
        config = await self.row_config(ctx, s3_object)
        async with self.client(ctx, config) as client:
            try:
                await client.delete_object(Bucket=config.bucket, Key=key)
            except _client_error() as exc:
                if not _is_missing(exc):
                    raise


async def current_config(ctx: Any) -> S3Config:
    """The ``s3Config`` of the stored STORAGE setting (secret included: it is read from the DB)."""
    t = tables.system_setting
    raw = await ctx.store.fetch_val(sa.select(t.c.value).where(t.c.name == "STORAGE"))
    return S3Config.from_json(load_payload(raw).get("s3Config"))


async def upload(client: Any, bucket: str, key: str, content_type: str, chunks: AsyncIterator[bytes]) -> int:
    """Stream ``chunks`` to ``key``: one PutObject when it fits in a part, else a multipart upload.

    At most about one part is buffered, so memory stays bounded whatever the upload size.
    """
    buffer = bytearray()
    iterator = aiter(chunks)
    exhausted = False
    while len(buffer) < PART_SIZE:
        try:
            buffer += await anext(iterator)
        except StopAsyncIteration:
            exhausted = True
            break
    if exhausted:
        await client.put_object(Bucket=bucket, Key=key, Body=bytes(buffer), ContentType=content_type)
        return len(buffer)

    created = await client.create_multipart_upload(Bucket=bucket, Key=key, ContentType=content_type)
    upload_id = created["UploadId"]
    parts: list[dict[str, Any]] = []
    total = 0
    try:
        while True:
            while len(buffer) >= PART_SIZE or (exhausted and buffer):
                body = bytes(buffer[:PART_SIZE])
                del buffer[:PART_SIZE]
                number = len(parts) + 1
                part = await client.upload_part(
                    Bucket=bucket, Key=key, UploadId=upload_id, PartNumber=number, Body=body
                )
                parts.append({"ETag": part["ETag"], "PartNumber": number})
                total += len(body)
            if exhausted:
                break
            try:
                buffer += await anext(iterator)
            except StopAsyncIteration:
                exhausted = True
        await client.complete_multipart_upload(
            Bucket=bucket, Key=key, UploadId=upload_id, MultipartUpload={"Parts": parts}
        )
    except BaseException:
        with contextlib.suppress(Exception):
            await client.abort_multipart_upload(Bucket=bucket, Key=key, UploadId=upload_id)
        raise
    return total
