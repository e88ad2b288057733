"""The external-image proxy (MEMOS_MARKDOWN_IMAGE_PROXY), through the RSS feed and the proxy route.

A real HTTP server on loopback plays the remote image host. Loopback is exactly what the SSRF guard
refuses, so the tests that fetch successfully turn on ``…_ALLOW_PRIVATE``; the others prove that,
without it, the guard refuses before any connection reaches the host.
"""

from __future__ import annotations

import dataclasses
import io
import re
import xml.etree.ElementTree as ET
from html import unescape
from urllib.parse import parse_qs, urlsplit

import aiohttp
import pytest
from aiohttp import web
from PIL import Image

from memos_core.app import create_app
from memos_core.netguard import is_public_address

MAX_BYTES = 4096
ON = {"MEMOS_MARKDOWN_IMAGE_PROXY": "1", "MEMOS_MARKDOWN_IMAGE_PROXY_MAX_BYTES": str(MAX_BYTES)}
ON_PRIVATE = {**ON, "MEMOS_MARKDOWN_IMAGE_PROXY_ALLOW_PRIVATE": "1"}


def png_bytes() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (4, 3), (200, 30, 30)).save(out, format="PNG")
    return out.getvalue()


PNG = png_bytes()


@pytest.fixture
async def image_host(aiohttp_server):
    """A remote host: a PNG, things that are not raster images, oversized images and redirect chains."""
    hits: list[str] = []

    @web.middleware
    async def count(request, handler):
        hits.append(request.path)
        return await handler(request)

    async def cat(request):
        return web.Response(body=PNG, content_type="image/png", headers={"ETag": '"cat-1"'})

    async def page(request):
        return web.Response(text="<script>alert(1)</script>", content_type="text/html")

    async def svg(request):
        return web.Response(text="<svg xmlns='http://www.w3.org/2000/svg'/>", content_type="image/svg+xml")

    async def huge(request):
        return web.Response(body=b"\x89PNG" + b"0" * (MAX_BYTES * 2), content_type="image/png")

    async def huge_chunked(request):
        response = web.StreamResponse(headers={"Content-Type": "image/png"})
        response.enable_chunked_encoding()
        await response.prepare(request)
        for _ in range(8):
            await response.write(b"1" * 1024)
        await response.write_eof()
        return response

    async def hop(request):
        left = int(request.match_info["left"])
        raise web.HTTPFound("/cat.png" if left == 0 else f"/hop/{left - 1}")

    async def missing(request):
        raise web.HTTPNotFound()

    app = web.Application(middlewares=[count])
    app.router.add_get("/cat.png", cat)
    app.router.add_get("/page", page)
    app.router.add_get("/vector.svg", svg)
    app.router.add_get("/huge.png", huge)
    app.router.add_get("/chunked.png", huge_chunked)
    app.router.add_get("/hop/{left}", hop)
    app.router.add_get("/gone.png", missing)
    server = await aiohttp_server(app)
    server.hits = hits
    return server


@pytest.fixture
def proxy_env() -> dict[str, str]:
    return ON_PRIVATE


@pytest.fixture
def memos_app(proxy_env, memos_config, memos_extra_plugins, monkeypatch):
    for name, value in proxy_env.items():
        monkeypatch.setenv(name, value)
    return create_app(memos_config, extra_plugins=memos_extra_plugins)


async def public_memo(client, user, content: str) -> None:
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": "PUBLIC"}, headers=user.headers)
    assert r.status == 200, await r.text()


async def feed_image_srcs(client) -> list[str]:
    r = await client.get("/explore/rss.xml")
    assert r.status == 200
    channel = ET.fromstring(await r.read()).find("channel")
    assert channel is not None
    return [
        unescape(src)
        for item in channel.findall("item")
        for src in re.findall(r'<img src="([^"]*)"', item.findtext("description") or "")
    ]


async def proxied_path(client, user, image_url: str) -> str:
    """Publish a memo showing ``image_url`` and return the proxy path the feed points it at."""
    await public_memo(client, user, f"look ![pic]({image_url})")
    srcs = await feed_image_srcs(client)
    base = str(client.make_url("")).rstrip("/")
    assert srcs[0].startswith(base + "/markdown/image-proxy?"), srcs
    return srcs[0].removeprefix(base)


@pytest.fixture
async def alice(memos_client, memos_users):
    return await memos_users("alice")


# -- rewriting ----------------------------------------------------------------------------------
async def test_feed_rewrites_external_images_only(memos_client, alice):
    await public_memo(
        memos_client,
        alice,
        "![a](https://img.example/a.png) ![b](//img.example/b.png) ![local](/file/attachments/x/y.png)",
    )
    srcs = await feed_image_srcs(memos_client)
    base = str(memos_client.make_url("")).rstrip("/")
    assert len(srcs) == 3
    urls = [parse_qs(urlsplit(src).query).get("url", [None])[0] for src in srcs[:2]]
    assert urls == ["https://img.example/a.png", "https://img.example/b.png"]  # // is fetched over https
    assert all(src.startswith(f"{base}/markdown/image-proxy?") for src in srcs[:2])
    assert srcs[2] == "/file/attachments/x/y.png"  # our own files are not proxied


@pytest.mark.parametrize("proxy_env", [{}, {"MEMOS_MARKDOWN_IMAGE_PROXY": "0"}])
async def test_off_by_default_links_directly(memos_client, alice, proxy_env):
    await public_memo(memos_client, alice, "![a](https://img.example/a.png)")
    assert await feed_image_srcs(memos_client) == ["https://img.example/a.png"]
    r = await memos_client.get("/markdown/image-proxy", params={"url": "https://img.example/a.png", "sig": "x"})
    assert r.status == 404


