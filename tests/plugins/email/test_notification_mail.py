"""Notification mail through a real SMTP server process: what arrives, to whom, and exactly once."""

from __future__ import annotations

import asyncio
import time

from fixtures.mail import INSTANCE_URL, comment, configure, create_memo, eventually, outbox_rows, retune, worker

from memos_core.app import create_app


async def test_a_comment_mails_the_memo_owner_text_and_html(memos_client, memos_users, smtp):
    server = smtp()
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob", nickname="Bob <B>")
    await configure(memos_client, admin, server, replyTo="help@example.com")
    memo = await create_memo(memos_client, alice, "my trip to the sea")
    await comment(memos_client, bob, memo, 'lovely photos: 1 < 2 & "sea" > "lake"')

    (mail,) = await eventually(lambda: server.messages())
    assert mail["To"] == "alice@example.com"
    assert mail["From"] == "Memos <memos@example.com>" and mail["Reply-To"] == "help@example.com"
    assert mail["Subject"] == "Bob <B> commented on your memo"
    assert mail["Message-ID"].endswith("@example.com>") and mail["Auto-Submitted"] == "auto-generated"
    text = mail.get_body(("plain",)).get_content()
    html = mail.get_body(("html",)).get_content()
    assert 'lovely photos: 1 < 2 & "sea" > "lake"' in text and "my trip to the sea" in text
    assert f"{INSTANCE_URL}/{memo['name']}" in text and f"{INSTANCE_URL}/setting#preferences" in text
    assert "1 &lt; 2 &amp; &quot;sea&quot; &gt;" in html and "Bob &lt;B&gt;" in html and "<B>" not in html
    assert f'href="{INSTANCE_URL}/{memo["name"]}"' in html
    await asyncio.sleep(0.6)  # several more worker rounds: still one mail
    assert len(server.messages()) == 1 and server.attempts() == 1
    (row,) = await outbox_rows(memos_client)
    assert row["status"] == "sent" and row["attempts"] == 1 and row["reply"].startswith("250")


async def test_mentions_mail_each_mentioned_user_once(memos_client, memos_users, smtp):
    server = smtp()
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    await memos_users("carol")
    await memos_users("dave")
    await configure(memos_client, admin, server)
    await create_memo(memos_client, alice, "hello @carol and @dave, and @carol again", visibility="PROTECTED")
    mails = await eventually(lambda: len(server.messages()) == 2 and server.messages())
    assert sorted(m["To"] for m in mails) == ["carol@example.com", "dave@example.com"]
    assert {m["Subject"] for m in mails} == {"Alice mentioned you"}  # the display name


async def test_no_mail_for_opted_out_users_missing_addresses_or_memos_they_cannot_see(memos_client, memos_users, smtp):
    server = smtp()
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    carol = await memos_users("carol", email="")
    dave = await memos_users("dave")
    await configure(memos_client, admin, server)
    r = await memos_client.patch(
        "/api/v1/users/alice/settings/NOTIFICATION",
        json={"notificationSetting": {"emailNotifications": False}},
        headers=alice.headers,
    )
    assert r.status == 200
    await comment(memos_client, bob, await create_memo(memos_client, alice, "alice opted out"), "hi alice")
    await comment(memos_client, bob, await create_memo(memos_client, carol, "carol has no address"), "hi carol")

    # Dave's notice is fed only after the comment became private: he may no longer read it.
    await worker(memos_client).stop()
    dave_memo = await create_memo(memos_client, dave, "dave's memo")
    secret = await comment(memos_client, bob, dave_memo, "soon private", visibility="PROTECTED")
    r = await memos_client.patch(
        f"/api/v1/{secret['name']}?updateMask=visibility", json={"visibility": "PRIVATE"}, headers=bob.headers
    )
    assert r.status == 200
    await worker(memos_client).run_once()

    rows = await outbox_rows(memos_client)
    assert sorted((r["recipient"], r["status"]) for r in rows) == [
        ("", "skipped"),
        ("alice@example.com", "skipped"),
        ("dave@example.com", "skipped"),
    ]
    reasons = " | ".join(r["last_error"] for r in rows)
    assert "turned notification mail off" in reasons and "no email address" in reasons
    assert "may not see it" in reasons
    assert all("soon private" not in (r["body_text"] + r["body_html"]) for r in rows)
    assert server.messages() == []


