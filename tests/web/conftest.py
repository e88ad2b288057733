"""Fixtures for the web UI's browser tests: a real ``memos serve`` and headless Chromium.

Browser tests (marked ``browser``) are plain ``def`` tests. Playwright's sync API runs an event
loop of its own, and while it is started asyncio believes a loop is running in this thread, so no
async fixture or test may overlap it: the Playwright fixtures are module-scoped (pytest ends them
before a test of another module runs) and browser tests never use ``memos_client``. They run on
SQLite only, against their own server process; the pages' server code is tested on every driver
by the HTTP-level tests (``test_pages_http.py``).

Chromium is Debian's package (``scripts/browser.sh install``), found at ``MEMOS_TEST_CHROMIUM`` or
``/usr/bin/chromium``; collecting a browser test without it is a usage error, never a skip.
A browser test that fails leaves a PNG of every page it had open under ``test-artifacts/web/``
and the tail of its server's log in the report.

Under pytest-xdist, ``scripts/test.sh`` distributes whole files (``--dist loadfile``), so a browser
module's server and Chromium start once per module. (``xdist_group`` marks do nothing with
pytest 9 and xdist 3.8: xdist renames the item's ``_nodeid``, which pytest 9 no longer reads.)
"""

from __future__ import annotations

import dataclasses
import inspect
import os
import re
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fixtures import processes as procs

CHROMIUM_DEFAULT = "/usr/bin/chromium"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 800}
PASSWORD = "a-Good-passw0rd"
#: The browser contexts a test opened (for the failure screenshots) and the errors its pages raised.
CONTEXTS = pytest.StashKey[list[Any]]()
PAGE_ERRORS = pytest.StashKey[list[str]]()
FAILED = pytest.StashKey[bool]()


def chromium_path() -> str | None:
    path = os.environ.get("MEMOS_TEST_CHROMIUM") or CHROMIUM_DEFAULT
    return path if os.access(path, os.X_OK) else None


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "browser: drives headless Chromium against a `memos serve` on SQLite")


@pytest.hookimpl(trylast=True)  # after -k/-m deselection: only tests that will run count
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if hasattr(config, "workerinput"):
        return  # an xdist worker cannot stop the run: each browser test errors in the `browser` fixture
    browser_modules = {item.path for item in items if item.get_closest_marker("browser")}
    mixed = sorted(
        {
            str(item.path)
            for item in items
            if item.path in browser_modules and inspect.iscoroutinefunction(getattr(item, "obj", None))
        }
    )
    if mixed:  # while Playwright runs, asyncio thinks a loop is running: async tests there would fail oddly
        raise pytest.UsageError(f"browser tests and async tests share a module (split them): {', '.join(mixed)}")
    if browser_modules and chromium_path() is None:
        where = os.environ.get("MEMOS_TEST_CHROMIUM") or CHROMIUM_DEFAULT
        raise pytest.UsageError(
            f"browser tests were collected but there is no Chromium at {where}: "
            "run scripts/browser.sh install (or set MEMOS_TEST_CHROMIUM)"
        )


# -- failure artifacts -----------------------------------------------------------------------------
def artifacts_dir(config: pytest.Config) -> Path:
    return config.rootpath / "test-artifacts" / "web"


def _artifact_name(item: pytest.Item) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", item.name).strip("_")[:150]


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Screenshots of an earlier run of this test would mislead: they go before it runs again."""
    folder = artifacts_dir(item.config)
    if item.get_closest_marker("browser") and folder.is_dir():
        name = _artifact_name(item)
        for old in [*folder.glob(f"{name}.png"), *folder.glob(f"{name}-[0-9]*.png")]:
            old.unlink(missing_ok=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo) -> Any:
    report = yield
    if report.when in ("setup", "call") and report.failed:
        item.stash[FAILED] = True
        shots = _screenshot_pages(item)
        if shots:
            report.sections.append(("screenshots", "\n".join(str(p) for p in shots)))
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, WebServer):
                report.sections.append((f"memos serve log ({value.base})", value.log_tail()))
    return report


def _screenshot_pages(item: pytest.Item) -> list[Path]:
    """A full-page PNG of every page the test still has open, named after the test."""
    pages = [page for context in item.stash.get(CONTEXTS, []) for page in context.pages]
    if not pages:
        return []
    folder = artifacts_dir(item.config)
    folder.mkdir(parents=True, exist_ok=True)
    saved = []
    for i, page in enumerate(pages):
        path = folder / f"{_artifact_name(item)}{'' if i == 0 else f'-{i + 1}'}.png"
        try:
            page.screenshot(path=str(path), full_page=True, timeout=5000)
        except Exception as e:  # a crashed or closed page: say so, keep the other screenshots
            print(f"screenshot of {page.url} failed: {e}", file=sys.stderr)
            continue
        saved.append(path)
    return saved


# -- the server ------------------------------------------------------------------------------------
@dataclasses.dataclass
class Account:
    username: str
    password: str
    token: str

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}


@dataclasses.dataclass
class WebServer:
    """A running ``memos serve`` on SQLite, with REST helpers to set the scene quickly."""

    served: Any
    data: Path
    admin: Account | None = None

    @property
    def base(self) -> str:
        return self.served.base

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.served.output().splitlines()[-lines:])

    def api(self, method: str, path: str, body: Any = None, account: Account | None = None) -> Any:
        r = self.served.request(method, path, body, account.headers if account else None)
        assert 200 <= r.status < 300, f"{method} {path} -> {r.status}: {r.body[:500]!r}"
        return r.json() if r.body else None

    def create_account(self, username: str | None = None, password: str = PASSWORD, **fields: Any) -> Account:
        """Sign a user up over REST and sign them in (the instance's first user becomes its admin)."""
        username = username or "u" + uuid.uuid4().hex[:10]
        self.api("POST", "/api/v1/users", {"username": username, "password": password, **fields})
        session = self.api(
            "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": username, "password": password}}
        )
        return Account(username, password, session["accessToken"])

    def create_memo(self, account: Account, content: str, visibility: str = "PRIVATE", **fields: Any) -> dict:
        return self.api("POST", "/api/v1/memos", {"content": content, "visibility": visibility, **fields}, account)

    def memo(self, account: Account, name: str) -> dict:
        return self.api("GET", f"/api/v1/{name}", account=account)

    def status(self, path: str, account: Account | None = None) -> int:
        return self.served.request("GET", path, headers=account.headers if account else None).status


