"""The web app manifest and its icons: valid JSON of the right type, every icon served with its
declared type and size, a start URL that opens the app, and pages that link it with a theme colour."""

from __future__ import annotations

import re
import struct

import pytest

HEX = re.compile(r"#[0-9a-f]{6}")


async def manifest(client) -> dict:
    r = await client.get("/manifest.webmanifest")
    assert r.status == 200
    assert r.content_type == "application/manifest+json"
    return await r.json(content_type=None)


def png_size(body: bytes) -> tuple[int, int]:
    assert body[:8] == b"\x89PNG\r\n\x1a\n" and body[12:16] == b"IHDR"
    return struct.unpack(">II", body[16:24])


async def test_manifest_and_icons(memos_client, memos_users):
    await memos_users("admin", role="ADMIN")
    body = await manifest(memos_client)
    assert body["name"] and body["short_name"]
    assert body["display"] == "standalone"
    assert HEX.fullmatch(body["background_color"]) and HEX.fullmatch(body["theme_color"])
    assert body["background_color"] == "#f4f4f5"  # the light theme's page background: no flash on launch

    icons = body["icons"]
    assert {i["type"] for i in icons} == {"image/svg+xml", "image/png"}
    assert {i["sizes"] for i in icons if i["type"] == "image/png"} >= {"192x192", "512x512"}  # what installs need
    for icon in icons:
        assert icon["src"].startswith("/static/web/")  # same origin, release-hashed
        r = await memos_client.get(icon["src"])
        assert r.status == 200, icon
        assert r.content_type == icon["type"]
        assert "immutable" in r.headers["Cache-Control"]
        data = await r.read()
        if icon["type"] == "image/png":
            width, height = png_size(data)
            assert f"{width}x{height}" == icon["sizes"]
        else:
            assert icon["sizes"] == "any" and b"<svg" in data

    # The start URL opens the app: the home page for a signed-in user, sign-in for anyone else.
    start = body["start_url"]
    assert start == "/home"
    r = await memos_client.get(start, allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/auth?redirect=/home"


async def test_manifest_is_served_before_the_first_account(memos_client):
    """A fresh instance sends every page to sign-up, but the manifest and icons still load."""
    body = await manifest(memos_client)
    r = await memos_client.get(body["icons"][0]["src"])
    assert r.status == 200


@pytest.mark.parametrize("path", ["/explore", "/auth"])
async def test_pages_link_the_manifest_and_a_theme_colour(memos_client, memos_users, path):
    await memos_users("admin", role="ADMIN")
    html = await (await memos_client.get(path)).text()
    assert '<link rel="manifest" href="/manifest.webmanifest">' in html
    colors = re.findall(r'<meta name="theme-color" content="(#[0-9a-f]{6})"', html)
    assert colors == ["#f4f4f5", "#111113"]  # light and dark, for a visitor following the system
