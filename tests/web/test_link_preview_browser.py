"""Link previews (memos-httpgetter) in Chromium against a real ``memos serve`` (SQLite).

A local page with Open Graph tags plays the remote site; the server may reach it because its exact
``127.0.0.1:<port>`` is allowed (``MEMOS_HTTPGETTER_ALLOW``), nothing else on loopback. The card
must appear below a memo linking to it, filled in by the plugin's script after the page loaded,
with the image served from our own origin (the pages' CSP would report anything else).
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

import pytest
from fixtures import processes as procs
from fixtures.link_sites import ARTICLE, PNG
from playwright.sync_api import expect

PASSWORD = "a-Good-passw0rd"


class RemoteSite(BaseHTTPRequestHandler):
    """The "remote" site: an article and its cover image; ``hits`` records the paths asked for."""

    pages: ClassVar[dict[str, tuple[bytes, str]]] = {
        "/article": (ARTICLE.encode(), "text/html; charset=utf-8"),
        "/media/cover.png": (PNG, "image/png"),
    }
    hits: ClassVar[list[str]] = []

    def do_GET(self) -> None:
        self.hits.append(self.path)
        body, content_type = self.pages.get(self.path, (b"not found", "text/plain"))
        self.send_response(200 if self.path in self.pages else 404)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        return None


class Server:
    def __init__(self, served: Any, site_port: int) -> None:
        self.served, self.site_port = served, site_port

    @property
    def base(self) -> str:
        return self.served.base

    def api(self, method: str, path: str, body: Any = None, token: str = "") -> Any:
        headers = {"Authorization": f"Bearer {token}"} if token else None
        r = self.served.request(method, path, body, headers)
        assert 200 <= r.status < 300, f"{method} {path} -> {r.status}: {r.body[:500]!r}"
        return r.json()

    def site_url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.site_port}{path}"


@pytest.fixture(scope="module")
def remote_site() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), RemoteSite)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, remote_site) -> Iterator[Server]:
    """This module's own server, allowed to reach the remote site's port and nothing else local."""
    port = remote_site.server_address[1]
    data = tmp_path_factory.mktemp("web-server")
    env = procs.memos_env(data, MEMOS_DRIVER="sqlite", MEMOS_DATA=str(data), MEMOS_HTTPGETTER_ALLOW=f"127.0.0.1:{port}")
    with procs.serve(data, env) as served:
        server = Server(served, port)
        server.api("POST", "/api/v1/users", {"username": "admin", "password": PASSWORD})  # the first: admin
        yield server


@pytest.mark.browser
def test_a_memo_with_a_link_shows_its_preview_card(web_server, new_context):
    web_server.api("POST", "/api/v1/users", {"username": "reader", "password": PASSWORD})
    signin = {"passwordCredentials": {"username": "reader", "password": PASSWORD}}
    token = web_server.api("POST", "/api/v1/auth/signin", signin)["accessToken"]
    link = web_server.site_url("/article")
    memo = web_server.api("POST", "/api/v1/memos", {"content": f"Worth a read: {link}"}, token)
    plain = web_server.api("POST", "/api/v1/memos", {"content": "no link here"}, token)
    RemoteSite.hits.clear()

    page = new_context().new_page()
    page.goto("/auth?redirect=/home")
    page.get_by_label("Username").fill("reader")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/home")

    card = page.locator(f"#memo-{memo['name'].removeprefix('memos/')} .link-preview-card")
    expect(card).to_be_visible()
    expect(card.locator(".link-preview-title")).to_have_text("The OG title")
    expect(card.locator(".link-preview-description")).to_have_text("What the article is about.")
    expect(card.locator(".link-preview-site")).to_have_text("Example News")
    assert card.get_attribute("href") == link
    image = card.locator("img.link-preview-image")
    expect(image).to_have_attribute("src", re.compile(r"^/web/link-preview/image\?url="))
    page.wait_for_function("img => img.complete && img.naturalWidth === 8", arg=image.element_handle())
    # our server asked the remote site for the page and the image; the browser never went there
    assert sorted(set(RemoteSite.hits)) == ["/article", "/media/cover.png"]
    origin = f"127.0.0.1:{web_server.site_port}/"
    loaded = page.evaluate("performance.getEntries().map(e => e.name)")
    assert not [name for name in loaded if origin in name]

    expect(page.locator(f"#memo-{plain['name'].removeprefix('memos/')} .link-preview")).to_have_count(0)
