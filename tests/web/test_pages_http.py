"""The pages' server code over HTTP, on every database driver (no browser: see test_journeys.py).

A ``Visitor`` is one browser's worth of state: its own cookie jar, the CSRF token scraped from the
last page it read, and its site's ``Origin`` on every form post, the way a browser sends them.
What a refused request did not write is read back through the REST API.
"""

from __future__ import annotations

import base64
import dataclasses
import re
from collections.abc import AsyncIterator, Callable
from html.parser import HTMLParser
from http.cookies import SimpleCookie
from typing import Any
from urllib.parse import quote

import aiohttp
import pytest

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
PASSWORD = "Pw-for-the-web-1"


@dataclasses.dataclass
class Answer:
    status: int
    text: str
    headers: Any
    cookies: SimpleCookie

    @property
    def location(self) -> str:
        return self.headers.get("Location", "")

    @property
    def csrf(self) -> str:
        m = CSRF_META.search(self.text)
        assert m, f"no CSRF token on the page:\n{self.text[:500]}"
        return m.group(1)


class Visitor:
    """One browser: its own cookies; form posts carry the page's CSRF token and this site's Origin."""

    def __init__(self, client: Any) -> None:
        self.client = client
        self.session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        url = client.make_url("/")
        self.origin = f"{url.scheme}://{url.host}:{url.port}"
        self.token = ""

    async def _answer(self, r: aiohttp.ClientResponse) -> Answer:
        answer = Answer(r.status, await r.text(), r.headers, r.cookies)
        if "text/html" in r.headers.get("Content-Type", "") and CSRF_META.search(answer.text):
            self.token = answer.csrf
        return answer

    async def get(self, path: str, headers: dict[str, str] | None = None) -> Answer:
        async with self.session.get(
            self.client.make_url(path), headers={"Accept": "text/html", **(headers or {})}, allow_redirects=False
        ) as r:
            return await self._answer(r)

    async def post(
        self,
        path: str,
        data: dict[str, str] | None = None,
        *,
        token: str | None = None,
        origin: str | None = "",
        headers: dict[str, str] | None = None,
    ) -> Answer:
        """POST a form; ``token=None`` sends the last page's token, ``""`` none; ``origin=None`` no Origin."""
        if not self.token and token is None:
            await self.get("/explore")  # a page first, as a browser would have
        form = dict(data or {})
        sent = self.token if token is None else token
        if sent:
            form["csrf_token"] = sent
        extra = {"Accept": "text/html"}
        if origin is not None:
            extra["Origin"] = origin or self.origin
        async with self.session.post(
            self.client.make_url(path), data=form, headers={**extra, **(headers or {})}, allow_redirects=False
        ) as r:
            return await self._answer(r)

    async def sign_in(self, user: Any) -> None:
        await self.get("/auth")
        r = await self.post("/auth", {"username": user.username, "password": user.password, "redirect": "/home"})
        assert r.status == 303, r.text
        assert r.location == "/home"

    def cookie(self, name: str) -> str:
        for c in self.session.cookie_jar:
            if c.key == name:
                return c.value
        return ""


@pytest.fixture
async def visitor(memos_client) -> AsyncIterator[Callable[[], Visitor]]:
    made: list[Visitor] = []

    def make() -> Visitor:
        made.append(Visitor(memos_client))
        return made[-1]

    yield make
    for v in made:
        await v.session.close()


@pytest.fixture
async def people(memos_users) -> dict[str, Any]:
    return {
        "admin": await memos_users("root", role="ADMIN", password=PASSWORD),
        "alice": await memos_users("alice", password=PASSWORD),
        "bob": await memos_users("bob", password=PASSWORD),
    }


async def api(client: Any, method: str, path: str, user: Any, body: Any = None) -> Any:
    r = await client.request(method, path, json=body, headers=user.headers)
    assert r.status == 200, (method, path, r.status, await r.text())
    return await r.json()


