"""Password recovery in the pages, on every driver: "Forgot password?" on the sign-in page only while
a link can be sent, one neutral answer whatever matched, the form a reset link opens (no Referer
leaves it, its token is never logged), the new password in force and the old sessions gone, and
the Preferences checkbox for notification mail.

The delivery channel is a recording plugin (the email plugin's real mail is tested with it in
tests/plugins/email); the test client is the trusted proxy, so ``X-Real-Ip`` names the address
each request comes from.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from typing import Any
from urllib.parse import quote

import pytest
import sqlalchemy as sa
from aiohttp.test_utils import TestServer
from fixtures import web_pages

from memos_core import CONTEXT, hookimpl, observe, tables
from memos_core.app import create_app
from memos_core.services import password_reset

pages = web_pages.pages  # a signed-out browser of memos_client, with an admin on the instance
parse, api = web_pages.parse, web_pages.api

FORGOT = "/auth/forgot-password"
RESET = "/auth/reset-password"
NEW_PASSWORD = "a-Brand-new-pw-7"
SENT = "If an account matches, a link to choose a new password is on its way"
INVALID = "This link is invalid, used or expired."


class Channel:
    """Records the links it is asked to deliver; ``is_ready`` switches recovery on and off."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.is_ready = True

    async def ready(self) -> bool:
        return self.is_ready

    async def send(self, user: Any, link: str, expires_at: int) -> None:
        self.sent.append((user.username, link))

    @hookimpl
    def memos_password_reset_sender(self, app: Any) -> Any:
        return self


@pytest.fixture
def memos_extra_plugins() -> list[Any]:
    return [Channel()]


@pytest.fixture
def channel(memos_extra_plugins) -> Channel:
    return memos_extra_plugins[0]


@pytest.fixture
def memos_config(memos_config):
    return dataclasses.replace(memos_config, instance_url="https://memos.example/", trusted_proxies=("127.0.0.1",))


def token_of(link: str) -> str:
    assert link.startswith("https://memos.example" + RESET + "?token="), link
    return link.split("token=", 1)[1]


async def form_token(pages: web_pages.Pages, path: str) -> str:
    """The CSRF token of the page at ``path`` (one a signed-out visitor can read)."""
    return await pages.csrf(path)


async def post(pages: web_pages.Pages, path: str, data: dict[str, str], csrf: str, **headers: str) -> Any:
    """A form post as the browser sends it: this site's Origin (unless ``Origin`` is given), the token."""
    sent = {"Origin": pages.origin, **{k.replace("_", "-"): v for k, v in headers.items()}}
    return await pages.client.post(path, data={**data, "csrf_token": csrf}, headers=sent, allow_redirects=False)


async def ask(pages: web_pages.Pages, identifier: str, ip: str = "203.0.113.1") -> Any:
    """Fill in and send the "forgot password" form from address ``ip``."""
    return await post(pages, FORGOT, {"identifier": identifier}, await form_token(pages, FORGOT), X_Real_Ip=ip)


async def can_sign_in(client: Any, username: str, password: str) -> bool:
    body = {"passwordCredentials": {"username": username, "password": password}}
    return (await client.post("/api/v1/auth/signin", json=body)).status == 200


def forgot_link(text: str) -> list[Any]:
    return parse(text).all("a", href=FORGOT)


