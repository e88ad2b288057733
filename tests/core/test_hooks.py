"""Every hook of ``memos_core.hookspecs`` is called by the core and its result honoured.

Each test registers throwaway plugin objects through the ``memos_extra_plugins`` fixture (see
:func:`with_plugins`) and proves the effect through HTTP. A test covering hook ``memos_x`` is named
``test_memos_x_...``; :func:`test_every_hook_in_hookspecs_is_tested_here` keeps that list complete.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
import logging
import time
import xml.etree.ElementTree as ET
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from aiohttp import web
from fixtures.memory_storage import MemoryBackend, MemoryStorage

from memos_core import (
    CONTEXT,
    ApiError,
    Code,
    Principal,
    hookimpl,
    hookspecs,
    tables,
    text_ranked_ids,
)
from memos_core.store import users as users_store

# -- plumbing ---------------------------------------------------------------------------------------


@pytest.fixture
def memos_extra_plugins(request) -> list[Any]:
    """The plugin objects a test asked for with :func:`with_plugins` (fresh instances per test)."""
    make = getattr(request, "param", None)
    return make() if make is not None else []


def with_plugins(*factories: Callable[[], Any]):
    """Register ``factory()`` of each factory for the decorated test; the test may request
    ``memos_extra_plugins`` to reach the very instances the app was built with."""
    ids = "+".join(getattr(f, "__name__", "plugin") for f in factories)
    return pytest.mark.parametrize("memos_extra_plugins", [lambda: [f() for f in factories]], indirect=True, ids=[ids])


async def ok(r) -> Any:
    body = await r.json()
    assert r.status == 200, body
    return body


async def create_memo(client, user, uid: str, content: str, visibility: str = "PUBLIC", **headers) -> dict:
    r = await client.post(
        f"/api/v1/memos?memoId={uid}",
        json={"content": content, "visibility": visibility},
        headers={**user.headers, **headers},
    )
    return await ok(r)


async def eventually(check: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not check():
        assert loop.time() < deadline, "condition not met in time"
        await asyncio.sleep(0.05)


async def select_storage(client, admin, storage_type: str) -> tuple[int, dict]:
    """UpdateInstanceSetting(STORAGE) over HTTP, and only over HTTP: the status is the route's own."""
    setting = {"storageSetting": {"storageType": storage_type}}
    r = await client.patch("/api/v1/instance/settings/STORAGE", json=setting, headers=admin.headers)
    body = await r.json()
    return r.status, body.get("storageSetting", body)


# -- memos_password_reset_sender -----------------------------------------------------------------------


class ResetChannel:
    """A password-reset channel that keeps what it was asked to deliver; ready once switched on."""

    def __init__(self) -> None:
        self.on = False
        self.sent: list[tuple[str, str, int]] = []

    async def ready(self) -> bool:
        return self.on

    async def send(self, user, link: str, expires_at: int) -> None:
        self.sent.append((user.username, link, expires_at))

    @hookimpl
    def memos_password_reset_sender(self, app):
        return self


class UnreadyResetChannel(ResetChannel):
    pass


@with_plugins(ResetChannel, UnreadyResetChannel)
async def test_memos_password_reset_sender_delivers_links_that_reset_the_password(
    memos_client, memos_users, memos_extra_plugins
):
    channel, unready = memos_extra_plugins
    ctx = memos_client.app[CONTEXT]
    alice = await memos_users("alice", email="alice@example.com")
    forgot = "/api/v1/auth/password:forgot"

    async def ask(identifier: str) -> Any:
        return await memos_client.post(forgot, json={"identifier": identifier})

    # No ready channel (or no instance URL to build links on): not offered, said plainly.
    r = await ask("alice")
    assert r.status == 400 and (await r.json())["code"] == Code.FAILED_PRECONDITION.value
    channel.on = True
    r = await ask("alice")
    assert r.status == 400 and "MEMOS_INSTANCE_URL" in (await r.json())["message"]
    ctx.config = dataclasses.replace(ctx.config, instance_url="https://memos.example")

    # The same answer whether or not an account matches; the first ready channel delivers.
    assert await ok(await ask("nobody")) == {}
    assert await ok(await ask("ALICE@example.com")) == {}
    assert unready.sent == [] and len(channel.sent) == 1
    username, link, expires_at = channel.sent[0]
    assert username == "alice" and link.startswith("https://memos.example/auth/reset-password?token=")
    assert 29 * 60 <= expires_at - time.time() <= 30 * 60
    token = link.split("token=", 1)[1]

    reset = "/api/v1/auth/password:reset"
    assert await ok(await memos_client.post(reset, json={"token": token, "newPassword": "n3w-secret"})) == {}
    signin = {"passwordCredentials": {"username": "alice", "password": "n3w-secret"}}
    assert (await memos_client.post("/api/v1/auth/signin", json=signin)).status == 200
    old = {"passwordCredentials": {"username": "alice", "password": alice.password}}
    assert (await memos_client.post("/api/v1/auth/signin", json=old)).status == 400
    r = await memos_client.post(reset, json={"token": token, "newPassword": "again"})  # single use
    assert r.status == 400 and "invalid, used or expired" in (await r.json())["message"]