# -- fetching -----------------------------------------------------------------------------------
async def test_streams_the_image_with_safe_headers(memos_client, alice, image_host):
    path = await proxied_path(memos_client, alice, str(image_host.make_url("/cat.png")))
    r = await memos_client.get(path)
    assert r.status == 200
    assert await r.read() == PNG
    assert r.headers["Content-Type"] == "image/png"
    assert r.headers["X-Content-Type-Options"] == "nosniff"
    assert "sandbox" in r.headers["Content-Security-Policy"]
    assert r.headers["Cache-Control"].startswith("public")
    assert r.headers["ETag"] == '"cat-1"'
    assert "Set-Cookie" not in r.headers


async def test_signature_is_required_and_checked(memos_client, alice, image_host):
    path = await proxied_path(memos_client, alice, str(image_host.make_url("/cat.png")))
    query = parse_qs(urlsplit(path).query)
    url, sig = query["url"][0], query["sig"][0]
    other = str(image_host.make_url("/page"))

    for params, status, code in [
        ({"url": url}, 400, 3),
        ({"sig": sig}, 400, 3),
        ({"url": url, "sig": "0" * len(sig)}, 403, 7),
        ({"url": other, "sig": sig}, 403, 7),  # a signature is for one URL only
        ({"url": url + "?x=1", "sig": sig}, 403, 7),
    ]:
        r = await memos_client.get("/markdown/image-proxy", params=params)
        assert r.status == status, params
        body = await r.json()
        assert body["code"] == code and body["message"] and body["details"] == []
    assert image_host.hits == []  # nothing unsigned was fetched


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/page", 400),  # HTML is not an image
        ("/vector.svg", 400),  # SVG can carry script
        ("/huge.png", 400),  # Content-Length over the limit: refused before streaming
        ("/gone.png", 503),
        ("/hop/4", 503),  # more than 3 redirects
    ],
)
async def test_refuses_what_is_not_a_small_raster_image(memos_client, alice, image_host, path, status):
    proxy_path = await proxied_path(memos_client, alice, str(image_host.make_url(path)))
    r = await memos_client.get(proxy_path)
    assert r.status == status
    assert (await r.json())["message"]
    assert r.headers["Cache-Control"] == "no-store"


async def test_follows_up_to_three_redirects(memos_client, alice, image_host):
    path = await proxied_path(memos_client, alice, str(image_host.make_url("/hop/2")))
    r = await memos_client.get(path)
    assert r.status == 200
    assert await r.read() == PNG
    assert image_host.hits == ["/hop/2", "/hop/1", "/hop/0", "/cat.png"]


async def test_oversized_stream_without_length_is_cut_off(memos_client, alice, image_host):
    path = await proxied_path(memos_client, alice, str(image_host.make_url("/chunked.png")))
    r = await memos_client.get(path)
    assert r.status == 200  # headers were out before the size was known
    with pytest.raises(aiohttp.ClientPayloadError):
        await r.read()


async def test_a_signed_url_works_on_every_instance(memos_config, alice, memos_client, image_host, aiohttp_client):
    """Signatures come from the shared instance secret, not from process memory."""
    path = await proxied_path(memos_client, alice, str(image_host.make_url("/cat.png")))
    other = await aiohttp_client(create_app(dataclasses.replace(memos_config)))  # same database, new app
    r = await other.get(path)
    assert r.status == 200
    assert await r.read() == PNG


# -- the SSRF guard -----------------------------------------------------------------------------
@pytest.mark.parametrize("proxy_env", [ON])
@pytest.mark.parametrize(
    ("host", "status"),
    [
        ("127.0.0.1", 403),
        ("localhost", 403),  # a name: refused when it resolves
        ("[::1]", 403),
        ("0.0.0.0", 403),
        ("127.1", 400),  # non-canonical IPv4 spellings are not valid URL hosts at all
        ("2130706433", 400),
        ("0x7f.0.0.1", 403),  # taken for a name, and the resolver turns it into loopback
    ],
)
async def test_private_destinations_are_refused(memos_client, alice, image_host, host, status, proxy_env):
    url = f"http://{host}:{image_host.port}/cat.png"
    r = await memos_client.get(await proxied_path(memos_client, alice, url))
    assert r.status == status, await r.text()
    assert (await r.json())["code"] == {403: 7, 400: 3}[status]
    assert image_host.hits == []


@pytest.mark.parametrize("proxy_env", [ON])
async def test_redirect_to_a_private_address_is_refused(memos_client, alice, image_host, proxy_env):
    """Redirects are checked hop by hop (here even the first hop is private, so nothing is contacted)."""
    r = await memos_client.get(await proxied_path(memos_client, alice, "http://10.0.0.7/hop/1"))
    assert r.status == 403
    r = await memos_client.get(await proxied_path(memos_client, alice, "http://169.254.169.254/latest/meta-data"))
    assert r.status == 403


@pytest.mark.parametrize(
    ("address", "public"),
    [
        ("93.184.215.14", True),
        ("2606:2800:21f:cb07:6820:80da:af6b:8b2c", True),
        ("127.0.0.1", False),
        ("10.1.2.3", False),
        ("172.16.0.1", False),
        ("192.168.1.1", False),
        ("100.64.0.1", False),  # carrier-grade NAT
        ("169.254.169.254", False),  # cloud metadata
        ("0.0.0.0", False),
        ("224.0.0.1", False),
        ("255.255.255.255", False),
        ("::1", False),
        ("fe80::1%eth0", False),
        ("fc00::1", False),
        ("::ffff:127.0.0.1", False),  # IPv4-mapped loopback
        ("::ffff:93.184.215.14", True),
        ("2002:7f00:1::", False),  # 6to4 around 127.0.0.1
        ("not-an-ip", False),
    ],
)
def test_is_public_address(address, public):
    assert is_public_address(address) is public
