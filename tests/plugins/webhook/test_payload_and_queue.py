"""memos-webhook units: the Go encoding/json memo shape, how answers are judged, the bounded queue."""

from __future__ import annotations

import asyncio
import json
import logging

import pytest
from aiohttp import web
from memos_webhook import Delivery, DeliveryFailed, Dispatcher, judge, payload
from memos_webhook import dispatcher as dispatcher_module

API_MEMO = {
    "name": "memos/abc",
    "state": "NORMAL",
    "creator": "users/alice",
    "createTime": "1970-01-01T00:00:00Z",
    "updateTime": "2024-04-25T00:00:00Z",
    "content": "",
    "visibility": "PRIVATE",
    "tags": [],
    "pinned": False,
    "attachments": [
        {
            "name": "attachments/a1",
            "createTime": "2024-04-25T00:00:01Z",
            "filename": "cat.jpg",
            "content": "",
            "externalLink": "",
            "type": "image/jpeg",
            "size": "2048",
            "memo": "memos/abc",
            "motionMedia": None,
        },
        {
            "name": "attachments/a2",
            "createTime": "2024-04-25T00:00:02Z",
            "filename": "live.heic",
            "content": "",
            "externalLink": "https://s3.example/live.heic",
            "type": "image/heic",
            "size": "0",
            "motionMedia": {
                "family": "APPLE_LIVE_PHOTO",
                "role": "STILL",
                "groupId": "g1",
                "presentationTimestampUs": "1500",
                "hasEmbeddedVideo": False,
            },
        },
    ],
    "relations": [
        {"memo": {"name": "memos/abc", "snippet": ""}, "relatedMemo": {"name": "memos/x", "snippet": "x"}, "type": 1}
    ],
    "reactions": [
        {
            "name": "memos/abc/reactions/3",
            "creator": "users/bob",
            "contentId": "memos/abc",
            "reactionType": "🎉",
            "createTime": "2024-04-25T00:00:03Z",
        }
    ],
    "property": {"hasLink": False, "hasTaskList": True, "hasCode": False, "hasIncompleteTasks": True, "title": "T"},
    "snippet": "",
    "location": {"placeholder": "Home", "latitude": 48.0, "longitude": 0},
}


def test_memo_shape():
    assert payload.memo(API_MEMO) == {
        "name": "memos/abc",
        "state": 1,
        "creator": "users/alice",
        "create_time": {},  # a set Timestamp at the epoch: both parts are zero
        "update_time": {"seconds": 1714003200},
        "visibility": 1,
        "attachments": [
            {
                "name": "attachments/a1",
                "create_time": {"seconds": 1714003201},
                "filename": "cat.jpg",
                "type": "image/jpeg",
                "size": 2048,
                "memo": "memos/abc",
            },
            {
                "name": "attachments/a2",
                "create_time": {"seconds": 1714003202},
                "filename": "live.heic",
                "external_link": "https://s3.example/live.heic",
                "type": "image/heic",
                "motion_media": {"family": 1, "role": 1, "group_id": "g1", "presentation_timestamp_us": 1500},
            },
        ],
        "relations": [{"memo": {"name": "memos/abc"}, "related_memo": {"name": "memos/x", "snippet": "x"}, "type": 1}],
        "reactions": [
            {
                "name": "memos/abc/reactions/3",
                "creator": "users/bob",
                "content_id": "memos/abc",
                "reaction_type": "🎉",
                "create_time": {"seconds": 1714003203},
            }
        ],
        "property": {"has_task_list": True, "has_incomplete_tasks": True, "title": "T"},
        "location": {"placeholder": "Home", "latitude": 48},
    }