async def test_notices_from_while_email_was_off_are_never_mailed(memos_client, memos_users, smtp):
    server = smtp()
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    memo = await create_memo(memos_client, alice, "before")
    await comment(memos_client, bob, memo, "while email is off")
    await worker(memos_client).run_once()  # email off: the floor moves past this notice
    await configure(memos_client, admin, server)
    await comment(memos_client, bob, memo, "after email is on")
    (mail,) = await eventually(lambda: server.messages())
    assert "after email is on" in mail.get_body(("plain",)).get_content()
    await worker(memos_client).run_once()
    assert len(server.messages()) == 1


async def test_a_temporary_refusal_is_retried_and_the_mail_delivered_once(memos_client, memos_users, smtp):
    server = smtp(tempfail=2)
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await configure(memos_client, admin, server)
    await comment(memos_client, bob, await create_memo(memos_client, alice, "x"), "third time lucky")
    (row,) = await eventually(lambda: _sent(memos_client), timeout=15)
    assert row["attempts"] == 3 and "451" in row["last_error"]
    assert server.attempts() == 3 and len(server.messages()) == 1


async def _sent(client):
    rows = await outbox_rows(client)
    return [r for r in rows if r["status"] == "sent"]


async def test_two_instances_send_each_mail_exactly_once(memos_client, memos_users, memos_config, smtp, aiohttp_client):
    server = smtp()
    other = await aiohttp_client(create_app(memos_config))  # a second app process on the same database
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await configure(memos_client, admin, server)
    memos = [await create_memo(memos_client, alice, f"memo {i}") for i in range(3)]
    for i in range(12):  # comments arrive through both instances
        client = memos_client if i % 2 else other
        await comment(client, bob, memos[i % 3], f"comment number {i}")
    await eventually(lambda: len(server.messages()) >= 12, timeout=20)
    await asyncio.sleep(1.0)  # both workers keep polling: nothing more may come
    mails = server.messages()
    assert len(mails) == 12 and server.attempts() == 12
    assert len({m["Message-ID"] for m in mails}) == 12
    bodies = sorted(m.get_body(("plain",)).get_content().split("> ", 1)[1].splitlines()[0] for m in mails)
    assert bodies == sorted(f"comment number {i}" for i in range(12))


async def test_a_restart_resumes_the_outbox(memos_client, memos_users, memos_config, smtp, aiohttp_client):
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await configure(memos_client, admin, None, smtpPort=1)  # nothing listens there yet
    await comment(memos_client, bob, await create_memo(memos_client, alice, "x"), "waiting in the outbox")
    (row,) = await eventually(lambda: _attempted(memos_client))
    assert row["status"] == "pending" and row["last_error"]
    await memos_client.close()  # the instance stops with the mail undelivered

    server = smtp()
    restarted = await aiohttp_client(create_app(memos_config))
    await configure(restarted, admin, server)
    await eventually(lambda: server.messages(), timeout=15)  # the retry is due within seconds
    assert "waiting in the outbox" in server.messages()[0].get_body(("plain",)).get_content()


async def _attempted(client):
    return [r for r in await outbox_rows(client) if r["attempts"] >= 1]


async def test_a_server_that_never_answers_times_out_and_is_retried(memos_client, memos_users, smtp, monkeypatch):
    retune(memos_client, monkeypatch, MEMOS_EMAIL_TIMEOUT="2")
    silent = smtp("silent")
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await configure(memos_client, admin, silent)
    started = time.monotonic()
    await comment(memos_client, bob, await create_memo(memos_client, alice, "x"), "hello?")
    (row,) = await eventually(lambda: _attempted(memos_client), timeout=15)
    assert time.monotonic() - started < 10
    assert row["status"] == "pending" and "did not answer within 2 s" in row["last_error"]


async def test_mail_not_delivered_in_time_is_given_up_with_the_reason(memos_client, memos_users, smtp, monkeypatch):
    retune(memos_client, monkeypatch, MEMOS_EMAIL_GIVE_UP_AFTER="1.5")
    server = smtp(tempfail=1000)
    admin = await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await configure(memos_client, admin, server)
    await comment(memos_client, bob, await create_memo(memos_client, alice, "x"), "never")
    (row,) = await eventually(lambda: _failed(memos_client), timeout=15)
    assert row["attempts"] >= 1 and "451" in row["last_error"] and "gave up" in row["last_error"]
    assert server.messages() == []


async def _failed(client):
    return [r for r in await outbox_rows(client) if r["status"] == "failed"]
