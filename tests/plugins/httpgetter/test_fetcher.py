"""The guarded fetcher and the metadata reader against local sites (no database involved).

The site under test is allowed by its exact ``127.0.0.1:<port>`` (``Settings.allow``); every other
loopback, private or metadata destination stays refused, which is what the SSRF tests check.
"""

from __future__ import annotations

import asyncio
import time

import pytest
from aiohttp import web
from fixtures.link_sites import ARTICLE, PNG, Site, standard_site
from memos_httpgetter import Fetcher, Settings
from memos_httpgetter.meta import youtube_thumbnail
from memos_httpgetter.service import fetch_metadata

from memos_core import ApiError, Code

LONG = "A" * 5000
PUBLIC_IMAGE = "https://93.184.215.14/t.png"  # a public IP literal: passes the image check without DNS

# path -> (body, content type, expected metadata; "{base}" is the site's origin)
PAGES: dict[str, tuple[str | bytes, str, dict[str, str]]] = {
    "/og": (
        ARTICLE,
        "text/html; charset=utf-8",
        {
            "title": "The OG title",
            "description": "What the article is about.",
            "site_name": "Example News",
            "image": "{base}/media/cover.png",
        },
    ),
    "/twitter": (
        f"""<html><head><title>Other</title><meta name="twitter:title" content="Card title">
        <meta name="twitter:description" content="Card text"><meta name="twitter:image" content="{PUBLIC_IMAGE}">
        </head><body></body></html>""",
        "text/html",
        {"title": "Card title", "description": "Card text", "site_name": "", "image": PUBLIC_IMAGE},
    ),
    "/title-only": (
        "<html><head><title>\n  Just a   title\n</title></head><body><p>hi</p></body></html>",
        "text/html",
        {"title": "Just a title", "description": "", "site_name": "", "image": ""},
    ),
    "/name-description": (
        '<head><title>T</title><meta name="description" content="Described here."></head>',
        "text/html",
        {"title": "T", "description": "Described here.", "image": ""},
    ),
    "/blog/post.html": (
        '<head><meta property="og:image" content="../img/a.png"><title>Post</title></head>',
        "text/html",
        {"title": "Post", "image": "{base}/img/a.png"},
    ),
    "/based/page": (
        '<head><base href="/static/"><meta property="og:image" content="b.png"></head>',
        "text/html",
        {"image": "{base}/static/b.png"},
    ),
    "/entities": (
        "<head><title>Tom &amp; Jerry &mdash; &#x1F600; &lt;b&gt;</title>"
        '<meta property="og:description" content="Caf&eacute; &quot;quoted&quot; &#39;x&#39;"></head>',
        "text/html",
        {"title": "Tom & Jerry — 😀 <b>", "description": "Café \"quoted\" 'x'"},
    ),
    "/long-title": (
        f"<head><title>{LONG}</title></head>",
        "text/html",
        {"title": "A" * 299 + "…"},
    ),
    "/no-head": (
        "<!doctype html><title>No head</title><meta name=description content=Headless><p>Body text",
        "text/html",
        {"title": "No head", "description": "Headless"},
    ),
    "/upper-case": (
        '<HTML><HEAD><META PROPERTY="OG:TITLE" CONTENT="Shouted"><TITLE>quiet</TITLE></HEAD></HTML>',
        "text/html",
        {"title": "Shouted"},
    ),
    "/xhtml": (
        '<?xml version="1.0"?><html xmlns="http://www.w3.org/1999/xhtml"><head><title>X</title></head></html>',
        "application/xhtml+xml",
        {"title": "X"},
    ),
    "/private-image": (
        '<head><title>P</title><meta property="og:image" content="http://10.0.0.7/x.png"></head>',
        "text/html",
        {"title": "P", "image": ""},  # refused before anyone could fetch it
    ),
    "/metadata-image": (
        '<head><meta property="og:image" content="http://169.254.169.254/latest/meta-data/"></head>',
        "text/html",
        {"image": ""},
    ),
    "/script-image": (
        '<head><meta property="og:image" content="javascript:alert(1)"></head>',
        "text/html",
        {"image": ""},
    ),
}

