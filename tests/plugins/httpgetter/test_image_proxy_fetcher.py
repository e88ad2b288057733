"""The markdown image proxy fetches through ``memos_http_fetcher``: without memos-httpgetter it says so."""

from __future__ import annotations

import dataclasses
import re
import xml.etree.ElementTree as ET
from html import unescape

import pytest
from fixtures.link_sites import PNG

from memos_core.app import create_app


@pytest.fixture
def memos_app(site, memos_config, memos_extra_plugins, monkeypatch):
    monkeypatch.setenv("MEMOS_MARKDOWN_IMAGE_PROXY", "1")
    monkeypatch.setenv("MEMOS_HTTPGETTER_ALLOW", site.allow)
    return create_app(memos_config, extra_plugins=memos_extra_plugins)


async def proxied(client, memos_users, image_url: str) -> str:
    alice = await memos_users("alice")
    body = {"content": f"![pic]({image_url})", "visibility": "PUBLIC"}
    assert (await client.post("/api/v1/memos", json=body, headers=alice.headers)).status == 200
    channel = ET.fromstring(await (await client.get("/explore/rss.xml")).read()).find("channel")
    src = unescape(re.search(r'<img src="([^"]*)"', channel.find("item").findtext("description")).group(1))
    return src.removeprefix(str(client.make_url("")).rstrip("/"))


async def test_the_proxy_uses_httpgetters_allow_list(memos_client, memos_users, site):
    """The proxy's own private switch is off: the image arrives because httpgetter's fetcher
    (with its narrow allow-list) fetched it; any other loopback port stays refused."""
    r = await memos_client.get(await proxied(memos_client, memos_users, site.url("/media/cover.png")))
    assert r.status == 200 and await r.read() == PNG
    assert site.hits == ["/media/cover.png"]


async def test_without_a_fetcher_the_proxy_answers_503(memos_config, memos_client, memos_users, site, aiohttp_client):
    path = await proxied(memos_client, memos_users, site.url("/media/cover.png"))
    without = dataclasses.replace(memos_config, disable_plugins=("httpgetter",))
    other = await aiohttp_client(create_app(without))  # same database and secret, no httpgetter
    r = await other.get(path)
    assert r.status == 503
    body = await r.json()
    assert body["code"] == 14 and "memos-httpgetter" in body["message"]
    assert site.hits == []