# -- memos_register_routes ----------------------------------------------------------------------------


class Routes:
    @hookimpl
    def memos_register_routes(self, app: web.Application) -> None:
        async def hello(request: web.Request) -> web.Response:
            return web.json_response({"hello": request.match_info["who"]})

        async def users(request: web.Request) -> web.Response:
            ctx = request.config_dict[CONTEXT]  # the route runs inside the app: the context is there
            rows = await ctx.store.fetch_all(tables.user.select())
            return web.json_response({"users": sorted(r["username"] for r in rows)})

        app.router.add_get("/hooktest/hello/{who}", hello)
        app.router.add_get("/hooktest/users", users)


@with_plugins(Routes)
async def test_memos_register_routes_adds_routes_that_answer(memos_client, memos_users):
    r = await memos_client.get("/hooktest/hello/world")
    assert await ok(r) == {"hello": "world"}
    await memos_users("alice")
    assert await ok(await memos_client.get("/hooktest/users")) == {"users": ["alice"]}
    r = await memos_client.get("/healthz")  # the core's own routes are still there
    assert r.status == 200


# -- memos_cleanup_ctx ----------------------------------------------------------------------------------


class Lifecycle:
    def __init__(self) -> None:
        self.log: list[str] = []

    @hookimpl
    def memos_cleanup_ctx(self, app: web.Application):
        async def lifetime(app: web.Application):
            ctx = app[CONTEXT]
            async with ctx.store.connection():  # the store is connected and migrated before plugins start
                await ctx.store.fetch_all(tables.user.select())
            self.log.append("setup")
            yield
            self.log.append("teardown")

        return lifetime

    @hookimpl
    def memos_register_routes(self, app: web.Application) -> None:
        async def state(request: web.Request) -> web.Response:
            return web.json_response(self.log)

        app.router.add_get("/hooktest/lifecycle", state)


class NoLifecycle:
    """Returns ``None``: nothing to run (the core must skip it, not append ``None``)."""

    @hookimpl
    def memos_cleanup_ctx(self, app: web.Application):
        return None


@with_plugins(Lifecycle, NoLifecycle)
async def test_memos_cleanup_ctx_runs_setup_at_startup_and_teardown_at_shutdown(memos_client, memos_extra_plugins):
    lifecycle = memos_extra_plugins[0]
    assert await ok(await memos_client.get("/hooktest/lifecycle")) == ["setup"]
    await memos_client.close()
    assert lifecycle.log == ["setup", "teardown"]


# -- memos_authenticate ---------------------------------------------------------------------------------


class HeaderAuth:
    """Accepts ``X-Test-User: <username>``; passes (``None``, synchronously) when the header is absent."""

    def __init__(self) -> None:
        self.calls = 0

    @hookimpl(tryfirst=True)
    def memos_authenticate(self, app: web.Application, request: web.Request):
        self.calls += 1
        username = request.headers.get("X-Test-User")
        if username is None:
            return None
        return self._principal(app, username)  # an awaitable answer

    async def _principal(self, app: web.Application, username: str) -> Principal:
        user = await users_store.get_user(app[CONTEXT].store, username=username)
        if user is None:
            raise ApiError(Code.UNAUTHENTICATED, "unknown test user")
        return Principal(user=user, method="x-test-user")


@with_plugins(HeaderAuth)
async def test_memos_authenticate_plugin_lets_its_user_call_protected_routes(memos_client, memos_users):
    alice = await memos_users("alice")
    await memos_users("bob")
    r = await memos_client.get("/api/v1/auth/me")
    assert r.status == 401
    me = await ok(await memos_client.get("/api/v1/auth/me", headers={"X-Test-User": "alice"}))
    assert me["user"]["name"] == "users/alice"
    memo = await create_memo(memos_client, alice, "m1", "through the header", "PRIVATE")
    assert memo["creator"] == "users/alice"
    # tryfirst: the header wins over a bearer token of somebody else
    me = await ok(await memos_client.get("/api/v1/auth/me", headers={**alice.headers, "X-Test-User": "bob"}))
    assert me["user"]["name"] == "users/bob"
    # a credential the plugin understands but rejects: UNAUTHENTICATED, no fall-through to bearer
    r = await memos_client.get("/api/v1/auth/me", headers={**alice.headers, "X-Test-User": "nobody"})
    assert r.status == 401 and (await r.json())["code"] == 16


@with_plugins(HeaderAuth)
async def test_memos_authenticate_none_falls_through_to_bearer(memos_client, memos_users, memos_extra_plugins):
    alice = await memos_users("alice")
    me = await ok(await memos_client.get("/api/v1/auth/me", headers=alice.headers))
    assert me["user"]["name"] == "users/alice"
    assert memos_extra_plugins[0].calls >= 1  # it was asked, passed, and bearer auth answered
    r = await memos_client.get("/api/v1/auth/me", headers={"Authorization": "Bearer not-a-token"})
    assert r.status == 401