# -- the way in ------------------------------------------------------------------------------------
async def test_the_forgot_link_shows_only_while_a_link_can_be_sent(pages, channel, memos_client, memos_users):
    await memos_users("alice", email="alice@example.com")
    signin = await pages.get("/auth")
    (link,) = forgot_link(signin)
    assert link.content() == "Forgot password?"
    form = parse(await pages.get(FORGOT)).one("form", action=FORGOT)
    assert form.one("input", name="identifier").attrs["autocomplete"] == "username"
    assert form.one("input", name="csrf_token").attrs["value"]
    # A failed sign-in keeps offering it.
    r = await post(pages, "/auth", {"username": "alice", "password": "wrong"}, await form_token(pages, "/auth"))
    assert r.status == 400 and len(forgot_link(await r.text())) == 1

    channel.is_ready = False  # e.g. email switched off in the NOTIFICATION setting
    assert forgot_link(await pages.get("/auth")) == []
    page = parse(await pages.get(FORGOT))
    assert page.all("form", action=FORGOT) == []
    assert "Password recovery is not available on this instance." in page.content()
    assert page.all("a", href="/auth")
    r = await ask(pages, "alice")  # a form kept open from before is refused with the reason
    assert r.status == 400
    page = parse(await r.text())
    assert page.one(role="alert").content() == "Password recovery is not available on this instance."
    assert page.all("form", action=FORGOT) == [] and channel.sent == []

    channel.is_ready = True  # password sign-in disallowed: no recovery either
    admin = await memos_users("boss", role="ADMIN")
    await api(
        memos_client,
        admin,
        "PATCH",
        "/api/v1/instance/settings/GENERAL",
        {"generalSetting": {"disallowPasswordAuth": True}},
    )
    assert forgot_link(await pages.get("/auth")) == []
    assert parse(await pages.get(FORGOT)).all("form", action=FORGOT) == []


async def test_every_request_gets_the_same_neutral_answer(pages, channel, memos_users):
    await memos_users("alice", email="alice@example.com")
    await memos_users("carol", email="")  # no email address: nothing can be sent
    answers = []
    for identifier in ("alice", "alice@example.com", "carol", "nobody", "nobody@example.com"):
        r = await ask(pages, identifier)
        assert r.status == 303, (identifier, await r.text())
        answers.append(r.headers["Location"])
    assert set(answers) == {FORGOT + "?sent=1"}
    page = parse(await pages.get(FORGOT + "?sent=1"))
    status = page.one("p", class_="notice", role="status")
    assert SENT in status.content() and "It works for 30 minutes." in status.content()
    assert page.all("form", action=FORGOT) == []  # nothing that hints at what matched
    assert [user for user, _ in channel.sent] == ["alice", "alice"]


async def test_a_refused_request_says_why_on_the_form(pages, channel, memos_users):
    await memos_users("alice", email="alice@example.com")
    r = await ask(pages, "   ")
    assert r.status == 400
    page = parse(await r.text())
    assert page.one(role="alert").content() == "Enter your username or email address."
    assert page.one("form", action=FORGOT).one("input", name="identifier").attrs["aria-describedby"] == "forgot-error"

    for i in range(password_reset.REQUESTS_PER_ADDRESS.limit):
        assert (await ask(pages, "nobody", ip="198.51.100.7")).status == 303, i
    r = await ask(pages, "alice", ip="198.51.100.7")
    assert r.status == 429 and int(r.headers["Retry-After"]) > 0
    page = parse(await r.text())
    assert re.fullmatch(r"Too many attempts\. Try again in \d+ (minutes?|hours?)\.", page.one(role="alert").content())
    assert page.one("input", name="identifier").attrs["value"] == "alice"  # what was typed is kept
    assert channel.sent == []
    assert (await ask(pages, "alice", ip="198.51.100.8")).status == 303  # another address may still ask
    assert [user for user, _ in channel.sent] == ["alice"]