RU = "Привет, мир"
JA = "日本語のタイトル"
FR = "Café crème"
CHARSETS: dict[str, tuple[bytes, str, str]] = {
    "/sjis-header": (f"<title>{JA}</title>".encode("shift_jis"), "text/html; charset=Shift_JIS", JA),
    "/sjis-meta": (f'<meta charset="shift_jis"><title>{JA}</title>'.encode("shift_jis"), "text/html", JA),
    "/latin1-header": (f"<title>{FR}</title>".encode("latin-1"), "text/html; charset=ISO-8859-1", FR),
    "/latin1-http-equiv": (
        f'<meta http-equiv="Content-Type" content="text/html; charset=iso-8859-1"><title>{FR}</title>'.encode(
            "latin-1"
        ),
        "text/html",
        FR,
    ),
    # the header wins over a <meta> that disagrees, as in browsers
    "/cp1251-header-vs-meta": (
        f'<meta charset="utf-8"><title>{RU}</title>'.encode("cp1251"),
        "text/html; charset=windows-1251",
        RU,
    ),
    "/cp1251-meta": (f'<meta charset="windows-1251"><title>{RU}</title>'.encode("cp1251"), "text/html", RU),
    # a byte-order mark wins over the header
    "/bom": (b"\xef\xbb\xbf" + f"<title>{RU}</title>".encode(), "text/html; charset=iso-8859-1", RU),
    "/undeclared-utf8": (f"<title>{RU}</title>".encode(), "text/html", RU),
    "/undeclared-legacy": (f"<title>{FR}</title>".encode("cp1252"), "text/html", FR),
    "/unknown-label": (f"<title>{RU}</title>".encode(), "text/html; charset=x-no-such-thing", RU),
}


def hop_chain(site: Site) -> None:
    async def hop(request: web.Request) -> web.Response:
        left = int(request.match_info["left"])
        raise web.HTTPFound("/og" if left == 0 else f"/hop/{left - 1}")

    site.route("/hop/{left}", hop)


@pytest.fixture
async def pages_site(site_factory) -> Site:
    return await site_factory()


@pytest.fixture
def site_factory(start_site):
    """A site with the page tables, the standard pages and redirects to ``targets`` (filled later)."""

    async def make() -> Site:
        site = standard_site()
        for path, (body, content_type, _) in PAGES.items():
            site.page(path, body, content_type)
        for path, (body, content_type, _) in CHARSETS.items():
            site.page(path, body, content_type)
        site.redirect("/moved", "/blog/post.html", 301)
        hop_chain(site)
        site.targets = {}

        async def to(request: web.Request) -> web.Response:
            return web.Response(status=302, headers={"Location": site.targets[request.match_info["name"]]})

        site.route("/to/{name}", to)
        return await start_site(site)

    return make


@pytest.fixture
async def fetcher_for():
    made: list[Fetcher] = []

    def make(site: Site | None = None, *, resolver=None, **settings) -> Fetcher:
        allow = frozenset({("127.0.0.1", site.port)}) if site is not None else frozenset()
        fetcher = Fetcher(Settings(allow=allow, **{"timeout": 5.0, **settings}), resolver=resolver)
        made.append(fetcher)
        return fetcher

    yield make
    for fetcher in made:
        await fetcher.close()


async def refused(coro) -> ApiError:
    with pytest.raises(ApiError) as caught:
        await coro
    return caught.value


# -- metadata ------------------------------------------------------------------------------------
@pytest.mark.parametrize("path", list(PAGES))
async def test_metadata_of_real_world_shaped_pages(pages_site, fetcher_for, path):
    meta = await fetch_metadata(fetcher_for(pages_site), pages_site.url(path))
    base = pages_site.url("/").rstrip("/")
    for field, expected in PAGES[path][2].items():
        assert getattr(meta, field) == expected.replace("{base}", base), field


async def test_relative_image_is_resolved_against_the_final_url(pages_site, fetcher_for):
    meta = await fetch_metadata(fetcher_for(pages_site), pages_site.url("/moved"))
    assert meta.url == pages_site.url("/blog/post.html")
    assert meta.image == pages_site.url("/img/a.png")


@pytest.mark.parametrize("path", list(CHARSETS))
async def test_the_pages_charset_is_honoured(pages_site, fetcher_for, path):
    meta = await fetch_metadata(fetcher_for(pages_site), pages_site.url(path))
    assert meta.title == CHARSETS[path][2]


def test_youtube_watch_pages_get_the_video_thumbnail():
    thumb = "https://img.youtube.com/vi/dQw4w9WgXcQ/mqdefault.jpg"
    assert youtube_thumbnail("https://www.youtube.com/watch?v=dQw4w9WgXcQ&t=42") == thumb
    assert youtube_thumbnail("https://youtu.be/dQw4w9WgXcQ") == thumb
    assert youtube_thumbnail("https://www.youtube.com/watch?v=<script>") == ""
    assert youtube_thumbnail("https://www.youtube.com/channel/x") == ""
    assert youtube_thumbnail("https://notyoutube.com/watch?v=dQw4w9WgXcQ") == ""


