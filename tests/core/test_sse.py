"""Live refresh over Server-Sent Events, across app instances sharing one database."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json

import pytest

from memos_core.app import create_app

HEARTBEAT = 0.4


@pytest.fixture
def memos_config(memos_config):
    return dataclasses.replace(memos_config, live_poll_interval=0.05, live_heartbeat=HEARTBEAT)


@pytest.fixture
async def people(memos_users):
    return {
        "alice": await memos_users("alice"),
        "bob": await memos_users("bob"),
        "root": await memos_users("root", role="ADMIN"),
    }


class Stream:
    def __init__(self, response) -> None:
        self.response = response

    async def frame(self, timeout: float = 5.0) -> str:
        raw = await asyncio.wait_for(self.response.content.readuntil(b"\n\n"), timeout)
        return raw.decode()

    async def event(self, timeout: float = 5.0) -> dict:
        """The next data frame within ``timeout`` seconds, heartbeats skipped."""
        async with asyncio.timeout(timeout):
            while True:
                frame = await self.frame(timeout)
                if frame.startswith("data: "):
                    assert frame.endswith("\n\n") and frame.count("\n") == 2
                    return json.loads(frame.removeprefix("data: "))

    async def events(self, count: int) -> list[dict]:
        return [await self.event() for _ in range(count)]

    async def nothing(self, wait: float = 0.6) -> None:
        """No data frame within ``wait`` seconds (heartbeats are fine)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(wait):
                while True:
                    frame = await self.frame(wait)
                    assert not frame.startswith("data: "), frame


async def open_stream(client, user) -> Stream:
    r = await client.get("/api/v1/sse", headers={"Authorization": f"Bearer {user.token}"})
    assert r.status == 200
    return Stream(r)


async def memo(client, user, content="hello", visibility="PUBLIC") -> str:
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": visibility}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


async def test_bearer_is_required(memos_client, people):
    for headers, params in [
        ({}, {}),
        ({}, {"access_token": people["alice"].token}),
        ({"Authorization": "Bearer nope"}, {}),
    ]:
        r = await memos_client.get("/api/v1/sse", headers=headers, params=params)
        assert r.status == 401
        assert await r.json() == {"error": "authentication required"}


async def test_headers_and_heartbeat(memos_client, people):
    stream = await open_stream(memos_client, people["alice"])
    headers = stream.response.headers
    assert headers["Content-Type"] == "text/event-stream"
    assert headers["Cache-Control"] == "no-cache"
    assert headers["X-Accel-Buffering"] == "no"
    assert await stream.frame(HEARTBEAT * 5) == ": heartbeat\n\n"


async def test_memo_lifecycle_events(memos_client, people):
    alice, bob = people["alice"], people["bob"]
    stream = await open_stream(memos_client, bob)
    name = await memo(memos_client, alice)
    assert await stream.event() == {"type": "memo.created", "name": name}

    r = await memos_client.patch(f"/api/v1/{name}?updateMask=content", json={"content": "v2"}, headers=alice.headers)
    assert r.status == 200
    assert await stream.event() == {"type": "memo.updated", "name": name}

    r = await memos_client.post(
        f"/api/v1/{name}/comments", json={"content": "hi", "visibility": "PUBLIC"}, headers=bob.headers
    )
    comment = (await r.json())["name"]
    assert await stream.event() == {"type": "memo.comment.created", "name": name}  # the parent, no memo.created

    r = await memos_client.patch(f"/api/v1/{comment}?updateMask=content", json={"content": "hey"}, headers=bob.headers)
    assert r.status == 200
    assert await stream.event() == {"type": "memo.updated", "name": comment, "parent": name}

    r = await memos_client.post(
        f"/api/v1/{comment}/reactions",
        json={"reaction": {"contentId": comment, "reactionType": "👍"}},
        headers=alice.headers,
    )
    reaction = (await r.json())["name"]
    assert await stream.event() == {"type": "reaction.upserted", "name": comment, "parent": name}
    r = await memos_client.delete(f"/api/v1/{reaction}", headers=alice.headers)
    assert r.status == 200
    assert await stream.event() == {"type": "reaction.deleted", "name": comment, "parent": name}

    r = await memos_client.delete(f"/api/v1/{name}", headers=alice.headers)
    assert r.status == 200
    assert await stream.event() == {"type": "memo.deleted", "name": name}  # cascaded comments are not announced
    await stream.nothing()


async def test_private_events_reach_only_the_owner_and_admins(memos_client, people):
    alice, bob, root = people["alice"], people["bob"], people["root"]
    streams = {who: await open_stream(memos_client, people[who]) for who in ("alice", "bob", "root")}
    private = await memo(memos_client, alice, "secret", "PRIVATE")
    public = await memo(memos_client, alice, "open", "PUBLIC")
    assert await streams["alice"].events(2) == [
        {"type": "memo.created", "name": private},
        {"type": "memo.created", "name": public},
    ]
    assert await streams["root"].events(2) == [
        {"type": "memo.created", "name": private},
        {"type": "memo.created", "name": public},
    ]
    assert await streams["bob"].event() == {"type": "memo.created", "name": public}
    await streams["bob"].nothing()
    # A private comment on alice's public memo is alice's business (the parent's creator), not bob's own stream's.
    r = await memos_client.post(
        f"/api/v1/{public}/comments", json={"content": "psst", "visibility": "PRIVATE"}, headers=bob.headers
    )
    assert r.status == 200
    assert await streams["alice"].event() == {"type": "memo.comment.created", "name": public}
    assert await streams["root"].event() == {"type": "memo.comment.created", "name": public}
    await streams["bob"].nothing()
    del root


async def test_events_cross_instances(memos_config, memos_client, people, aiohttp_client):
    """A stream held by one instance hears about changes made through another one."""
    other = await aiohttp_client(create_app(dataclasses.replace(memos_config)))
    stream = await open_stream(other, people["bob"])
    name = await memo(memos_client, people["alice"])
    assert await stream.event() == {"type": "memo.created", "name": name}
    name = await memo(other, people["alice"])
    assert await stream.event() == {"type": "memo.created", "name": name}


@pytest.mark.drivers("postgres", "mysql")  # bounded pools (10 by default): SQLite's cannot run dry
async def test_streams_hold_no_database_connection(memos_client, people):
    streams = [await open_stream(memos_client, people["bob"]) for _ in range(15)]
    name = await asyncio.wait_for(memo(memos_client, people["alice"]), 10)
    for stream in streams:
        assert await stream.event() == {"type": "memo.created", "name": name}