async def test_forms_without_a_valid_csrf_token_are_refused(pages, channel, memos_client, memos_users):
    alice = await memos_users("alice", email="alice@example.com")
    await ask(pages, "alice")
    token = token_of(channel.sent[0][1])
    stranger = await form_token(pages, FORGOT)
    pages.client.session.cookie_jar.clear()  # this browser's cookie no longer matches that token
    for csrf in ("", "0" * 64, stranger):
        r = await post(pages, FORGOT, {"identifier": "alice"}, csrf)
        assert r.status == 403 and "did not come from this site" in await r.text()
        form = {"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
        r = await post(pages, RESET, form, csrf)
        assert r.status == 403, csrf
    own = await form_token(pages, FORGOT)
    r = await post(pages, FORGOT, {"identifier": "alice"}, own, Origin="https://evil.example")
    assert r.status == 403 and "cross-site request refused" in await r.text()
    assert len(channel.sent) == 1  # nothing more was sent
    assert await can_sign_in(memos_client, "alice", alice.password)  # nor the password changed
    assert parse(await pages.get(RESET + "?token=" + quote(token))).all("input", name="token")  # the link still works


# -- the reset form --------------------------------------------------------------------------------
async def test_a_link_sets_the_new_password_and_ends_every_session(pages, channel, memos_client, memos_users, caplog):
    alice = await memos_users("alice", email="alice@example.com")
    await pages.sign_in(alice)  # a signed-in visitor can use a link too
    assert (await pages.client.get("/home", allow_redirects=False)).status == 200
    caplog.set_level(logging.DEBUG)
    await ask(pages, "alice@example.com")
    token = token_of(channel.sent[0][1])

    r = await pages.client.get(RESET + "?token=" + quote(token), allow_redirects=False)
    assert r.status == 200 and r.headers["Referrer-Policy"] == "no-referrer"
    assert r.headers["Cache-Control"] == "no-store"
    page = parse(await r.text())
    form = page.one("form", action=RESET)
    assert form.one("input", name="token").attrs["value"] == token
    assert "For the account alice." in page.content()
    assert [i.attrs["autocomplete"] for i in form.all("input", type="password")] == ["new-password"] * 2
    csrf = form.one("input", name="csrf_token").attrs["value"]

    mismatch = {"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD + "x"}
    r = await post(pages, RESET, mismatch, csrf)
    assert r.status == 400 and r.headers["Referrer-Policy"] == "no-referrer"
    page = parse(await r.text())
    assert page.one(role="alert").content() == "The passwords do not match."
    assert page.one("form", action=RESET).one("input", name="token").attrs["value"] == token
    assert await can_sign_in(memos_client, "alice", alice.password)  # nothing changed

    old_cookie = pages.client.session.cookie_jar.filter_cookies(pages.client.make_url("/"))["memos_refresh"].value
    new = {"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    r = await post(pages, RESET, new, csrf)
    assert r.status == 303 and r.headers["Location"] == "/auth?notice=password-changed"
    assert r.cookies["memos_refresh"].value == ""
    # The session from before the reset is gone, even replayed by someone who kept its cookie.
    assert (await pages.client.get("/home", allow_redirects=False)).status == 302
    replayed = await memos_client.post(
        "/api/v1/auth/refresh", json={}, headers={"Cookie": f"memos_refresh={old_cookie}"}
    )
    assert replayed.status == 401
    notice = parse(await pages.get("/auth?notice=password-changed")).one("p", class_="notice", role="status")
    assert notice.content() == "Password changed: sign in with your new password."

    signin = {"username": "alice", "password": alice.password, "redirect": "/home"}
    r = await post(pages, "/auth", signin, await form_token(pages, "/auth"))
    assert r.status == 400  # the old password no longer works
    r = await post(pages, "/auth", dict(signin, password=NEW_PASSWORD), await form_token(pages, "/auth"))
    assert r.status == 303 and r.headers["Location"] == "/home"
    assert (await pages.client.get("/home", allow_redirects=False)).status == 200

    used = await pages.client.get(RESET + "?token=" + quote(token), allow_redirects=False)
    assert used.status == 400 and INVALID in await used.text()  # single use
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert token not in logged and "password of alice reset" in logged


async def test_an_unknown_used_or_expired_link_says_so_and_offers_a_new_one(pages, channel, memos_client, memos_users):
    alice = await memos_users("alice", email="alice@example.com")
    await ask(pages, "alice")
    token = token_of(channel.sent[0][1])
    store = memos_client.app[CONTEXT].store
    async with store.connection():
        await store.execute(sa.update(tables.password_reset).values(expires_ms=1))
    for query in ("?token=" + quote(token), "?token=not-a-token", "?token=", ""):
        r = await pages.client.get(RESET + query, allow_redirects=False)
        assert r.status == 400 and r.headers["Referrer-Policy"] == "no-referrer", query
        text = await r.text()
        page = parse(text)
        assert page.one("p", class_="notice").content() == INVALID
        assert page.one("a", href=FORGOT).content() == "Ask for a new link"
        assert page.all("form", action=RESET) == [] and token not in text
    csrf = await form_token(pages, FORGOT)
    new = {"token": token, "password": NEW_PASSWORD, "password_confirm": NEW_PASSWORD}
    r = await post(pages, RESET, new, csrf)
    assert r.status == 400 and INVALID in await r.text() and token not in await r.text()
    r = await post(pages, RESET, {"token": token, "password": "a", "password_confirm": "b"}, csrf)
    assert r.status == 400 and INVALID in await r.text() and "do not match" not in await r.text()
    assert await can_sign_in(memos_client, "alice", alice.password)


async def test_a_refused_new_password_keeps_the_form(pages, channel, memos_client, memos_users):
    alice = await memos_users("alice", email="alice@example.com")
    await ask(pages, "alice")
    token = token_of(channel.sent[0][1])
    csrf = await form_token(pages, FORGOT)
    long = "x" * 73  # bcrypt's limit, as the API refuses it
    r = await post(pages, RESET, {"token": token, "password": long, "password_confirm": long}, csrf)
    assert r.status == 400
    page = parse(await r.text())
    assert "at most 72 bytes" in page.one(role="alert").content()
    assert page.one("form", action=RESET).one("input", name="token").attrs["value"] == token
    assert await can_sign_in(memos_client, "alice", alice.password)


async def test_the_access_log_never_holds_a_reset_token(aiohttp_client, memos_client, memos_config, caplog):
    """``memos serve``'s access log: the token of an opened link (or of a Referer carrying one) is masked."""
    server = TestServer(create_app(memos_config))  # another app on the same database
    await server.start_server(access_log_class=observe.AccessLogger)
    client = await aiohttp_client(server)
    secret = "S3cr3t-t0ken_value"
    with caplog.at_level(logging.INFO, logger="aiohttp.access"):
        headers = {"Referer": f"https://memos.example{RESET}?token={secret}"}
        await client.get(f"{RESET}?token={secret}&x=1", headers=headers, allow_redirects=False)
    (line,) = [rec.getMessage() for rec in caplog.records if rec.name == "aiohttp.access"]
    assert secret not in line
    assert f'"GET {RESET}?token=***&x=1 HTTP/1.1"' in line and f'{RESET}?token=***"' in line


# -- Preferences: notification mail ---------------------------------------------------------------
async def test_the_notification_mail_checkbox_round_trips(pages, memos_client, memos_users):
    alice = await memos_users("alice", email="alice@example.com")
    setting = "/api/v1/users/alice/settings/NOTIFICATION"

    async def box():
        prefs = parse(await pages.get("/setting")).one("section", id="preferences")
        return prefs.one("input", name="email_notifications")

    async def stored() -> bool:
        return (await api(memos_client, alice, "GET", setting))["notificationSetting"]["emailNotifications"]

    await pages.sign_in(alice)
    checkbox = await box()
    assert "checked" in checkbox.attrs and checkbox.parent.tag == "label"
    assert checkbox.parent.content() == "Email me about comments and mentions"
    base = {"locale": "en", "theme": "system", "memo_visibility": "PRIVATE", "email_notifications_shown": "1"}
    r = await pages.post("/web/setting/preferences", base)  # unticked: the box sends nothing
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=preferences#preferences"
    assert await stored() is False and "checked" not in (await box()).attrs
    # A post from a form without the box (an older page) leaves the choice alone.
    r = await pages.post(
        "/web/setting/preferences", {k: v for k, v in base.items() if k != "email_notifications_shown"}
    )
    assert r.status == 303 and await stored() is False
    # A refused form keeps the box as it was ticked.
    r = await pages.post("/web/setting/preferences", dict(base, theme="neon", email_notifications="on"))
    assert r.status == 400
    prefs = parse(await r.text()).one("section", id="preferences")
    assert "checked" in prefs.one("input", name="email_notifications").attrs and await stored() is False
    r = await pages.post("/web/setting/preferences", dict(base, email_notifications="on"))
    assert r.status == 303 and await stored() is True and "checked" in (await box()).attrs
