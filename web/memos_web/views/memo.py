"""One memo: its page, its shared-link page, and every change a card's controls make.

Changes are plain form posts that redirect back (``next``), so they work without JavaScript; the
page's script sends the same posts with ``X-Requested-With: memos-web`` and swaps in the card
fragment it gets back.
"""

from __future__ import annotations

import re
from typing import Any

from aiohttp import web
from markupsafe import Markup

from memos_core import ApiError, Code, context_of, viewer_of
from memos_core.services import access
from memos_core.services import memos as memo_service
from memos_core.services import shares as share_service

from ..i18n import gettext as _
from ..render import memo_views, render, render_fragment
from ..security import signed_in, wants_fragment
from ..urls import safe_redirect
from . import editor

routes = web.RouteTableDef()
_HEADING = re.compile(r"<h([1-6])>(.*?)</h\1>", re.DOTALL)
_TAGS = re.compile(r"<[^>]+>")
_TASK = re.compile(r"^(\s*(?:[-*+]|\d+[.)])\s+\[)([ xX])(\])", re.MULTILINE)
_FENCE = re.compile(r"^\s*(```|~~~)", re.MULTILINE)


def _uid(request: web.Request) -> str:
    return request.match_info["uid"]


def outline(html: str) -> tuple[Markup, list[dict[str, Any]]]:
    """Give each heading an anchor and list them: the memo page's outline."""
    items: list[dict[str, Any]] = []

    def anchor(m: re.Match[str]) -> str:
        slug = f"h-{len(items) + 1}"
        items.append({"level": int(m.group(1)), "id": slug, "text": Markup(_TAGS.sub("", m.group(2))).unescape()})
        return f'<h{m.group(1)} id="{slug}">{m.group(2)}</h{m.group(1)}>'

    return Markup(_HEADING.sub(anchor, html)), items


def toggle_task(content: str, index: int) -> str:
    """Flip the ``index``-th task box (``- [ ]`` / ``- [x]``) outside code fences."""
    seen = 0
    out: list[str] = []
    in_fence = False
    for line in content.split("\n"):
        if _FENCE.match(line):
            in_fence = not in_fence
        elif not in_fence:
            m = _TASK.match(line)
            if m:
                if seen == index:
                    mark = " " if m.group(2) in "xX" else "x"
                    line = line[: m.start(2)] + mark + line[m.end(2) :]
                seen += 1
        out.append(line)
    if index >= seen:
        raise ApiError(Code.INVALID_ARGUMENT, _("No such task."))
    return "\n".join(out)


@routes.get("/m/{uid}", name="web.memo.short")
async def short_link(request: web.Request) -> web.StreamResponse:
    """``/m/{uid}`` (the sitemap's links) -> the memo page."""
    raise web.HTTPMovedPermanently(f"/memos/{_uid(request)}")


async def _memo_page(request: web.Request, memo: dict[str, Any], *, share_token: str = "") -> web.Response:
    ctx = context_of(request)
    viewer = viewer_of(request)
    uid = memo["name"].removeprefix("memos/")
    comments = await memo_service.list_comments(ctx, viewer, uid, page_size=100) if not share_token else {"memos": []}
    relations = await memo_service.list_relations(ctx, viewer, uid) if not share_token else {"relations": []}
    views = await memo_views(request, [memo, *comments["memos"]], comment_previews=False)
    view, comment_views = views[0], views[1:]
    if wants_fragment(request) and not share_token:  # the page's live refresh asks for the comments only
        return await render_fragment(request, "fragments/comment_list.html", {"comments": comment_views})
    view.html, headings = outline(view.html)
    refs = [r for r in relations["relations"] if r["type"] == "REFERENCE"]
    shares: list[dict[str, Any]] = []
    if view.can_write and not share_token:
        shares = (await share_service.list_shares(ctx, viewer, uid)).get("memoShares", [])
    return await render(
        request,
        "memo.html",
        {
            "memo": view,
            "comments": comment_views,
            "headings": headings,
            "referencing": [r for r in refs if r["memo"]["name"] == memo["name"]],
            "referenced_by": [r for r in refs if r["relatedMemo"]["name"] == memo["name"]],
            "share_token": share_token,
            "shares": shares,
        },
    )


