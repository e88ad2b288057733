"""What a memo card shows beyond the memo: the newest comments, and blur for tags the admin chose."""

from __future__ import annotations


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