async def test_an_oversized_page_is_read_up_to_the_cap_and_its_head_still_parsed(pages_site, fetcher_for):
    fetcher = fetcher_for(pages_site, max_bytes=200_000)
    started = time.monotonic()
    meta = await fetch_metadata(fetcher, pages_site.url("/endless"))  # the body never ends
    assert (meta.title, meta.description) == ("Endless", "first bytes")
    assert time.monotonic() - started < 4
    fetched = await fetcher.get(pages_site.url("/endless"), max_bytes=1000)
    assert fetched.truncated and len(fetched.body) == 1000


@pytest.mark.parametrize("path", ["/slow-headers", "/slow-body"])
async def test_a_slow_server_runs_into_the_time_limit(pages_site, fetcher_for, path):
    fetcher = fetcher_for(pages_site, timeout=0.5)
    started = time.monotonic()
    error = await refused(fetch_metadata(fetcher, pages_site.url(path)))
    assert error.code is Code.DEADLINE_EXCEEDED and error.message
    assert time.monotonic() - started < 2.5


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/file.pdf", Code.FAILED_PRECONDITION),
        ("/media/cover.png", Code.FAILED_PRECONDITION),
        ("/dead", Code.UNAVAILABLE),
    ],
)
async def test_only_html_pages_that_answer_200_are_read(pages_site, fetcher_for, path, code):
    error = await refused(fetch_metadata(fetcher_for(pages_site), pages_site.url(path)))
    assert error.code is code
    assert ("application/pdf" in error.message) if path == "/file.pdf" else error.message


async def test_redirects_are_followed_up_to_the_limit(pages_site, fetcher_for):
    fetcher = fetcher_for(pages_site, max_redirects=3)
    assert (await fetch_metadata(fetcher, pages_site.url("/hop/2"))).title == "The OG title"
    error = await refused(fetch_metadata(fetcher, pages_site.url("/hop/4")))
    assert error.code is Code.UNAVAILABLE and "more than 3 redirects" in error.message


# -- the SSRF rules ----------------------------------------------------------------------------------
async def test_by_default_loopback_is_refused_even_for_the_test_site(pages_site, fetcher_for):
    error = await refused(fetch_metadata(fetcher_for(None), pages_site.url("/og")))
    assert error.code is Code.PERMISSION_DENIED
    assert pages_site.hits == []


@pytest.fixture
async def internal(start_site) -> Site:
    """A service on loopback that nobody allowed: it must never be reached."""
    site = Site()
    site.page("/", "<title>internal secrets</title>")
    site.page("/latest/meta-data/", "<title>credentials</title>")
    return await start_site(site)


@pytest.mark.parametrize(
    ("target", "code"),
    [
        ("http://127.0.0.1:{internal}/", Code.PERMISSION_DENIED),  # loopback, another port
        ("http://localhost:{internal}/", Code.PERMISSION_DENIED),  # a name resolving to loopback
        ("http://[::1]:{internal}/", Code.PERMISSION_DENIED),
        ("http://[::ffff:127.0.0.1]:{site}/og", Code.PERMISSION_DENIED),  # IPv6-mapped: not the allowed form
        ("http://[::ffff:7f00:1]:{internal}/", Code.PERMISSION_DENIED),
        ("http://0.0.0.0:{internal}/", Code.PERMISSION_DENIED),
        ("http://10.0.0.7/", Code.PERMISSION_DENIED),
        ("http://192.168.1.1/admin", Code.PERMISSION_DENIED),
        ("http://169.254.169.254/latest/meta-data/", Code.PERMISSION_DENIED),  # cloud metadata
        ("http://2130706433:{internal}/", Code.INVALID_ARGUMENT),  # decimal IPv4: not a valid host
        ("http://0x7f.0.0.1:{internal}/", Code.PERMISSION_DENIED),  # taken for a name; resolves to loopback
        ("file:///etc/passwd", Code.INVALID_ARGUMENT),
        ("gopher://127.0.0.1:{internal}/", Code.INVALID_ARGUMENT),
    ],
)
async def test_private_destinations_are_refused_directly_and_after_a_redirect(
    pages_site, internal, fetcher_for, target, code
):
    url = target.format(internal=internal.port, site=pages_site.port)
    fetcher = fetcher_for(pages_site)
    direct = await refused(fetcher.get(url))
    assert direct.code is code, direct.message
    pages_site.targets["x"] = url
    redirected = await refused(fetch_metadata(fetcher, pages_site.url("/to/x")))
    assert redirected.code is code, redirected.message
    assert pages_site.hits == ["/to/x"]  # the allowed site was asked; the target never was
    assert internal.hits == []


