"""A forgotten password reset through the pages in Chromium, on a phone-sized screen, against a real
``memos serve`` (SQLite).

The server delivers links through a recording channel installed like any plugin (a package on its
PYTHONPATH with a ``memos.plugins`` entry point) that writes them to a file; the email plugin's
real mail is tested end to end in tests/plugins/email. Here the browser's side: the links and forms
are there, the confirmation is neutral, the reset page sends no ``Referer`` (its URL holds the
token) and its form still passes the CSRF check without one, and nothing overflows a phone screen.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures import processes as procs
from playwright.sync_api import expect

PHONE = {"width": 390, "height": 800}
PASSWORD = "a-Good-passw0rd"
NEW_PASSWORD = "an-Other-passw0rd"
INSTANCE_URL = "https://memos.example"
RECORDER = """
import json
import os

from memos_core import hookimpl


class Channel:
    async def ready(self):
        return True

    async def send(self, user, link, expires_at):
        with open(os.environ["RESET_LINKS_FILE"], "a") as f:
            f.write(json.dumps({"username": user.username, "link": link}) + "\\n")


@hookimpl
def memos_password_reset_sender(app):
    return Channel()
"""


class Server:
    """The running server and the file its recording channel writes links to."""

    def __init__(self, served: Any, links: Path) -> None:
        self.served, self.links = served, links

    @property
    def base(self) -> str:
        return self.served.base

    def api(self, method: str, path: str, body: Any = None) -> Any:
        r = self.served.request(method, path, body)
        assert 200 <= r.status < 300, f"{method} {path} -> {r.status}: {r.body[:500]!r}"
        return r.json()

    def sent(self) -> list[dict[str, str]]:
        if not self.links.exists():
            return []
        return [json.loads(line) for line in self.links.read_text().splitlines()]


@pytest.fixture(scope="module")
def web_server(tmp_path_factory) -> Iterator[Server]:
    """This module's own server: the recording channel installed and an instance URL set."""
    plugin = tmp_path_factory.mktemp("reset-recorder")
    (plugin / "memos_reset_recorder.py").write_text(RECORDER)
    dist = plugin / "memos_reset_recorder-0.1.dist-info"
    dist.mkdir()
    (dist / "METADATA").write_text("Metadata-Version: 2.1\nName: memos-reset-recorder\nVersion: 0.1\n")
    (dist / "entry_points.txt").write_text("[memos.plugins]\nreset-recorder = memos_reset_recorder\n")
    links = plugin / "links.jsonl"
    data = tmp_path_factory.mktemp("web-server")
    env = procs.memos_env(
        data,
        plugin,
        MEMOS_DRIVER="sqlite",
        MEMOS_DATA=str(data),
        MEMOS_INSTANCE_URL=INSTANCE_URL,
        RESET_LINKS_FILE=str(links),
    )
    with procs.serve(data, env) as served:
        server = Server(served, links)
        server.api("POST", "/api/v1/users", {"username": "admin", "password": PASSWORD})  # the first: admin
        yield server


def fits(page: Any) -> bool:
    """Nothing wider than the screen (no sideways scrolling)."""
    return page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")


@pytest.mark.browser
def test_a_forgotten_password_is_reset_from_the_sign_in_page(web_server, new_context):
    web_server.api("POST", "/api/v1/users", {"username": "alice", "password": PASSWORD, "email": "alice@example.com"})
    page = new_context(viewport=PHONE).new_page()
    page.goto("/auth")
    page.get_by_role("link", name="Forgot password?").click()
    page.wait_for_url("**/auth/forgot-password")
    assert fits(page)
    page.get_by_label("Username or email").fill("alice@example.com")
    page.get_by_role("button", name="Send the link").click()
    page.wait_for_url("**/auth/forgot-password?sent=1")
    expect(page.locator("p.notice[role=status]")).to_contain_text("If an account matches")
    assert fits(page)
    (sent,) = web_server.sent()
    assert sent["username"] == "alice" and sent["link"].startswith(INSTANCE_URL + "/auth/reset-password?token=")

    requests: list[tuple[str, Any]] = []  # (the page's address then, the request)
    page.on("request", lambda request: requests.append((page.url, request)))
    page.goto(sent["link"].removeprefix(INSTANCE_URL))
    expect(page.get_by_role("heading", name="Choose a new password")).to_be_visible()
    assert fits(page)
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD + "!")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("alert")).to_have_text("The passwords do not match.")
    page.get_by_label("New password", exact=True).fill(NEW_PASSWORD)
    page.get_by_label("Confirm new password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Change password").click()
    page.wait_for_url("**/auth?notice=password-changed")
    expect(page.get_by_text("Password changed: sign in with your new password.")).to_be_visible()
    # Everything the reset page loaded or sent (its styles and scripts, both form posts) went
    # without a Referer; the sign-in page after it is an ordinary page again.
    from_reset = [(r.method, r.header_value("referer")) for where, r in requests if "/auth/reset-password" in where]
    assert [m for m, _ in from_reset].count("POST") == 2 and not any(ref for _, ref in from_reset), from_reset
    assert any(r.header_value("referer") for where, r in requests if "notice=password-changed" in where)

    page.get_by_label("Username").fill("alice")
    page.get_by_label("Password").fill(NEW_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url("**/home")
