"""``/robots.txt`` and ``/sitemap.xml``: 404 without an instance URL, else public memos only."""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET

import pytest

from memos_core.app import create_app

URL = "https://notes.example"
NS = {"s": "http://www.sitemaps.org/schemas/sitemap/0.9"}


@pytest.fixture
async def public_client(memos_config, aiohttp_client):
    return await aiohttp_client(create_app(dataclasses.replace(memos_config, instance_url=URL)))


async def test_404_without_an_instance_url(memos_client):
    for path in ("/robots.txt", "/sitemap.xml"):
        r = await memos_client.get(path)
        assert r.status == 404, path


async def test_robots(public_client):
    r = await public_client.get("/robots.txt")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    assert await r.text() == f"User-agent: *\nAllow: /\nHost: {URL}\nSitemap: {URL}/sitemap.xml\n"


async def test_sitemap_lists_public_memos_archived_and_comments_included(public_client, memos_users):
    alice = await memos_users("alice")
    uids = {}
    for key, visibility in [
        ("public", "PUBLIC"),
        ("protected", "PROTECTED"),
        ("private", "PRIVATE"),
        ("old", "PUBLIC"),
    ]:
        r = await public_client.post(
            "/api/v1/memos", json={"content": key, "visibility": visibility}, headers=alice.headers
        )
        uids[key] = (await r.json())["name"].removeprefix("memos/")
    r = await public_client.patch(
        f"/api/v1/memos/{uids['old']}?updateMask=state", json={"state": "ARCHIVED"}, headers=alice.headers
    )
    assert r.status == 200
    r = await public_client.post(
        f"/api/v1/memos/{uids['public']}/comments",
        json={"content": "a public comment", "visibility": "PUBLIC"},
        headers=alice.headers,
    )
    uids["comment"] = (await r.json())["name"].removeprefix("memos/")

    r = await public_client.get("/sitemap.xml")
    assert r.status == 200
    assert r.headers["Content-Type"].startswith("application/xml")
    root = ET.fromstring(await r.read())
    locs = {el.text for el in root.findall("s:url/s:loc", NS)}
    assert locs == {f"{URL}/m/{uids[k]}" for k in ("public", "old", "comment")}
    assert all(el.text and el.text.endswith("Z") for el in root.findall("s:url/s:lastmod", NS))
