"""The admin's test message (``POST /api/v1/email:sendTest``) and password recovery by mail, against a
real SMTP server process: STARTTLS, implicit TLS, AUTH, a wrong password, a server that never answers."""

from __future__ import annotations

import re
import time

import pytest
from fixtures import web_pages
from fixtures.mail import (
    INSTANCE_URL,
    comment,
    configure,
    create_memo,
    email_setting,
    eventually,
    outbox_rows,
    retune,
)

TEST = "/api/v1/email:sendTest"


@pytest.mark.parametrize("mode", ["plain", "starttls", "tls"])
async def test_the_test_message_goes_through_every_transport_with_auth(memos_client, memos_users, smtp, mode):
    server = smtp(mode, user="mailer", password="s3cret")
    admin = await memos_users("admin", role="ADMIN")
    await configure(
        memos_client,
        admin,
        server,
        smtpUsername="mailer",
        smtpPassword="s3cret",
        useSsl=mode == "tls",
        useTls=mode == "starttls",
        smtpHost="localhost" if mode != "plain" else "127.0.0.1",
    )
    r = await memos_client.post(TEST, json={"recipient": "ops@example.com"}, headers=admin.headers)
    body = await r.json()
    assert r.status == 200, body
    assert body["recipient"] == "ops@example.com" and re.match(r"250 2\.0\.0 Ok: queued as test1$", body["reply"])
    (mail,) = server.messages()
    assert mail["To"] == "ops@example.com" and mail["Subject"].startswith("Test message from ")
    assert "sent by admin" in mail.get_body(("plain",)).get_content()


async def test_a_wrong_password_is_answered_with_the_servers_words_and_notifications_wait(
    memos_client, memos_users, smtp
):
    server = smtp("starttls", user="mailer", password="right")
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    settings = {"smtpHost": "localhost", "smtpUsername": "mailer", "smtpPassword": "wrong", "useTls": True}
    await configure(memos_client, admin, server, **settings)
    r = await memos_client.post(TEST, json={}, headers=admin.headers)
    body = await r.json()
    assert r.status == 400 and body["code"] == 9 and "535" in body["message"], body
    # A notification meanwhile waits in the outbox (a fixable configuration error is not fatal) ...
    await comment(memos_client, bob, await create_memo(memos_client, alice, "x"), "hold on")
    (row,) = await eventually(lambda: _attempted(memos_client))
    assert row["status"] == "pending" and "535" in row["last_error"]
    # ... and goes out once the admin fixes the password (sent empty elsewhere: the stored one is kept).
    await configure(memos_client, admin, server, **{**settings, "smtpPassword": "right"})
    await eventually(lambda: server.messages(), timeout=15)


async def _attempted(client):
    return [r for r in await outbox_rows(client) if r["attempts"] >= 1]


async def test_submitted_settings_are_tried_without_saving_and_keep_the_stored_password(
    memos_client, memos_users, smtp
):
    server = smtp("starttls", user="mailer", password="kept")
    admin = await memos_users("admin", role="ADMIN")
    await configure(memos_client, admin, None, smtpPassword="kept", smtpUsername="mailer")  # port 1: wrong
    trial = email_setting(server, smtpHost="localhost", smtpUsername="mailer", smtpPassword="", useTls=True)
    r = await memos_client.post(TEST, json={"email": trial, "recipient": "me@example.com"}, headers=admin.headers)
    assert r.status == 200, await r.json()
    assert len(server.messages()) == 1
    r = await memos_client.get("/api/v1/instance/settings/NOTIFICATION", headers=admin.headers)
    saved = (await r.json())["notificationSetting"]["email"]
    assert saved["smtpPort"] == 1 and saved["smtpPassword"] == ""  # unchanged, and still write-only


async def test_a_server_that_never_answers_is_reported_within_the_timeout(memos_client, memos_users, smtp, monkeypatch):
    retune(memos_client, monkeypatch, MEMOS_EMAIL_TIMEOUT="2")
    silent = smtp("silent")
    admin = await memos_users("admin", role="ADMIN")
    started = time.monotonic()
    r = await memos_client.post(TEST, json={"email": email_setting(silent)}, headers=admin.headers)
    body = await r.json()
    assert r.status == 400 and f"127.0.0.1:{silent.port} did not answer within 2 s" in body["message"]
    assert time.monotonic() - started < 6


