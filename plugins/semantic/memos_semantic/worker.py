"""The embedding worker each app instance runs, off the request path.

Its queue is the database itself: a memo needs (re-)embedding when it has no vector row, or when its
``updated_ts`` differs from the one its row recorded, so the work survives restarts and includes
rows written behind memos-py's back (an import, ``copy-db``, upstream Memos on the same database).
Three more sources cover what a timestamp cannot show:

* memo events of this instance (``memos_on_event``) name the memo: it is checked by content hash,
  so a second edit within the same second is not missed;
* at start, every memo is checked by content hash once (a content change that kept its timestamp);
* vector rows whose memo is gone are deleted each round.

A round embeds a batch in the model's thread, then writes it in one transaction that first locks
the memos (server databases; SQLite's write transaction excludes writers anyway) and keeps only the
vectors of content that is still current: a memo edited meanwhile is queued again. Several
instances on one database may embed the same memo at once; each writes the same row, so the work is
idempotent and needs no lease.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import model, vectors

if TYPE_CHECKING:
    import numpy as np

log = logging.getLogger("memos_semantic")

#: Seconds before a round takes again the memos that changed while it embedded them.
RETRY_DELAY = 0.05


@dataclasses.dataclass(frozen=True)
class Tunables:
    """Operational settings (environment ``MEMOS_SEMANTIC_*``, read when the app is built)."""

    poll_interval: float = 30.0  # seconds between checks for memos written without an event here
    batch: int = 256  # memos embedded and written per transaction
    #: Memos less similar than this (cosine) to the query are not semantic results at all.
    min_similarity: float = 0.0
    #: ``auto``: the database's vector support where it has some; ``numpy``: always the fallback.
    backend: str = "auto"
    #: How long shutdown lets a round finish before cancelling it.
    stop_grace: float = 10.0

    @classmethod
    def from_env(cls, env: dict[str, str] | None = None) -> Tunables:
        env = dict(os.environ if env is None else env)
        values: dict[str, Any] = {}
        for field in dataclasses.fields(cls):
            name = f"MEMOS_SEMANTIC_{field.name.upper()}"
            raw = env.get(name, "").strip()
            if not raw:
                continue
            if field.type == "str":
                if raw not in ("auto", "numpy"):
                    raise ValueError(f"{name} must be auto or numpy, not {raw!r}")
                values[field.name] = raw
                continue
            try:
                number = int(raw) if field.type == "int" else float(raw)
            except ValueError:
                raise ValueError(f"{name} must be a number, not {raw!r}") from None
            if field.name == "min_similarity":
                if not -1.0 <= number < 1.0:
                    raise ValueError(f"{name} must be at least -1 and below 1")
            elif number <= 0:
                raise ValueError(f"{name} must be positive")
            values[field.name] = number
        return cls(**values)


class Worker:
    def __init__(self, ctx: Any, tunables: Tunables, backend: str) -> None:
        self.ctx = ctx
        self.tunables = tunables
        self.backend = backend
        self._wake = asyncio.Event()
        self._task: asyncio.Task | None = None
        self._lock = asyncio.Lock()
        self._stopping = False
        self._uids: set[str] = set()  # memos named by events since the last round
        self._retry: set[int] = set()  # memos that changed while they were being embedded
        self._verify_after: int | None = 0  # the start-up hash check's position (None: done)
        self.rounds = 0  # completed rounds (tests wait on it)

    # -- lifetime ------------------------------------------------------------------------------
    def start(self) -> None:
        self._stopping = False
        self._task = asyncio.create_task(self._loop(), name="memos-semantic")

    async def stop(self) -> None:
        """Let the round in progress finish (a cancelled transaction could be left open); cancel past the grace."""
        if self._task is None:
            return
        self._stopping = True
        self._wake.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._task), self.tunables.stop_grace)
        except TimeoutError:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._task = None

    def wake(self, uids: Iterable[str] = ()) -> None:
        self._uids.update(uids)
        self._wake.set()

    async def _loop(self) -> None:
        with self.ctx.store.background():  # these statements are not a request's
            while not self._stopping:
                self._wake.clear()
                delay = self.tunables.poll_interval
                try:
                    await self.run_once()
                    if self._retry:  # memos edited while they were embedded: soon again
                        delay = RETRY_DELAY
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("the semantic worker failed; trying again in %g s", delay)
                self.rounds += 1
                if self._stopping:
                    break
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), delay)

    # -- a round ---------------------------------------------------------------------------------
    async def run_once(self) -> int:
        """Bring the vectors in step with the memos; how many memos were (re)written. Serialised per instance."""
        async with self._lock:
            store, batch = self.ctx.store, self.tunables.batch
            if self.rounds == 0:
                await vectors.drop_other_models(store)
            while await vectors.drop_orphans(store, self.backend, batch) >= batch and not self._stopping:
                pass
            if self.backend == vectors.PGVECTOR:
                while (rows := await vectors.unmirrored(store, batch)) and not self._stopping:
                    await vectors.mirror(store, rows)
            done = 0
            uids, self._uids = list(self._uids), set()
            retry, self._retry = list(self._retry), set()
            done += await self._refresh(retry + await vectors.ids_of_uids(store, uids))
            while not self._stopping and (ids := await vectors.changed(store, batch)):
                written = await self._refresh(ids)
                done += written
                if not written:  # every one of them changed meanwhile: the next round takes them
                    break
            while not self._stopping and self._verify_after is not None:
                ids = await vectors.ids_after(store, self._verify_after, batch)
                if not ids:
                    self._verify_after = None
                    break
                done += await self._refresh(ids)
                self._verify_after = ids[-1]
            return done

    async def _refresh(self, ids: list[int]) -> int:
        """Embed the memos ``ids`` whose row is missing or out of date, record the new
        ``updated_ts`` of those whose content is unchanged; how many rows were written."""
        if not ids:
            return 0
        store = self.ctx.store
        found = await vectors.current(store, ids)
        known = await vectors.recorded(store, list(found))
        stale: list[tuple[int, str, str]] = []
        unchanged: dict[int, str] = {}
        for memo_id, (content, updated_ts) in found.items():
            digest = vectors.content_hash(content)
            row = known.get(memo_id)
            if row is not None and row[:2] == (model.MODEL, digest):
                if row[2] != updated_ts:  # archived, pinned, …: the vector stands, its stamp moves
                    unchanged[memo_id] = digest
            else:
                stale.append((memo_id, content, digest))
        texts = [content for _, content, _ in stale if content.strip()]
        embedded = iter(await model.embed(texts) if texts else ())
        fresh: list[np.ndarray | None] = [next(embedded) if content.strip() else None for _, content, _ in stale]
        now_ms = int(time.time() * 1000)
        if not stale and not unchanged:
            return 0
        async with store.transaction():
            locked = await vectors.current(store, [i for i, _, _ in stale] + list(unchanged), lock=True)
            rows: list[dict[str, Any]] = []
            kept: list[np.ndarray | None] = []
            for (memo_id, _content, digest), v in zip(stale, fresh, strict=True):
                now = locked.get(memo_id)
                if now is None:  # deleted meanwhile
                    continue
                if vectors.content_hash(now[0]) != digest:
                    self._retry.add(memo_id)
                    continue
                stored = vectors.to_bytes(v) if v is not None else None
                rows.append(
                    {
                        "memo_id": memo_id,
                        "model": model.MODEL,
                        "content_hash": digest,
                        "memo_updated_ts": now[1],
                        "vector": stored,
                        "embedded_ms": now_ms,
                    }
                )
                kept.append(v if stored is not None else None)
            stamps = {}
            for memo_id, digest in unchanged.items():
                now = locked.get(memo_id)
                if now is not None and vectors.content_hash(now[0]) == digest:
                    stamps[memo_id] = now[1]
            await vectors.write(store, rows, kept, self.backend)
            await vectors.touch(store, stamps)
        if rows:
            log.debug("semantic: embedded %d memos", len(rows))
        return len(rows) + len(stamps)
