"""The inbox (``/inbox``): comment and mention notifications of the viewer, unread first.

A notification is UNREAD or ARCHIVED, and ARCHIVED is what upstream shows as read, so "Mark as
read" archives it and "Mark as unread" brings it back. Only the receiver reaches a notification:
the notification service answers 404 for anyone else's.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from aiohttp import web

from memos_core import context_of
from memos_core.services import notifications as notification_service

from .. import i18n
from ..render import render, render_fragment, unread_count, viewer_zone, zone_of
from ..security import signed_in, wants_fragment
from ..urls import safe_redirect

routes = web.RouteTableDef()
TABS = ("unread", "all")


def memo_link(payload: dict[str, Any] | None) -> str:
    """Where a notification leads: a comment (or a mention inside a comment) on its parent memo's
    page, anchored at the comment's card; a mention in a memo to that memo."""
    if not payload:
        return ""
    memo, related = payload.get("memo", ""), payload.get("relatedMemo", "")
    if related:
        return f"/{related}#memo-{memo.removeprefix('memos/')}"
    return f"/{memo}" if memo else ""


def item(n: notification_service.Notification, zone: dt.tzinfo) -> dict[str, Any]:
    """A notification as the page draws it."""
    payload = n.payload or {}
    created = dt.datetime.fromtimestamp(n.notice.created_ts, dt.UTC)
    return {
        "id": n.notice.id,
        "status": n.notice.status,
        "unread": n.notice.status == "UNREAD",
        "type": n.type,
        "sender": n.sender,
        "created_iso": created.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "created": i18n.ago_label(created, zone),
        "url": memo_link(n.payload),
        "snippet": payload.get("memoSnippet", ""),
        "related_snippet": payload.get("relatedMemoSnippet", ""),
        "available": n.payload is not None,
    }


@routes.get("/inbox", name="web.inbox")
async def inbox_page(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    tab = request.query.get("tab", "unread")
    tab = tab if tab in TABS else "unread"
    zone = zone_of(viewer_zone(request))
    found = await notification_service.list_notifications(context_of(request), viewer, viewer.user.username)
    items = [item(n, zone) for n in found]
    unread = sum(1 for i in items if i["unread"])
    shown = [i for i in items if i["unread"]] if tab == "unread" else items
    return await render(
        request, "inbox.html", {"tab": tab, "items": shown, "unread_total": unread, "all_total": len(items)}
    )


def _back(form: Any) -> str:
    return safe_redirect(str(form.get("next", "")), "/inbox")


@routes.post("/web/inbox/{id}/status", name="web.inbox.status")
async def set_status(request: web.Request) -> web.StreamResponse:
    """Mark a notification read (ARCHIVED) or unread (UNREAD)."""
    viewer = signed_in(request)
    ctx = context_of(request)
    form = await request.post()
    status = str(form.get("status", "ARCHIVED"))
    updated = await notification_service.update_notification(
        ctx, viewer, viewer.user.username, request.match_info["id"], {"status": status}, ["status"]
    )
    if wants_fragment(request):
        return await _fragment(request, updated, form)
    raise web.HTTPSeeOther(_back(form))


async def _fragment(request: web.Request, n: notification_service.Notification, form: Any) -> web.Response:
    response = await render_fragment(
        request,
        "fragments/inbox_item.html",
        {"n": item(n, zone_of(viewer_zone(request))), "next": str(form.get("next", "/inbox"))},
    )
    response.headers["X-Unread-Count"] = str(await unread_count(request))
    return response


@routes.post("/web/inbox/{id}/delete", name="web.inbox.delete")
async def delete(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    form = await request.post()
    await notification_service.delete_notification(
        context_of(request), viewer, viewer.user.username, request.match_info["id"]
    )
    if wants_fragment(request):
        return web.json_response({"gone": True, "unread": await unread_count(request)})
    raise web.HTTPSeeOther(_back(form))
