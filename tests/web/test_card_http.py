"""What a memo card shows beyond the memo: the newest comments, and blur for tags the admin chose."""

from __future__ import annotations

from fixtures import web_pages

pages = web_pages.pages  # the fixture: a browser-like session over memos_client


async def _memo(client, user, content: str, visibility: str = "PUBLIC") -> str:
    r = await client.post("/api/v1/memos", json={"content": content, "visibility": visibility}, headers=user.headers)
    assert r.status == 200, await r.text()
    return (await r.json())["name"]


async def _comment(client, user, parent: str, content: str, visibility: str = "PUBLIC") -> None:
    r = await client.post(
        f"/api/v1/{parent}/comments", json={"content": content, "visibility": visibility}, headers=user.headers
    )
    assert r.status == 200, await r.text()


async def test_card_previews_the_newest_readable_comments(memos_client, memos_users):
    alice = await memos_users("alice", role="ADMIN")
    bob = await memos_users("bob")
    parent = await _memo(memos_client, alice, "a public memo")
    await _comment(memos_client, bob, parent, "first comment")
    await _comment(memos_client, bob, parent, "second comment")
    await _comment(memos_client, bob, parent, "third comment")
    await _comment(memos_client, bob, parent, "bob's private aside", visibility="PRIVATE")

    html = await (await memos_client.get("/explore")).text()  # anonymous
    assert "third comment" in html and "second comment" in html
    assert "first comment" not in html  # only the newest two
    assert "private aside" not in html
    assert "4 comments" not in html and "3 comments" in html  # the count is what the viewer may read

    r = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "bob", "password": bob.password}}
    )
    assert r.status == 200
    html = await (await memos_client.get("/explore")).text()
    assert "private aside" in html  # bob's own private comment is his to see


async def test_blurred_tag_hides_content_until_shown(memos_client, memos_users):
    alice = await memos_users("alice", role="ADMIN")
    r = await memos_client.patch(
        "/api/v1/instance/settings/TAGS",
        json={"name": "instance/settings/TAGS", "tagsSetting": {"tags": {"spoiler.*": {"blurContent": True}}}},
        headers=alice.headers,
    )
    assert r.status == 200, await r.text()
    await _memo(memos_client, alice, "the butler did it #spoiler/film")
    await _memo(memos_client, alice, "nothing to hide #film")
    html = await (await memos_client.get("/explore")).text()
    assert html.count('class="blur-toggle"') == 1
    assert "Hidden because of #spoiler/film" in html


async def test_only_the_creator_ticks_tasks(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    name = await _memo(memos_client, alice, "- [ ] one", visibility="PROTECTED")
    plain = await _memo(memos_client, alice, "no tasks here", visibility="PROTECTED")
    await pages.sign_in(bob)
    for target in (name, plain):  # refused for who bob is, whatever the memo holds
        r = await pages.post(f"/web/{target}/tasks/0", {}, token=await pages.csrf("/explore"))
        assert r.status == 403, await r.text()
    r = await memos_client.get(f"/api/v1/{name}", headers=alice.headers)
    assert (await r.json())["content"] == "- [ ] one"
    await pages.sign_in(alice)
    r = await pages.post(f"/web/{name}/tasks/0", {"next": "/home"})
    assert r.status == 303
    r = await memos_client.get(f"/api/v1/{name}", headers=alice.headers)
    assert (await r.json())["content"] == "- [x] one"


async def test_a_bug_in_a_page_is_a_500_in_the_apps_look(pages, memos_client, memos_users, monkeypatch, caplog):
    from memos_web.views import timeline

    async def broken(*args, **kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(timeline.sidebar, "sidebar_context", broken)
    text = await pages.get("/explore", status=500)
    assert 'class="error-page"' in text and "RuntimeError" not in text and "boom" not in text
    assert any("boom" in (r.exc_text or "") or "page GET /explore failed" in r.getMessage() for r in caplog.records)


async def test_a_shared_private_memo_shows_its_attachments_to_a_visitor(pages, memos_client, memos_users):
    import base64
    import re

    alice = await memos_users("alice")
    r = await memos_client.post(
        "/api/v1/attachments",
        json={"filename": "note.txt", "type": "text/plain", "content": base64.b64encode(b"secret bytes").decode()},
        headers=alice.headers,
    )
    attachment = (await r.json())["name"]
    r = await memos_client.post(
        "/api/v1/memos",
        json={"content": "private with a file", "visibility": "PRIVATE", "attachments": [{"name": attachment}]},
        headers=alice.headers,
    )
    memo = (await r.json())["name"]
    r = await memos_client.post(f"/api/v1/{memo}/shares", json={}, headers=alice.headers)
    token = (await r.json())["name"].rsplit("/", 1)[-1]

    memos_client.session.cookie_jar.clear()  # a visitor holding only the link
    html = await pages.get(f"/memos/shares/{token}")
    links = re.findall(r'href="(/file/attachments/[^"]+)"', html)
    assert links and all(f"share_token={token}" in link for link in links)
    r = await memos_client.get(links[0].replace("&amp;", "&"))
    assert r.status == 200 and await r.read() == b"secret bytes"
    r = await memos_client.get(links[0].split("?")[0])
    assert r.status in (401, 403, 404)  # without the token the file stays private
