"""Delivery: a bounded queue drained by a few worker tasks, one guarded POST per webhook."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import time

import aiohttp

from memos_core import netguard

log = logging.getLogger("memos_webhook")

QUEUE_SIZE = 128
WORKERS = 4
TIMEOUT = 30.0  # seconds, the whole request
MAX_RESPONSE = 1 << 20  # bytes of the answer read to judge it
SHUTDOWN_GRACE = 5.0  # seconds shutdown waits for queued deliveries before dropping them
DROP_LOG_EVERY = 10.0  # seconds between two "queue full" log lines of one dispatcher


class DeliveryFailed(Exception):
    """The receiver did not accept the delivery (non-2xx, not JSON, or JSON ``code`` other than 0)."""


@dataclasses.dataclass(frozen=True)
class Delivery:
    url: str
    activity_type: str
    body: bytes


def judge(status: int, raw: bytes) -> None:
    """Raise :class:`DeliveryFailed` unless the answer is what Memos accepts: a 2xx status and a JSON
    body whose ``code``, if any, is 0 (Go's ``json.Unmarshal`` into ``{code int, message string}``)."""
    if not 200 <= status <= 299:
        raise DeliveryFailed(f"status code {status}")
    try:
        answer = json.loads(raw)
    except ValueError as e:
        raise DeliveryFailed(f"the answer is not JSON: {e}") from None
    if answer is None:
        return
    if not isinstance(answer, dict):
        raise DeliveryFailed("the answer is not a JSON object")
    code = answer.get("code", 0)
    if code is None:
        return
    if isinstance(code, bool) or not isinstance(code, int | float) or code != int(code):
        raise DeliveryFailed(f"the answer's code is not an integer: {code!r}")
    if code != 0:
        raise DeliveryFailed(f"the receiver answered code {int(code)}: {answer.get('message', '')}")


class Dispatcher:
    """Posts :class:`Delivery` items in the background; never blocks or fails the caller."""

    def __init__(
        self, *, allow_private: bool, queue_size: int = QUEUE_SIZE, workers: int = WORKERS, timeout: float = TIMEOUT
    ) -> None:
        self.allow_private = allow_private
        self.timeout = timeout
        self.queue: asyncio.Queue[Delivery] = asyncio.Queue(queue_size)
        self._workers = workers
        self._tasks: list[asyncio.Task] = []
        self._session: aiohttp.ClientSession | None = None
        self.delivered = 0
        self.failed = 0
        self.dropped = 0
        self._drops_logged_at: float | None = None  # monotonic time of the last "queue full" line
        self._drops_unlogged = 0

    async def start(self) -> None:
        self._session = netguard.guarded_session(allow_private=self.allow_private, timeout=self.timeout)
        self._tasks = [asyncio.create_task(self._work(), name=f"memos-webhook-{i}") for i in range(self._workers)]

    async def close(self, grace: float = SHUTDOWN_GRACE) -> None:
        """Give queued deliveries ``grace`` seconds, then drop the rest and close the client."""
        if self._tasks and not self.queue.empty():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.queue.join(), grace)
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._session is not None:
            await self._session.close()
            self._session = None

    def submit(self, delivery: Delivery) -> bool:
        """Queue a delivery; when the queue is full it is dropped (and logged), as upstream does."""
        if not self._tasks:
            return False
        try:
            self.queue.put_nowait(delivery)
        except asyncio.QueueFull:
            self.dropped += 1
            # A target that stalls fills the queue and then every event drops: one line per
            # DROP_LOG_EVERY seconds with the count says so without flooding the log.
            now = time.monotonic()
            if self._drops_logged_at is not None and now - self._drops_logged_at < DROP_LOG_EVERY:
                self._drops_unlogged += 1
                return False
            since = f" ({self._drops_unlogged} more dropped since the last report)" if self._drops_unlogged else ""
            log.warning("webhook queue full: dropped %s to %s%s", delivery.activity_type, delivery.url, since)
            self._drops_logged_at, self._drops_unlogged = now, 0
            return False
        return True

    async def drain(self) -> None:
        """Wait until every queued delivery has been attempted (tests, shutdown)."""
        await self.queue.join()

    async def _work(self) -> None:
        while True:
            delivery = await self.queue.get()
            try:
                await self.post(delivery)
                self.delivered += 1
            except asyncio.CancelledError:
                raise
            except Exception as e:
                self.failed += 1
                log.warning("webhook %s to %s failed: %s", delivery.activity_type, delivery.url, _describe(e))
            finally:
                self.queue.task_done()

    async def post(self, delivery: Delivery) -> None:
        """One POST, no retries, redirects not followed; raises on any failure.

        The destination is checked here for IP literals and by the session's resolver for names,
        at connection time (unless private webhooks are allowed).
        """
        assert self._session is not None, "the dispatcher is not started"
        netguard.check_url(delivery.url, allow_private=self.allow_private)
        async with self._session.post(
            delivery.url,
            data=delivery.body,
            headers={"Content-Type": "application/json"},
            allow_redirects=False,
        ) as resp:
            raw = await _read_capped(resp)
            judge(resp.status, raw)


async def _read_capped(resp: aiohttp.ClientResponse, limit: int = MAX_RESPONSE) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while size < limit:
        chunk = await resp.content.read(limit - size)
        if not chunk:
            break
        chunks.append(chunk)
        size += len(chunk)
    return b"".join(chunks)


def _describe(error: BaseException) -> str:
    """The error, with the guard's refusal that aiohttp wraps in a connector error."""
    text = f"{type(error).__name__}: {error}"
    cause = getattr(error, "os_error", None)
    if isinstance(cause, netguard.DestinationRefused):
        text += f" ({cause})"
    return text
