"""User webhooks over HTTP: CRUD, names, access, update masks and URL validation."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import re

import pytest
import sqlalchemy as sa

from memos_core import Config
from memos_core.context import CONTEXT
from memos_core.store import tables

BASE = "/api/v1/users/{}/webhooks"
PUBLIC_URL = "https://1.1.1.1/hook"  # an IP literal: public, and resolvable without DNS
NAME_RE = re.compile(r"^users/alice/webhooks/[0-9a-f]{16}$")


@pytest.fixture
def allow_private() -> bool:
    return False


@pytest.fixture
def memos_config(memos_config, allow_private):
    return dataclasses.replace(memos_config, allow_private_webhooks=allow_private)


async def create(client, user, url=PUBLIC_URL, display_name="CI", owner=None):
    r = await client.post(
        BASE.format(owner or user.username), json={"url": url, "displayName": display_name}, headers=user.headers
    )
    return r.status, await r.json()


async def stored(client, user_id):
    ctx = client.app[CONTEXT]
    us = tables.user_setting
    async with ctx.store.connection():
        raw = await ctx.store.fetch_val(sa.select(us.c.value).where(us.c.user_id == user_id, us.c.key == "WEBHOOKS"))
    return json.loads(raw) if raw else None


async def listed(client, user, owner="alice"):
    r = await client.get(BASE.format(owner), headers=user.headers)
    assert r.status == 200
    return (await r.json())["webhooks"]


async def test_create_list_update_delete(memos_client, memos_users):
    alice = await memos_users("alice")
    assert await listed(memos_client, alice) == []

    status, first = await create(memos_client, alice, url=f"  {PUBLIC_URL}  ", display_name="CI")
    assert status == 200, first
    assert NAME_RE.match(first["name"]), first
    assert first == {
        "name": first["name"],
        "url": PUBLIC_URL,  # trimmed
        "displayName": "CI",
        "createTime": None,  # never populated: protojson shows an unset Timestamp as null
        "updateTime": None,
    }
    status, second = await create(memos_client, alice, url="http://8.8.8.8:8080/x?y=1", display_name="")
    assert status == 200, second
    assert second["name"] != first["name"] and second["displayName"] == ""
    assert await listed(memos_client, alice) == [first, second]

    first_id = first["name"].rsplit("/", 1)[1]
    second_id = second["name"].rsplit("/", 1)[1]
    assert await stored(memos_client, alice.id) == {
        "webhooks": [
            {"id": first_id, "title": "CI", "url": PUBLIC_URL},
            {"id": second_id, "title": "", "url": "http://8.8.8.8:8080/x?y=1"},
        ]
    }
    r = await memos_client.get("/api/v1/users/alice/settings/WEBHOOKS", headers=alice.headers)
    assert [h["name"] for h in (await r.json())["webhooksSetting"]["webhooks"]] == [first["name"], second["name"]]

    r = await memos_client.patch(
        f"/api/v1/{first['name']}?updateMask=url,display_name",
        json={"url": "https://9.9.9.9/new", "displayName": "Renamed"},
        headers=alice.headers,
    )
    assert r.status == 200
    updated = await r.json()
    assert updated == {**first, "url": "https://9.9.9.9/new", "displayName": "Renamed"}
    assert await listed(memos_client, alice) == [updated, second]

    r = await memos_client.delete(f"/api/v1/{first['name']}", headers=alice.headers)
    assert r.status == 200
    assert await r.json() == {}
    assert await listed(memos_client, alice) == [second]
    assert (await stored(memos_client, alice.id))["webhooks"] == [
        {"id": second_id, "title": "", "url": "http://8.8.8.8:8080/x?y=1"}
    ]

    r = await memos_client.delete(f"/api/v1/{first['name']}", headers=alice.headers)
    assert r.status == 404
    assert (await r.json())["code"] == 5


async def test_access(memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    admin = await memos_users("root", role="ADMIN")
    _, hook = await create(memos_client, alice)
    url = f"/api/v1/{hook['name']}"

    calls = [
        ("GET", BASE.format("alice"), None),
        ("POST", BASE.format("alice"), {"url": PUBLIC_URL}),
        ("PATCH", url + "?updateMask=display_name,url", {"displayName": "x", "url": "https://9.9.9.9/taken"}),
        ("DELETE", url, None),
    ]
    for method, path, body in calls:
        # Refused calls leave alice's hooks, and the setting that holds them, as they were.
        async with memos_unchanged(alice.headers, BASE.format("alice"), "/api/v1/users/alice/settings/WEBHOOKS"):
            r = await memos_client.request(method, path, json=body)
            assert (r.status, (await r.json())["code"]) == (401, 16), (method, path)
            r = await memos_client.request(method, path, json=body, headers=bob.headers)
            assert (r.status, (await r.json())["code"]) == (403, 7), (method, path)

    # Admins manage anyone's webhooks.
    assert [h["name"] for h in await listed(memos_client, admin)] == [hook["name"]]
    status, made = await create(memos_client, admin, owner="alice", display_name="by admin")
    assert status == 200 and NAME_RE.match(made["name"])
    r = await memos_client.patch(url + "?updateMask=display_name", json={"displayName": "admin"}, headers=admin.headers)
    assert r.status == 200 and (await r.json())["displayName"] == "admin"
    r = await memos_client.delete(url, headers=admin.headers)
    assert r.status == 200
    assert [h["name"] for h in await listed(memos_client, alice)] == [made["name"]]
    assert await listed(memos_client, bob, owner="bob") == []

    # An unknown user does not resolve: 400, as upstream answers.
    for method, path, body in [
        ("GET", BASE.format("nobody"), None),
        ("POST", BASE.format("nobody"), {"url": PUBLIC_URL}),
        ("PATCH", BASE.format("nobody") + "/0123456789abcdef", {"displayName": "x"}),
        ("DELETE", BASE.format("nobody") + "/0123456789abcdef", None),
    ]:
        r = await memos_client.request(method, path, json=body, headers=admin.headers)
        assert (r.status, (await r.json())["code"]) == (400, 3), (method, path)


async def test_update_mask_rules(memos_client, memos_users):
    alice = await memos_users("alice")
    _, hook = await create(memos_client, alice, display_name="Old")
    url = f"/api/v1/{hook['name']}"

    async def patch(query, body):
        r = await memos_client.patch(url + query, json=body, headers=alice.headers)
        return r.status, await r.json()

    new = {"url": "https://9.9.9.9/new", "displayName": "New"}
    assert await patch("?updateMask=display_name", new) == (200, {**hook, "displayName": "New"})
    assert await patch("?updateMask=url", new) == (200, {**hook, "displayName": "New", "url": "https://9.9.9.9/new"})
    current = {**hook, **new}
    # Unknown paths are ignored; so is an empty URL under the url path.
    assert await patch("?updateMask=name,create_time,foo", {"displayName": "x"}) == (200, current)
    assert await patch("?updateMask=url", {"url": "   "}) == (200, current)
    # camelCase mask paths and the mask in the body work too.
    camel = {**current, "displayName": "Camel"}
    assert await patch("?updateMask=displayName", {"displayName": "Camel"}) == (200, camel)
    status, body = await patch("", {"displayName": "Body", "updateMask": "display_name", "url": PUBLIC_URL})
    assert (status, body) == (200, {**current, "displayName": "Body"})
    # No mask: the REST gateway derives it from the body, so exactly the fields sent change.
    assert await patch("", {"displayName": "Derived"}) == (200, {**current, "displayName": "Derived"})
    assert await patch("", {"url": PUBLIC_URL}) == (200, {**hook, "displayName": "Derived"})
    assert await patch("", {}) == (200, {**hook, "displayName": "Derived"})
    assert await patch("", {"url": "https://9.9.9.9/a", "displayName": "Both", "name": "ignored"}) == (
        200,
        {**hook, "url": "https://9.9.9.9/a", "displayName": "Both"},
    )
    status, body = await patch("", {"title": "not a UserWebhook field"})
    assert (status, body["code"]) == (400, 3)

    status, body = await patch("?updateMask=display_name", {"displayName": 5})
    assert (status, body["code"]) == (400, 3)
    r = await memos_client.patch(BASE.format("alice") + "/ffffffffffffffff", json=new, headers=alice.headers)
    assert (r.status, (await r.json())["code"]) == (404, 5)
    assert await listed(memos_client, alice) == [{**hook, "url": "https://9.9.9.9/a", "displayName": "Both"}]


BAD_URLS = [
    "",
    "   ",
    "not a url",
    "/relative/path",
    "ftp://1.1.1.1/file",
    "javascript:alert(1)",
    "http:///no-host",
    "http://1.1.1.1:99999/bad-port",
    "http://nonexistent.invalid/hook",  # does not resolve (RFC 6761)
]
PRIVATE_URLS = [
    "http://127.0.0.1:8080/hook",
    "http://10.1.2.3/hook",
    "http://172.16.0.1/hook",
    "http://192.168.1.10/hook",
    "http://169.254.169.254/latest/meta-data",
    "http://100.64.0.1/hook",  # CGNAT
    "http://0.0.0.0/hook",
    "http://[::1]/hook",
    "http://[fd00::1]/hook",
    "http://[::ffff:127.0.0.1]/hook",
    "http://localhost:9/hook",  # a name that resolves to loopback
]


async def test_url_validation(memos_client, memos_users):
    alice = await memos_users("alice")
    for url in BAD_URLS + PRIVATE_URLS:
        status, body = await create(memos_client, alice, url=url)
        assert (status, body["code"]) == (400, 3), url
    r = await memos_client.post(BASE.format("alice"), json={"displayName": "no url"}, headers=alice.headers)
    assert r.status == 400
    assert await listed(memos_client, alice) == []

    _, hook = await create(memos_client, alice)
    for url in BAD_URLS[2:] + PRIVATE_URLS:
        r = await memos_client.patch(f"/api/v1/{hook['name']}?updateMask=url", json={"url": url}, headers=alice.headers)
        assert (r.status, (await r.json())["code"]) == (400, 3), url
    assert await listed(memos_client, alice) == [hook]


@pytest.mark.parametrize("allow_private", [True])
async def test_private_addresses_allowed_by_the_switch(memos_client, memos_users):
    assert memos_client.app[CONTEXT].config.allow_private_webhooks
    alice = await memos_users("alice")
    for url in PRIVATE_URLS:
        status, body = await create(memos_client, alice, url=url)
        assert status == 200, (url, body)
    # The rest of the validation still applies.
    for url in BAD_URLS:
        status, body = await create(memos_client, alice, url=url)
        assert (status, body["code"]) == (400, 3), url
    assert [h["url"] for h in await listed(memos_client, alice)] == PRIVATE_URLS


def test_switch_from_environment():
    assert Config.from_env({}).allow_private_webhooks is False
    assert Config.from_env({"MEMOS_ALLOW_PRIVATE_WEBHOOKS": "true"}).allow_private_webhooks is True


async def test_concurrent_creates_keep_every_hook(memos_client, memos_users):
    alice = await memos_users("alice")
    results = await asyncio.gather(*(create(memos_client, alice, display_name=f"h{i}") for i in range(6)))
    assert all(status == 200 for status, _ in results), results
    names = {body["name"] for _, body in results}
    assert len(names) == 6
    assert {h["name"] for h in await listed(memos_client, alice)} == names
