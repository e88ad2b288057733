"""Connecting at start-up to a database server that may not be reachable yet.

Containers started together (``docker compose up``, a pod) often start memos before its database
server listens, or before the server's name resolves; without ``depends_on: service_healthy``
(podman-compose on podman older than 4.6 ignores it) memos would exit and rely on a restart
policy. Instead start-up retries for a while, saying so in the log.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from . import Store

log = logging.getLogger(__name__)

#: Longest pause between two attempts, in seconds.
MAX_PAUSE = 2.0


async def connect_when_reachable(store: Store, timeout: float) -> None:
    """``store.connect()``, tried again for up to ``timeout`` seconds while the driver says the
    server is not reachable yet (:meth:`Driver.is_unreachable`); any other error, or the last one
    once the time is up, is raised."""
    started = time.monotonic()
    pause = 0.25
    waited = False
    while True:
        try:
            await store.connect()
        except Exception as exc:
            remaining = timeout - (time.monotonic() - started)
            if not store.driver.is_unreachable(exc) or remaining <= 0:
                if waited:
                    log.error("the database was not reachable within %.0f s (MEMOS_DB_CONNECT_TIMEOUT)", timeout)
                raise
            if not waited:
                log.warning(
                    "waiting for the database (%s: %s); retrying for up to %.0f s (MEMOS_DB_CONNECT_TIMEOUT)",
                    type(exc).__name__,
                    exc,
                    timeout,
                )
                waited = True
            await asyncio.sleep(min(pause, remaining))  # the last attempt comes at the deadline
            pause = min(pause * 2, MAX_PAUSE)
        else:
            if waited:
                log.info("connected to the database after %.1f s", time.monotonic() - started)
            return
