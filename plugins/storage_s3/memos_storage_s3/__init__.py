"""memos-storage-s3: the ``S3`` attachment storage backend and its presign job.

Select it with the STORAGE instance setting ``{"storageType": "S3", "s3Config": {...}}``. New
attachments go to the bucket under the ``filepathTemplate`` key; each row keeps the config it was
written with (as upstream does) and a presigned GET link in ``reference``, renewed by the
``s3-presign`` job (start-up and every 12 h, through the scheduler plugin).

Reads of ``video/*`` and ``audio/*`` redirect to a fresh presigned URL; other types are proxied
as a stream with Range support. ``MEMOS_S3_REDIRECT_ALL=1`` redirects every read instead.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from memos_core import hookimpl

from .backend import CLIENTS, PART_SIZE, S3Storage, upload
from .client import PRESIGN_SECONDS, ClientPool, S3Config
from .presign import JOB_NAME, JOB_SPEC, presign_job, refresh_presigned_urls

__version__ = "0.1.0"
__all__ = [
    "CLIENTS",
    "JOB_NAME",
    "JOB_SPEC",
    "PART_SIZE",
    "PRESIGN_SECONDS",
    "ClientPool",
    "S3Config",
    "S3Storage",
    "presign_job",
    "refresh_presigned_urls",
    "upload",
]

STARTUP_JOB_NAME = f"{JOB_NAME}.startup"


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() in ("1", "true", "yes", "on")


@hookimpl
def memos_register_storage(register: Callable[[str, Any], None]) -> None:
    register("S3", S3Storage(redirect_all=_flag("MEMOS_S3_REDIRECT_ALL")))


@hookimpl
def memos_register_runners(register: Callable[..., None]) -> None:
    register(JOB_NAME, JOB_SPEC, presign_job)
    register(STARTUP_JOB_NAME, "@startup", presign_job)


@hookimpl
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    """One client pool per app, set before start-up (app state freezes) and closed at shutdown."""
    app[CLIENTS] = ClientPool()

    async def clients_ctx(app: web.Application) -> AsyncIterator[None]:
        try:
            yield
        finally:
            await app[CLIENTS].close()

    return clients_ctx
