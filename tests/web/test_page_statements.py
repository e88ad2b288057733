"""Pages run a constant number of SQL statements, whatever the number of memos on them.

Every memo on the page carries a reaction, a reference, a comment, a tag and an attachment, and
each is by another user on /explore, so any per-memo or per-creator query would show as a larger
count for the fuller page.
"""

from __future__ import annotations

import base64

from memos_core.context import CONTEXT


async def _seed(client, users, n: int) -> None:
    for i in range(n):
        author = users[i % len(users)]
        r = await client.post(
            "/api/v1/attachments",
            json={"filename": f"f{i}.txt", "type": "text/plain", "content": base64.b64encode(b"hi").decode()},
            headers=author.headers,
        )
        assert r.status == 200, await r.text()
        attachment = (await r.json())["name"]
        r = await client.post(
            "/api/v1/memos",
            json={
                "content": f"memo {i} #tag{i % 3} #common",
                "visibility": "PUBLIC",
                "attachments": [{"name": attachment}],
            },
            headers=author.headers,
        )
        assert r.status == 200, await r.text()
        name = (await r.json())["name"]
        other = users[(i + 1) % len(users)]
        r = await client.post(
            f"/api/v1/{name}/reactions",
            json={"reaction": {"contentId": name, "reactionType": "👍"}},
            headers=other.headers,
        )
        assert r.status == 200, await r.text()
        r = await client.post(f"/api/v1/{name}/comments", json={"content": "a comment"}, headers=other.headers)
        assert r.status == 200, await r.text()


async def _sign_in(client, user) -> None:
    r = await client.post(
        "/api/v1/auth/signin",
        json={"passwordCredentials": {"username": user.username, "password": user.password}},
    )
    assert r.status == 200, await r.text()


async def _count(client, path: str) -> tuple[int, str]:
    store = client.app[CONTEXT].store
    before = store.statements
    r = await client.get(path)
    text = await r.text()
    assert r.status == 200, text
    return store.statements - before, text


async def test_pages_statement_count_is_constant(aiohttp_client, memos_new_config, memos_driver):
    """The same pages with 4 and with 16 memos (two fresh instances) run the same statements."""
    from memos_core.app import create_app
    from memos_core.testing import TestUser

    counts: dict[str, list[int]] = {}
    for n in (4, 16):
        client = await aiohttp_client(create_app(memos_new_config(memos_driver)))
        users = []
        for name in ("alice", "bob", "carol", "dave"):
            r = await client.post("/api/v1/users", json={"username": name, "password": f"{name}-password"})
            assert r.status == 200, await r.text()
            r = await client.post(
                "/api/v1/auth/signin",
                json={"passwordCredentials": {"username": name, "password": f"{name}-password"}},
            )
            token = (await r.json())["accessToken"]
            users.append(TestUser(0, name, "USER", f"{name}-password", token))
        client.session.cookie_jar.clear()
        await _seed(client, users, n)
        await _sign_in(client, users[0])
        for path in ("/home", "/explore", "/home?tag=common"):
            count, html = await _count(client, path)
            counts.setdefault(path, []).append(count)
            if path == "/explore":
                assert html.count('class="memo') >= n
        client.session.cookie_jar.clear()
        count, html = await _count(client, "/explore")
        counts.setdefault("/explore anonymous", []).append(count)
        assert html.count("<article") == n
    for path, (small, full) in counts.items():
        assert small == full, f"{path}: {small} statements for 4 memos, {full} for 16"