@with_plugins(HeaderAuth)
async def test_memos_authenticate_is_asked_by_the_file_server(memos_client, memos_users):
    alice = await memos_users("alice")
    await memos_users("bob")
    body = {"filename": "secret.txt", "content": base64.b64encode(b"only alice").decode()}
    uid = (await ok(await memos_client.post("/api/v1/attachments", json=body, headers=alice.headers)))["name"]
    url = f"/file/{uid}/secret.txt"
    r = await memos_client.get(url, headers={"X-Test-User": "alice"})
    assert r.status == 200 and await r.read() == b"only alice"
    r = await memos_client.get(url, headers={"X-Test-User": "bob"})
    assert r.status in (403, 404)


# -- memos_register_auth_providers -----------------------------------------------------------------------


async def magic_provider(app: web.Application, credentials: dict[str, Any]):
    if credentials.get("word") != "open-sesame":
        raise ApiError(Code.INVALID_ARGUMENT, "wrong magic word")
    user = await users_store.get_user(app[CONTEXT].store, username=credentials.get("username"))
    if user is None:
        raise ApiError(Code.INVALID_ARGUMENT, "no such user")
    return user


class MagicSignIn:
    @hookimpl
    def memos_register_auth_providers(self, register) -> None:
        register("magicCredentials", magic_provider)


class AsyncPasswordOverride:
    """An async registry implementation replacing the core's password provider (registered ``trylast``)."""

    @hookimpl
    async def memos_register_auth_providers(self, register) -> None:
        async def only_bob(app, credentials):
            if credentials.get("username") != "bob":
                raise ApiError(Code.PERMISSION_DENIED, "only bob signs in with a password here")
            return await users_store.get_user(app[CONTEXT].store, username="bob")

        register("passwordCredentials", only_bob)


@with_plugins(MagicSignIn)
async def test_memos_register_auth_providers_new_credential_signs_in(memos_client, memos_users):
    await memos_users("alice")
    body = {"magicCredentials": {"username": "alice", "word": "open-sesame"}}
    session = await ok(await memos_client.post("/api/v1/auth/signin", json=body))
    assert session["user"]["name"] == "users/alice"
    me = await ok(
        await memos_client.get("/api/v1/auth/me", headers={"Authorization": f"Bearer {session['accessToken']}"})
    )
    assert me["user"]["name"] == "users/alice"
    body = {"magicCredentials": {"username": "alice", "word": "please"}}
    r = await memos_client.post("/api/v1/auth/signin", json=body)
    assert r.status == 400 and "magic" in (await r.json())["message"]
    # the core's password provider is still there
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": "alice-password"}}
    )
    assert r.status == 200


@with_plugins(AsyncPasswordOverride)
async def test_memos_register_auth_providers_async_plugin_replaces_password(memos_client, memos_users):
    await memos_users("alice")
    await memos_users("bob")
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "alice", "password": "alice-password"}}
    )
    assert r.status == 403
    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "bob", "password": "anything"}}
    )
    assert (await ok(r))["user"]["name"] == "users/bob"


# -- memos_on_event ----------------------------------------------------------------------------------------


class Recorder:
    def __init__(self) -> None:
        self.events: list[tuple[str, str, str | None]] = []
        self.extra: list[dict[str, Any]] = []

    @hookimpl
    def memos_on_event(self, app: web.Application, event) -> None:
        actor = getattr(event.actor, "username", None)
        self.events.append((event.name, event.resource.get("name"), actor))
        self.extra.append(event.extra)


class AsyncRecorder:
    def __init__(self) -> None:
        self.events: list[str] = []

    @hookimpl
    async def memos_on_event(self, app: web.Application, event) -> None:
        await asyncio.sleep(0)
        self.events.append(event.name)


class Exploding:
    """Called before the recorders (tryfirst); raises on every event, sync and async alike."""

    @hookimpl(tryfirst=True)
    def memos_on_event(self, app: web.Application, event) -> None:
        raise RuntimeError(f"boom on {event.name}")


class AsyncExploding:
    @hookimpl(tryfirst=True)
    async def memos_on_event(self, app: web.Application, event) -> None:
        raise RuntimeError("async boom")


async def lifecycle_of_a_memo(client, memos_users) -> None:
    admin = await memos_users("root", role="ADMIN")
    alice = await memos_users("alice")
    await create_memo(client, alice, "m1", "first")
    r = await client.patch(
        "/api/v1/memos/m1?updateMask=content", json={"content": "first, edited"}, headers=alice.headers
    )
    await ok(r)
    r = await client.post(
        "/api/v1/memos/m1/comments?commentId=c1", json={"content": "a comment"}, headers=alice.headers
    )
    await ok(r)
    r = await client.delete("/api/v1/memos/m1", headers=alice.headers)
    assert r.status == 200
    r = await client.post("/api/v1/users", json={"username": "carol", "password": "pw"}, headers=admin.headers)
    await ok(r)


