"""The attachments library and the inbox over HTTP, on every driver: media by month and documents,
"delete all unused" touching only the caller's unused files, paging; notifications listed with
sender, type, snippet and link, marked read (ARCHIVED) or unread, deleted, and nobody else's
reachable."""

from __future__ import annotations

import base64
import datetime as dt
import io

from fixtures import web_pages
from PIL import Image

from memos_core.context import CONTEXT
from memos_core.store import tables

pages = web_pages.pages  # the fixture: a signed-out browser of memos_client, with an admin on the instance
parse, api = web_pages.parse, web_pages.api


def png() -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 30, 30)).save(out, "PNG")
    return out.getvalue()


async def upload(client, user, filename: str, kind: str, data: bytes = b"data", memo: str = "") -> str:
    body = {"filename": filename, "type": kind, "content": base64.b64encode(data).decode()}
    if memo:
        body["memo"] = memo
    return (await api(client, user, "POST", "/api/v1/attachments", body))["name"]


async def set_created(client, name: str, when: str) -> None:
    """Back-date an attachment (the API stamps uploads with the current time)."""
    ts = int(dt.datetime.fromisoformat(when).timestamp())
    ctx = client.app[CONTEXT]
    async with ctx.store.connection():
        await ctx.store.execute(
            tables.attachment.update()
            .where(tables.attachment.c.uid == name.removeprefix("attachments/"))
            .values(created_ts=ts)
        )


async def own_attachments(client, user) -> set[str]:
    data = await api(client, user, "GET", "/api/v1/attachments?pageSize=1000")
    return {a["filename"] for a in data["attachments"]}