def _serve(tmp_path_factory: pytest.TempPathFactory, **extra_env: str) -> Iterator[WebServer]:
    data = tmp_path_factory.mktemp("web-server")
    # Memos here link to sites such as example.com; with no network (CI) the link previews' fetches
    # would hang on DNS and keep pages from going idle: give up on them after a second.
    extra_env.setdefault("MEMOS_HTTPGETTER_TIMEOUT", "1")
    env = procs.memos_env(data, MEMOS_DRIVER="sqlite", MEMOS_DATA=str(data), **extra_env)
    with procs.serve(data, env) as served:
        yield WebServer(served, data)


@pytest.fixture(scope="module")
def web_server_env() -> dict[str, str]:
    """More environment for the module's ``web_server``: a module overrides it (to leave a plugin
    out, say)."""
    return {}


@pytest.fixture(scope="module")
def web_server(tmp_path_factory, web_server_env) -> Iterator[WebServer]:
    """One server for a module's tests, its admin already there: each test makes its own users."""
    for server in _serve(tmp_path_factory, **web_server_env):
        server.admin = server.create_account("admin")
        yield server


@pytest.fixture
def fresh_server(tmp_path_factory) -> Iterator[WebServer]:
    """A brand-new instance without any account (its first sign-up becomes the admin)."""
    yield from _serve(tmp_path_factory)


@pytest.fixture
def plain_server(tmp_path_factory) -> Iterator[WebServer]:
    """A brand-new instance with the default plugins only: the example plugin that the dev install
    carries (``word-count``) is left out, as a user's install has it."""
    yield from _serve(tmp_path_factory, MEMOS_DISABLE_PLUGINS="word-count")


@pytest.fixture
def account(web_server) -> Account:
    """A new user of ``web_server`` for this test alone."""
    return web_server.create_account()


# -- the browser -----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    from playwright.sync_api import sync_playwright

    path = chromium_path()
    if path is None:  # the collection hook refuses this already (but not under xdist): never a skip
        where = os.environ.get("MEMOS_TEST_CHROMIUM") or CHROMIUM_DEFAULT
        raise pytest.UsageError(f"no Chromium at {where}: run scripts/browser.sh install (or set MEMOS_TEST_CHROMIUM)")
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=path)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture
def new_context(request, browser, web_server) -> Iterator[Callable[..., Any]]:
    """Factory: ``new_context(server=web_server, viewport=PHONE, color_scheme="dark", ...)`` opens a
    fresh browser context (its own cookies, like a private window). Uncaught page errors and CSP
    violations fail the test."""
    contexts: list[Any] = request.node.stash.setdefault(CONTEXTS, [])
    errors: list[str] = request.node.stash.setdefault(PAGE_ERRORS, [])

    def watch(page: Any) -> None:
        def console(message: Any) -> None:
            if message.type == "error" and "Content Security Policy" in message.text:
                errors.append(f"{page.url}: {message.text}")

        page.on("pageerror", lambda e: errors.append(f"{page.url}: uncaught {e}"))
        page.on("console", console)

    def make(server: WebServer | None = None, **options: Any) -> Any:
        options.setdefault("viewport", DESKTOP)
        context = browser.new_context(base_url=(server or web_server).base, **options)
        context.set_default_timeout(10_000)
        context.on("page", watch)
        contexts.append(context)
        return context

    yield make
    try:
        if not request.node.stash.get(FAILED, False):
            assert not errors, "the pages raised errors:\n" + "\n".join(errors)
    finally:
        for context in contexts:
            context.close()


@pytest.fixture
def page(new_context) -> Any:
    """A page in a fresh desktop-sized context of ``web_server``."""
    return new_context().new_page()


@pytest.fixture
def artifacts(request) -> Path:
    """The folder for files a test leaves for people to read (screenshots, measurements)."""
    folder = artifacts_dir(request.config)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


class UI:
    """What a person does to get in: through the pages' own forms, found by their labels."""

    password = PASSWORD

    @staticmethod
    def sign_up(page: Any, username: str, password: str = PASSWORD) -> None:
        page.goto("/auth/signup")
        page.get_by_label("Username").fill(username)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_label("Confirm password").fill(password)
        page.get_by_role("button", name="Sign up").click()
        page.wait_for_url("**/home")

    @staticmethod
    def sign_in(page: Any, account: Account, then: str = "/home") -> None:
        page.goto("/auth?redirect=" + then)
        page.get_by_label("Username").fill(account.username)
        page.get_by_label("Password").fill(account.password)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url("**" + then)

    @staticmethod
    def sign_out(page: Any) -> None:
        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url("**/auth")


@pytest.fixture
def ui() -> type[UI]:
    return UI


@pytest.fixture
def signed_in(page, account, ui) -> Any:
    """``page``, signed in as ``account`` through the sign-in form, on /home."""
    ui.sign_in(page, account)
    return page
