"""memos-semantic: find memos by meaning, with a small embedding model that runs offline on the CPU.

* **Search modes.** ``GET /api/v1/memos?search=TEXT&searchMode=semantic`` ranks the memos the caller
  may see by how close their meaning is to ``TEXT`` ("what did I say about the garden" finds "planted
  tomatoes in the backyard"); ``searchMode=hybrid`` fuses that ranking with the full-text one
  (reciprocal rank fusion). The MCP tool ``search_memos`` takes the same modes (``mode``).
* **Vectors** live in the plugin's own tables (:mod:`memos_semantic.vectors`), searched with
  sqlite-vec or pgvector where the database has them, with NumPy elsewhere.
* **Kept up to date off the request path** by a worker per instance (:mod:`memos_semantic.worker`)
  that a memo event wakes and that finds its work in the database, so nothing is lost to a restart.

The model (:mod:`memos_semantic.model`) is loaded by the first embedding, never at start-up.
Settings are environment variables ``MEMOS_SEMANTIC_*`` (:class:`memos_semantic.worker.Tunables`).
"""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from memos_core import CONTEXT, hookimpl

from . import vectors
from .modes import HybridMode, SemanticMode, fuse
from .worker import Tunables, Worker

__version__ = "0.1.0"
__all__ = ["SEMANTIC", "HybridMode", "SemanticMode", "SemanticState", "Tunables", "Worker", "fuse"]


@dataclasses.dataclass
class SemanticState:
    """Set on the app while it is built (app state freezes at start-up); filled in when it starts."""

    tunables: Tunables
    backend: str = vectors.NUMPY  # which similarity search this database gets (see vectors)
    worker: Worker | None = None


SEMANTIC = web.AppKey("memos_semantic", SemanticState)


def _state(ctx: Any) -> SemanticState:
    app = getattr(ctx, "app", None)
    state = app.get(SEMANTIC) if app is not None else None
    return state if state is not None else SemanticState(Tunables.from_env())


@hookimpl
def memos_register_search_modes(register: Callable[[str, Any], None]) -> None:
    semantic = SemanticMode(_state)
    register("semantic", semantic)
    register("hybrid", HybridMode(semantic))


@hookimpl
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    state = app[SEMANTIC] = SemanticState(Tunables.from_env())
    store = app[CONTEXT].store
    if store.dialect == "sqlite":  # before the store connects, so on every connection
        store.driver.add_connection_setup(vectors.sqlite_setup(load_vec=state.tunables.backend == "auto"))

    async def semantic_ctx(app: web.Application) -> AsyncIterator[None]:
        ctx = app[CONTEXT]
        async with ctx.store.connection():
            state.backend = await vectors.ensure_schema(ctx.store, allow_native=state.tunables.backend == "auto")
        if not ctx.serving:  # a command, not a server: the servers' workers embed
            yield
            return
        worker = Worker(ctx, state.tunables, state.backend)
        worker.start()
        state.worker = worker
        try:
            yield
        finally:
            state.worker = None
            await worker.stop()

    return semantic_ctx


@hookimpl
def memos_on_event(app: web.Application, event: Any) -> None:
    """A memo changed here: the worker looks at once (at that memo by content, whatever its timestamp)."""
    if not event.name.startswith("memos.memo."):
        return
    state = app.get(SEMANTIC) if app is not None else None
    if state is None or state.worker is None:
        return
    name = str((event.resource or {}).get("name") or "")
    state.worker.wake([name.removeprefix("memos/")] if name.startswith("memos/") else [])
