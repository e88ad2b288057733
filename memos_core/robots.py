"""``/robots.txt`` and ``/sitemap.xml``: only when ``MEMOS_INSTANCE_URL`` is configured.

Without a public URL there is nothing absolute to point crawlers at, so both answer 404, as upstream.
The sitemap lists PUBLIC memos (archived ones and comments included, as upstream) as
``{url}/m/{uid}``, newest first, capped at the sitemap protocol's 50,000 URLs per file.
"""

from __future__ import annotations

import datetime as dt
import xml.etree.ElementTree as ET

import sqlalchemy as sa
from aiohttp import web

from .context import context_of
from .store import tables

routes = web.RouteTableDef()

SITEMAP_NS = "http://www.sitemaps.org/schemas/sitemap/0.9"
MAX_URLS = 50_000


def _instance_url(request: web.Request) -> str:
    url = context_of(request).config.instance_url.rstrip("/")
    if not url:
        raise web.HTTPNotFound(text="404 page not found")
    return url


@routes.get("/robots.txt")
async def robots(request: web.Request) -> web.Response:
    url = _instance_url(request)
    body = f"User-agent: *\nAllow: /\nHost: {url}\nSitemap: {url}/sitemap.xml\n"
    return web.Response(text=body, content_type="text/plain")


@routes.get("/sitemap.xml")
async def sitemap(request: web.Request) -> web.Response:
    url = _instance_url(request)
    m = tables.memo
    rows = await context_of(request).store.fetch_all(
        sa.select(m.c.uid, m.c.updated_ts)
        .where(m.c.visibility == "PUBLIC")
        .order_by(m.c.created_ts.desc(), m.c.id.desc())
        .limit(MAX_URLS)
    )
    urlset = ET.Element("urlset", {"xmlns": SITEMAP_NS})
    for row in rows:
        entry = ET.SubElement(urlset, "url")
        ET.SubElement(entry, "loc").text = f"{url}/m/{row['uid']}"
        modified = dt.datetime.fromtimestamp(int(row["updated_ts"]), dt.UTC)
        ET.SubElement(entry, "lastmod").text = modified.strftime("%Y-%m-%dT%H:%M:%SZ")
    body = ET.tostring(urlset, encoding="utf-8", xml_declaration=True)
    return web.Response(body=body, content_type="application/xml", charset="utf-8")
