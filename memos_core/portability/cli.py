"""``memos export`` and ``memos import``: the API's export and import on a database opened directly."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

from ..auth import Principal
from ..config import Config
from ..context import Context
from ..errors import ApiError
from ..store import users as users_store
from . import export, service


@contextlib.asynccontextmanager
async def _opened(config: Config) -> AsyncIterator[Context]:
    """The app started without serving: storage backends need their resources (S3 clients), and
    what an import writes reaches plugins (webhooks, the search index) as from the API."""
    from ..app import started

    async with started(config) as ctx, ctx.store.connection():
        yield ctx


async def _principal(ctx: Context, username: str) -> Principal:
    user = await users_store.get_user(ctx.store, username=username)
    if user is None:
        raise ValueError(f"no user named {username!r}")
    return Principal(user=user, method="cli")


async def run_export(config: Config, username: str, output: str, fmt: str) -> str:
    """Write ``username``'s export (``*``: everyone's) to ``output``; returns a summary line."""
    path = Path(output)
    if path.exists():
        raise ValueError(f"{output} exists; name a new file")
    async with _opened(config) as ctx:
        if username == export.ALL_USERS:
            users = await users_store.list_users(ctx.store)
        else:
            users = [(await _principal(ctx, username)).user]
        doc, files = await export.build(ctx, users)
        with open(path, "xb") as f:
            if fmt == "json":
                f.write(export.dump(doc))
            else:

                async def write(data: bytes) -> None:
                    f.write(data)

                await export.write_zip(ctx, doc, files, write)
    return f"exported {len(doc['memos'])} memos and {len(files)} attachment files to {output}"


async def run_import(config: Config, username: str, source: str) -> str:
    """Import ``source`` (file or folder) into ``username``'s account; returns a summary line."""
    path = Path(source)
    if not path.exists():
        raise ValueError(f"{source} does not exist")
    async with _opened(config) as ctx:
        viewer = await _principal(ctx, username)
        try:
            report = await service.import_path(ctx, viewer, path)
        except ApiError as e:
            raise ValueError(e.message) from None
    return _summary(report)


async def run_import_server(config: Config, username: str, url: str, token: str) -> str:
    """Import the memos another Memos server holds for ``token`` into ``username``'s account.

    Whoever runs the command holds the database already, so the server may be on a private or
    loopback address, as for an admin through the API."""
    async with _opened(config) as ctx:
        viewer = await _principal(ctx, username)
        try:
            report = await service.import_remote(
                ctx, viewer, {"source": "memos", "url": url, "token": token}, allow_private=True
            )
        except ApiError as e:
            raise ValueError(e.message) from None
    return _summary(report)


def _summary(report: dict) -> str:
    return (
        f"imported {report['imported']} memos ({report['attachments']} attachment files) from a "
        f"{report['source']} source; {report['skipped']} imported before were skipped"
    )
