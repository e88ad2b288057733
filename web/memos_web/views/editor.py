"""The editor's helpers: tag suggestions, memo search for links, uploads, preview, in-place editing.

The JSON routes answer the page's own script; the memo create/update handlers (``views.memo``)
read the editor's form through :func:`create_body` and :func:`update_body`, so the same fields
(attachments, uploaded files, links to other memos, a location, the created time) work with and
without JavaScript. :func:`keep_typed` turns a refused save into the editor again, filled with
what was typed and the reason, instead of an error page.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import functools
import math
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from memos_core import ApiError, Code, Principal, context_of, viewer_of
from memos_core.services import attachments as attachment_service
from memos_core.services import instance
from memos_core.services import memos as memo_service
from memos_core.services import stats as stats_service

from ..filters import Filters
from ..i18n import gettext as _
from ..render import format_when, memo_views, render, render_fragment, user_preferences, viewer_zone, zone_of
from ..security import wants_fragment
from ..urls import safe_redirect

routes = web.RouteTableDef()

SEARCH_LIMIT = 10
MIB = 1024 * 1024
#: Files uploaded while saving a memo without JavaScript, kept for the editor if the save fails.
_UPLOADED = web.RequestKey("memos_web_uploaded", list)
#: Refusals the person can fix by changing what they typed; anything else is the error page.
_FIXABLE = frozenset({Code.INVALID_ARGUMENT, Code.FAILED_PRECONDITION, Code.OUT_OF_RANGE, Code.RESOURCE_EXHAUSTED})


def _viewer(request: web.Request) -> Principal:
    """The signed-in viewer of a JSON route (a 401 answer, not a redirect to the sign-in page)."""
    viewer = viewer_of(request)
    if viewer is None:
        raise ApiError(Code.UNAUTHENTICATED, _("sign in first"))
    return viewer


# -- JSON helpers ----------------------------------------------------------------------------------
@routes.get("/web/tags", name="web.editor.tags")
async def tags(request: web.Request) -> web.Response:
    """The viewer's tags with their memo counts, most used first (what ``#`` offers)."""
    viewer = _viewer(request)
    stats = await stats_service.get_user_stats(context_of(request), viewer, viewer.user.username)
    ordered = sorted(stats["tagCount"].items(), key=lambda kv: (-kv[1], kv[0]))
    return web.json_response({"tags": [{"name": name, "count": count} for name, count in ordered]})


@routes.get("/web/memos/search", name="web.editor.search")
async def search(request: web.Request) -> web.Response:
    """Memos the viewer may read whose content holds every word of ``q`` (newest first, 10 at most)."""
    viewer = _viewer(request)
    query = request.query.get("q", "")
    data = await memo_service.list_memos(
        context_of(request), viewer, page_size=SEARCH_LIMIT, filter=Filters({"text": query}).expression(words=True)
    )
    found = [
        {"name": m["name"], "snippet": m.get("snippet") or m["content"][:80], "createTime": m["createTime"]}
        for m in data["memos"][:SEARCH_LIMIT]
    ]
    return web.json_response({"memos": found})


@routes.post("/web/preview", name="web.editor.preview")
async def preview(request: web.Request) -> web.Response:
    """Markdown drawn by the same safe renderer as the cards, for the editor's preview."""
    _viewer(request)
    ctx = context_of(request)
    form = await request.post()
    content = form_content(form)
    limit = (await instance.memo_related(ctx.store))["contentLengthLimit"]
    if len(content.encode()) > limit:
        raise ApiError(Code.INVALID_ARGUMENT, "content too long")  # as the memo service says it
    html = await ctx.first("memos_render_markdown", content=content, app=ctx.app, base_url="")
    return web.json_response({"html": html or ""})


# -- uploads ---------------------------------------------------------------------------------------
def _files(form: Any, *names: str) -> list[web.FileField]:
    """The chosen files of a multipart form (an empty file input sends a part without a name)."""
    return [f for name in names for f in form.getall(name, []) if isinstance(f, web.FileField) and f.filename]


def _size(field: web.FileField) -> int:
    field.file.seek(0, 2)
    size = field.file.tell()
    field.file.seek(0)
    return size