@with_plugins(Recorder)
async def test_memos_on_event_sees_each_change_with_its_resource(memos_client, memos_users, memos_extra_plugins):
    recorder = memos_extra_plugins[0]
    await lifecycle_of_a_memo(memos_client, memos_users)
    assert recorder.events == [
        ("memos.memo.created", "memos/m1", "alice"),
        ("memos.memo.updated", "memos/m1", "alice"),
        ("memos.memo.created", "memos/c1", "alice"),  # a comment is a memo too
        ("memos.memo.comment.created", "memos/c1", "alice"),
        ("memos.memo.deleted", "memos/m1", "alice"),
        ("memos.user.created", "users/carol", "root"),
    ]
    comment_extra = recorder.extra[3]
    assert comment_extra["parent"]["name"] == "memos/m1"


@with_plugins(Exploding, AsyncExploding, Recorder, AsyncRecorder)
async def test_memos_on_event_failures_neither_break_the_request_nor_starve_other_plugins(
    memos_client, memos_users, memos_extra_plugins, caplog
):
    _, _, recorder, async_recorder = memos_extra_plugins
    with caplog.at_level(logging.ERROR, logger="memos_core.context"):
        await lifecycle_of_a_memo(memos_client, memos_users)  # every request answers 200
    names = [
        "memos.memo.created",
        "memos.memo.updated",
        "memos.memo.created",
        "memos.memo.comment.created",
        "memos.memo.deleted",
        "memos.user.created",
    ]
    assert [e[0] for e in recorder.events] == names
    assert async_recorder.events == names  # the async implementation was awaited
    failures = [r for r in caplog.records if "failed on event" in r.getMessage()]
    assert len(failures) == 2 * len(names)  # each failure logged, with its plugin's name
    assert {r.getMessage().split()[1] for r in failures} == {"Exploding", "AsyncExploding"}


SEEN: list[str] = []


class FirstListener:
    @hookimpl(tryfirst=True)
    def memos_on_event(self, app: web.Application, event) -> None:
        SEEN.append("first")


class PlainListener:
    @hookimpl
    def memos_on_event(self, app: web.Application, event) -> None:
        SEEN.append("plain")


class LastListener:
    @hookimpl(trylast=True)
    def memos_on_event(self, app: web.Application, event) -> None:
        SEEN.append("last")


@with_plugins(LastListener, PlainListener, FirstListener)
async def test_memos_on_event_calls_listeners_in_pluggy_order(memos_client, memos_users):
    SEEN.clear()
    alice = await memos_users("alice")
    await create_memo(memos_client, alice, "o1", "in order")
    assert SEEN == ["first", "plain", "last"]  # tryfirst first, trylast last, as any pluggy call


# -- memos_extract_payload / memos_extract_mentions / memos_generate_snippet / memos_render_markdown -----

PLUGIN_PROPERTY = {"hasLink": False, "hasTaskList": False, "hasCode": True, "hasIncompleteTasks": False, "title": "T"}


class MarkdownOverride:
    """Takes over content starting with ``!plugin``; passes anything else on to memos-markdown."""

    @hookimpl(tryfirst=True)
    def memos_extract_payload(self, content: str):
        if not content.startswith("!plugin"):
            return None
        return {"tags": ["from-plugin", ""], "property": {"hasCode": True, "hasLink": False, "title": "T"}}

    @hookimpl(tryfirst=True)
    def memos_generate_snippet(self, content: str):
        if not content.startswith("!plugin"):
            return None

        async def snippet() -> str:  # an awaitable answer
            return "snippet by plugin"

        return snippet()

    @hookimpl(tryfirst=True)
    def memos_extract_mentions(self, content: str):
        if content.startswith("!plugin"):
            return ["bob"]  # though the content mentions nobody
        if content.startswith("!quiet"):
            return []  # though the content mentions @bob
        return None

    @hookimpl(tryfirst=True)
    def memos_render_markdown(self, content: str):
        if not content.startswith("!plugin"):
            return None

        async def render() -> str:
            return "<p>rendered by plugin</p>"

        return render()


async def mentions_of(client, user) -> list[dict]:
    r = await client.get(f"/api/v1/users/{user.username}/notifications", headers=user.headers)
    return [n for n in (await ok(r))["notifications"] if n["type"] == "MEMO_MENTION"]


