"""``GET /web/live``: the pages' live-refresh stream, opened with the session cookie (no token in
the page), with the same rule as ``/api/v1/sse`` about who hears of which memo."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import re

import aiohttp
import pytest

HEARTBEAT = 0.4


@pytest.fixture
def memos_config(memos_config):
    return dataclasses.replace(memos_config, live_poll_interval=0.05, live_heartbeat=HEARTBEAT)


class Browser:
    """A cookie jar of its own, signed in through the sign-in form as a browser would be."""

    def __init__(self, client, session: aiohttp.ClientSession) -> None:
        self.client, self.session = client, session
        self.token = ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def csrf(self) -> str:
        """The form token of this jar's CSRF cookie (the sign-in page mints both)."""
        if not self.token:
            r = await self.session.get(self.url("/auth"))
            self.token = re.search(r'<meta name="csrf-token" content="([^"]+)"', await r.text()).group(1)
        return self.token

    async def sign_in(self, user) -> None:
        data = {"username": user.username, "password": user.password, "csrf_token": await self.csrf()}
        r = await self.session.post(self.url("/auth"), data=data, allow_redirects=False)
        assert r.status == 303, await r.text()

    async def sign_out(self) -> None:
        data = {"csrf_token": await self.csrf()}
        r = await self.session.post(self.url("/auth/signout"), data=data, allow_redirects=False)
        assert r.status == 303

    async def live(self) -> Stream:
        r = await self.session.get(self.url("/web/live"))
        assert r.status == 200, await r.text()
        return Stream(r)


@pytest.fixture
async def browsers(memos_client):
    sessions: list[aiohttp.ClientSession] = []

    async def make() -> Browser:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return Browser(memos_client, session)

    yield make
    for session in sessions:
        await session.close()


class Stream:
    def __init__(self, response) -> None:
        self.response = response

    async def frame(self, timeout: float = 5.0) -> str:
        raw = await asyncio.wait_for(self.response.content.readuntil(b"\n\n"), timeout)
        return raw.decode()

    async def event(self, timeout: float = 5.0) -> dict:
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frame(timeout)
                if frame.startswith("data: "):
                    return json.loads(frame.removeprefix("data: "))

    async def nothing(self, wait: float = 0.6) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while True:
                    frame = await self.frame(wait)
                    assert not frame.startswith("data: "), frame


@pytest.fixture
async def people(memos_users):
    return {
        "alice": await memos_users("alice"),
        "bob": await memos_users("bob"),
        "root": await memos_users("root", role="ADMIN"),
    }


async def memo(client, user, content="hello", visibility="PUBLIC") -> str:
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": visibility}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


async def test_cookie_session_hears_other_clients_writes(memos_client, people, browsers):
    alice = await browsers()
    await alice.sign_in(people["alice"])
    stream = await alice.live()
    assert stream.response.headers["Content-Type"] == "text/event-stream"
    assert stream.response.headers["Cache-Control"] == "no-cache"
    assert await stream.frame(HEARTBEAT * 5) == ": heartbeat\n\n"

    # bob writes through the REST API (another client altogether): alice's page hears of it.
    name = await memo(memos_client, people["bob"], "from bob")
    assert await stream.event() == {"type": "memo.created", "name": name}
    r = await memos_client.patch(
        f"/api/v1/{name}?updateMask=content", json={"content": "v2"}, headers=people["bob"].headers
    )
    assert r.status == 200
    assert await stream.event() == {"type": "memo.updated", "name": name}
    r = await memos_client.post(
        f"/api/v1/{name}/comments", json={"content": "hi", "visibility": "PUBLIC"}, headers=people["root"].headers
    )
    assert r.status == 200
    assert await stream.event() == {"type": "memo.comment.created", "name": name}


async def test_private_memos_of_others_never_arrive(memos_client, people, browsers):
    alice, root = await browsers(), await browsers()
    await alice.sign_in(people["alice"])
    await root.sign_in(people["root"])
    streams = {"alice": await alice.live(), "root": await root.live()}

    secret = await memo(memos_client, people["bob"], "bob's secret", "PRIVATE")
    protected = await memo(memos_client, people["bob"], "for members", "PROTECTED")
    own = await memo(memos_client, people["alice"], "alice's own", "PRIVATE")
    assert await streams["alice"].event() == {"type": "memo.created", "name": protected}
    assert await streams["alice"].event() == {"type": "memo.created", "name": own}
    await streams["alice"].nothing()
    # An administrator hears of everything, as on /api/v1/sse.
    for name in (secret, protected, own):
        assert await streams["root"].event() == {"type": "memo.created", "name": name}

    # Nor do later changes to bob's private memo, or private comments on it.
    r = await memos_client.patch(
        f"/api/v1/{secret}?updateMask=content", json={"content": "still secret"}, headers=people["bob"].headers
    )
    assert r.status == 200
    await streams["alice"].nothing()


async def test_no_session_no_stream(memos_client, people, browsers):
    r = await memos_client.get("/web/live")
    assert r.status == 401
    assert await r.json() == {"code": 16, "message": "sign in to receive live updates", "details": []}
    # A Bearer token is the REST API's credential, not a page session.
    r = await memos_client.get("/web/live", headers=people["alice"].headers)
    assert r.status == 401
    # A forged or revoked cookie is no session either.
    r = await memos_client.get("/web/live", cookies={"memos_refresh": "not-a-token"})
    assert r.status == 401


async def test_signing_out_ends_the_stream(memos_client, people, browsers):
    alice = await browsers()
    await alice.sign_in(people["alice"])
    stream = await alice.live()
    await alice.sign_out()
    async with asyncio.timeout(HEARTBEAT * 10):
        rest = await stream.response.content.read()  # EOF once a heartbeat finds the session revoked
    assert b"data:" not in rest


@pytest.mark.drivers("postgres", "mysql")  # bounded pools (10 by default): SQLite's cannot run dry
async def test_streams_hold_no_database_connection(memos_client, people, browsers):
    alice = await browsers()
    await alice.sign_in(people["alice"])
    streams = [await alice.live() for _ in range(15)]
    name = await asyncio.wait_for(memo(memos_client, people["bob"]), 10)
    for stream in streams:
        assert await stream.event() == {"type": "memo.created", "name": name}


async def test_memo_page_answers_its_comments_as_a_fragment(memos_client, people, browsers):
    """What the memo page's live refresh asks for: the comment list alone, as the page draws it."""
    alice = await browsers()
    await alice.sign_in(people["alice"])
    name = await memo(memos_client, people["alice"], "talk about this")
    r = await memos_client.post(
        f"/api/v1/{name}/comments", json={"content": "a reply", "visibility": "PUBLIC"}, headers=people["bob"].headers
    )
    comment = (await r.json())["name"].removeprefix("memos/")
    page = await alice.session.get(alice.url("/" + name))
    html = await page.text()
    assert page.status == 200 and f'data-live-memo="{name}"' in html and "data-comment-count>1<" in html
    assert '<meta name="memos-live" content="/web/live">' in html

    r = await alice.session.get(alice.url("/" + name), headers={"X-Requested-With": "memos-web"})
    part = await r.text()
    assert r.status == 200 and r.content_type == "text/html"
    assert part.lstrip().startswith(f'<div id="comment-{comment}">') and "a reply" in part
    assert "<html" not in part and "talk about this" not in part

    # Anonymous readers get no stream to follow.
    anonymous = await memos_client.get("/" + name)
    assert "memos-live" not in await anonymous.text()
