"""Password recovery through the API: ``POST /api/v1/auth/password:forgot`` and ``:reset``.

The delivery channel here is a recording plugin (the email plugin's mail is tested in
tests/plugins/email); these tests hold the core's promises whatever the channel: one answer for
every request, single-use hashed tokens that run out, rate limits, sessions ended.
"""

from __future__ import annotations

import dataclasses
import hashlib
from typing import Any

import pytest
import sqlalchemy as sa

from memos_core import CONTEXT, hookimpl, tables
from memos_core.services import password_reset

FORGOT = "/api/v1/auth/password:forgot"
RESET = "/api/v1/auth/password:reset"


class Channel:
    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []

    async def ready(self) -> bool:
        return True

    async def send(self, user, link: str, expires_at: int) -> None:
        self.sent.append((user.username, link.split("token=", 1)[1]))

    @hookimpl
    def memos_password_reset_sender(self, app):
        return self


@pytest.fixture
def memos_extra_plugins() -> list[Any]:
    return [Channel()]


@pytest.fixture
def memos_config(memos_config):
    # The test client is the trusted proxy, so X-Real-IP names the client address each test wants.
    return dataclasses.replace(memos_config, instance_url="https://memos.example/", trusted_proxies=("127.0.0.1",))


async def forgot(client, identifier: Any, ip: str = "203.0.113.1") -> Any:
    return await client.post(FORGOT, json={"identifier": identifier}, headers={"X-Real-Ip": ip})


async def test_links_go_to_every_account_an_identifier_names_and_nowhere_else(
    memos_client, memos_users, memos_extra_plugins
):
    channel = memos_extra_plugins[0]
    await memos_users("alice", email="shared@example.com")
    await memos_users("bob", email="Shared@Example.com")
    await memos_users("carol", email="")  # no email: nothing can be sent
    await memos_users("dave", email="dave@example.com", row_status="ARCHIVED")
    for identifier in ("shared@example.com", "carol", "dave", "Alice", "nobody@example.com"):
        r = await forgot(memos_client, identifier)
        assert r.status == 200 and await r.json() == {}, identifier
    assert sorted(u for u, _ in channel.sent) == ["alice", "bob"]
    # Only digests are stored.
    async with memos_client.app[CONTEXT].store.connection():
        rows = await memos_client.app[CONTEXT].store.fetch_all(sa.select(tables.password_reset))
    stored = {r["token_hash"] for r in rows}
    assert stored == {hashlib.sha256(t.encode()).hexdigest() for _, t in channel.sent}


async def test_a_reset_ends_every_session_and_voids_the_other_links(memos_client, memos_users, memos_extra_plugins):
    channel = memos_extra_plugins[0]
    alice = await memos_users("alice", email="alice@example.com")
    signin = {"passwordCredentials": {"username": "alice", "password": alice.password}}
    r = await memos_client.post("/api/v1/auth/signin", json=signin)
    assert r.status == 200
    cookie = r.cookies["memos_refresh"].value
    await forgot(memos_client, "alice")
    await forgot(memos_client, "alice@example.com")
    (_, first), (_, second) = channel.sent
    r = await memos_client.post(RESET, json={"token": second, "newPassword": "brand-new"})
    assert r.status == 200
    r = await memos_client.post("/api/v1/auth/refresh", json={}, headers={"Cookie": f"memos_refresh={cookie}"})
    assert r.status == 401  # the session from before the reset is gone
    r = await memos_client.post(RESET, json={"token": first, "newPassword": "other"})
    assert r.status == 400  # the older link died with the reset
    # A personal access token is not a session: it still works.
    assert (await memos_client.get("/api/v1/auth/me", headers=alice.headers)).status == 200


async def test_expired_unknown_and_malformed_requests_change_nothing(memos_client, memos_users, memos_extra_plugins):
    channel = memos_extra_plugins[0]
    alice = await memos_users("alice", email="alice@example.com")
    await forgot(memos_client, "alice")
    token = channel.sent[0][1]
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        await store.execute(sa.update(tables.password_reset).values(expires_ms=1))
    for body in (
        {"token": token, "newPassword": "x"},  # expired
        {"token": "not-a-token", "newPassword": "x"},
        {"token": token, "newPassword": ""},
        {"token": token},
        {"newPassword": "x"},
        {"token": ["x"], "newPassword": "x"},
    ):
        r = await memos_client.post(RESET, json=body)
        assert r.status == 400 and set(await r.json()) == {"code", "message", "details"}, body
    for bad in ("", "   ", None, 7, "x" * 400):
        assert (await forgot(memos_client, bad)).status == 400, bad
    signin = {"passwordCredentials": {"username": "alice", "password": alice.password}}
    assert (await memos_client.post("/api/v1/auth/signin", json=signin)).status == 200


async def test_requests_are_limited_per_address_and_links_per_account(memos_client, memos_users, memos_extra_plugins):
    channel = memos_extra_plugins[0]
    await memos_users("alice", email="alice@example.com")
    limit = password_reset.REQUESTS_PER_ADDRESS.limit
    for i in range(limit):
        assert (await forgot(memos_client, "alice", ip="198.51.100.7")).status == 200, i
    r = await forgot(memos_client, "alice", ip="198.51.100.7")
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    # Another address may ask, but the account got all the links it gets this hour; the answer is unchanged.
    assert (await forgot(memos_client, "alice", ip="198.51.100.8")).status == 200
    assert len(channel.sent) == password_reset.LINKS_PER_ACCOUNT.limit


async def test_wrong_tokens_are_limited_per_address(memos_client, memos_users):
    await memos_users("alice", email="alice@example.com")
    headers = {"X-Real-Ip": "192.0.2.9"}
    for _ in range(password_reset.FAILED_RESETS_PER_ADDRESS.limit):
        r = await memos_client.post(RESET, json={"token": "guess", "newPassword": "x"}, headers=headers)
        assert r.status == 400
    r = await memos_client.post(RESET, json={"token": "guess", "newPassword": "x"}, headers=headers)
    assert r.status == 429


async def test_no_recovery_while_password_sign_in_is_disallowed(memos_client, memos_users):
    admin = await memos_users("admin", role="ADMIN", email="admin@example.com")
    body = {"generalSetting": {"disallowPasswordAuth": True}}
    r = await memos_client.patch("/api/v1/instance/settings/GENERAL", json=body, headers=admin.headers)
    assert r.status == 200
    r = await forgot(memos_client, "admin")
    assert r.status == 400 and "not allowed" in (await r.json())["message"]