async def upload(request: web.Request, viewer: Principal, fields: list[web.FileField]) -> list[dict[str, Any]]:
    """Store each file through the attachment service, refusing one over the instance's upload limit
    before reading it (aiohttp spooled it to a temporary file, so it was never held in memory)."""
    ctx = context_of(request)
    limit = await attachment_service.upload_limit(ctx)
    for field in fields:
        size = _size(field)
        if size > limit:
            raise ApiError(
                Code.INVALID_ARGUMENT,
                _(
                    "%(name)s is too large (%(size)s MiB): the upload limit is %(limit)s MiB",
                    name=field.filename,
                    size=math.ceil(size * 10 / MIB) / 10,
                    limit=limit // MIB,
                ),
            )
    stored = request.setdefault(_UPLOADED, [])  # known to the editor if a later step fails
    out = []
    for field in fields:
        data = await asyncio.to_thread(field.file.read)
        body: dict[str, Any] = {"filename": field.filename, "content": data}
        if field.content_type and field.content_type != "application/octet-stream":
            body["type"] = field.content_type
        out.append(await attachment_service.create_attachment(ctx, viewer, body))
        stored.append(out[-1])
    return out


@routes.post("/web/attachments", name="web.editor.upload")
async def upload_attachments(request: web.Request) -> web.Response:
    """Upload files (multipart field ``file``) for a memo not saved yet; the editor keeps their names.

    Unlinked attachments nobody saves a memo with are removed by the core's orphan clean-up."""
    viewer = _viewer(request)
    if request.content_type != "multipart/form-data":
        raise ApiError(Code.INVALID_ARGUMENT, _("Send the files as multipart/form-data."))
    fields = _files(await request.post(), "file", "files")
    if not fields:
        raise ApiError(Code.INVALID_ARGUMENT, _("No file was sent."))
    return web.json_response({"attachments": await upload(request, viewer, fields)})


# -- the editor's form -----------------------------------------------------------------------------
def form_content(form: Any) -> str:
    """The textarea's text with the line breaks it was typed with: browsers send CRLF (the HTML form
    encoding), memos store LF as every other client writes them."""
    return str(form.get("content", "")).replace("\r\n", "\n")


def _strings(form: Any, name: str) -> list[str]:
    return [v for v in form.getall(name, []) if isinstance(v, str)]


def _location(form: Any) -> dict[str, Any] | None:
    """The location fields as a Location message (``None`` when all are empty)."""
    place = str(form.get("location_placeholder", "")).strip()
    lat = str(form.get("location_latitude", "")).strip()
    lng = str(form.get("location_longitude", "")).strip()
    if not (place or lat or lng):
        return None
    return {"placeholder": place, "latitude": lat or 0, "longitude": lng or 0}


def _relations(form: Any) -> list[dict[str, Any]]:
    return [
        {"relatedMemo": {"name": v}, "type": "REFERENCE"} for v in _strings(form, "relation") if v.startswith("memos/")
    ]


async def _attachments(request: web.Request, form: Any) -> list[dict[str, str]]:
    """The attachments the editor holds, then the files chosen without JavaScript, uploaded now."""
    names = [{"name": v} for v in _strings(form, "attachment") if v.startswith("attachments/")]
    fields = _files(form, "files")
    if fields:
        names += [{"name": a["name"]} for a in await upload(request, _viewer(request), fields)]
    return names


async def create_body(request: web.Request, form: Any) -> dict[str, Any]:
    """A CreateMemo body from the editor's form."""
    body: dict[str, Any] = {
        "content": form_content(form),
        "visibility": str(form.get("visibility", "PRIVATE")),
        "attachments": await _attachments(request, form),
        "relations": _relations(form),
    }
    location = _location(form)
    if location is not None:
        body["location"] = location
    return body


def local_input(rfc3339: str, tz: str) -> str:
    """An RFC 3339 time as a ``datetime-local`` value in zone ``tz`` (what the editor shows)."""
    return format_when(rfc3339, tz).replace(" ", "T")


def _create_time(form: Any, tz: str) -> str:
    """The memo's created time: the RFC 3339 ``createTime`` the script wrote, or, without
    JavaScript, the ``datetime-local`` field read in the viewer's zone when the person changed it."""
    original = str(form.get("createTime", ""))
    typed = str(form.get("createTimeLocal", "")).strip()
    if not typed or typed == local_input(original, tz):
        return original
    try:
        local = dt.datetime.fromisoformat(typed)
    except ValueError:
        raise ApiError(Code.INVALID_ARGUMENT, _("Invalid created time: %(typed)s", typed=typed)) from None
    when = local.replace(tzinfo=zone_of(tz)) if local.tzinfo is None else local
    return when.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def update_body(request: web.Request, form: Any) -> dict[str, Any]:
    """An UpdateMemo body from the editor's form: each list is replaced only when the form says it
    sent the whole list (``*_sent``), so an older form cannot drop what it never showed."""
    body: dict[str, Any] = {"content": form_content(form)}
    visibility = form.get("visibility")
    if isinstance(visibility, str) and visibility:
        body["visibility"] = visibility
    created = _create_time(form, viewer_zone(request))
    if created:
        body["createTime"] = created
    if "attachment" in form or form.get("attachments_sent") or _files(form, "files"):
        body["attachments"] = await _attachments(request, form)
    if form.get("relations_sent"):
        body["relations"] = _relations(form)
    if form.get("location_sent"):
        body["location"] = _location(form)
    return body


