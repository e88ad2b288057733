"""Helpers for route handlers, including the ones plugins add through ``memos_register_routes``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiohttp import web

Handler = TypeVar("Handler", bound=Callable[[web.Request], Awaitable[web.StreamResponse]])

_NO_DB_CONNECTION = "memos_no_db_connection"


def no_db_connection(handler: Handler) -> Handler:
    """Mark a handler that never touches the database, so no pooled connection is held for it.

    Every other request holds one connection for its whole life. A handler that
    waits on the network instead (a proxy, a long poll) must not pin a connection meanwhile, or a
    few slow peers could drain the pool.
    """
    setattr(handler, _NO_DB_CONNECTION, True)
    return handler


def needs_db_connection(request: web.Request) -> bool:
    """False for routes whose handler was marked with :func:`no_db_connection`."""
    return not getattr(request.match_info.handler, _NO_DB_CONNECTION, False)
