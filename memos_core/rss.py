"""RSS 2.0 feeds of public memos: ``/explore/rss.xml`` and ``/u/{username}/rss.xml``.

Each request reads the feed afresh (settings, one page of memos, their creators and attachments: a
fixed handful of statements), so several server instances never disagree and a write shows up at
once; HTTP caching is left to clients and proxies through ``ETag`` and ``Cache-Control``.

Deviation from upstream: items carry the creator's nickname only, never their email address.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import hashlib
import html
import re
import xml.etree.ElementTree as ET
from typing import Any
from urllib.parse import quote

from aiohttp import web

from .context import Context, context_of
from .services import access, instance
from .store import memos as memos_store
from .store import tables
from .store import users as users_store

routes = web.RouteTableDef()

FEED_LIMIT = 100
TITLE_LIMIT = 100  # bytes
DEFAULT_TITLE = "Memos"
DEFAULT_DESCRIPTION = "A lightweight, self-hosted place to write down and share your notes."
CONTENT_NS = "http://purl.org/rss/1.0/modules/content/"
CONTENT_TYPE = "application/rss+xml; charset=utf-8"
CACHE_CONTROL = "public, max-age=3600"

_HEADING = re.compile(r"^ {0,3}#{1,6}(?:[ \t]+|$)")
# Characters XML 1.0 cannot carry at all, not even escaped.
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


# -- pieces ----------------------------------------------------------------------------------------
def item_title(content: str) -> str:
    """The first line without heading marks, cut on a space to at most 100 bytes plus ``...``."""
    line = _HEADING.sub("", content.split("\n", 1)[0].rstrip("\r"), count=1).strip()
    if len(line.encode()) > TITLE_LIMIT:
        cut = line.encode()[:TITLE_LIMIT].decode("utf-8", "ignore")
        space = cut.rfind(" ")
        line = (cut[:space] if space > 0 else cut).rstrip() + "..."
    return line or "Memo"


def http_date(ts: int) -> str:
    """RFC 822 / RFC 1123 date in GMT, as RSS ``pubDate`` and HTTP ``Last-Modified`` want it."""
    return email.utils.format_datetime(dt.datetime.fromtimestamp(int(ts), dt.UTC), usegmt=True)


def base_url(request: web.Request) -> str:
    """``MEMOS_INSTANCE_URL`` when configured, else what the client used to reach us."""
    configured = context_of(request).config.instance_url
    return configured.rstrip("/") if configured else f"{request.scheme}://{request.host}"


def _clean(text: str) -> str:
    return _NOT_XML.sub("", text)


def _sub(parent: ET.Element, tag: str, text: str | None = None, **attrs: str) -> ET.Element:
    el = ET.SubElement(parent, tag, {k: _clean(v) for k, v in attrs.items()})
    if text is not None:
        el.text = _clean(text)
    return el


async def render(ctx: Context, content: str, base: str) -> str:
    """Safe HTML through the markdown hook; escaped text when no plugin renders markdown."""
    rendered = await ctx.first("memos_render_markdown", content=content, app=ctx.app, base_url=base)
    if isinstance(rendered, str):
        return rendered
    return f"<p>{html.escape(content)}</p>"


def enclosure_url(base: str, row: Any) -> str:
    if row["storage_type"] in ("S3", "EXTERNAL") and row["reference"]:
        return row["reference"]
    return f"{base}/file/attachments/{quote(row['uid'], safe='')}/{quote(row['filename'] or '', safe='')}"


# -- the feed --------------------------------------------------------------------------------------
async def build_feed(ctx: Context, base: str, user: users_store.User | None) -> tuple[bytes, int | None]:
    """The feed document and the newest ``updated_ts`` among its items (``None`` when empty)."""
    m = tables.memo
    where = [m.c.row_status == access.NORMAL, access.visible_clause(None)]  # what anyone may read
    if user is not None:
        where.append(m.c.creator_id == user.id)
    # Comments are included, as upstream's feed does.
    memos = await memos_store.list_memos(ctx.store, where, [m.c.created_ts.desc(), m.c.id.desc()], FEED_LIMIT, 0)
    if user is not None:
        creators = {user.id: user}
    else:
        creators = await users_store.get_users_by_ids(ctx.store, {memo.creator_id for memo in memos})
    first_attachment: dict[int, Any] = {}
    for row in await memos_store.attachments_for(ctx.store, [memo.id for memo in memos]):
        first_attachment.setdefault(row["memo_id"], row)  # rows come in the memo JSON's order
    profile = (await instance.general(ctx.store)).get("customProfile")

    rss = ET.Element("rss", {"version": "2.0", "xmlns:content": CONTENT_NS})
    channel = _sub(rss, "channel")
    if isinstance(profile, dict):
        _sub(channel, "title", str(profile.get("title") or ""))
        _sub(channel, "link", base)
        _sub(channel, "description", str(profile.get("description") or ""))
    else:
        _sub(channel, "title", DEFAULT_TITLE)
        _sub(channel, "link", base)
        _sub(channel, "description", DEFAULT_DESCRIPTION)
    newest = max((memo.updated_ts for memo in memos), default=None)
    if newest is not None:
        _sub(channel, "lastBuildDate", http_date(newest))

    for memo in memos:
        link = f"{base}/memos/{memo.uid}"
        body = await render(ctx, memo.content, base)
        item = _sub(channel, "item")
        _sub(item, "title", item_title(memo.content))
        _sub(item, "link", link)
        _sub(item, "description", body)
        _sub(item, "content:encoded", body)
        creator = creators.get(memo.creator_id)
        _sub(item, "author", (creator.nickname or creator.username) if creator else memo.creator)
        _sub(item, "guid", link)
        _sub(item, "pubDate", http_date(memo.created_ts))
        attachment = first_attachment.get(memo.id)
        if attachment is not None:
            _sub(
                item,
                "enclosure",
                url=enclosure_url(base, attachment),
                type=attachment["type"] or "application/octet-stream",
                length=str(attachment["size"] or 0),
            )
    return ET.tostring(rss, encoding="utf-8", xml_declaration=True), newest


def _matches(if_none_match: str, etag: str) -> bool:
    """Weak comparison (RFC 9110 §13.1.2), which is what ``If-None-Match`` uses."""
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == etag:
            return True
    return False


async def feed_response(request: web.Request, user: users_store.User | None) -> web.Response:
    body, newest = await build_feed(context_of(request), base_url(request), user)
    etag = '"' + hashlib.sha256(body).digest()[:8].hex() + '"'
    headers = {"ETag": etag, "Cache-Control": CACHE_CONTROL, "X-Content-Type-Options": "nosniff"}
    if newest is not None:
        headers["Last-Modified"] = http_date(newest)
    if _matches(request.headers.get("If-None-Match", ""), etag):
        return web.Response(status=304, headers=headers)
    return web.Response(body=body, headers={**headers, "Content-Type": CONTENT_TYPE})


# -- routes ----------------------------------------------------------------------------------------
@routes.get("/explore/rss.xml", name="RSS.Explore")
async def explore_feed(request: web.Request) -> web.Response:
    return await feed_response(request, None)


@routes.get("/u/{username}/rss.xml", name="RSS.User")
async def user_feed(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    user = await users_store.get_user(context_of(request).store, username=username)
    if user is None or user.username != username:
        raise web.HTTPNotFound(text="user not found")
    return await feed_response(request, user)
