"""memos-webhook delivery to a real local HTTP receiver.

The instance allows private webhooks here (the receiver listens on 127.0.0.1), except where a test
turns the switch off to see the dial-time guard refuse it.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
import logging
import time

import pytest
from aiohttp import web
from memos_webhook import WEBHOOK

from memos_core.context import CONTEXT
from memos_core.store import settings as settings_store

CREATED_AT = "2024-04-25T00:00:00Z"
CREATED_SECONDS = 1714003200


class Receiver:
    """Records every POST; the path chooses the answer."""

    def __init__(self) -> None:
        self.requests: list[dict] = []
        self.release = asyncio.Event()
        self.server = None

    def url(self, path: str, host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.server.port}{path}"

    async def handle(self, request: web.Request) -> web.Response:
        raw = await request.read()
        self.requests.append({"path": request.path, "content_type": request.headers.get("Content-Type"), "raw": raw})
        path = request.path
        if path.startswith("/ok"):
            return web.json_response({"code": 0, "message": ""})
        if path.startswith("/empty-object"):
            return web.json_response({})
        if path.startswith("/wait"):
            await self.release.wait()
            return web.json_response({"code": 0})
        if path.startswith("/fail"):
            return web.json_response({"code": 0}, status=500)
        if path.startswith("/not-json"):
            return web.Response(text="thanks")
        if path.startswith("/code"):
            return web.json_response({"code": 7, "message": "refused"})
        return web.Response(status=404)

    def bodies(self, path: str) -> list[dict]:
        return [json.loads(r["raw"]) for r in self.requests if r["path"] == path]


@pytest.fixture
async def receiver(aiohttp_server):
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/{tail:.*}", rec.handle)
    rec.server = await aiohttp_server(app)
    yield rec
    rec.release.set()


@pytest.fixture
def allow_private() -> bool:
    return True


@pytest.fixture
def memos_config(memos_config, allow_private):
    return dataclasses.replace(memos_config, allow_private_webhooks=allow_private)


async def add_hook(client, user, url, title="hook"):
    r = await client.post(
        f"/api/v1/users/{user.username}/webhooks", json={"url": url, "displayName": title}, headers=user.headers
    )
    assert r.status == 200, await r.text()
    return await r.json()


async def drain(client):
    await client.app[WEBHOOK].dispatcher.drain()


async def test_bodies_and_recipients(memos_client, memos_users, receiver):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    await add_hook(memos_client, alice, receiver.url("/ok/alice"))
    await add_hook(memos_client, bob, receiver.url("/ok/bob"))

    # memos.memo.created -> the creator's hooks, the memo in Go encoding/json shape.
    r = await memos_client.post(
        "/api/v1/memos",
        json={
            "content": "Hello <b> & #travel [site](https://example.com)",
            "visibility": "PUBLIC",
            "createTime": CREATED_AT,
            "updateTime": CREATED_AT,
        },
        headers=alice.headers,
    )
    assert r.status == 200
    memo = await r.json()
    await drain(memos_client)
    assert receiver.bodies("/ok/bob") == []
    [created] = receiver.bodies("/ok/alice")
    memo_body = {
        "name": memo["name"],
        "state": 1,
        "creator": "users/alice",
        "create_time": {"seconds": CREATED_SECONDS},
        "update_time": {"seconds": CREATED_SECONDS},
        "content": "Hello <b> & #travel [site](https://example.com)",
        "visibility": 3,
        "tags": ["travel"],
        "property": {"has_link": True},
        "snippet": memo["snippet"],
    }
    assert created == {
        "url": receiver.url("/ok/alice"),
        "activityType": "memos.memo.created",
        "creator": "users/alice",
        "memo": memo_body,
    }
    [request] = receiver.requests
    assert request["content_type"] == "application/json"
    assert b"\\u003cb\\u003e \\u0026 #travel" in request["raw"]  # Go escapes <, > and & in strings

    # memos.memo.comment.created -> the PARENT owner's hooks; memos.memo.created -> the commenter's.
    r = await memos_client.post(
        f"/api/v1/{memo['name']}/comments",
        json={"content": "Nice!", "visibility": "PUBLIC", "createTime": CREATED_AT, "updateTime": CREATED_AT},
        headers=bob.headers,
    )
    assert r.status == 200
    comment = await r.json()
    await drain(memos_client)
    comment_body = {
        "name": comment["name"],
        "state": 1,
        "creator": "users/bob",
        "create_time": {"seconds": CREATED_SECONDS},
        "update_time": {"seconds": CREATED_SECONDS},
        "content": "Nice!",
        "visibility": 3,
        "relations": [
            {
                "memo": {"name": comment["name"], "snippet": "Nice!"},
                "related_memo": {"name": memo["name"], "snippet": memo["snippet"]},
                "type": 2,
            }
        ],
        "property": {},
        "parent": memo["name"],
        "snippet": "Nice!",
    }
    assert receiver.bodies("/ok/alice")[1:] == [
        {
            "url": receiver.url("/ok/alice"),
            "activityType": "memos.memo.comment.created",
            "creator": "users/bob",
            "memo": comment_body,
        }
    ]
    assert receiver.bodies("/ok/bob") == [
        {
            "url": receiver.url("/ok/bob"),
            "activityType": "memos.memo.created",
            "creator": "users/bob",
            "memo": comment_body,
        }
    ]

    # memos.memo.updated by an admin -> still the memo creator's hooks; zero values left out.
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}?updateMask=content,pinned,visibility",
        json={"content": "Plain", "pinned": True, "visibility": "PROTECTED"},
        headers=admin.headers,
    )
    assert r.status == 200
    updated = await r.json()
    await drain(memos_client)
    relation = {
        "memo": {"name": comment["name"], "snippet": "Nice!"},
        "related_memo": {"name": memo["name"], "snippet": "Plain"},
        "type": 2,
    }
    updated_body = {
        "name": memo["name"],
        "state": 1,
        "creator": "users/alice",
        "create_time": {"seconds": CREATED_SECONDS},
        "update_time": {"seconds": CREATED_SECONDS},
        "content": "Plain",
        "visibility": 2,
        "pinned": True,
        "relations": [relation],
        "property": {},
        "snippet": "Plain",
    }
    assert updated["pinned"] is True
    assert receiver.bodies("/ok/alice")[2:] == [
        {
            "url": receiver.url("/ok/alice"),
            "activityType": "memos.memo.updated",
            "creator": "users/alice",
            "memo": updated_body,
        }
    ]

    # Archiving is an update too: state 2.
    r = await memos_client.patch(
        f"/api/v1/{memo['name']}?updateMask=state", json={"state": "ARCHIVED"}, headers=alice.headers
    )
    assert r.status == 200
    await drain(memos_client)
    assert receiver.bodies("/ok/alice")[3]["memo"] == {**updated_body, "state": 2}

    # Reactions are not webhook events.
    r = await memos_client.post(
        f"/api/v1/{comment['name']}/reactions",
        json={"reaction": {"contentId": comment["name"], "reactionType": "👍"}},
        headers=alice.headers,
    )
    assert r.status == 200
    await drain(memos_client)
    assert len(receiver.requests) == 5

    # memos.memo.deleted -> the creator's hooks, with the memo as it was before the delete.
    r = await memos_client.delete(f"/api/v1/{memo['name']}", headers=alice.headers)
    assert r.status == 200
    await drain(memos_client)
    assert receiver.bodies("/ok/alice")[4:] == [
        {
            "url": receiver.url("/ok/alice"),
            "activityType": "memos.memo.deleted",
            "creator": "users/alice",
            "memo": {**updated_body, "state": 2},
        }
    ]
    assert len(receiver.bodies("/ok/bob")) == 1


async def test_comment_on_own_memo_and_hook_changes(memos_client, memos_users, receiver):
    alice = await memos_users("alice")
    first = await add_hook(memos_client, alice, receiver.url("/ok/1"))
    await add_hook(memos_client, alice, receiver.url("/empty-object/2"))
    r = await memos_client.post("/api/v1/memos", json={"content": "mine"}, headers=alice.headers)
    memo = await r.json()
    r = await memos_client.post(f"/api/v1/{memo['name']}/comments", json={"content": "self"}, headers=alice.headers)
    assert r.status == 200
    await drain(memos_client)
    for path in ("/ok/1", "/empty-object/2"):
        assert [b["activityType"] for b in receiver.bodies(path)] == [
            "memos.memo.created",
            "memos.memo.created",
            "memos.memo.comment.created",
        ]
        assert receiver.bodies(path)[0]["memo"]["visibility"] == 1  # PRIVATE by default
    assert memos_client.app[WEBHOOK].dispatcher.failed == 0

    # A deleted hook receives nothing more; an updated URL is used at once.
    r = await memos_client.delete(f"/api/v1/{first['name']}", headers=alice.headers)
    assert r.status == 200
    hooks = (await (await memos_client.get("/api/v1/users/alice/webhooks", headers=alice.headers)).json())["webhooks"]
    r = await memos_client.patch(
        f"/api/v1/{hooks[0]['name']}?updateMask=url", json={"url": receiver.url("/ok/3")}, headers=alice.headers
    )
    assert r.status == 200
    await memos_client.post("/api/v1/memos", json={"content": "again"}, headers=alice.headers)
    await drain(memos_client)
    assert len(receiver.bodies("/ok/1")) == 3 and len(receiver.bodies("/empty-object/2")) == 3
    assert [b["url"] for b in receiver.bodies("/ok/3")] == [receiver.url("/ok/3")]


async def test_failing_receivers_do_not_affect_the_request(memos_client, memos_users, receiver, caplog):
    caplog.set_level(logging.WARNING, logger="memos_webhook")
    alice = await memos_users("alice")
    for path in ("/fail", "/not-json", "/code", "/missing"):
        await add_hook(memos_client, alice, receiver.url(path))
    await add_hook(memos_client, alice, "http://127.0.0.1:1/closed-port")
    await add_hook(memos_client, alice, receiver.url("/wait"))
    await add_hook(memos_client, alice, receiver.url("/ok"))

    started = time.monotonic()
    r = await memos_client.post("/api/v1/memos", json={"content": "still fine"}, headers=alice.headers)
    assert r.status == 200
    assert (await r.json())["content"] == "still fine"
    assert time.monotonic() - started < 5
    # The /wait receiver has not answered yet: the request did not wait for delivery.
    assert not receiver.release.is_set()
    receiver.release.set()
    await drain(memos_client)

    dispatcher = memos_client.app[WEBHOOK].dispatcher
    assert (dispatcher.delivered, dispatcher.failed) == (2, 5)
    assert {r["path"] for r in receiver.requests} == {"/fail", "/not-json", "/code", "/missing", "/wait", "/ok"}
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    for fragment in ("status code 500", "not JSON", "code 7: refused", "status code 404", "closed-port"):
        assert fragment in logged, fragment


@pytest.mark.parametrize("allow_private", [False])
async def test_private_receiver_refused_at_dial_time(memos_client, memos_users, receiver, caplog):
    """A hook stored while private addresses were allowed (or a name that later resolves to a
    private address) is refused when the delivery connects."""
    caplog.set_level(logging.WARNING, logger="memos_webhook")
    alice = await memos_users("alice")
    urls = [receiver.url("/ok/literal"), receiver.url("/ok/name", host="localhost")]
    ctx = memos_client.app[CONTEXT]
    async with ctx.store.connection():
        await settings_store.set_user_setting(
            ctx.store,
            alice.id,
            "WEBHOOKS",
            {"webhooks": [{"id": f"{i:016x}", "title": "", "url": url} for i, url in enumerate(urls)]},
        )
    r = await memos_client.post("/api/v1/memos", json={"content": "x"}, headers=alice.headers)
    assert r.status == 200
    await drain(memos_client)
    assert receiver.requests == []
    assert memos_client.app[WEBHOOK].dispatcher.failed == 2
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "127.0.0.1 is not a public address" in logged
    assert "localhost does not resolve to a public address" in logged


async def test_set_attachments_and_relations_send_updated(memos_client, memos_users, receiver):
    alice = await memos_users("alice")
    await add_hook(memos_client, alice, receiver.url("/ok"))
    memos = []
    for content in ("target", "source"):
        r = await memos_client.post("/api/v1/memos", json={"content": content}, headers=alice.headers)
        memos.append(await r.json())
    target, source = memos
    r = await memos_client.post(
        "/api/v1/attachments",
        json={"filename": "a.txt", "content": "aGk=", "type": "text/plain"},
        headers=alice.headers,
    )
    attachment = await r.json()
    await drain(memos_client)
    del receiver.requests[:]

    r = await memos_client.patch(
        f"/api/v1/{source['name']}/relations",
        json={"relations": [{"relatedMemo": {"name": target["name"]}, "type": "REFERENCE"}]},
        headers=alice.headers,
    )
    assert r.status == 200, await r.text()
    r = await memos_client.patch(
        f"/api/v1/{source['name']}/attachments",
        json={"attachments": [{"name": attachment["name"]}]},
        headers=alice.headers,
    )
    assert r.status == 200, await r.text()
    await drain(memos_client)
    bodies = receiver.bodies("/ok")
    assert [b["activityType"] for b in bodies] == ["memos.memo.updated", "memos.memo.updated"]
    assert bodies[0]["memo"]["relations"] == [
        {
            "memo": {"name": source["name"], "snippet": "source"},
            "related_memo": {"name": target["name"], "snippet": "target"},
            "type": 1,
        }
    ]
    [sent] = bodies[1]["memo"]["attachments"]
    assert sent["name"] == attachment["name"] and sent["size"] == 2 and sent["memo"] == source["name"]
    assert set(sent) == {"name", "create_time", "filename", "type", "size", "memo"}