@with_plugins(MarkdownOverride)
async def test_memos_extract_payload_plugin_sets_tags_and_property(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create_memo(memos_client, alice, "p1", "!plugin hello #realtag")
    assert memo["tags"] == ["from-plugin"]  # empty tags dropped, the markdown plugin not asked
    assert memo["property"] == PLUGIN_PROPERTY
    plain = await create_memo(memos_client, alice, "p2", "hello #realtag")  # None: memos-markdown answers
    assert plain["tags"] == ["realtag"]
    assert plain["property"]["hasCode"] is False
    # the plugin's tags are what is stored: the tag filter finds the memo by them
    r = await memos_client.get("/api/v1/memos", params={"filter": '"from-plugin" in tags'}, headers=alice.headers)
    assert [m["name"] for m in (await ok(r))["memos"]] == ["memos/p1"]
    r = await memos_client.patch(
        "/api/v1/memos/p2?updateMask=content", json={"content": "!plugin now"}, headers=alice.headers
    )
    assert (await ok(r))["tags"] == ["from-plugin"]  # and on update


@with_plugins(MarkdownOverride)
async def test_memos_generate_snippet_plugin_sets_the_snippet(memos_client, memos_users):
    alice = await memos_users("alice")
    memo = await create_memo(memos_client, alice, "s1", "!plugin **bold** text")
    assert memo["snippet"] == "snippet by plugin"
    plain = await create_memo(memos_client, alice, "s2", "**bold** text")
    assert plain["snippet"] == "bold text"
    got = await ok(await memos_client.get("/api/v1/memos/s1", headers=alice.headers))
    assert got["snippet"] == "snippet by plugin"


@with_plugins(MarkdownOverride)
async def test_memos_extract_mentions_plugin_decides_who_is_notified(memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await create_memo(memos_client, alice, "n1", "!plugin no at-sign here")
    await create_memo(memos_client, alice, "n2", "!quiet hello @bob")
    await create_memo(memos_client, alice, "n3", "hello @bob")  # None: memos-markdown finds @bob
    notices = await mentions_of(memos_client, bob)
    assert len(notices) == 2
    memos = sorted(n.get("memoMention", {}).get("memo", "") for n in notices)
    assert memos == ["memos/n1", "memos/n3"], notices


@with_plugins(MarkdownOverride)
async def test_memos_render_markdown_plugin_renders_rss_html(memos_client, memos_users):
    alice = await memos_users("alice")
    await create_memo(memos_client, alice, "r1", "!plugin *anything*")
    await create_memo(memos_client, alice, "r2", "**bold**")
    r = await memos_client.get("/explore/rss.xml")
    assert r.status == 200
    items = ET.fromstring(await r.read()).findall("./channel/item")
    html = {item.findtext("link").rsplit("/", 1)[1]: item.findtext("description") for item in items}
    assert html["r1"] == "<p>rendered by plugin</p>"
    assert "<strong>bold</strong>" in html["r2"]


# -- memos_compile_filter ------------------------------------------------------------------------------------


class FilterOverride:
    """``plugin:pinned`` (memo) and ``plugin:small`` (attachment) are this plugin's own expressions;
    it also overrides the meaning of ``pinned`` (to *not* pinned). Anything else goes to memos-filter."""

    def __init__(self) -> None:
        self.calls: list[tuple[str, str, dict]] = []

    @hookimpl(tryfirst=True)
    def memos_compile_filter(self, expression: str, scope: str, context: dict):
        self.calls.append((expression, scope, dict(context)))
        if scope == "memo" and expression == "plugin:pinned":
            return tables.memo.c.pinned.is_(True)
        if scope == "memo" and expression == "pinned":
            return tables.memo.c.pinned.is_(False)
        if scope == "attachment" and expression == "plugin:small":
            return tables.attachment.c.size < 4
        return None


async def listed(client, user, filter_: str) -> list[str]:
    r = await client.get("/api/v1/memos", params={"filter": filter_}, headers=user.headers)
    return sorted(m["name"] for m in (await ok(r))["memos"])


@with_plugins(FilterOverride)
async def test_memos_compile_filter_plugin_answers_its_own_expression_and_overrides_one(
    memos_client, memos_users, memos_extra_plugins, memos_driver
):
    plugin = memos_extra_plugins[0]
    alice = await memos_users("alice")
    await create_memo(memos_client, alice, "f1", "pinned one")
    await create_memo(memos_client, alice, "f2", "not pinned")
    r = await memos_client.patch("/api/v1/memos/f1?updateMask=pinned", json={"pinned": True}, headers=alice.headers)
    await ok(r)
    assert await listed(memos_client, alice, "plugin:pinned") == ["memos/f1"]
    assert await listed(memos_client, alice, "pinned") == ["memos/f2"]  # the plugin's meaning, not memos-filter's
    assert await listed(memos_client, alice, 'content.contains("not")') == ["memos/f2"]  # fell through
    r = await memos_client.get("/api/v1/memos", params={"filter": "plugin:unknown"}, headers=alice.headers)
    assert r.status == 400  # nobody understands it: memos-filter rejects it
    expression, scope, context = plugin.calls[0]
    assert (expression, scope) == ("plugin:pinned", "memo")
    assert context["dialect"] == {"postgres": "postgresql"}.get(memos_driver, memos_driver)  # SQLAlchemy dialect name
    # a shortcut's filter is checked through the hook too
    r = await memos_client.post(
        "/api/v1/users/alice/shortcuts", json={"title": "pins", "filter": "plugin:pinned"}, headers=alice.headers
    )
    await ok(r)


@with_plugins(FilterOverride)
async def test_memos_compile_filter_plugin_filters_attachments(memos_client, memos_users):
    alice = await memos_users("alice")
    for name, data in (("small.txt", b"abc"), ("large.txt", b"abcdefgh")):
        body = {"filename": name, "content": base64.b64encode(data).decode()}
        await ok(await memos_client.post("/api/v1/attachments", json=body, headers=alice.headers))
    r = await memos_client.get("/api/v1/attachments", params={"filter": "plugin:small"}, headers=alice.headers)
    assert [a["filename"] for a in (await ok(r))["attachments"]] == ["small.txt"]


# -- memos_register_storage ------------------------------------------------------------------------------------


@with_plugins(MemoryStorage)
async def test_memos_register_storage_backend_is_selectable_and_stores_attachments(
    memos_client, memos_users, memos_extra_plugins
):
    backend = memos_extra_plugins[0].backend
    admin = await memos_users("root", role="ADMIN")
    alice = await memos_users("alice")
    status, body = await select_storage(memos_client, admin, "NOWHERE")
    assert status == 400 and "MEMORY" in body["message"]  # listed among the available types
    status, body = await select_storage(memos_client, admin, "MEMORY")
    assert status == 200 and body["storageType"] == "MEMORY"

    body = {"filename": "note.txt", "content": base64.b64encode(b"kept in memory").decode()}
    created = await ok(await memos_client.post("/api/v1/attachments", json=body, headers=alice.headers))
    uid = created["name"].removeprefix("attachments/")
    assert backend.blobs == {uid: b"kept in memory"}
    assert created["size"] == str(len(b"kept in memory"))
    r = await memos_client.get(f"/file/attachments/{uid}/note.txt", headers=alice.headers)
    assert r.status == 200 and await r.read() == b"kept in memory"
    r = await memos_client.delete(f"/api/v1/attachments/{uid}", headers=alice.headers)
    assert r.status == 200
    assert backend.deleted == [uid] and backend.blobs == {}


# -- memos_register_search_modes ------------------------------------------------------------------------------


class Reversed:
    """Ranks eligible memos by id, newest first, then names every other memo in the database (the
    core must drop those the caller may not see)."""

    label = "Newest"

    def __init__(self) -> None:
        self.calls: list[dict[str, Any]] = []

    async def rank(self, ctx, *, query, eligible, limit, offset):
        self.calls.append({"query": query, "limit": limit, "offset": offset})
        m = tables.memo
        ids = [r[0] for r in await ctx.store.fetch_all(sa.select(m.c.id).where(*eligible).order_by(m.c.id.desc()))]
        everything = [r[0] for r in await ctx.store.fetch_all(sa.select(m.c.id))]
        return (ids + [i for i in everything if i not in ids])[offset : offset + limit]


class WordsFirst:
    label = "Words, then newest"

    async def rank(self, ctx, *, query, eligible, limit, offset):
        return await text_ranked_ids(ctx, query, eligible, limit, offset)


class SearchModes:
    def __init__(self) -> None:
        self.newest = Reversed()

    @hookimpl
    def memos_register_search_modes(self, register):
        register("newest", self.newest)
        register("wordsfirst", WordsFirst())


async def _create_memo(client, user, content, visibility="PRIVATE"):
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": visibility}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


@with_plugins(SearchModes)
async def test_memos_register_search_modes_ranks_and_the_core_keeps_access_rules(
    memos_client, memos_users, memos_extra_plugins
):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    secret = await _create_memo(memos_client, bob, "bob's garden secret")
    older = await _create_memo(memos_client, alice, "the garden in spring")
    newer = await _create_memo(memos_client, alice, "tomatoes in the backyard <b>")
    r = await memos_client.get(
        "/api/v1/memos", params={"search": "garden", "searchMode": "newest", "pageSize": "5"}, headers=alice.headers
    )
    assert r.status == 200, await r.text()
    body = await r.json()
    names = [m["name"] for m in body["memos"]]
    assert names == [newer, older] and secret not in names
    assert body["memos"][1]["searchSnippet"] == "the <mark>garden</mark> in spring"
    assert body["memos"][0]["searchSnippet"] == "tomatoes in the backyard &lt;b&gt;"  # no match: escaped start
    assert memos_extra_plugins[0].newest.calls == [{"query": "garden", "limit": 6, "offset": 0}]


@with_plugins(SearchModes)
async def test_memos_register_search_modes_pages_follow_the_ranking(memos_client, memos_users, memos_extra_plugins):
    alice = await memos_users("alice")
    made = [await _create_memo(memos_client, alice, f"note {i}") for i in range(3)]
    params = {"search": "note", "searchMode": "newest", "pageSize": "2"}
    first = await (await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)).json()
    assert [m["name"] for m in first["memos"]] == made[:0:-1] and first["nextPageToken"]
    params["pageToken"] = first["nextPageToken"]
    second = await (await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)).json()
    assert [m["name"] for m in second["memos"]] == made[:1] and second["nextPageToken"] == ""