async def new_memo(client: Any, user: Any, content: str, visibility: str = "PRIVATE", **fields: Any) -> str:
    memo = await api(client, "POST", "/api/v1/memos", user, {"content": content, "visibility": visibility, **fields})
    return memo["name"].removeprefix("memos/")


def app_look(answer: Answer) -> bool:
    """A page drawn by the app's layout (its stylesheet and navigation), not a bare error text."""
    return "/static/web/" in answer.text and 'id="nav"' in answer.text


# -- signing up, in and out -----------------------------------------------------------------------
async def test_the_first_account_signs_up_through_the_form_and_becomes_the_admin(memos_client, visitor):
    v = visitor()
    for path in ("/", "/home", "/explore", "/archived", "/auth", "/u/anyone"):
        r = await v.get(path)
        assert (r.status, r.location) == (302, "/auth/signup"), path
    api_answer = await memos_client.get("/api/v1/instance/profile")
    assert api_answer.status == 200  # the API is not part of the bootstrap redirect

    page = await v.get("/auth/signup")
    assert page.status == 200
    assert "the first account you create becomes its administrator" in page.text
    mismatch = await v.post(
        "/auth/signup", {"username": "founder", "password": PASSWORD, "password_confirm": PASSWORD + "x"}
    )
    assert mismatch.status == 400 and "The passwords do not match." in mismatch.text
    assert "becomes its administrator" in (await v.get("/auth/signup")).text  # still no account

    r = await v.post("/auth/signup", {"username": "founder", "password": PASSWORD, "password_confirm": PASSWORD})
    assert (r.status, r.location) == (303, "/home")
    cookie = r.cookies["memos_refresh"]
    assert cookie.value and cookie["httponly"] and cookie["samesite"] == "Lax" and cookie["path"] == "/"
    home = await v.get("/home")
    assert home.status == 200 and "founder" in home.text

    signin = await memos_client.post(
        "/api/v1/auth/signin", json={"passwordCredentials": {"username": "founder", "password": PASSWORD}}
    )
    assert (await signin.json())["user"]["role"] == "ADMIN"
    # With an admin, pages no longer lead to sign-up.
    other = visitor()
    assert ((await other.get("/home")).status, (await other.get("/home")).location) == (302, "/auth?redirect=/home")
    assert "becomes its administrator" not in (await other.get("/auth/signup")).text


async def test_sign_in_sets_the_session_cookie_and_sign_out_revokes_it(memos_client, people, visitor):
    alice = people["alice"]
    v = visitor()
    r = await v.get("/home")
    assert (r.status, r.location) == (302, "/auth?redirect=/home")
    form = await v.get("/auth?redirect=/home")
    assert 'name="redirect" value="/home"' in form.text

    wrong = await v.post("/auth", {"username": "alice", "password": "not-it", "redirect": "/home"})
    assert wrong.status == 400 and "Incorrect username or password." in wrong.text
    assert "memos_refresh" not in wrong.cookies and not v.cookie("memos_refresh")

    r = await v.post("/auth", {"username": "alice", "password": alice.password, "redirect": "/archived"})
    assert (r.status, r.location) == (303, "/archived")
    assert r.cookies["memos_refresh"]["httponly"] and r.cookies["memos_refresh"]["samesite"] == "Lax"
    session_cookie = v.cookie("memos_refresh")
    home = await v.get("/home")
    assert home.status == 200 and "Sign out" in home.text

    r = await v.post("/auth/signout")
    assert (r.status, r.location) == (303, "/auth")
    assert r.cookies["memos_refresh"].value == ""
    assert (await v.get("/home")).status == 302

    # The old cookie, replayed by someone who kept it, no longer opens a page: it was revoked.
    thief = visitor()
    thief.session.cookie_jar.update_cookies({"memos_refresh": session_cookie}, memos_client.make_url("/"))
    r = await thief.get("/home")
    assert (r.status, r.location) == (302, "/auth?redirect=/home")


