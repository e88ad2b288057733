"""S3 configuration and clients: one client per distinct config, closed with the app.

All pools share one aiobotocore session per process: it holds no credentials (each client gets
its own) and caches the parsed service model, which otherwise costs about half a second per client.

Attachments remember the config they were written with (upstream copies it into each row's payload),
so reads and deletes may need clients for older configs than the current STORAGE setting; the pool
keys clients by everything that changes how a request is built and signed.

aiobotocore (and botocore under it) is imported when the first client is made: it costs tens of
MiB and most instances never configure S3.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aiobotocore.session import AioSession

#: How long presigned GET links stay valid (upstream: 5 days; SigV4 allows at most 7).
PRESIGN_SECONDS = 5 * 24 * 3600
#: Signing needs a region; S3-compatible servers that ignore it accept AWS's default.
DEFAULT_REGION = "us-east-1"


@dataclasses.dataclass(frozen=True)
class S3Config:
    """The ``s3Config`` of the STORAGE setting and of ``attachment.payload.s3Object`` (camelCase JSON)."""

    access_key_id: str = ""
    access_key_secret: str = ""
    endpoint: str = ""
    region: str = ""
    bucket: str = ""
    use_path_style: bool = False

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> S3Config:
        raw = raw or {}
        return cls(
            access_key_id=str(raw.get("accessKeyId") or ""),
            access_key_secret=str(raw.get("accessKeySecret") or ""),
            endpoint=str(raw.get("endpoint") or ""),
            region=str(raw.get("region") or ""),
            bucket=str(raw.get("bucket") or ""),
            use_path_style=bool(raw.get("usePathStyle") or False),
        )

    def to_json(self) -> dict[str, Any]:
        """protojson shape: camelCase, empty values omitted (as upstream writes it)."""
        out: dict[str, Any] = {
            "accessKeyId": self.access_key_id,
            "accessKeySecret": self.access_key_secret,
            "endpoint": self.endpoint,
            "region": self.region,
            "bucket": self.bucket,
            "usePathStyle": self.use_path_style,
        }
        return {k: v for k, v in out.items() if v}

    @property
    def endpoint_url(self) -> str | None:
        """The endpoint as a URL; a bare host gets ``https://`` (the Go SDK needs a scheme too)."""
        endpoint = self.endpoint.strip().rstrip("/")
        if not endpoint:
            return None
        return endpoint if "://" in endpoint else f"https://{endpoint}"

    def client_key(self) -> tuple[Any, ...]:
        return (self.access_key_id, self.access_key_secret, self.endpoint_url, self.region, self.use_path_style)


_SESSION: AioSession | None = None


def shared_session() -> AioSession:
    global _SESSION
    if _SESSION is None:
        from aiobotocore.session import get_session

        _SESSION = get_session()
    return _SESSION


class ConfigError(ValueError):
    """The S3 config cannot work (no bucket...); shown to the admin who set it."""


def check_config(config: S3Config) -> None:
    if not config.bucket:
        raise ConfigError("S3 storage needs a bucket")
    if not config.access_key_id or not config.access_key_secret:
        raise ConfigError("S3 storage needs an access key id and secret")


class ClientPool:
    """Open clients by config, closed together when the app stops.

    ``connector_args`` go to aiohttp's connector (tests pass a resolver for virtual-host names).
    """

    def __init__(self, *, connector_args: dict[str, Any] | None = None, session: AioSession | None = None) -> None:
        self._session = session  # the shared one unless given, looked up at the first client
        self._connector_args = connector_args
        self._clients: dict[tuple[Any, ...], Any] = {}
        self._stack = contextlib.AsyncExitStack()
        self._lock = asyncio.Lock()
        self._closed = False

    async def get(self, config: S3Config) -> Any:
        key = config.client_key()
        client = self._clients.get(key)
        if client is not None:
            return client
        async with self._lock:
            if self._closed:
                raise RuntimeError("the S3 client pool is closed")
            client = self._clients.get(key)
            if client is None:
                client = await self._stack.enter_async_context(self._create(config))
                self._clients[key] = client
            return client

    def _create(self, config: S3Config) -> Any:
        from aiobotocore.config import AioConfig

        aio_config = AioConfig(
            signature_version="s3v4",
            s3={"addressing_style": "path" if config.use_path_style else "virtual"},
            # Only when the operation requires it: R2, MinIO and older servers reject the new
            # default CRC32 trailers, as upstream's SDK settings avoid.
            request_checksum_calculation="when_required",
            response_checksum_validation="when_required",
            connector_args=self._connector_args,
        )
        session = self._session or shared_session()
        return session.create_client(
            "s3",
            region_name=config.region or DEFAULT_REGION,
            endpoint_url=config.endpoint_url,
            aws_access_key_id=config.access_key_id,
            aws_secret_access_key=config.access_key_secret,
            config=aio_config,
        )

    async def close(self) -> None:
        async with self._lock:
            self._closed = True
            self._clients.clear()
            await self._stack.aclose()

    def __len__(self) -> int:
        return len(self._clients)


async def presign_get(client: Any, bucket: str, key: str, *, expires: int = PRESIGN_SECONDS) -> str:
    """A presigned GET URL (computed locally: no request is made)."""
    return await client.generate_presigned_url("get_object", Params={"Bucket": bucket, "Key": key}, ExpiresIn=expires)