@with_plugins(SearchModes)
async def test_memos_register_search_modes_can_build_on_the_text_ranking(
    memos_client, memos_users, memos_extra_plugins
):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await _create_memo(memos_client, bob, "weather weather")
    one = await _create_memo(memos_client, alice, "weather today", "PUBLIC")
    two = await _create_memo(memos_client, alice, "weather weather weather report")
    await _create_memo(memos_client, alice, "nothing here")
    r = await memos_client.get(
        "/api/v1/memos", params={"search": "weather", "searchMode": "wordsfirst"}, headers=alice.headers
    )
    text = await memos_client.get("/api/v1/memos", params={"search": "weather"}, headers=alice.headers)
    names = [m["name"] for m in (await r.json())["memos"]]
    assert sorted(names) == sorted([one, two]) and names == [m["name"] for m in (await text.json())["memos"]]


@with_plugins(SearchModes)
@pytest.mark.parametrize("mode", ["meaning", "TEXT", ""])
async def test_memos_register_search_modes_unknown_mode_is_refused_with_the_choices(
    memos_client, memos_users, memos_extra_plugins, mode
):
    alice = await memos_users("alice")
    r = await memos_client.get("/api/v1/memos", params={"search": "x", "searchMode": mode}, headers=alice.headers)
    if mode == "":
        assert r.status == 200  # an empty parameter is the default, as for other query parameters
        return
    body = await r.json()
    assert r.status == 400 and body["code"] == 3
    # Installed plugins (memos-semantic) may add modes of their own: "text" first, then by name.
    names = memos_client.app[CONTEXT].search_modes.names()
    assert names[0] == "text" and {"newest", "wordsfirst"} <= set(names) and names[1:] == sorted(names[1:])
    assert body["message"] == "searchMode must be one of: " + ", ".join(names)


