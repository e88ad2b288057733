"""Live refresh: memo and reaction changes pushed to ``GET /api/v1/sse`` streams.

Several app processes may serve one database, and a stream is held by one of them, so events
travel through the database rather than process memory: the process that made a change appends a
row to ``memos_py_live_event`` (:meth:`LiveHub.publish`, called by :meth:`Context.emit` after the
commit), and every process that has subscribers polls that table for rows it has not delivered yet.
The ids of rows that commit out of order (two server transactions, the later id first) are waited
for briefly before the hub moves past them, so such rows are not skipped. Clients re-fetch the
named memo; there is no replay, and rows older than :data:`KEEP_MS` are pruned.

An event about a PRIVATE memo goes only to its owner (for a comment: the parent's creator) and to
administrators; other events go to every subscriber. Each subscriber buffers :data:`BUFFER` frames
and silently loses what does not fit, as upstream does.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from aiohttp import web

from . import events
from .context import context_of
from .store import tables
from .store.compiled import Template

if TYPE_CHECKING:
    from .auth import Principal
    from .context import Event
    from .store import Store

log = logging.getLogger(__name__)

BUFFER = 32
KEEP_MS = 10 * 60 * 1000
PRUNE_EVERY = 60.0  # seconds between one process's prunes
GAP_WAIT = 2.0  # seconds to wait for an id that a slower transaction may still commit
MAX_GAP = 10_000  # ids skipped at once (sequence jumps) are not waited for one by one
BATCH = 1000

live = tables.live_event
#: Every memo write adds one row: the INSERT is built and compiled once.
_EVENT_COLUMNS = ("created_ms", "type", "name", "parent", "owner")
_INSERT_EVENT = Template(live.insert().values(**{c: sa.bindparam(c, type_=live.c[c].type) for c in _EVENT_COLUMNS}))
m = tables.memo
u = tables.user
rel = tables.memo_relation


#: Headers of an event stream (``X-Accel-Buffering`` keeps nginx from holding frames back).
STREAM_HEADERS = {
    "Content-Type": "text/event-stream",
    "Cache-Control": "no-cache",
    "Connection": "keep-alive",
    "X-Accel-Buffering": "no",
}


class Closed(Exception):
    """The server is shutting down: end the stream."""


_CLOSE = object()


class Subscriber:
    def __init__(self, principal: Principal) -> None:
        self.username = principal.user.username
        self.is_admin = principal.is_admin
        self.queue: asyncio.Queue[Any] = asyncio.Queue(BUFFER)

    def may_see(self, owner: str | None) -> bool:
        return owner is None or self.is_admin or owner == self.username

    def offer(self, frame: str) -> None:
        with contextlib.suppress(asyncio.QueueFull):  # a slow client loses events, never the hub
            self.queue.put_nowait(frame)

    def close(self) -> None:
        while True:
            try:
                self.queue.put_nowait(_CLOSE)
                return
            except asyncio.QueueFull:
                self.queue.get_nowait()

    async def next(self, timeout: float) -> str | None:
        """The next frame, ``None`` after ``timeout`` seconds without one; :class:`Closed` at shutdown."""
        try:
            item = await asyncio.wait_for(self.queue.get(), timeout)
        except TimeoutError:
            return None
        if item is _CLOSE:
            raise Closed
        return item


class LiveHub:
    """One per application: publishes events to the database and feeds this process's subscribers."""

    def __init__(self, store: Store, poll_interval: float) -> None:
        self.store = store
        self.poll_interval = poll_interval
        self._subscribers: set[Subscriber] = set()
        self._task: asyncio.Task[None] | None = None
        self._start_lock = asyncio.Lock()
        self._floor = 0  # every id up to here is delivered or given up on
        self._seen: set[int] = set()  # delivered ids above the floor
        self._gaps: dict[int, float] = {}  # missing ids above the floor -> when first noticed
        self._last_prune = 0.0

    # -- publishing --------------------------------------------------------------------------------
    async def publish(self, event: Event) -> None:
        """Announce ``event`` to every stream of every instance (a write transaction of its own)."""
        async with self.store.transaction():
            await self.record(event)

    async def record(self, event: Event) -> None:
        """Write ``event``'s announcement in the caller's transaction, so it commits with the change
        it announces (one commit instead of two); then emit it with ``ctx.emit(event, live=False)``."""
        row = await self._row_for(event)
        if row is None:
            return
        now_ms = int(time.time() * 1000)
        await self.store.execute_later(_INSERT_EVENT(created_ms=now_ms, **row))
        if time.monotonic() - self._last_prune >= PRUNE_EVERY:
            self._last_prune = time.monotonic()
            await self.store.execute_later(live.delete().where(live.c.created_ms < now_ms - KEEP_MS))

    async def _row_for(self, event: Event) -> dict[str, Any] | None:
        """The live row for ``event`` (type, memo name, parent, private owner), or ``None``.

        Memo events carry the memo's JSON, which says its visibility, creator and parent; only
        reactions (and private comments, for the parent's creator) need a look at the database.
        """
        resource, extra = event.resource, event.extra
        memo: dict[str, Any] | None = resource  # the memo the event is about, when the event carries it
        if event.name == events.MEMO_CREATED:
            if extra.get("parent"):
                return None  # a comment: announced as memo.comment.created instead
            kind, name = "memo.created", resource.get("name")
        elif event.name == events.MEMO_UPDATED:
            kind, name = "memo.updated", resource.get("name")
        elif event.name == events.MEMO_DELETED:
            kind, name = "memo.deleted", resource.get("name")  # cascaded comments are not announced
        elif event.name == events.MEMO_COMMENT_CREATED:
            kind, name = "memo.comment.created", (extra.get("parent") or {}).get("name")  # names the parent
        elif event.name in (events.REACTION_UPSERTED, events.REACTION_DELETED):
            kind = "reaction.upserted" if event.name == events.REACTION_UPSERTED else "reaction.deleted"
            name, memo = extra.get("memo"), None
        else:
            return None
        if not isinstance(name, str):
            return None
        if memo is None:
            facts = await self._facts(name.removeprefix("memos/"))
            if facts is None:
                return None
            visibility, creator, parent_uid, parent_creator = facts
            parent = f"memos/{parent_uid}" if parent_uid else None
            owner = (parent_creator if parent_uid else creator) if visibility == "PRIVATE" else None
        else:
            parent = memo.get("parent") or None
            owner = await self._private_owner(memo)
        return {
            "type": kind,
            "name": name,
            # Only updates and reactions say which memo a comment belongs to.
            "parent": parent if kind in ("memo.updated", "reaction.upserted", "reaction.deleted") else None,
            "owner": owner,
        }

    async def _private_owner(self, memo: dict[str, Any]) -> str | None:
        """Who may see events about ``memo`` (its API JSON): ``None`` unless PRIVATE; then its creator,
        or for a comment the parent's creator."""
        if memo.get("visibility") != "PRIVATE":
            return None
        owner = str(memo.get("creator", "")).removeprefix("users/")
        parent = memo.get("parent")
        if isinstance(parent, str) and parent:
            row = await self.store.fetch_one(
                sa.select(u.c.username)
                .select_from(m.join(u, u.c.id == m.c.creator_id))
                .where(m.c.uid == parent.removeprefix("memos/"))
            )
            owner = row["username"] if row is not None else owner
        return owner

    async def _facts(self, uid: str) -> tuple[str, str, str | None, str | None] | None:
        """(visibility, creator username, parent uid, parent creator username) of memo ``uid``."""
        parent = m.alias("parent")
        parent_creator = u.alias("parent_creator")
        query = (
            sa.select(m.c.visibility, u.c.username, parent.c.uid, parent_creator.c.username.label("parent_username"))
            .select_from(
                m.join(u, u.c.id == m.c.creator_id)
                .outerjoin(rel, sa.and_(rel.c.memo_id == m.c.id, rel.c.type == "COMMENT"))
                .outerjoin(parent, parent.c.id == rel.c.related_memo_id)
                .outerjoin(parent_creator, parent_creator.c.id == parent.c.creator_id)
            )
            .where(m.c.uid == uid)
            .limit(1)
        )
        row = await self.store.fetch_one(query)
        if row is None:
            return None
        return row["visibility"], row["username"], row["uid"], row["parent_username"]

    # -- subscribing -------------------------------------------------------------------------------
    async def subscribe(self, principal: Principal) -> Subscriber:
        """Register a stream; the first one starts polling from the newest event (no replay)."""
        async with self._start_lock:
            if self._task is None or self._task.done():
                latest = await self.store.fetch_val(sa.select(sa.func.max(live.c.id)))
                self._floor, self._seen, self._gaps = int(latest or 0), set(), {}
                self._task = asyncio.create_task(self._run(), name="memos-live-poll")
            subscriber = Subscriber(principal)
            self._subscribers.add(subscriber)
            return subscriber

    def unsubscribe(self, subscriber: Subscriber) -> None:
        self._subscribers.discard(subscriber)

    async def close(self, app: Any = None) -> None:
        """End every stream (``on_shutdown``), so shutdown does not wait for clients to hang up."""
        for subscriber in list(self._subscribers):
            subscriber.close()

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _run(self) -> None:
        while self._subscribers:
            await asyncio.sleep(self.poll_interval)
            try:
                await self._poll()
            except Exception:
                log.exception("polling live events failed; retrying")

    async def _poll(self) -> None:
        rows = await self.store.fetch_all(
            sa.select(live.c.id, live.c.type, live.c.name, live.c.parent, live.c.owner)
            .where(live.c.id > self._floor)
            .order_by(live.c.id)
            .limit(BATCH)
        )
        for row in rows:
            event_id = int(row["id"])
            if event_id in self._seen:
                continue
            self._seen.add(event_id)
            self._gaps.pop(event_id, None)
            self._deliver(row)
        self._advance()

    def _deliver(self, row: Any) -> None:
        body: dict[str, str] = {"type": row["type"], "name": row["name"]}
        if row["parent"]:
            body["parent"] = row["parent"]
        frame = f"data: {json.dumps(body, separators=(',', ':'))}\n\n"
        for subscriber in list(self._subscribers):
            if subscriber.may_see(row["owner"]):
                subscriber.offer(frame)

    def _advance(self) -> None:
        """Move the floor past delivered ids, and past missing ones once they waited :data:`GAP_WAIT`."""
        top = max(self._seen, default=self._floor)
        if top - self._floor > MAX_GAP:
            self._floor, self._seen, self._gaps = top, set(), {}
            return
        now = time.monotonic()
        while self._floor < top:
            following = self._floor + 1
            if following in self._seen:
                self._seen.discard(following)
            elif now - self._gaps.setdefault(following, now) >= GAP_WAIT:
                del self._gaps[following]
            else:
                break
            self._floor = following
        for missing in range(self._floor + 1, top):
            if missing not in self._seen:
                self._gaps.setdefault(missing, now)