# -- attachments -----------------------------------------------------------------------------------
async def test_media_by_month_documents_in_a_list_and_links_to_memos(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await pages.sign_in(alice)
    memo = await api(memos_client, alice, "POST", "/api/v1/memos", {"content": "holiday", "visibility": "PRIVATE"})
    beach = await upload(memos_client, alice, "beach.png", "image/png", png(), memo=memo["name"])
    clip = await upload(memos_client, alice, "clip.webm", "video/webm", b"\x1aE\xdf\xa3 video")
    await upload(memos_client, alice, "report.pdf", "application/pdf", b"%PDF-1.4 x", memo=memo["name"])
    await upload(memos_client, alice, "song.mp3", "audio/mpeg", b"ID3 tune")
    await upload(memos_client, alice, "new.png", "image/png", png())
    await upload(memos_client, bob, "bobs.png", "image/png", png())  # never on alice's page
    await set_created(memos_client, beach, "2024-01-15T12:00:00+00:00")
    await set_created(memos_client, clip, "2023-12-03T12:00:00+00:00")

    text = await pages.get("/attachments")
    page = parse(text)
    assert "bobs.png" not in text
    months = page.all("section", class_="media-month")
    now = dt.datetime.now(dt.UTC).strftime("%B %Y")
    assert [m.one("h3").content() for m in months] == [now, "January 2024", "December 2023"]
    assert [[img.attrs["alt"] for img in m.all("img")] for m in months] == [["new.png"], ["beach.png"], []]
    video = months[2].one("video")
    assert video.attrs["aria-label"] == "clip.webm" and video.attrs["src"].endswith("/clip.webm")
    thumb = months[1].one("img")
    assert thumb.attrs["src"] == f"/file/{beach}/beach.png?thumbnail=true"
    assert months[1].one("a", href=f"/{memo['name']}").attrs["aria-label"] == "Memo using beach.png"
    assert months[2].one("span", class_="unused-mark").content() == "Unused"

    docs = page.one("ul", class_="doc-list").all("li", class_="doc")
    assert sorted(d.one("a", class_="file").content() for d in docs) == ["report.pdf", "song.mp3"]
    song = next(d for d in docs if "song.mp3" in d.content())
    assert song.one("audio").attrs["aria-label"] == "song.mp3" and "Unused" in song.content()
    report = next(d for d in docs if "report.pdf" in d.content())
    assert report.one("a", href=f"/{memo['name']}") and "application/pdf" in report.content()

    # Three of five are unused; the thumbnail the page points at is served.
    assert page.one("strong", **{"data-unused-count": ""}).content() == "3"
    r = await memos_client.get(thumb.attrs["src"])
    assert r.status == 200 and r.content_type.startswith("image/")


async def test_delete_all_unused_deletes_only_the_callers_unused(pages, memos_client, memos_users, memos_unchanged):
    # The caller is an admin: the batch delete would let an admin delete anyone's files.
    root = await memos_users("root", role="ADMIN")
    bob = await memos_users("bob")
    await pages.sign_in(root)
    memo = await api(memos_client, root, "POST", "/api/v1/memos", {"content": "kept", "visibility": "PRIVATE"})
    await upload(memos_client, root, "used.txt", "text/plain", memo=memo["name"])
    unused = [await upload(memos_client, root, f"stray{i}.txt", "text/plain") for i in range(3)]
    await upload(memos_client, bob, "bobs-unused.txt", "text/plain")
    bobs_memo = await api(memos_client, bob, "POST", "/api/v1/memos", {"content": "b", "visibility": "PUBLIC"})
    await upload(memos_client, bob, "bobs-used.txt", "text/plain", memo=bobs_memo["name"])

    page = parse(await pages.get("/attachments"))
    confirm = page.one("form", action="/web/attachments/delete-unused")
    assert confirm.parent.tag == "details"  # behind a confirmation
    assert confirm.one("button").content() == "Delete 3 unused"

    # Refused without a token: nothing goes.
    async with memos_unchanged(root.headers, "/api/v1/attachments"):
        r = await pages.post("/web/attachments/delete-unused", {}, token="nope")
        assert r.status == 403

    async with memos_unchanged(bob.headers, "/api/v1/attachments"):
        r = await pages.post("/web/attachments/delete-unused", {})
        assert r.status == 303 and r.headers["Location"] == "/attachments?deleted=3"
    assert await own_attachments(memos_client, root) == {"used.txt"}
    assert await own_attachments(memos_client, bob) == {"bobs-unused.txt", "bobs-used.txt"}
    for name in unused:
        r = await memos_client.get(f"/api/v1/{name}", headers=root.headers)
        assert r.status == 404

    text = await pages.get("/attachments?deleted=3")
    assert "Deleted 3 unused attachments." in text
    assert "Every attachment is used by a memo." in text
    assert 'action="/web/attachments/delete-unused"' not in text

    # Nothing left to delete: the script's answer says so.
    r = await pages.post("/web/attachments/delete-unused", {}, script=True)
    assert r.status == 200 and await r.json() == {"deleted": 0}


async def test_many_attachments_come_a_page_at_a_time(pages, memos_client, memos_users, monkeypatch):
    from memos_web.views import attachments as view

    monkeypatch.setattr(view, "PAGE_SIZE", 3)
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    names = [await upload(memos_client, alice, f"p{i}.png", "image/png", png()) for i in range(4)]
    names += [await upload(memos_client, alice, f"d{i}.txt", "text/plain") for i in range(3)]

    seen: list[str] = []
    url = "/attachments"
    for _ in range(5):
        text = await pages.get(url)
        page = parse(text)
        seen += [img.attrs["alt"] for img in page.all("img")]
        seen += [a.content() for a in page.all("a", class_="file")]
        more = page.all("a", **{"data-more-attachments": ""})
        if not more:
            break
        url = more[0].attrs["href"]
        # The page's script gets the same page without the layout, to merge in.
        r = await memos_client.get(url, headers={"X-Requested-With": "memos-web"})
        fragment = await r.text()
        assert r.status == 200 and "<html" not in fragment and "data-month" in fragment + "data-documents"
    assert sorted(seen) == sorted([f"p{i}.png" for i in range(4)] + [f"d{i}.txt" for i in range(3)])
    assert len(seen) == 7


async def test_the_attachments_page_needs_a_session(pages, memos_client):
    r = await memos_client.get("/attachments", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/auth?redirect=/attachments"
    r = await memos_client.get("/inbox", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"] == "/auth?redirect=/inbox"


# -- inbox -------------------------------------------------------------------------------------------
async def notifications(client, user) -> list[dict]:
    return (await api(client, user, "GET", f"/api/v1/users/{user.username}/notifications"))["notifications"]


def items(text: str) -> list:
    return parse(text).all("li", class_="inbox-item")


async def test_the_inbox_lists_comments_and_mentions_and_marks_them_read(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob", nickname="Bobby")
    carol = await memos_users("carol")
    await api(memos_client, alice, "POST", "/api/v1/memos?memoId=a1", {"content": "my garden", "visibility": "PUBLIC"})
    await api(
        memos_client,
        bob,
        "POST",
        "/api/v1/memos/a1/comments?commentId=c1",
        {"content": "lovely roses & tulips", "visibility": "PUBLIC"},
    )
    await api(memos_client, carol, "POST", "/api/v1/memos?memoId=m1", {"content": "hi @alice", "visibility": "PUBLIC"})
    ids = {n["type"]: n["name"].rsplit("/", 1)[1] for n in await notifications(memos_client, alice)}
    await pages.sign_in(alice)

    text = await pages.get("/inbox")
    badge = parse(text).one("span", class_="badge")
    assert badge.content() == "2" and badge.attrs["aria-label"] == "2 unread"
    listed = items(text)
    assert [li.attrs["id"] for li in listed] == [
        f"notification-{ids['MEMO_MENTION']}",
        f"notification-{ids['MEMO_COMMENT']}",
    ]
    mention, comment = listed
    assert mention.one("a", class_="creator").content() == "C Carol" and "mentioned you" in mention.content()
    assert mention.one("a", class_="inbox-snippet").attrs["href"] == "/memos/m1"
    assert mention.one("a", class_="inbox-snippet").content() == "hi @alice"
    assert "Bobby" in comment.one("a", class_="creator").content()
    assert "commented on your memo" in comment.content()
    link = comment.one("a", class_="inbox-snippet")
    assert link.attrs["href"] == "/memos/a1#memo-c1"  # the comment's card on its memo's page
    assert link.content() == "lovely roses & tulips" and "lovely roses &amp; tulips" in text
    assert "my garden" in comment.one("p", class_="inbox-context").content()
    assert 'id="memo-c1"' in await pages.get("/memos/a1")  # the anchor exists there
    assert [b.content() for b in comment.all("button")] == ["Mark as read", "Delete notification"]

    # Mark the comment read (ARCHIVED): gone from "Unread", kept under "All".
    r = await pages.post(f"/web/inbox/{ids['MEMO_COMMENT']}/status", {"status": "ARCHIVED", "next": "/inbox"})
    assert r.status == 303 and r.headers["Location"] == "/inbox"
    status = {n["type"]: n["status"] for n in await notifications(memos_client, alice)}
    assert status == {"MEMO_COMMENT": "ARCHIVED", "MEMO_MENTION": "UNREAD"}
    text = await pages.get("/inbox")
    assert [li.attrs["id"] for li in items(text)] == [f"notification-{ids['MEMO_MENTION']}"]
    assert parse(text).one("span", class_="badge").content() == "1"
    every = items(await pages.get("/inbox?tab=all"))
    assert len(every) == 2 and "unread" not in every[1].attrs["class"].split()
    assert [b.content() for b in every[1].all("button")] == ["Mark as unread", "Delete notification"]

    # The page's script: the redrawn item and the new unread count.
    r = await pages.post(
        f"/web/inbox/{ids['MEMO_MENTION']}/status", {"status": "ARCHIVED", "next": "/inbox"}, script=True
    )
    assert r.status == 200 and r.headers["X-Unread-Count"] == "0"
    (item,) = items(await r.text())
    assert "<html" not in await r.text() and "Mark as unread" in item.content()
    text = await pages.get("/inbox")
    assert not parse(text).all("span", class_="badge") and "Nothing unread." in text

    # Unread again, then delete.
    r = await pages.post(f"/web/inbox/{ids['MEMO_MENTION']}/status", {"status": "UNREAD", "next": "/inbox?tab=all"})
    assert r.status == 303 and r.headers["Location"] == "/inbox?tab=all"
    r = await pages.post(f"/web/inbox/{ids['MEMO_COMMENT']}/delete", {"next": "/inbox?tab=all"})
    assert r.status == 303
    assert [(n["type"], n["status"]) for n in await notifications(memos_client, alice)] == [("MEMO_MENTION", "UNREAD")]
    r = await pages.post(f"/web/inbox/{ids['MEMO_MENTION']}/delete", {}, script=True)
    assert r.status == 200 and await r.json() == {"gone": True, "unread": 0}
    assert await notifications(memos_client, alice) == []
    assert "No notifications yet." in await pages.get("/inbox?tab=all")


async def test_a_notification_whose_memo_is_hidden_says_so(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await api(memos_client, alice, "POST", "/api/v1/memos?memoId=a1", {"content": "mine", "visibility": "PUBLIC"})
    await api(
        memos_client,
        bob,
        "POST",
        "/api/v1/memos/a1/comments?commentId=c1",
        {"content": "secret later", "visibility": "PUBLIC"},
    )
    r = await memos_client.patch(
        "/api/v1/memos/c1?updateMask=visibility", json={"visibility": "PRIVATE"}, headers=bob.headers
    )
    assert r.status == 200
    await pages.sign_in(alice)
    text = await pages.get("/inbox")
    (item,) = items(text)
    assert "The memo is no longer available." in item.content()
    assert "secret later" not in text and not item.all("a", class_="inbox-snippet")


async def test_nobody_reaches_another_users_notification(pages, memos_client, memos_users, memos_unchanged):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await api(memos_client, bob, "POST", "/api/v1/memos?memoId=b1", {"content": "bob's", "visibility": "PUBLIC"})
    await api(
        memos_client, alice, "POST", "/api/v1/memos/b1/comments", {"content": "from alice", "visibility": "PUBLIC"}
    )
    (bobs,) = await notifications(memos_client, bob)
    bob_id = bobs["name"].rsplit("/", 1)[1]
    await pages.sign_in(alice)
    assert items(await pages.get("/inbox?tab=all")) == []
    async with memos_unchanged(bob.headers, "/api/v1/users/bob/notifications"):
        r = await pages.post(f"/web/inbox/{bob_id}/status", {"status": "ARCHIVED"})
        assert r.status == 404
        r = await pages.post(f"/web/inbox/{bob_id}/delete", {})
        assert r.status == 404
        r = await pages.post(f"/web/inbox/{bob_id}/delete", {}, script=True)
        assert r.status == 404 and "not found" in (await r.json())["message"]
        r = await pages.post("/web/inbox/not-a-number/status", {"status": "ARCHIVED"})
        assert r.status == 400
        r = await pages.post(f"/web/inbox/{bob_id}/status", {"status": "SHREDDED"})
        assert r.status == 400
        # Bob's own page without his token: a forged CSRF token is refused before anything.
        await pages.sign_in(bob)
        r = await pages.post(f"/web/inbox/{bob_id}/delete", {}, token="forged")
        assert r.status == 403
    assert len(items(await pages.get("/inbox"))) == 1  # bob's own, still there