async def test_each_hop_of_a_chain_is_checked(pages_site, internal, fetcher_for):
    pages_site.targets["inner"] = f"http://localhost:{internal.port}/latest/meta-data/"
    pages_site.targets["outer"] = pages_site.url("/to/inner")
    error = await refused(fetch_metadata(fetcher_for(pages_site), pages_site.url("/to/outer")))
    assert error.code is Code.PERMISSION_DENIED
    assert pages_site.hits == ["/to/outer", "/to/inner"]
    assert internal.hits == []


async def test_dns_answers_that_change_reach_only_checked_addresses(
    pages_site, start_site, fetcher_for, scripted_resolver
):
    """rebind.test first resolves to the allowed site, then to an internal service on 127.0.0.2
    (same port). Each connection uses the answer the guard just checked: the second is refused,
    and neither a pre-check nor an earlier success opens a window."""
    internal = Site()
    internal.page("/title-only", "<title>internal secrets</title>")
    await start_site(internal, host="127.0.0.2", port=pages_site.port)
    pages_site.close_connections = True  # (a kept-alive connection would go to the checked address anyway)
    resolver = scripted_resolver({"rebind.test": [["127.0.0.1"], ["127.0.0.2"]]})
    fetcher = fetcher_for(pages_site, resolver=resolver)
    url = f"http://rebind.test:{pages_site.port}/title-only"  # (a page without an image to check)

    assert (await fetch_metadata(fetcher, url)).title == "Just a title"  # answer 1: the allowed site
    error = await refused(fetch_metadata(fetcher, url))  # answer 2: the internal service
    assert error.code is Code.PERMISSION_DENIED
    assert resolver.lookups == ["rebind.test", "rebind.test"]  # no cached answer skipped the guard

    # a check that passes, then a lookup at connection time that does not: still refused
    resolver.answers["late.test"] = [["127.0.0.1"], ["127.0.0.2"]]
    late = f"http://late.test:{pages_site.port}/title-only"
    await fetcher.check(late)
    assert (await refused(fetcher.get(late))).code is Code.PERMISSION_DENIED

    # a mixed answer: the connection goes to the allowed address only
    resolver.answers["mixed.test"] = [["127.0.0.2", "127.0.0.1"]]
    mixed = f"http://mixed.test:{pages_site.port}/title-only"
    assert (await fetch_metadata(fetcher, mixed)).title == "Just a title"
    assert internal.hits == []


async def test_the_fetcher_sends_no_cookies_and_names_itself(start_site, fetcher_for):
    seen: list[dict] = []

    async def echo(request: web.Request) -> web.Response:
        seen.append(dict(request.headers))
        return web.Response(text="<title>e</title>", content_type="text/html", headers={"Set-Cookie": "s=1; Path=/"})

    site = Site()
    site.route("/", echo)
    await start_site(site)
    fetcher = fetcher_for(site)
    for _ in range(2):
        await fetch_metadata(fetcher, site.url("/"))
    assert "Cookie" not in seen[1]
    assert "memos-py" in seen[0]["User-Agent"]


async def test_get_returns_any_status_and_the_final_url(pages_site, fetcher_for):
    fetched = await fetcher_for(pages_site).get(pages_site.url("/dead"))
    assert fetched.status == 404 and not fetched.truncated
    fetched = await fetcher_for(pages_site).get(pages_site.url("/hop/1"))
    assert (fetched.status, fetched.url) == (200, pages_site.url("/og"))
    fetched = await fetcher_for(pages_site).get(pages_site.url("/media/cover.png"))
    assert fetched.body == PNG


async def test_closing_the_fetcher_ends_its_sessions(pages_site):
    fetcher = Fetcher(Settings(allow=frozenset({("127.0.0.1", pages_site.port)})))
    await fetcher.get(pages_site.url("/og"))
    await fetcher.close()
    await asyncio.sleep(0)
    assert fetcher._sessions == {}


async def test_allow_private_lets_ip_literals_through_too(pages_site):
    """MEMOS_HTTPGETTER_ALLOW_PRIVATE (closed networks) covers loopback IP literals, not only names."""
    fetcher = Fetcher(Settings(allow_private=True))
    try:
        fetcher.check_literal(pages_site.url("/og"))  # 127.0.0.1:<port>, no allow-list entry
        fetched = await fetcher.get(pages_site.url("/og"))
        assert fetched.status == 200
    finally:
        await fetcher.close()
    guarded = Fetcher(Settings())
    with pytest.raises(ApiError) as refused:
        guarded.check_literal(pages_site.url("/og"))
    assert refused.value.code is Code.PERMISSION_DENIED
    await guarded.close()