@with_plugins(SearchModes)
async def test_memos_register_search_modes_text_is_the_default_and_can_be_named(
    memos_client, memos_users, memos_extra_plugins
):
    alice = await memos_users("alice")
    await _create_memo(memos_client, alice, "alpha beta")
    for params in ({"search": "beta"}, {"search": "beta", "searchMode": "text"}):
        body = await (await memos_client.get("/api/v1/memos", params=params, headers=alice.headers)).json()
        assert [m["searchSnippet"] for m in body["memos"]] == ["alpha <mark>beta</mark>"]
    assert memos_extra_plugins[0].newest.calls == []


# -- memos_register_runners -------------------------------------------------------------------------------------


class Jobs:
    def __init__(self) -> None:
        self.runs: list[str] = []

    @hookimpl
    def memos_register_runners(self, register) -> None:
        register("hooktest.startup", "@startup", self.at_startup)
        register("hooktest.tick", "* * * * * *", self.tick)  # every second (seconds field last)

    async def at_startup(self, app: web.Application) -> None:
        assert app[CONTEXT].store is not None
        self.runs.append("startup")

    async def tick(self, app: web.Application) -> None:
        self.runs.append("tick")

    @hookimpl
    def memos_register_routes(self, app: web.Application) -> None:
        async def runs(request: web.Request) -> web.Response:
            return web.json_response(self.runs)

        app.router.add_get("/hooktest/runs", runs)


class AsyncJobs:
    """An async registry implementation: the scheduler awaits it."""

    def __init__(self) -> None:
        self.runs: list[str] = []

    @hookimpl
    async def memos_register_runners(self, register) -> None:
        async def job(app: web.Application) -> None:
            self.runs.append("async-registered")

        register("hooktest.async", "@startup", job)


@with_plugins(Jobs, AsyncJobs)
async def test_memos_register_runners_jobs_run_at_startup_and_on_cron(memos_client, memos_extra_plugins):
    jobs, async_jobs = memos_extra_plugins
    await eventually(lambda: "startup" in jobs.runs and async_jobs.runs == ["async-registered"])
    await eventually(lambda: jobs.runs.count("tick") >= 1, timeout=5)
    runs = await ok(await memos_client.get("/hooktest/runs"))
    assert runs.count("startup") == 1 and "tick" in runs
    assert async_jobs.runs == ["async-registered"]  # @startup: once


# -- memos_http_fetcher ------------------------------------------------------------------------------------


class RefusingFetcher:
    """Stands in for the guarded fetcher (ahead of memos-httpgetter's): records each URL, refuses it."""

    def __init__(self) -> None:
        self.asked: list[tuple[str, dict[str, Any]]] = []

    @hookimpl(tryfirst=True)
    def memos_http_fetcher(self, app: web.Application) -> Any:
        return self

    def open(self, url: str, **options: Any) -> Any:
        self.asked.append((url, options))
        return self

    async def __aenter__(self) -> Any:
        raise ApiError(Code.PERMISSION_DENIED, "refused by the test fetcher")

    async def __aexit__(self, *exc: Any) -> None:
        return None


