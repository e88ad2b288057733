"""The link-metadata routes over HTTP, on every driver: authentication, errors, cache, rate limit.

The remote site is a local aiohttp server, allowed by its exact ``127.0.0.1:<port>``
(``MEMOS_HTTPGETTER_ALLOW``); the guard refuses everything else on loopback as in production.
"""

from __future__ import annotations

import asyncio
import dataclasses
from urllib.parse import parse_qs, urlsplit

import pytest
from fixtures import web_pages
from fixtures.link_sites import PNG

from memos_core.app import create_app

ROUTE = "/api/v1/markdown/link:metadata"
pages = web_pages.pages


@pytest.fixture
def extra_env() -> dict[str, str]:
    """Settings a test adds (parametrize it)."""
    return {}


@pytest.fixture
def httpgetter_env(site, extra_env) -> dict[str, str]:
    return {"MEMOS_HTTPGETTER_ALLOW": site.allow, **extra_env}


@pytest.fixture
def memos_app(httpgetter_env, memos_config, memos_extra_plugins, monkeypatch):
    for name, value in httpgetter_env.items():
        monkeypatch.setenv(name, value)
    return create_app(memos_config, extra_plugins=memos_extra_plugins)


@pytest.fixture
async def alice(memos_client, memos_users):
    return await memos_users("alice")


async def metadata(client, user, link: str, status: int = 200) -> dict:
    r = await client.get(ROUTE, params={"link": link}, headers=user.headers if user else {})
    body = await r.json()
    assert r.status == status, body
    return body


def assert_memos_error(body: dict, code: int) -> None:
    assert body["code"] == code and body["message"] and body["details"] == []


# -- the route ---------------------------------------------------------------------------------------
async def test_returns_upstreams_fields_and_memos_py_extras(memos_client, alice, site):
    body = await metadata(memos_client, alice, site.url("/article"))
    assert body == {
        "title": "The OG title",
        "description": "What the article is about.",
        "image": site.url("/media/cover.png"),
        "siteName": "Example News",
        "url": site.url("/article"),
    }


async def test_anonymous_callers_get_401_and_nothing_is_fetched(pages, memos_client, site):
    body = await metadata(memos_client, None, site.url("/article"), status=401)
    assert_memos_error(body, 16)
    r = await memos_client.get(ROUTE, params={"link": site.url("/article")}, headers={"Authorization": "Bearer junk"})
    assert r.status == 401
    assert_memos_error(await r.json(), 16)
    r = await memos_client.get("/web/link-preview", params={"url": site.url("/article")})
    assert r.status == 401
    assert_memos_error(await r.json(), 16)
    r = await memos_client.get("/web/link-preview/image", params={"url": site.url("/media/cover.png"), "sig": "x"})
    assert r.status == 401
    assert site.hits == []


@pytest.mark.parametrize(
    "link", ["", "not a url", "ftp://example.com/x", "javascript:alert(1)", "http://", "http://h:99999/"]
)
async def test_a_bad_link_is_400(memos_client, alice, link):
    assert_memos_error(await metadata(memos_client, alice, link, status=400), 3)


async def test_a_refused_destination_is_403_with_a_clear_message(memos_client, alice, site):
    for link in ["http://169.254.169.254/latest/meta-data/", "http://10.0.0.7/", f"http://localhost:{site.port + 1}/"]:
        body = await metadata(memos_client, alice, link, status=403)
        assert_memos_error(body, 7)
        assert "not a public address" in body["message"]


@pytest.mark.parametrize(
    ("path", "status", "code", "says"),
    [("/dead", 503, 14, "HTTP 404"), ("/file.pdf", 400, 9, "not an HTML page (application/pdf)")],
)
async def test_upstream_failures_are_clear_errors(memos_client, alice, site, path, status, code, says):
    body = await metadata(memos_client, alice, site.url(path), status=status)
    assert_memos_error(body, code)
    assert says in body["message"]


