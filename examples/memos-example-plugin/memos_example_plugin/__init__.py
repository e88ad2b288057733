"""memos-example-plugin: word counts in memos-py's web UI, written as any third-party plugin would be.

It uses only ``memos_core``'s public API and these hooks (see ``docs/plugins.md``):

* ``memos_register_routes``: its page ``/word-count`` and its stylesheet;
* ``memos_web_nav_items``: a "Word count" link in the navigation rail, for signed-in viewers;
* ``memos_web_memo_actions``: a "Word count" item in every memo card's menu, linking to its page;
* ``memos_web_memo_extra``: "N words" below each memo, computed from the memo at hand (no query);
* ``memos_web_extra_css_urls``: its stylesheet, served by its own route (same origin, as the
  pages' Content-Security-Policy requires).
"""

from __future__ import annotations

import re
from importlib import resources
from typing import Any
from urllib.parse import quote

import sqlalchemy as sa
from aiohttp import web
from markupsafe import Markup

from memos_core import context_of, get_memo, hookimpl, tables, viewer_of

PAGE = "/word-count"
CSS_URL = "/word-count/static/word-count.css"
_CSS = resources.files(__package__).joinpath("static/word-count.css").read_text(encoding="utf-8")
_WORD = re.compile(r"\w+(?:['’-]\w+)*")  # markdown punctuation (#, -, [ ]) is not a word


def count_words(text: str) -> int:
    return len(_WORD.findall(text or ""))


def words(n: int) -> str:
    return f"{n} word" if n == 1 else f"{n} words"


# -- hooks -----------------------------------------------------------------------------------------
@hookimpl
def memos_register_routes(app: web.Application) -> None:
    # A ``web.*`` name puts the page under memos-web's middleware: the signed-in viewer from the
    # session cookie, CSRF checks on posts, the pages' security headers and error pages.
    app.router.add_get(PAGE, word_count_page, name="web.word_count")
    app.router.add_get(CSS_URL, stylesheet, name="word_count.css")


@hookimpl
def memos_web_extra_css_urls(request: web.Request) -> list[str]:
    return [CSS_URL]


@hookimpl
def memos_web_nav_items(request: web.Request) -> list[dict[str, str]] | None:
    if viewer_of(request) is None:
        return None  # the page's totals are the viewer's own memos
    return [{"label": "Word count", "href": PAGE}]


@hookimpl
def memos_web_memo_actions(request: web.Request, memo: dict[str, Any]) -> list[dict[str, str]]:
    uid = memo["name"].removeprefix("memos/")
    return [{"label": "Word count", "href": f"{PAGE}?memo={quote(uid, safe='')}"}]


@hookimpl
def memos_web_memo_extra(request: web.Request, memo: dict[str, Any]) -> Markup:
    # Called once per card: count what the card already holds, never query here.
    return Markup('<p class="word-count">{}</p>').format(words(count_words(memo.get("content", ""))))


# -- routes ----------------------------------------------------------------------------------------
async def stylesheet(request: web.Request) -> web.Response:
    return web.Response(text=_CSS, content_type="text/css", headers={"Cache-Control": "public, max-age=3600"})


async def word_count_page(request: web.Request) -> web.Response:
    """``?memo=<uid>``: that memo's words (read with the core's access rules); else the signed-in
    viewer's totals over their own memos."""
    ctx = context_of(request)
    viewer = viewer_of(request)
    uid = request.query.get("memo", "")
    if uid:
        memo = await get_memo(ctx, viewer, uid)  # an ApiError becomes memos-web's error page
        body = Markup(
            '<h1>Word count</h1><p class="total">{}</p><blockquote>{}</blockquote>'
            '<p><a href="/{}">Back to the memo</a></p>'
        ).format(words(count_words(memo["content"])), memo.get("snippet") or memo["content"][:200], memo["name"])
        return _page(body)
    if viewer is None:
        raise web.HTTPFound("/auth?redirect=" + PAGE)
    rows = await ctx.store.fetch_all(
        sa.select(tables.memo.c.content).where(
            tables.memo.c.creator_id == viewer.user.id, tables.memo.c.row_status == "NORMAL"
        )
    )
    total = sum(count_words(r["content"]) for r in rows)
    body = Markup(
        '<h1>Word count</h1><p class="total">{}</p><p>in your {} (comments included).</p>'
        '<p><a href="/home">Back to your memos</a></p>'
    ).format(words(total), "1 memo" if len(rows) == 1 else f"{len(rows)} memos")
    return _page(body)


def _page(body: Markup) -> web.Response:
    html = Markup(
        '<!doctype html><html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        '<title>Word count</title><link rel="icon" href="data:,"><link rel="stylesheet" href="{}"></head>'
        '<body class="word-count-page"><main>{}</main></body></html>'
    ).format(CSS_URL, body)
    return web.Response(text=str(html), content_type="text/html")