async def test_sign_in_never_redirects_off_the_site(people, visitor):
    alice = people["alice"]
    hostile = [
        "//evil.example/x",
        "/\\evil.example",
        "https://evil.example/",
        "http:/evil.example",
        "javascript:alert(1)",
        "/\t/evil.example",
        " //evil.example",
        "",
    ]
    v = visitor()
    for target in hostile:
        page = await v.get("/auth?redirect=" + quote(target, safe=""))
        assert page.status == 200 and 'name="redirect" value="/home"' in page.text, target
        r = await v.post("/auth", {"username": "alice", "password": alice.password, "redirect": target})
        assert (r.status, r.location) == (303, "/home"), target
        r = await v.get("/auth?redirect=" + quote(target, safe=""))  # already signed in: straight on
        assert (r.status, r.location) == (302, "/home"), target
        await v.post("/auth/signout")
    r = await v.post("/auth", {"username": "alice", "password": alice.password, "redirect": "/explore?tag=work"})
    assert (r.status, r.location) == (303, "/explore?tag=work")


# -- every page's status --------------------------------------------------------------------------
async def test_every_page_answers_with_the_right_status_and_the_apps_look(memos_client, people, visitor):
    alice, bob = people["alice"], people["bob"]
    public = await new_memo(memos_client, alice, "a public memo", "PUBLIC")
    protected = await new_memo(memos_client, alice, "a protected memo", "PROTECTED")
    private = await new_memo(memos_client, alice, "a private memo", "PRIVATE")
    archived = await new_memo(memos_client, alice, "an archived memo", "PRIVATE")
    await api(memos_client, "PATCH", f"/api/v1/memos/{archived}?updateMask=state", alice, {"state": "ARCHIVED"})
    share = await api(memos_client, "POST", f"/api/v1/memos/{private}/shares", alice, {})
    token = share["name"].rsplit("/", 1)[1]

    owner = visitor()
    await owner.sign_in(alice)
    expect = {
        "/home": (200, ["a public memo", "a private memo"], ["an archived memo"]),
        "/explore": (200, ["a public memo", "a protected memo"], ["a private memo"]),
        "/archived": (200, ["an archived memo"], ["a public memo"]),
        "/u/alice": (200, ["a public memo", "a private memo"], []),
        f"/memos/{private}": (200, ["a private memo"], []),
        f"/memos/shares/{token}": (200, ["a private memo"], []),
    }
    for path, (status, shown, hidden) in expect.items():
        r = await owner.get(path)
        assert r.status == status, path
        assert app_look(r), path
        for text in shown:
            assert text in r.text, (path, text)
        for text in hidden:
            assert text not in r.text, (path, text)
    r = await owner.get(f"/m/{private}")
    assert (r.status, r.location) == (301, f"/memos/{private}")

    for path in ("/no/such/page", "/u/nobody", "/memos/nosuchmemo", "/memos/shares/nosuchtoken"):
        r = await owner.get(path)
        assert r.status == 404 and app_look(r) and "Not found" in r.text, path

    # Someone else's private memo: refused in the app's look, its content not leaked.
    other = visitor()
    await other.sign_in(bob)
    r = await other.get(f"/memos/{private}")
    assert r.status in (403, 404) and app_look(r) and "a private memo" not in r.text
    assert "a private memo" not in (await other.get("/u/alice")).text
    assert "a protected memo" in (await other.get("/u/alice")).text

    anonymous = visitor()
    assert (await anonymous.get(f"/memos/{public}")).status == 200
    for path in (f"/memos/{protected}", "/home", "/archived"):
        r = await anonymous.get(path)
        assert (r.status, r.location) == (302, "/auth?redirect=" + path), path
    r = await anonymous.get(f"/memos/{private}")
    assert r.status in (302, 403, 404) and "a private memo" not in r.text
    shared = await anonymous.get(f"/memos/shares/{token}")
    assert shared.status == 200 and "a private memo" in shared.text
    r = await anonymous.get("/explore")
    assert r.status == 200 and "a public memo" in r.text and "a protected memo" not in r.text

    await api(memos_client, "DELETE", f"/api/v1/memos/{private}/shares/{token}", alice)
    assert (await anonymous.get(f"/memos/shares/{token}")).status == 404
    # An API client keeps its JSON 404 for unknown paths.
    r = await memos_client.get("/api/v1/no/such/thing")
    assert r.status == 404 and "text/html" not in r.headers.get("Content-Type", "")