# -- the cache ----------------------------------------------------------------------------------------
async def test_a_result_is_cached_for_every_instance(memos_config, memos_client, alice, site, aiohttp_client):
    first = await metadata(memos_client, alice, site.url("/article"))
    assert await metadata(memos_client, alice, site.url("/article#section")) == first  # fragments do not count
    other = await aiohttp_client(create_app(dataclasses.replace(memos_config)))  # same database, new process
    assert await metadata(other, alice, site.url("/article")) == first
    assert site.hits == ["/article"]


@pytest.mark.parametrize("extra_env", [{"MEMOS_HTTPGETTER_CACHE_TTL": "1"}])
async def test_a_cached_result_expires_after_its_ttl(memos_client, alice, site, extra_env):
    await metadata(memos_client, alice, site.url("/article"))
    await metadata(memos_client, alice, site.url("/article"))
    assert site.hits == ["/article"]
    await asyncio.sleep(1.1)
    await metadata(memos_client, alice, site.url("/article"))
    assert site.hits == ["/article", "/article"]


async def test_failures_are_cached_briefly(memos_client, alice, site):
    for _ in range(3):
        body = await metadata(memos_client, alice, site.url("/dead"), status=503)
        assert "HTTP 404" in body["message"]
    assert site.hits == ["/dead"]  # a dead link is not hammered


@pytest.mark.parametrize("extra_env", [{"MEMOS_HTTPGETTER_FAILURE_TTL": "1"}])
async def test_a_cached_failure_expires_after_the_failure_ttl(memos_client, alice, site, extra_env):
    await metadata(memos_client, alice, site.url("/dead"), status=503)
    await metadata(memos_client, alice, site.url("/dead"), status=503)
    assert site.hits == ["/dead"]
    await asyncio.sleep(1.1)
    await metadata(memos_client, alice, site.url("/dead"), status=503)
    assert site.hits == ["/dead", "/dead"]


# -- the rate limit -------------------------------------------------------------------------------------
@pytest.mark.parametrize("extra_env", [{"MEMOS_HTTPGETTER_RATE_LIMIT": "2", "MEMOS_HTTPGETTER_RATE_WINDOW": "3600"}])
async def test_each_user_has_a_budget_of_fetches_shared_by_all_instances(
    memos_config, memos_client, memos_users, alice, site, extra_env, aiohttp_client
):
    await metadata(memos_client, alice, site.url("/article"))
    await metadata(memos_client, alice, site.url("/article?page=2"))
    r = await memos_client.get(ROUTE, params={"link": site.url("/article?page=3")}, headers=alice.headers)
    assert r.status == 429
    assert_memos_error(await r.json(), 8)
    assert 0 < int(r.headers["Retry-After"]) <= 3600
    # another instance on the same database counts against the same budget
    other = await aiohttp_client(create_app(dataclasses.replace(memos_config)))
    assert (await other.get(ROUTE, params={"link": site.url("/article?page=4")}, headers=alice.headers)).status == 429
    assert site.hits == ["/article", "/article?page=2"]
    # cache hits are free, and other users have their own budget
    assert (await metadata(memos_client, alice, site.url("/article")))["title"] == "The OG title"
    bob = await memos_users("bob")
    assert (await metadata(memos_client, bob, site.url("/article?page=3")))["title"] == "The OG title"


@pytest.mark.parametrize("extra_env", [{"MEMOS_HTTPGETTER_RATE_LIMIT": "1", "MEMOS_HTTPGETTER_RATE_WINDOW": "1"}])
async def test_the_budget_comes_back_with_the_next_window(memos_client, alice, site, extra_env):
    await metadata(memos_client, alice, site.url("/article"))
    refused = await memos_client.get(ROUTE, params={"link": site.url("/article?2")}, headers=alice.headers)
    if refused.status == 200:  # the first call fell at the very end of a window: try once more
        refused = await memos_client.get(ROUTE, params={"link": site.url("/article?3")}, headers=alice.headers)
    assert refused.status == 429
    await asyncio.sleep(1.05)
    assert (await metadata(memos_client, alice, site.url("/article?4")))["title"] == "The OG title"