def test_enums_timestamps_and_encoding():
    assert payload.memo({"state": "ARCHIVED", "visibility": "PROTECTED"}) == {"state": 2, "visibility": 2}
    assert payload.memo({"visibility": "PUBLIC", "state": "STATE_UNSPECIFIED"}) == {"visibility": 3}
    assert payload.timestamp("2024-04-25T00:00:00.5Z") == {"seconds": 1714003200, "nanos": 500000000}
    assert payload.timestamp("0001-01-01T00:00:00Z") == {"seconds": -62135596800}
    body = payload.request_body("https://h.example/x?a=1&b=2", "memos.memo.created", {"creator": "users/a"})
    assert body == {
        "url": "https://h.example/x?a=1&b=2",
        "activityType": "memos.memo.created",
        "creator": "users/a",
        "memo": {"creator": "users/a"},
    }
    raw = payload.encode({**body, "memo": {"content": "<a> & é \u2028"}})
    assert raw == (
        b'{"url":"https://h.example/x?a=1\\u0026b=2","activityType":"memos.memo.created","creator":"users/a",'
        b'"memo":{"content":"\\u003ca\\u003e \\u0026 \xc3\xa9 \\u2028"}}'
    )
    assert json.loads(raw)["memo"]["content"] == "<a> & é \u2028"


@pytest.mark.parametrize(
    ("status", "raw"),
    [(200, b'{"code":0,"message":"ok"}'), (204, b"{}"), (299, b"null"), (200, b'{"message":"no code"}')],
)
def test_accepted_answers(status, raw):
    judge(status, raw)


@pytest.mark.parametrize(
    ("status", "raw"),
    [
        (500, b'{"code":0}'),
        (302, b"{}"),
        (404, b""),
        (200, b""),
        (200, b"ok"),
        (200, b"[1]"),
        (200, b'{"code":1,"message":"no"}'),
        (200, b'{"code":"0"}'),
    ],
)
def test_failed_answers(status, raw):
    with pytest.raises(DeliveryFailed):
        judge(status, raw)


async def test_full_queue_drops(aiohttp_server, caplog, monkeypatch):
    caplog.set_level(logging.WARNING, logger="memos_webhook")
    release = asyncio.Event()
    seen: list[bytes] = []

    async def handle(request):
        seen.append(await request.read())
        await release.wait()
        return web.json_response({"code": 0})

    app = web.Application()
    app.router.add_post("/", handle)
    server = await aiohttp_server(app)
    url = f"http://127.0.0.1:{server.port}/"

    dispatcher = Dispatcher(allow_private=True, queue_size=2, workers=1)
    assert not dispatcher.submit(Delivery(url, "memos.memo.created", b"{}"))  # not started: nothing queued
    await dispatcher.start()
    try:
        results = [dispatcher.submit(Delivery(url, "memos.memo.created", f'{{"n":{i}}}'.encode())) for i in range(5)]
        assert results == [True, True, False, False, False]
        assert dispatcher.dropped == 3
        # A stalled target drops every event: the first drop is logged, the next ones are counted
        # into the following report instead of a line each.
        assert caplog.text.count("webhook queue full") == 1
        monkeypatch.setattr(dispatcher_module, "DROP_LOG_EVERY", 0.05)
        await asyncio.sleep(0.06)  # the worker holds n0 at the stalled target: one slot is free again
        assert dispatcher.submit(Delivery(url, "memos.memo.created", b'{"n":9}'))
        assert not dispatcher.submit(Delivery(url, "memos.memo.created", b"{}"))
        assert caplog.text.count("webhook queue full") == 2
        assert "(2 more dropped since the last report)" in caplog.text
        release.set()
        await dispatcher.drain()
        assert seen == [b'{"n":0}', b'{"n":1}', b'{"n":9}']
        assert (dispatcher.delivered, dispatcher.failed, dispatcher.dropped) == (3, 0, 4)
    finally:
        await dispatcher.close()


async def test_close_drops_what_is_left(aiohttp_server):
    async def handle(request):
        await asyncio.sleep(30)
        return web.json_response({})

    app = web.Application()
    app.router.add_post("/", handle)
    server = await aiohttp_server(app)
    dispatcher = Dispatcher(allow_private=True, workers=1)
    await dispatcher.start()
    for _ in range(3):
        dispatcher.submit(Delivery(f"http://127.0.0.1:{server.port}/", "memos.memo.created", b"{}"))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await dispatcher.close(grace=0.2)
    assert loop.time() - started < 5
