"""RSS feeds: public memos only, newest first, safe HTML, caching headers and 304."""

from __future__ import annotations

import datetime as dt
import email.utils
import xml.etree.ElementTree as ET

import pytest
import sqlalchemy as sa

from memos_core.app import create_app
from memos_core.config import Config
from memos_core.context import CONTEXT
from memos_core.rss import item_title
from memos_core.store import settings as settings_store
from memos_core.store import tables

CONTENT_ENCODED = "{http://purl.org/rss/1.0/modules/content/}encoded"
T0 = 1_700_000_000


def rfc3339(ts: int) -> str:
    return dt.datetime.fromtimestamp(ts, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def base_of(client) -> str:
    return str(client.make_url("")).rstrip("/")


async def memo(client, user, content, visibility="PUBLIC", at=T0, **fields) -> str:
    body = {"content": content, "visibility": visibility, "createTime": rfc3339(at), "updateTime": rfc3339(at)}
    r = await client.post("/api/v1/memos", json={**body, **fields}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"].removeprefix("memos/")


async def feed(client, path="/explore/rss.xml", headers=None) -> tuple[ET.Element, object]:
    r = await client.get(path, headers=headers or {})
    assert r.status == 200, await r.text()
    root = ET.fromstring(await r.read())
    assert root.tag == "rss" and root.get("version") == "2.0"
    return root.find("channel"), r


def items(channel: ET.Element) -> list[dict]:
    out = []
    for item in channel.findall("item"):
        entry = {child.tag: child.text for child in item}
        enclosure = item.find("enclosure")
        if enclosure is not None:
            entry["enclosure"] = dict(enclosure.attrib)
        out.append(entry)
    return out


async def in_store(client, *stmts):
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        for stmt in stmts:
            await ctx.store.execute(stmt)


@pytest.fixture
async def alice(memos_users):
    return await memos_users("alice", nickname="Alice A.", email="alice-private@example.com")


@pytest.fixture
async def bob(memos_users):
    return await memos_users("bob", nickname="")


# -- channel and items -----------------------------------------------------------------------------
async def test_explore_feed(memos_client, alice, bob):
    base = base_of(memos_client)
    first = await memo(memos_client, alice, "first public", at=T0)
    await memo(memos_client, alice, "protected", visibility="PROTECTED", at=T0 + 10)
    await memo(memos_client, alice, "private", visibility="PRIVATE", at=T0 + 20)
    second = await memo(memos_client, bob, "## Bob's heading\nbody text", at=T0 + 30)
    archived = await memo(memos_client, alice, "archived", at=T0 + 40)
    r = await memos_client.patch(
        f"/api/v1/memos/{archived}?updateMask=state", json={"state": "ARCHIVED"}, headers=alice.headers
    )
    assert r.status == 200

    channel, r = await feed(memos_client)
    assert r.headers["Content-Type"] == "application/rss+xml; charset=utf-8"
    assert r.headers["Cache-Control"] == "public, max-age=3600"
    assert channel.findtext("title") == "Memos"
    assert channel.findtext("link") == base
    assert channel.findtext("description")
    got = items(channel)
    assert [i["guid"] for i in got] == [f"{base}/memos/{second}", f"{base}/memos/{first}"]
    bob_item, alice_item = got
    assert bob_item["title"] == "Bob's heading"
    assert bob_item["link"] == bob_item["guid"]
    assert bob_item["author"] == "bob"  # empty nickname falls back to the username
    assert alice_item["author"] == "Alice A."
    assert alice_item["pubDate"] == email.utils.format_datetime(dt.datetime.fromtimestamp(T0, dt.UTC), usegmt=True)
    assert email.utils.parsedate_to_datetime(alice_item["pubDate"]).timestamp() == T0
    assert alice_item["description"] == "<p>first public</p>\n"
    assert alice_item[CONTENT_ENCODED] == alice_item["description"]
    assert "enclosure" not in alice_item
    body = (await r.read()).decode()
    assert "alice-private@example.com" not in body and "@example.com" not in body


async def test_comments_included_newest_first(memos_client, alice, bob):
    parent = await memo(memos_client, alice, "parent", at=T0)
    r = await memos_client.post(
        f"/api/v1/memos/{parent}/comments", json={"content": "a comment", "visibility": "PUBLIC"}, headers=bob.headers
    )
    assert r.status == 200
    comment = (await r.json())["name"].removeprefix("memos/")
    channel, _ = await feed(memos_client)
    assert [i["guid"].rsplit("/", 1)[1] for i in items(channel)] == [comment, parent]


async def test_same_created_time_orders_by_id_desc(memos_client, alice):
    uids = [await memo(memos_client, alice, f"m{i}", at=T0) for i in range(3)]
    channel, _ = await feed(memos_client)
    assert [i["guid"].rsplit("/", 1)[1] for i in items(channel)] == uids[::-1]


async def test_user_feed(memos_client, alice, bob):
    mine = await memo(memos_client, alice, "alice public", at=T0)
    await memo(memos_client, alice, "alice private", visibility="PRIVATE", at=T0 + 1)
    await memo(memos_client, bob, "bob public", at=T0 + 2)
    channel, _ = await feed(memos_client, "/u/alice/rss.xml")
    assert [i["title"] for i in items(channel)] == ["alice public"]
    assert items(channel)[0]["guid"].endswith(f"/memos/{mine}")
    channel, _ = await feed(memos_client, "/u/bob/rss.xml")
    assert [i["title"] for i in items(channel)] == ["bob public"]


async def test_user_feed_unknown_user_404(memos_client, alice):
    for path in ("/u/nobody/rss.xml", "/u/ALICE/rss.xml"):
        r = await memos_client.get(path)
        assert r.status == 404, path


async def test_empty_feed(memos_client, alice):
    channel, r = await feed(memos_client, "/u/alice/rss.xml")
    assert items(channel) == []
    assert "Last-Modified" not in r.headers
    assert r.headers["ETag"]


async def test_limit_100(memos_client, alice):
    rows = [
        {
            "uid": f"bulk{i:03d}",
            "creator_id": alice.id,
            "created_ts": T0 + i,
            "updated_ts": T0 + i,
            "row_status": "NORMAL",
            "content": f"bulk {i}",
            "visibility": "PUBLIC",
            "pinned": False,
            "payload": "{}",
        }
        for i in range(105)
    ]
    await in_store(memos_client, tables.memo.insert().values(rows))
    channel, _ = await feed(memos_client)
    titles = [i["title"] for i in items(channel)]
    assert len(titles) == 100
    assert titles[0] == "bulk 104" and titles[-1] == "bulk 5"


async def test_statement_count_does_not_grow_with_items(memos_client, alice, bob):
    ctx = memos_client.app[CONTEXT]

    async def count() -> int:
        before = ctx.store.statements
        await feed(memos_client)
        return ctx.store.statements - before

    await memo(memos_client, alice, "one")
    small = await count()
    for i in range(8):
        await memo(memos_client, alice if i % 2 else bob, f"more {i}", at=T0 + i)
    assert await count() == small


# -- content ---------------------------------------------------------------------------------------
async def test_active_html_is_escaped(memos_client, alice):
    await memo(memos_client, alice, 'hi <script>alert("x")</script> <img src=x onerror=alert(1)> ]]> &amp;')
    channel, r = await feed(memos_client)
    raw = (await r.read()).decode()
    assert "<script" not in raw and "<img" not in raw
    item = items(channel)[0]
    for text in (item["description"], item[CONTENT_ENCODED]):
        assert "<script" not in text and "<img" not in text
    assert "&lt;script&gt;" in item["description"]
    assert item["title"].startswith('hi <script>alert("x")')  # plain text, escaped by the XML itself


async def test_control_characters_do_not_break_the_xml(memos_client, alice):
    await memo(memos_client, alice, "bell \x07 and nul-free \x1b text")
    channel, _ = await feed(memos_client)
    assert items(channel)[0]["title"] == "bell  and nul-free  text"


@pytest.mark.parametrize(
    ("content", "title"),
    [
        ("# Heading\nbody", "Heading"),
        ("###   Spaced  \nbody", "Spaced"),
        ("#tag is not a heading", "#tag is not a heading"),
        ("", "Memo"),
        ("#\nbody", "Memo"),
        ("\nsecond line", "Memo"),
        ("line one\r\nline two", "line one"),
        ("word " * 30, ("word " * 20).rstrip() + "..."),
        ("x" * 150, "x" * 100 + "..."),
        ("é" * 60, "é" * 50 + "..."),  # 2-byte runes: 100 bytes, never half a rune
        ("a" * 99 + " tail", "a" * 99 + "..."),
    ],
)
def test_item_title(content, title):
    assert item_title(content) == title
    assert len(item_title(content).removesuffix("...").encode()) <= 100


# -- enclosure -------------------------------------------------------------------------------------
async def test_enclosure_first_attachment(memos_client, alice):
    base = base_of(memos_client)
    uid = await memo(memos_client, alice, "with files")
    other = await memo(memos_client, alice, "with an S3 file", at=T0 + 1)
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        rows = await ctx.store.fetch_all(sa.select(tables.memo.c.uid, tables.memo.c.id))
    ids = {row["uid"]: row["id"] for row in rows}

    def attachment(uid, memo_id, filename, mime, size, storage="DATABASE", reference="", updated=T0):
        return {
            "uid": uid,
            "creator_id": alice.id,
            "created_ts": T0,
            "updated_ts": updated,
            "filename": filename,
            "type": mime,
            "size": size,
            "memo_id": memo_id,
            "storage_type": storage,
            "reference": reference,
            "payload": "{}",
        }

    rows = [
        attachment("old", ids[uid], "old.txt", "text/plain", 3, storage="LOCAL"),
        attachment("new", ids[uid], "my photo.png", "image/png", 1234, updated=T0 + 5),  # shown first
        attachment(
            "s3", ids[other], "a.pdf", "application/pdf", 9, storage="S3", reference="https://bucket.example/a.pdf"
        ),
    ]
    await in_store(memos_client, tables.attachment.insert().values(rows))
    channel, _ = await feed(memos_client)
    by_title = {i["title"]: i for i in items(channel)}
    assert by_title["with files"]["enclosure"] == {
        "url": f"{base}/file/attachments/new/my%20photo.png",
        "type": "image/png",
        "length": "1234",
    }
    assert by_title["with an S3 file"]["enclosure"] == {
        "url": "https://bucket.example/a.pdf",
        "type": "application/pdf",
        "length": "9",
    }


# -- channel from settings and configuration -------------------------------------------------------
async def test_custom_profile(memos_client, alice):
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        profile = {"title": "Alice & Co <notes>", "description": "Our notes"}
        await settings_store.set_instance_setting(ctx.store, "GENERAL", {"customProfile": profile})
    channel, _ = await feed(memos_client)
    assert channel.findtext("title") == "Alice & Co <notes>"
    assert channel.findtext("description") == "Our notes"
    async with ctx.store.connection():
        await settings_store.set_instance_setting(ctx.store, "GENERAL", {"customProfile": {"description": "d"}})
    channel, _ = await feed(memos_client)
    assert channel.findtext("title") == ""  # a profile with no title gives an empty title, as upstream


async def test_instance_url_is_the_base(aiohttp_client, tmp_path):
    config = Config(data=str(tmp_path / "other"), driver="sqlite", instance_url="https://notes.example")
    (tmp_path / "other").mkdir()
    client = await aiohttp_client(create_app(config))
    ctx = client.app[CONTEXT]
    user = {"username": "carol", "role": "USER", "row_status": "NORMAL", "email": "", "nickname": "Carol"}
    user |= {"password_hash": "", "avatar_url": "", "description": "", "created_ts": T0, "updated_ts": T0}
    row = {"uid": "pub1", "created_ts": T0, "updated_ts": T0, "row_status": "NORMAL", "content": "x"}
    row |= {"visibility": "PUBLIC", "pinned": False, "payload": "{}"}
    async with ctx.store.connection():
        user_id = await ctx.store.execute(tables.user.insert().values(user))
        await ctx.store.execute(tables.memo.insert().values(creator_id=user_id, **row))
    channel, _ = await feed(client, headers={"Host": "evil.example"})
    assert channel.findtext("link") == "https://notes.example"
    assert items(channel)[0]["link"] == "https://notes.example/memos/pub1"
    assert items(channel)[0]["author"] == "Carol"


async def test_host_header_is_the_base_without_instance_url(memos_client, alice):
    await memo(memos_client, alice, "x")
    channel, _ = await feed(memos_client, headers={"Host": "memos.local:8080"})
    assert channel.findtext("link") == "http://memos.local:8080"
    assert items(channel)[0]["guid"].startswith("http://memos.local:8080/memos/")


# -- caching ---------------------------------------------------------------------------------------
async def test_etag_last_modified_and_304(memos_client, alice):
    uid = await memo(memos_client, alice, "old", at=T0)
    await memo(memos_client, alice, "new", at=T0 + 100)
    r = await memos_client.patch(
        f"/api/v1/memos/{uid}?updateMask=update_time",
        json={"updateTime": rfc3339(T0 + 500)},
        headers=alice.headers,
    )
    assert r.status == 200
    _, r = await feed(memos_client)
    etag = r.headers["ETag"]
    assert etag.startswith('"') and etag.endswith('"') and len(etag) == 18
    # the newest update among the items, even when it is not the first item's
    assert email.utils.parsedate_to_datetime(r.headers["Last-Modified"]).timestamp() == T0 + 500

    again = await memos_client.get("/explore/rss.xml")
    assert again.headers["ETag"] == etag  # same data, same body

    for header in (etag, f"W/{etag}", f'"nope", {etag}', "*"):
        r = await memos_client.get("/explore/rss.xml", headers={"If-None-Match": header})
        assert r.status == 304, header
        assert await r.read() == b""
        assert r.headers["ETag"] == etag
        assert r.headers["Cache-Control"] == "public, max-age=3600"

    r = await memos_client.get("/explore/rss.xml", headers={"If-None-Match": '"stale"'})
    assert r.status == 200

    # a write changes the feed at once: no stale in-process cache
    await memo(memos_client, alice, "newest", at=T0 + 200)
    r = await memos_client.get("/explore/rss.xml", headers={"If-None-Match": etag})
    assert r.status == 200
    assert r.headers["ETag"] != etag
    assert items(ET.fromstring(await r.read()).find("channel"))[0]["title"] == "newest"


async def test_user_feed_etag_differs_from_explore(memos_client, alice, bob):
    await memo(memos_client, alice, "a")
    await memo(memos_client, bob, "b")
    _, explore = await feed(memos_client)
    _, user = await feed(memos_client, "/u/alice/rss.xml")
    assert explore.headers["ETag"] != user.headers["ETag"]
    r = await memos_client.get("/u/alice/rss.xml", headers={"If-None-Match": explore.headers["ETag"]})
    assert r.status == 200


async def test_without_a_markdown_plugin_the_text_is_escaped(aiohttp_client, tmp_path):
    config = Config(data=str(tmp_path), driver="sqlite", disable_plugins=("markdown",))
    client = await aiohttp_client(create_app(config))
    ctx = client.app[CONTEXT]
    user = {"username": "dave", "role": "USER", "row_status": "NORMAL", "email": "", "nickname": ""}
    user |= {"password_hash": "", "avatar_url": "", "description": "", "created_ts": T0, "updated_ts": T0}
    row = {"uid": "raw1", "created_ts": T0, "updated_ts": T0, "row_status": "NORMAL", "content": "<b>bold</b> & co"}
    row |= {"visibility": "PUBLIC", "pinned": False, "payload": "{}"}
    async with ctx.store.connection():
        user_id = await ctx.store.execute(tables.user.insert().values(user))
        await ctx.store.execute(tables.memo.insert().values(creator_id=user_id, **row))
    channel, _ = await feed(client, "/u/dave/rss.xml")
    assert items(channel)[0]["description"] == "<p>&lt;b&gt;bold&lt;/b&gt; &amp; co</p>"
    assert items(channel)[0]["author"] == "dave"
