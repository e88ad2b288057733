"""The attachments library (``/attachments``): the viewer's own files, photos and videos as a grid
by month, documents and audio as a list, and the unused ones counted and deletable at once.

Everything comes from the attachment service (its own-files-only listing, its batch delete), a
page at a time ("load more"), with the same few statements whatever the page size.
"""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import quote

from aiohttp import web

from memos_core import context_of
from memos_core.services import attachments as attachment_service

from .. import i18n
from ..render import render, render_fragment, viewer_zone, zone_of
from ..security import signed_in, wants_fragment

routes = web.RouteTableDef()
PAGE_SIZE = 48
MEDIA = ("image/", "video/")


def file_url(attachment: dict[str, Any]) -> str:
    """Where the bytes are: the external link (S3, EXTERNAL) or this server's file route."""
    return attachment.get("externalLink") or f"/file/{attachment['name']}/{quote(attachment['filename'])}"


def item(attachment: dict[str, Any], zone: dt.tzinfo) -> dict[str, Any]:
    """An attachment as the page draws it."""
    created = dt.datetime.fromisoformat(attachment["createTime"].replace("Z", "+00:00")).astimezone(zone)
    kind = attachment["type"].split("/", 1)[0]
    href = file_url(attachment)
    return {
        **attachment,
        "uid": attachment["name"].removeprefix("attachments/"),
        "href": href,
        "thumb": href + "?thumbnail=true" if kind == "image" and not attachment.get("externalLink") else href,
        "kind": kind,
        "month_key": created.strftime("%Y-%m"),
        "month": i18n.month_label(created.date()),
        "created": i18n.datetime_label(created, zone),
        "memo_url": "/" + attachment["memo"] if attachment.get("memo") else "",
        "size_label": size_label(int(attachment.get("size") or 0)),
    }


def size_label(size: int) -> str:
    """``2048`` -> ``2.0 KB``."""
    if size < 1024:
        return f"{size} B"
    value = float(size)
    for unit in ("KB", "MB", "GB"):
        value /= 1024
        if value < 1024 or unit == "GB":
            break
    return f"{value:.1f} {unit}"


def by_month(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Media grouped by the month they were added, newest month first."""
    groups: dict[str, dict[str, Any]] = {}
    for it in sorted(items, key=lambda i: i["createTime"], reverse=True):
        group = groups.setdefault(it["month_key"], {"key": it["month_key"], "title": it["month"], "files": []})
        group["files"].append(it)
    return list(groups.values())


@routes.get("/attachments", name="web.attachments")
async def attachments_page(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    ctx = context_of(request)
    zone = zone_of(viewer_zone(request))
    token = request.query.get("pageToken", "")
    page = await attachment_service.list_attachments(ctx, viewer, page_size=PAGE_SIZE, page_token=token)
    items = [item(a, zone) for a in page["attachments"]]
    media = [i for i in items if i["type"].startswith(MEDIA)]
    context = {
        "months": by_month(media),
        "documents": [i for i in items if not i["type"].startswith(MEDIA)],
        "next_url": f"/attachments?pageToken={page['nextPageToken']}" if page["nextPageToken"] else "",
        "first_page": not token,
    }
    if wants_fragment(request):
        return await render_fragment(request, "fragments/attachments_page.html", context)
    context["unused"] = await attachment_service.count_attachments(ctx, viewer, filter=attachment_service.UNUSED)
    context["deleted"] = request.query.get("deleted", "")
    return await render(request, "attachments.html", context)


@routes.post("/web/attachments/delete-unused", name="web.attachments.delete_unused")
async def delete_unused(request: web.Request) -> web.StreamResponse:
    """Delete the viewer's attachments that no memo uses (behind the page's confirmation)."""
    viewer = signed_in(request)
    deleted = await attachment_service.delete_unused(context_of(request), viewer)
    if wants_fragment(request):
        return web.json_response({"deleted": deleted})
    raise web.HTTPSeeOther(f"/attachments?deleted={deleted}")