# -- a refused save keeps what was typed -----------------------------------------------------------
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def keep_typed(handler: Handler) -> Handler:
    """Without JavaScript, answer a save the person can fix (too long, file too large, a bad
    location…) with the editor again: their text, files and links kept, the reason beside it."""

    @functools.wraps(handler)
    async def wrapper(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except ApiError as e:
            if wants_fragment(request) or e.code not in _FIXABLE or request.content_type not in _FORMS:
                raise
            return await _editor_again(request, e)

    return wrapper


_FORMS = ("application/x-www-form-urlencoded", "multipart/form-data")


async def _draft(request: web.Request, form: Any, error: str) -> dict[str, Any]:
    """What the editor showed when it was sent, as the ``editor`` macro's ``draft``."""
    ctx = context_of(request)
    viewer = viewer_of(request)
    attachments = []
    uploaded = {a["name"]: a for a in request.get(_UPLOADED, [])}
    names = [v for v in _strings(form, "attachment") if v.startswith("attachments/")] + list(uploaded)
    for name in names:
        found = uploaded.get(name)
        if found is None:
            try:
                found = await attachment_service.get_attachment(ctx, viewer, name.removeprefix("attachments/"))
            except ApiError:
                continue  # gone meanwhile: nothing to keep
        attachments.append({"name": found["name"], "filename": found["filename"]})
    relations = []
    for rel in _relations(form):
        name = rel["relatedMemo"]["name"]
        try:
            memo = await memo_service.get_memo(ctx, viewer, name.removeprefix("memos/"))
        except ApiError:
            continue
        relations.append({"type": "REFERENCE", "relatedMemo": {"name": name, "snippet": memo.get("snippet", "")}})
    location = _location(form)
    return {
        "content": form_content(form),
        "visibility": str(form.get("visibility", "")),
        "attachments": attachments,
        "relations": relations,
        "location": location,
        "createTimeLocal": str(form.get("createTimeLocal", "")),
        "error": error,
    }


async def _editor_again(request: web.Request, error: ApiError) -> web.StreamResponse:
    form = await request.post()
    ctx = context_of(request)
    viewer = viewer_of(request)
    memo = None
    uid = request.match_info.get("uid")
    if uid:
        try:
            memo = (await memo_views(request, [await memo_service.get_memo(ctx, viewer, uid)]))[0]
        except ApiError:
            raise error from None
    parent = str(form.get("parent", ""))
    title = _("Edit memo") if memo else (_("Write a comment") if parent else _("Write a memo"))
    back = safe_redirect(str(form.get("next", "")), f"/memos/{uid}" if uid else "/home")
    return await render(
        request,
        "editor_page.html",
        {
            "title": title,
            "memo": memo,
            "parent": parent,
            "next": back,
            "draft": await _draft(request, form, error.message),
        },
        status=error.code.http_status,
    )


# -- editing in place ------------------------------------------------------------------------------
@routes.get("/web/memos/{uid}/editor", name="web.editor.fragment")
async def editor_fragment(request: web.Request) -> web.Response:
    """The editor for one memo, for the card's "Edit" to swap in (``/memos/{uid}?edit=1`` without JS)."""
    viewer = _viewer(request)
    uid = request.match_info["uid"]
    memo = await memo_service.get_memo(context_of(request), viewer, uid)
    view = (await memo_views(request, [memo]))[0]
    if not view.can_write:
        raise ApiError(Code.PERMISSION_DENIED, _("Only the creator can edit this memo."))
    return await render_fragment(
        request,
        "fragments/editor.html",
        {"memo": view, "prefs": await user_preferences(request), "next": f"/memos/{uid}", "label": _("Edit memo")},
    )


__all__ = ["create_body", "keep_typed", "routes", "update_body", "upload"]