# -- CSRF and origin ------------------------------------------------------------------------------
async def _actions(memos_client: Any, alice: Any) -> tuple[str, list[tuple[str, dict[str, str]]]]:
    uid = await new_memo(memos_client, alice, "keep me\n\n- [ ] a task", "PUBLIC")
    return uid, [
        ("/web/memos", {"content": "forged memo", "visibility": "PUBLIC"}),
        ("/web/memos", {"content": "forged comment", "parent": f"memos/{uid}"}),
        (f"/web/memos/{uid}/update", {"content": "forged edit"}),
        (f"/web/memos/{uid}/pin", {"pinned": "1"}),
        (f"/web/memos/{uid}/archive", {}),
        (f"/web/memos/{uid}/delete", {}),
        (f"/web/memos/{uid}/react", {"reaction": "👍"}),
        (f"/web/memos/{uid}/tasks/0", {}),
        (f"/web/memos/{uid}/shares", {}),
        ("/auth/signout", {}),
    ]


async def test_posts_without_a_valid_csrf_token_are_refused_and_change_nothing(
    memos_client, people, visitor, memos_unchanged
):
    alice = people["alice"]
    uid, actions = await _actions(memos_client, alice)
    v = visitor()
    await v.sign_in(alice)
    stranger = visitor()
    await stranger.get("/explore")  # a valid token, but bound to another browser's cookie
    paths = (f"/api/v1/memos/{uid}", "/api/v1/memos", f"/api/v1/memos/{uid}/comments", f"/api/v1/memos/{uid}/shares")
    async with memos_unchanged(alice.headers, *paths):
        for path, data in actions:
            for token in ("", "0" * 64, stranger.token):
                r = await v.post(path, data, token=token)
                assert r.status == 403, (path, token, r.status)
                assert app_look(r) and "did not come from this site" in r.text, path
            r = await v.post(path, data, token="", headers={"X-Requested-With": "memos-web"})
            assert r.status == 403 and r.headers["Content-Type"].startswith("application/json"), path
    assert (await v.get("/home")).status == 200  # the refused sign-out left the session alone


async def test_cross_site_posts_are_refused_even_with_a_token(memos_client, people, visitor, memos_unchanged):
    alice = people["alice"]
    uid, actions = await _actions(memos_client, alice)
    v = visitor()
    await v.sign_in(alice)
    paths = (f"/api/v1/memos/{uid}", "/api/v1/memos", f"/api/v1/memos/{uid}/comments", f"/api/v1/memos/{uid}/shares")
    port = memos_client.make_url("/").port
    async with memos_unchanged(alice.headers, *paths):
        for path, data in actions:
            # (The scheme alone is not compared: behind a TLS proxy the page is https, the app sees http.)
            for origin in ("https://evil.example", f"http://127.0.0.1:{port + 1}", "http://localhost"):
                r = await v.post(path, data, origin=origin)
                assert r.status == 403 and "cross-site request refused" in r.text, (path, origin)
            r = await v.post(path, data, origin=None, headers={"Referer": "https://evil.example/page"})
            assert r.status == 403, path
    # The same token from this site's own page goes through.
    r = await v.post(f"/web/memos/{uid}/pin", {"pinned": "1", "next": "/home"})
    assert (r.status, r.location) == (303, "/home")
    assert (await api(memos_client, "GET", f"/api/v1/memos/{uid}", alice))["pinned"] is True