@pytest.fixture
def image_proxy_on(monkeypatch) -> None:
    monkeypatch.setenv("MEMOS_MARKDOWN_IMAGE_PROXY", "1")


@with_plugins(RefusingFetcher)
@pytest.mark.usefixtures("image_proxy_on")
async def test_memos_http_fetcher_is_what_the_image_proxy_fetches_through(
    memos_client, memos_users, memos_extra_plugins
):
    (fetcher,) = memos_extra_plugins
    alice = await memos_users("alice")
    await create_memo(memos_client, alice, "pic", "![x](https://img.example/a.png)")
    feed = ET.fromstring(await (await memos_client.get("/explore/rss.xml")).read())
    description = feed.find("channel/item/description").text
    proxied = description.split('src="', 1)[1].split('"', 1)[0].replace("&amp;", "&")
    base = str(memos_client.make_url("")).rstrip("/")
    r = await memos_client.get(proxied.removeprefix(base))
    assert r.status == 403
    assert (await r.json())["message"] == "refused by the test fetcher"
    assert [url for url, _ in fetcher.asked] == ["https://img.example/a.png"]
    assert fetcher.asked[0][1]["allow_private"] is False  # the proxy's own switch, passed along


# -- the list of hooks ----------------------------------------------------------------------------------------


def hook_names() -> set[str]:
    return {name for name, fn in vars(hookspecs).items() if name.startswith("memos_") and callable(fn)}


def test_every_hook_in_hookspecs_is_tested_here():
    hooks = hook_names()
    assert len(hooks) >= 12
    tests = [name for name, fn in globals().items() if name.startswith("test_memos_") and callable(fn)]
    passing = [t for t in tests if not any(m.name == "xfail" for m in getattr(globals()[t], "pytestmark", []))]
    # The web UI's hooks are called by the memos-web plugin and tested through its pages.
    web_tests = (Path(__file__).parents[1] / "web" / "test_ui_hooks_http.py").read_text()
    web_hooks = {h for h in hooks if h.startswith("memos_web_")}
    assert not [h for h in web_hooks if f"def {h}(" not in web_tests], "a memos_web_* hook without a test"
    hooks -= web_hooks
    untested = sorted(h for h in hooks if not any(t.startswith(f"test_{h}_") for t in passing))
    assert not untested, f"hooks without a test in {__name__}: {untested}"
    unknown = sorted(t for t in tests if not any(t.startswith(f"test_{h}_") for h in hooks))
    assert not unknown, f"tests named after hooks that do not exist: {unknown}"
    implemented = {
        name
        for obj in globals().values()
        if isinstance(obj, type)
        for name, member in vars(obj).items()
        if getattr(member, "memos_impl", None) is not None
    }
    assert implemented == hooks, (sorted(hooks - implemented), sorted(implemented - hooks))


# -- start-up hooks must answer synchronously -------------------------------------------------------------


class Deferred:
    """An awaitable (not a coroutine, so dropping it unawaited warns nothing) that calls ``fn`` when awaited."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.fn = fn

    def __await__(self):
        return self._run().__await__()

    async def _run(self) -> Any:
        return self.fn()


class AwaitableRoutes:
    @hookimpl
    def memos_register_routes(self, app: web.Application):
        async def hi(request: web.Request) -> web.Response:
            return web.json_response("hi")

        return Deferred(lambda: app.router.add_get("/hooktest/async-route", hi))


class AwaitableLifecycle:
    def __init__(self) -> None:
        self.log: list[str] = []

    @hookimpl
    def memos_cleanup_ctx(self, app: web.Application):
        async def lifetime(app: web.Application):
            self.log.append("setup")
            yield
            self.log.append("teardown")

        return Deferred(lambda: lifetime)


class AwaitableStorage:
    def __init__(self) -> None:
        self.backend = MemoryBackend()

    @hookimpl
    def memos_register_storage(self, register):
        return Deferred(lambda: register("MEMORY", self.backend))


@pytest.mark.parametrize(
    ("plugin", "hook"),
    [
        (AwaitableRoutes, "memos_register_routes"),
        (AwaitableLifecycle, "memos_cleanup_ctx"),
        (AwaitableStorage, "memos_register_storage"),
    ],
)
def test_memos_register_storage_routes_and_cleanup_ctx_refuse_awaitables(plugin, hook, memos_config):
    """These hooks run while the app is built: an awaitable cannot be honoured, so start-up stops, naming it."""
    from memos_core.app import create_app
    from memos_core.plugins import PluginError

    with pytest.raises(PluginError, match=f"returned an awaitable from {hook}"):
        create_app(memos_config, extra_plugins=[plugin()])