# -- the web UI's routes -----------------------------------------------------------------------------------
async def test_the_pages_preview_route_serves_a_guarded_same_origin_image(pages, memos_client, alice, site):
    await pages.sign_in(alice)
    r = await memos_client.get("/web/link-preview", params={"url": site.url("/article")})
    assert r.status == 200
    body = await r.json()
    assert body["title"] == "The OG title" and body["siteName"] == "Example News"
    image = urlsplit(body["image"])
    assert image.path == "/web/link-preview/image" and not image.netloc  # same origin, not the remote host
    assert parse_qs(image.query)["url"] == [site.url("/media/cover.png")]

    r = await memos_client.get(body["image"])
    assert r.status == 200 and await r.read() == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"

    # only what a preview named, signed: no open proxy
    forged = {"url": site.url("/vector.svg"), "sig": parse_qs(image.query)["sig"][0]}
    r = await memos_client.get("/web/link-preview/image", params=forged)
    assert r.status == 403
    assert_memos_error(await r.json(), 7)
    assert "/vector.svg" not in site.hits


async def test_the_preview_image_must_be_a_raster_image(pages, memos_client, alice, site, memos_app):
    from memos_httpgetter import HTTPGETTER

    await pages.sign_in(alice)
    signer = memos_app[HTTPGETTER].signer
    for path in ["/vector.svg", "/article"]:
        r = await memos_client.get(signer.path(site.url(path)))
        assert r.status == 400, path
        assert_memos_error(await r.json(), 9)
    r = await memos_client.get(signer.path("http://169.254.169.254/latest/meta-data/"))
    assert r.status == 403


@pytest.mark.parametrize("extra_env", [{"MEMOS_HTTPGETTER_IMAGE_MAX_BYTES": "40"}])
async def test_the_preview_image_is_size_capped(pages, memos_client, alice, site, memos_app, extra_env):
    from memos_httpgetter import HTTPGETTER

    await pages.sign_in(alice)
    r = await memos_client.get(memos_app[HTTPGETTER].signer.path(site.url("/media/cover.png")))
    assert r.status == 400 and "larger than 40 bytes" in (await r.json())["message"]


async def test_cards_with_a_link_get_a_placeholder_for_signed_in_viewers(pages, memos_client, alice, site):
    link = site.url("/article")
    made = {}
    for key, content in {
        "link": f"Read [this]({link}). Then more.",
        "bare": f"see {site.url('/dead')}, later",
        "code": f"`{link}` and\n```\n{link}\n```",
        "image": f"![pic]({site.url('/media/cover.png')})",
        "none": "no links here",
    }.items():
        r = await memos_client.post(
            "/api/v1/memos", json={"content": content, "visibility": "PUBLIC"}, headers=alice.headers
        )
        made[key] = (await r.json())["name"].removeprefix("memos/")

    visitor_page = await pages.get("/explore")
    assert "data-link-preview" not in visitor_page and "link-preview.js" not in visitor_page

    await pages.sign_in(alice)
    text = await pages.get("/explore")
    page = web_pages.parse(text)
    scripts = [n.attrs.get("src") for n in page.one("head").all("script")]
    sheets = [n.attrs.get("href") for n in page.one("head").all("link", rel="stylesheet")]
    assert "/httpgetter/static/link-preview.js" in scripts and "/httpgetter/static/link-preview.css" in sheets

    def placeholder(key: str) -> list:
        return page.one("article", id=f"memo-{made[key]}").all("div", class_="link-preview")

    assert [n.attrs["data-link-preview"] for n in placeholder("link")] == [link]
    assert [n.attrs["data-link-preview"] for n in placeholder("bare")] == [site.url("/dead")]
    assert placeholder("code") == placeholder("image") == placeholder("none") == []
    assert site.hits == []  # drawing the page fetched nothing: the script asks later
    for path in ["/httpgetter/static/link-preview.js", "/httpgetter/static/link-preview.css"]:
        assert (await memos_client.get(path)).status == 200