# -- headers and static files ---------------------------------------------------------------------
class Markup(HTMLParser):
    """What a browser would act on in a page: its elements and their real attributes (text that
    merely looks like markup, once escaped, is not an element)."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.inline_scripts: list[str] = []
        self.handlers: list[str] = []
        self.styles: list[str] = []
        self.script_urls: list[str] = []
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        names = dict(attrs)
        where = f"<{tag} {' '.join(f'{k}={v!r}' for k, v in attrs)}>"
        self.handlers += [where for name in names if name.startswith("on")]
        if "style" in names:
            self.styles.append(where)
        for name in ("href", "src", "action", "formaction"):
            if (names.get(name) or "").strip().lower().startswith(("javascript:", "data:text/html")):
                self.script_urls.append(where)
        if tag == "script" and not names.get("src"):
            self.inline_scripts.append(where)


def csp_of(answer: Answer) -> dict[str, list[str]]:
    header = answer.headers.get("Content-Security-Policy", "")
    assert header, "no Content-Security-Policy"
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


async def test_pages_carry_a_strict_content_security_policy(memos_client, people, visitor):
    alice = people["alice"]
    uid = await new_memo(
        memos_client,
        alice,
        "# Title\n\n| left | right | centre |\n|:-|-:|:-:|\n| 1 | 2 | 3 |\n\n- [ ] task\n\n```js\nx()\n```",
        "PUBLIC",
    )
    v = visitor()
    pages = ["/auth", "/auth/signup", "/explore", f"/memos/{uid}", "/no/such/page"]
    for path in pages:
        await check_page_headers(await v.get(path), path)
    await v.sign_in(alice)
    for path in ("/home", "/explore", "/archived", "/u/alice", f"/memos/{uid}", f"/memos/{uid}?edit=1", "/nope"):
        await check_page_headers(await v.get(path), path)


async def check_page_headers(r: Answer, path: str) -> None:
    csp = csp_of(r)
    assert csp["script-src"] == ["'self'"], (path, csp["script-src"])
    assert csp["default-src"] == ["'self'"] and csp["object-src"] == ["'none'"], path
    assert csp["frame-ancestors"] == ["'none'"] and csp["base-uri"] == ["'self'"], path
    assert "'unsafe-inline'" not in csp.get("style-src", []) and all("'unsafe-eval'" not in v for v in csp.values()), (
        path
    )
    assert r.headers["X-Content-Type-Options"] == "nosniff", path
    assert r.headers["Cache-Control"] == "no-store", path
    # What the policy forbids, the page does not rely on.
    found = Markup(r.text)
    assert not found.inline_scripts and not found.handlers, (path, found.inline_scripts, found.handlers)
    assert not found.styles, (path, found.styles)


async def test_static_files_are_versioned_and_cached_for_good(memos_client, people, visitor):
    v = visitor()
    page = await v.get("/explore")
    urls = re.findall(r'(?:href|src)="(/static/web/([0-9a-f]{10})/([^"]+))"', page.text)
    names = {name for _, _, name in urls}
    assert {"app.css", "app.js"} <= names, urls
    version = urls[0][1]
    assert all(u[1] == version for u in urls), "one release folder for every file"

    app_js = ""
    for url, _, name in urls:
        r = await memos_client.get(url, headers={"Accept-Encoding": "gzip"})
        assert r.status == 200, url
        assert r.headers["Cache-Control"] == "public, max-age=31536000, immutable", url
        if name.endswith((".css", ".js")):
            assert r.headers.get("Content-Encoding") == "gzip", url
        if name == "app.js":
            app_js = await r.text()
            etag = r.headers["ETag"]
            again = await memos_client.get(url, headers={"If-None-Match": etag})
            assert again.status == 304
    # Every module app.js imports is served from the same folder.
    for module in re.findall(r'import\s+(?:[^"\']+\s+from\s+)?["\']\./([^"\']+)["\']', app_js):
        r = await memos_client.get(f"/static/web/{version}/{module}")
        assert r.status == 200 and r.headers["Content-Type"].startswith("text/javascript"), module

    stale = "0" * 10 if version != "0" * 10 else "1" * 10
    for path in (f"/static/web/{stale}/app.css", f"/static/web/{version}/nope.js", f"/static/web/{version}/../app.css"):
        r = await memos_client.get(path)
        assert r.status == 404, path


# -- escaping -------------------------------------------------------------------------------------
SCRIPT = "<script>alert(1)</script>"
PAYLOADS = [
    SCRIPT,
    '<img src=x onerror="alert(2)">',
    '"><svg onload=alert(3)>',
    "[click me](javascript:alert(4))",
    "#tag<script>alert(5)</script>",
]


def assert_inert(html: str, where: str) -> None:
    assert "<script>alert" not in html.lower(), where
    found = Markup(html)
    assert not found.inline_scripts and not found.handlers, (where, found.inline_scripts, found.handlers)
    assert not found.script_urls, (where, found.script_urls)


async def test_script_in_memos_tags_names_and_filenames_is_escaped(memos_client, memos_users, visitor):
    await memos_users("root", role="ADMIN")
    evil = await memos_users("mallory", password=PASSWORD, nickname=SCRIPT + "Mallory")
    reader = await memos_users("reader", password=PASSWORD)
    upload = await api(
        memos_client,
        "POST",
        "/api/v1/attachments",
        evil,
        {"filename": "<script>alert(8).txt", "type": "text/plain", "content": base64.b64encode(b"hi").decode()},
    )
    image = await api(
        memos_client,
        "POST",
        "/api/v1/attachments",
        evil,
        {
            "filename": '"><img src=x onerror=alert(6)>.png',
            "type": "image/png",
            "content": base64.b64encode(b"x").decode(),
        },
    )
    uid = await new_memo(
        memos_client,
        evil,
        "\n\n".join(PAYLOADS),
        "PUBLIC",
        attachments=[{"name": upload["name"]}, {"name": image["name"]}],
    )
    await api(
        memos_client,
        "POST",
        f"/api/v1/memos/{uid}/comments",
        evil,
        {"content": SCRIPT + " in a comment", "visibility": "PUBLIC"},
    )
    v = visitor()
    await v.sign_in(reader)
    paths = [
        "/explore",
        f"/memos/{uid}",
        "/u/mallory",
        "/explore?text=" + quote(SCRIPT),
        "/explore?tag=" + quote('"><img src=x onerror=alert(7)>'),
        "/explore?" + quote(SCRIPT) + "=1",
    ]
    for path in paths:
        r = await v.get(path)
        assert r.status == 200, path
        assert_inert(r.text, path)
    explore = await v.get("/explore")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;Mallory" in explore.text  # shown, as text
    assert "&lt;script&gt;alert(8).txt" in explore.text
    memo_page = await v.get(f"/memos/{uid}")
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in a comment" in memo_page.text
    # The owner's own pages (with the editor holding the raw content) are as inert.
    owner = visitor()
    await owner.sign_in(evil)
    for path in ("/home", f"/memos/{uid}", f"/memos/{uid}?edit=1", "/archived"):
        r = await owner.get(path)
        assert r.status == 200, path
        assert_inert(r.text, path)


# -- without JavaScript ---------------------------------------------------------------------------
async def test_writing_and_commenting_work_as_plain_form_posts(memos_client, people, visitor, memos_unchanged):
    alice = people["alice"]
    v = visitor()
    await v.sign_in(alice)
    await v.get("/home")
    r = await v.post(
        "/web/memos", {"content": "Written without scripts #plain", "visibility": "PUBLIC", "next": "/home"}
    )
    assert (r.status, r.location) == (303, "/home")
    assert "Written without scripts" in (await v.get("/home")).text
    memos = (await api(memos_client, "GET", "/api/v1/memos", alice))["memos"]
    assert [(m["content"], m["visibility"], m["tags"]) for m in memos] == [
        ("Written without scripts #plain", "PUBLIC", ["plain"])
    ]
    uid = memos[0]["name"].removeprefix("memos/")

    r = await v.post(
        "/web/memos", {"content": "A comment by form", "parent": f"memos/{uid}", "next": f"/memos/{uid}#comments"}
    )
    assert (r.status, r.location) == (303, f"/memos/{uid}#comments")
    assert "A comment by form" in (await v.get(f"/memos/{uid}")).text
    comments = (await api(memos_client, "GET", f"/api/v1/memos/{uid}/comments", alice))["memos"]
    assert [c["content"] for c in comments] == ["A comment by form"]

    # Bad input is refused on a page of its own and writes nothing.
    async with memos_unchanged(alice.headers, "/api/v1/memos", f"/api/v1/memos/{uid}/comments"):
        r = await v.post("/web/memos", {"content": "x" * 100_000, "next": "/home"})
        assert r.status == 400 and app_look(r) and "content too long" in r.text
    # After saving, back to a page of this site only.
    r = await v.post("/web/memos", {"content": "Sent home", "next": "//evil.example"})
    assert (r.status, r.location) == (303, "/home")


async def test_card_actions_work_as_plain_form_posts(memos_client, people, visitor, memos_unchanged):
    alice, bob = people["alice"], people["bob"]
    uid = await new_memo(memos_client, alice, "Card\n\n- [ ] one\n- [ ] two", "PUBLIC")
    v = visitor()
    await v.sign_in(alice)
    await v.get("/home")

    async def memo() -> dict[str, Any]:
        return await api(memos_client, "GET", f"/api/v1/memos/{uid}", alice)

    r = await v.post(f"/web/memos/{uid}/pin", {"pinned": "1", "next": "/home"})
    assert (r.status, r.location) == (303, "/home") and (await memo())["pinned"] is True
    r = await v.post(f"/web/memos/{uid}/tasks/1", {"next": "/home"})
    assert r.status == 303 and (await memo())["content"] == "Card\n\n- [ ] one\n- [x] two"
    r = await v.post(f"/web/memos/{uid}/react", {"reaction": "👍", "next": "/home"})
    assert r.status == 303 and [x["reactionType"] for x in (await memo())["reactions"]] == ["👍"]
    r = await v.post(f"/web/memos/{uid}/update", {"content": "Card, edited\n\n- [x] two", "next": f"/memos/{uid}"})
    assert (r.status, r.location) == (303, f"/memos/{uid}") and (await memo())["content"] == "Card, edited\n\n- [x] two"
    r = await v.post(f"/web/memos/{uid}/shares", {"expires_days": "7"})
    assert r.status == 303
    shares = (await api(memos_client, "GET", f"/api/v1/memos/{uid}/shares", alice))["memoShares"]
    assert len(shares) == 1 and shares[0]["expireTime"]
    page = await v.get(f"/memos/{uid}")
    assert shares[0]["name"].rsplit("/", 1)[1] in page.text

    # The page's own script asks for the fresh card instead of a redirect.
    r = await v.post(f"/web/memos/{uid}/pin", {"pinned": "0"}, headers={"X-Requested-With": "memos-web"})
    assert r.status == 200 and "<article" in r.text and "<html" not in r.text
    assert (await memo())["pinned"] is False

    # Someone else's memo: refused, unchanged.
    intruder = visitor()
    await intruder.sign_in(bob)
    await intruder.get(f"/memos/{uid}")
    async with memos_unchanged(alice.headers, f"/api/v1/memos/{uid}", f"/api/v1/memos/{uid}/shares"):
        for action in ("pin", "archive", "delete", "update", "tasks/0", "shares"):
            r = await intruder.post(f"/web/memos/{uid}/{action}", {"content": "mine now", "pinned": "1"})
            assert r.status in (403, 404) and app_look(r), action

    r = await v.post(f"/web/memos/{uid}/archive", {"next": "/home"})
    assert r.status == 303 and (await memo())["state"] == "ARCHIVED"
    assert "Card, edited" in (await v.get("/archived")).text
    r = await v.post(f"/web/memos/{uid}/archive", {"restore": "1", "next": "/archived"})
    assert r.status == 303 and (await memo())["state"] == "NORMAL"
    r = await v.post(f"/web/memos/{uid}/delete", {"next": f"/memos/{uid}"})
    assert (r.status, r.location) == (303, "/home")  # not back to the page of a memo that is gone
    gone = await memos_client.get(f"/api/v1/memos/{uid}", headers=alice.headers)
    assert gone.status == 404
