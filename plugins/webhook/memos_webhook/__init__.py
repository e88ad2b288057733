"""memos-webhook: posts memo events to users' webhooks, SSRF-guarded and off the request path.

Who receives what (the hooks kept in a user's ``WEBHOOKS`` setting, managed through the
UserService webhook RPCs):

==============================  ===============================  ===========================
activity type                   sent to the webhooks of          ``memo`` in the body
==============================  ===============================  ===========================
``memos.memo.created``          the memo's creator               the new memo (comments too)
``memos.memo.updated``          the memo's creator               the updated memo
``memos.memo.deleted``          the memo's creator               the memo before deletion
``memos.memo.comment.created``  the **parent memo's** creator    the comment
==============================  ===============================  ===========================

``memos_on_event`` looks the recipient's hooks up (one query on the request's connection) and
queues one delivery per hook; a bounded queue (128) drained by 4 worker tasks posts them, one
``POST`` each with ``Content-Type: application/json``, a 30 s timeout and no retries. A full queue
drops the delivery. Failures (a non-2xx status, an answer that is not JSON, or a JSON ``code``
other than 0) are logged and go nowhere else. The body is built by :mod:`memos_webhook.payload`.

Delivery happens once per event across instances: the core emits an event only in the process
that handled the request, and this plugin delivers it there, in memory.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import AsyncIterator, Callable
from typing import Any

from aiohttp import web

from memos_core import CONTEXT, events, get_user, hookimpl, metrics, user_webhooks

from . import payload
from .dispatcher import Delivery, DeliveryFailed, Dispatcher, judge

__version__ = "0.1.0"
__all__ = ["ACTIVITY_TYPES", "WEBHOOK", "Delivery", "DeliveryFailed", "Dispatcher", "WebhookHolder", "judge"]

log = logging.getLogger("memos_webhook")

ACTIVITY_TYPES = frozenset({events.MEMO_CREATED, events.MEMO_UPDATED, events.MEMO_DELETED, events.MEMO_COMMENT_CREATED})


@dataclasses.dataclass
class WebhookHolder:
    """Set on the app while it is built (app state freezes at start-up); filled in when it starts."""

    dispatcher: Dispatcher | None = None


WEBHOOK = web.AppKey("memos_webhook", WebhookHolder)


@hookimpl
def memos_cleanup_ctx(app: web.Application) -> Callable[[web.Application], AsyncIterator[None]]:
    holder = app[WEBHOOK] = WebhookHolder()
    metrics.gauge_at_scrape(
        app,
        "memos_webhook_queue_depth",
        "Webhook deliveries waiting in this process's queue.",
        lambda: holder.dispatcher.queue.qsize() if holder.dispatcher is not None else 0,
    )

    async def webhook_ctx(app: web.Application) -> AsyncIterator[None]:
        dispatcher = Dispatcher(allow_private=app[CONTEXT].config.allow_private_webhooks)
        await dispatcher.start()
        holder.dispatcher = dispatcher
        try:
            yield
        finally:
            holder.dispatcher = None
            await dispatcher.close()

    return webhook_ctx


def _recipient(event: Any) -> str:
    """The username whose webhooks receive ``event``: the parent's creator for a new comment,
    the memo's creator otherwise."""
    source = event.resource
    if event.name == events.MEMO_COMMENT_CREATED:
        source = event.extra.get("parent")
    creator = source.get("creator") if isinstance(source, dict) else None
    return creator.removeprefix("users/") if isinstance(creator, str) else ""


async def deliver(app: web.Application, event: Any) -> int:
    """Queue ``event`` for every webhook of its recipient; returns how many were queued."""
    holder = app.get(WEBHOOK)
    dispatcher = holder.dispatcher if holder else None
    username = _recipient(event)
    if dispatcher is None or not username:
        return 0
    store = app[CONTEXT].store
    actor = event.actor  # most often the recipient (their own memo): no need to look them up
    user = actor if actor is not None and actor.username == username else await get_user(store, username=username)
    if user is None or user.username != username:
        return 0
    hooks = await user_webhooks(store, user.id)
    queued = 0
    for hook in hooks:
        body = payload.encode(payload.request_body(hook["url"], event.name, event.resource))
        queued += dispatcher.submit(Delivery(hook["url"], event.name, body))
    return queued


@hookimpl
def memos_on_event(app: web.Application, event: Any) -> Any:
    if event.name not in ACTIVITY_TYPES:
        return None
    return deliver(app, event)