async def test_plain_text_passwords_are_refused_off_this_machine(memos_client, memos_users, smtp):
    admin = await memos_users("admin", role="ADMIN")
    trial = email_setting(None, smtpHost="192.0.2.1", smtpPort=2525, smtpUsername="u", smtpPassword="p")
    r = await memos_client.post(TEST, json={"email": trial}, headers=admin.headers)
    assert r.status == 400  # unreachable (TEST-NET) or refused: never a 200, never a 500


@pytest.mark.parametrize(
    "body, status",
    [
        ({"email": {"smtpHost": "x", "smtpPort": 70000}}, 400),
        ({"email": "smtp.example.com"}, 400),
        ({"recipient": "not an address"}, 400),
        ({"recipient": "a@example.com\r\nBcc: victim@example.com"}, 400),
        ({"email": {"smtpHost": "", "smtpPort": 25, "fromEmail": "a@b.c"}}, 400),
    ],
)
async def test_bad_requests_are_400(memos_client, memos_users, body, status):
    admin = await memos_users("admin", role="ADMIN")
    r = await memos_client.post(TEST, json=body, headers=admin.headers)
    assert r.status == status and set(await r.json()) == {"code", "message", "details"}


async def test_only_admins_may_send_a_test_message(memos_client, memos_users):
    user = await memos_users("user")
    assert (await memos_client.post(TEST, json={})).status == 401
    r = await memos_client.post(TEST, json={}, headers=user.headers)
    assert r.status == 403 and (await r.json())["code"] == 7


async def test_a_forgotten_password_is_recovered_by_mail(memos_client, memos_users, smtp):
    server = smtp("starttls")
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    forgot = "/api/v1/auth/password:forgot"
    r = await memos_client.post(forgot, json={"identifier": "alice"})
    assert r.status == 400 and "email is not enabled" in (await r.json())["message"]
    await configure(memos_client, admin, server, smtpHost="localhost")
    assert (await memos_client.post(forgot, json={"identifier": "alice@example.com"})).status == 200
    (mail,) = await eventually(lambda: server.messages())
    assert mail["To"] == "alice@example.com" and mail["Subject"].startswith("Reset your password on ")
    text = mail.get_body(("plain",)).get_content()
    link = re.search(rf"{re.escape(INSTANCE_URL)}/auth/reset-password\?token=(\S+)", text)
    assert link and "30 minutes" in text
    r = await memos_client.post("/api/v1/auth/password:reset", json={"token": link[1], "newPassword": "fresh"})
    assert r.status == 200
    signin = {"passwordCredentials": {"username": "alice", "password": "fresh"}}
    assert (await memos_client.post("/api/v1/auth/signin", json=signin)).status == 200
    old = {"passwordCredentials": {"username": "alice", "password": alice.password}}
    assert (await memos_client.post("/api/v1/auth/signin", json=old)).status == 400


# -- the settings page's section ----------------------------------------------------------------------------
pages = web_pages.pages


async def test_the_settings_page_sends_a_test_message_and_shows_the_answer(pages, memos_client, memos_users, smtp):
    server = smtp()
    root = await memos_users("root", role="ADMIN")
    await configure(memos_client, root, server)
    await pages.sign_in(root)
    section = web_pages.parse(await pages.get("/setting")).one("section", id="email-test")
    form = section.one("form")
    fields = {i.attrs["name"]: i.attrs.get("value") for i in form.all("input")}
    assert fields["recipient"] == "root@example.com"
    r = await pages.post(form.attrs["action"], {"recipient": "ops@example.com"}, token=fields["csrf_token"])
    assert r.status == 303 and r.headers["Location"].startswith("/setting?email_test=sent")
    section = web_pages.parse(await pages.get(r.headers["Location"])).one("section", id="email-test")
    assert "The server answered: ops@example.com: 250" in section.one("p", role="status").content()
    assert [m["To"] for m in server.messages()] == ["ops@example.com"]
    r = await pages.post(form.attrs["action"], {"recipient": "ops@example.com"}, token="forged")
    assert r.status == 403 and len(server.messages()) == 1


async def test_the_section_is_for_admins_only(pages, memos_client, memos_users):
    bob = await memos_users("bob")
    await pages.sign_in(bob)
    assert 'id="email-test"' not in await pages.get("/setting")
    token = await pages.csrf()
    r = await pages.post("/setting/email-test", {"recipient": "x@example.com"}, token=token)
    assert r.status == 403
