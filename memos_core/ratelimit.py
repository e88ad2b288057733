"""Rate limits shared by every app process on the database.

Attempts are rows in ``memos_py_signin_failure`` (:mod:`memos_core.store.signin_failures`, also
behind the failed sign-in throttle), keyed by a digest of ``"<limit name>:<key>"``, so two
instances count against one budget and a restart forgets nothing. A check is one indexed
statement; recording is one insert plus a bounded prune of rows older than :data:`HORIZON`.
Check-then-record is not atomic across processes: under a burst split over instances a key may
get a few attempts over its limit, never an unbounded number.
"""

from __future__ import annotations

import dataclasses
import math
import time
from collections.abc import Callable
from typing import Any

from .store import signin_failures

#: How long attempts are kept; no limit may have a longer window.
HORIZON = 3600.0


@dataclasses.dataclass(frozen=True)
class RateLimit:
    """At most ``limit`` attempts per ``window`` seconds for each key (a username, a client IP ...).

    ``name`` keeps limits apart: the same key counts separately under two names.
    """

    name: str
    limit: int
    window: float
    clock: Callable[[], float] = time.time

    def __post_init__(self) -> None:
        if self.limit < 1 or not 0 < self.window <= HORIZON:
            raise ValueError(f"rate limit {self.name}: limit >= 1 and 0 < window <= {HORIZON:.0f} s")

    def _subject(self, key: str) -> str:
        return signin_failures.subject(self.name, key)

    async def retry_after(self, store: Any, *keys: str) -> int:
        """Seconds until one more attempt for every one of ``keys`` is allowed (0: now)."""
        keys = tuple(k for k in keys if k)
        if not keys:
            return 0
        now = int(self.clock() * 1000)
        window = int(self.window * 1000)
        nth = await signin_failures.nth_latest(store, [(self._subject(k), self.limit) for k in keys], now - window)
        wait = max((at + window - now for at in nth if at is not None), default=0)
        return math.ceil(wait / 1000) if wait > 0 else 0

    async def record(self, store: Any, *keys: str) -> None:
        """Count one attempt for each of ``keys``."""
        keys = tuple(k for k in keys if k)
        if keys:
            now = int(self.clock() * 1000)
            subjects = [self._subject(k) for k in keys]
            await signin_failures.record(store, subjects, now, prune_before_ms=now - int(HORIZON * 1000))

    async def take(self, store: Any, *keys: str) -> int:
        """Count an attempt for ``keys`` unless one of them is over its limit; the seconds to wait
        then (nothing is counted), else 0."""
        wait = await self.retry_after(store, *keys)
        if not wait:
            await self.record(store, *keys)
        return wait


__all__ = ["HORIZON", "RateLimit"]