async def serve_events(
    request: web.Request,
    principal: Principal,
    *,
    still_valid: Callable[[], Awaitable[bool]] | None = None,
    headers: dict[str, str] | None = None,
) -> web.StreamResponse:
    """Stream to ``request`` the live events ``principal`` may see, as Server-Sent Events, until the
    client leaves or the server shuts down; a comment line every ``live_heartbeat`` seconds keeps
    proxies from timing out.

    The route must be marked :func:`memos_core.no_db_connection`: the stream waits for minutes and
    must not pin a pooled connection. ``still_valid``, when given, is awaited at each heartbeat and
    ends the stream once it answers False (a cookie session revoked meanwhile, say).
    """
    ctx = context_of(request)
    hub: LiveHub = ctx.live
    subscriber = await hub.subscribe(principal)
    response = web.StreamResponse(headers={**STREAM_HEADERS, **(headers or {})})
    try:
        await response.prepare(request)
        while True:
            try:
                frame = await subscriber.next(ctx.config.live_heartbeat)
            except Closed:
                break
            if frame is None and still_valid is not None and not await still_valid():
                break
            await response.write((frame or ": heartbeat\n\n").encode())
        return response
    except (ConnectionResetError, ConnectionError):
        return response  # the client went away
    finally:
        hub.unsubscribe(subscriber)