@routes.get("/memos/{uid}", name="web.memo")
async def memo_page(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    try:
        memo = await memo_service.get_memo(ctx, viewer_of(request), _uid(request))
    except ApiError as e:
        if e.code == Code.UNAUTHENTICATED:
            signed_in(request)  # a protected memo: sign in, then come back
        raise
    return await _memo_page(request, memo)


@routes.get("/memos/shares/{token}", name="web.share")
async def shared_memo_page(request: web.Request) -> web.StreamResponse:
    ctx = context_of(request)
    memo = await share_service.get_memo_by_share(ctx, viewer_of(request), request.match_info["token"])
    return await _memo_page(request, memo, share_token=request.match_info["token"])


# -- changes ---------------------------------------------------------------------------------------
async def _form(request: web.Request) -> dict[str, str]:
    form = await request.post()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def _done(request: web.Request, uid: str, form: dict[str, str], default: str) -> web.StreamResponse:
    """After a change: the fresh card for the page's script, else back where the form came from."""
    if wants_fragment(request):
        if form.get("_gone"):
            return web.json_response({"gone": True})
        memo = await memo_service.get_memo(context_of(request), viewer_of(request), uid)
        views = await memo_views(request, [memo])
        return await render_fragment(
            request, "fragments/memo_card.html", {"m": views[0], "scope": form.get("scope", "")}
        )
    raise web.HTTPSeeOther(safe_redirect(form.get("next"), default))


@routes.post("/web/memos", name="web.memo.create")
@editor.keep_typed
async def create_memo(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    ctx = context_of(request)
    form = await request.post()
    body = await editor.create_body(request, form)
    parent = str(form.get("parent", ""))
    if parent:
        memo = await memo_service.create_comment(ctx, viewer, parent.removeprefix("memos/"), body)
        default = f"/{parent}#comments"
    else:
        memo = await memo_service.create_memo(ctx, viewer, body)
        default = "/home"
    if wants_fragment(request):
        views = await memo_views(request, [memo])
        return await render_fragment(
            request, "fragments/memo_card.html", {"m": views[0], "scope": "comment" if parent else "home"}
        )
    raise web.HTTPSeeOther(safe_redirect(str(form.get("next", "")), default))


@routes.post("/web/memos/{uid}/update", name="web.memo.update")
@editor.keep_typed
async def update_memo(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    uid = _uid(request)
    form = await request.post()
    body = await editor.update_body(request, form)
    await memo_service.update_memo(context_of(request), viewer, uid, body, list(body_mask(body)))
    return await _done(request, uid, {k: v for k, v in form.items() if isinstance(v, str)}, f"/memos/{uid}")


def body_mask(body: dict[str, Any]) -> list[str]:
    names = {"createTime": "create_time"}
    return [names.get(k, k) for k in body]


async def _patch(request: web.Request, body: dict[str, Any], default: str = "") -> web.StreamResponse:
    viewer = signed_in(request)
    uid = _uid(request)
    form = await _form(request)
    await memo_service.update_memo(context_of(request), viewer, uid, body, body_mask(body))
    return await _done(request, uid, form, default or f"/memos/{uid}")


@routes.post("/web/memos/{uid}/pin", name="web.memo.pin")
async def pin(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    return await _patch(request, {"pinned": form.get("pinned", "1") == "1"})


@routes.post("/web/memos/{uid}/archive", name="web.memo.archive")
async def archive(request: web.Request) -> web.StreamResponse:
    form = await _form(request)
    restore = form.get("restore") == "1"
    if not restore:
        form["_gone"] = "1"
    viewer = signed_in(request)
    uid = _uid(request)
    body = {"state": "NORMAL" if restore else "ARCHIVED"}
    await memo_service.update_memo(context_of(request), viewer, uid, body, ["state"])
    if wants_fragment(request):
        return web.json_response({"gone": True})
    raise web.HTTPSeeOther(safe_redirect(form.get("next"), "/archived" if not restore else "/home"))


@routes.post("/web/memos/{uid}/delete", name="web.memo.delete")
async def delete(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    form = await _form(request)
    await memo_service.delete_memo(context_of(request), viewer, _uid(request))
    if wants_fragment(request):
        return web.json_response({"gone": True})
    next_url = safe_redirect(form.get("next"), "/home")
    if next_url.startswith(f"/memos/{_uid(request)}"):
        next_url = "/home"
    raise web.HTTPSeeOther(next_url)


@routes.post("/web/memos/{uid}/tasks/{index:\\d+}", name="web.memo.task")
async def task(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    ctx = context_of(request)
    uid = _uid(request)
    memo = await memo_service.get_memo(ctx, viewer, uid)
    if not access.may_write(viewer, memo["creator"].removeprefix("users/")):
        raise ApiError(Code.PERMISSION_DENIED, "only the memo's creator may tick its tasks")
    content = toggle_task(memo["content"], int(request.match_info["index"]))
    await memo_service.update_memo(ctx, viewer, uid, {"content": content}, ["content"])
    return await _done(request, uid, await _form(request), f"/memos/{uid}")


@routes.post("/web/memos/{uid}/react", name="web.memo.react")
async def react(request: web.Request) -> web.StreamResponse:
    """Toggle the viewer's reaction ``reaction`` on the memo."""
    viewer = signed_in(request)
    ctx = context_of(request)
    uid = _uid(request)
    form = await _form(request)
    kind = form.get("reaction", "")
    existing = await memo_service.list_reactions(ctx, viewer, uid)
    mine = [
        r
        for r in existing.get("reactions", [])
        if r["creator"] == f"users/{viewer.user.username}" and r["reactionType"] == kind
    ]
    if mine:
        await memo_service.delete_reaction(ctx, viewer, uid, mine[0]["name"].rsplit("/", 1)[-1])
    else:
        await memo_service.upsert_reaction(
            ctx, viewer, uid, {"reaction": {"contentId": f"memos/{uid}", "reactionType": kind}}
        )
    return await _done(request, uid, form, f"/memos/{uid}")


@routes.post("/web/memos/{uid}/shares", name="web.memo.share.create")
async def create_share(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    uid = _uid(request)
    form = await _form(request)
    body: dict[str, Any] = {}
    days = form.get("expires_days", "")
    if days.isdigit() and int(days) > 0:
        import datetime as dt

        expires = dt.datetime.now(dt.UTC) + dt.timedelta(days=int(days))
        body["expireTime"] = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    share = await share_service.create_share(context_of(request), viewer, uid, body)
    if wants_fragment(request):
        return web.json_response({"share": share, "url": f"/memos/shares/{share['name'].rsplit('/', 1)[-1]}"})
    raise web.HTTPSeeOther(f"/memos/{uid}#share")


@routes.post("/web/memos/{uid}/shares/{token}/delete", name="web.memo.share.delete")
async def delete_share(request: web.Request) -> web.StreamResponse:
    viewer = signed_in(request)
    uid = _uid(request)
    await share_service.delete_share(context_of(request), viewer, uid, request.match_info["token"])
    if wants_fragment(request):
        return web.json_response({"deleted": True})
    raise web.HTTPSeeOther(f"/memos/{uid}#share")
