"""Themes: the rail's switcher stores the choice (the user's GENERAL setting in upstream's values, or
a cookie for visitors), the server writes it on <html data-theme> before the first paint, and the
stylesheet's colours meet WCAG AA contrast in the light and the dark theme."""

from __future__ import annotations

import json
import re
from pathlib import Path

import aiohttp
import pytest

CSRF_META = re.compile(r'<meta name="csrf-token" content="([^"]+)">')
HTML_THEME = re.compile(r'<html lang="en" data-theme="([a-z]+)">')
THEME_COLOR = re.compile(r'<meta name="theme-color" content="(#[0-9a-f]{6})"(?: media="([^"]+)")?>')
APP_CSS = Path(__file__).parents[2] / "web" / "memos_web" / "static" / "app.css"


class Browser:
    """A cookie jar of its own (anonymous, or signed in through the form)."""

    def __init__(self, client, session: aiohttp.ClientSession) -> None:
        self.client, self.session, self.token = client, session, ""

    def url(self, path: str) -> str:
        return str(self.client.make_url(path))

    async def page(self, path: str) -> tuple[str, str]:
        """``(theme on <html>, body)`` of a page; remembers its CSRF token."""
        r = await self.session.get(self.url(path))
        assert r.status == 200, (path, r.status)
        html = await r.text()
        self.token = CSRF_META.search(html).group(1)
        return HTML_THEME.search(html).group(1), html

    async def sign_in(self, user) -> None:
        await self.page("/auth")
        data = {"username": user.username, "password": user.password, "csrf_token": self.token}
        r = await self.session.post(self.url("/auth"), data=data, allow_redirects=False)
        assert r.status == 303

    async def choose(self, theme: str, **headers: str) -> aiohttp.ClientResponse:
        data = {"theme": theme, "next": "/explore?tag=x", "csrf_token": self.token}
        return await self.session.post(
            self.url("/web/preferences/theme"), data=data, headers=headers, allow_redirects=False
        )

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.session.cookie_jar if c.key == name), None)


@pytest.fixture
async def browsers(memos_client):
    sessions: list[aiohttp.ClientSession] = []

    async def make() -> Browser:
        session = aiohttp.ClientSession(cookie_jar=aiohttp.CookieJar(unsafe=True))
        sessions.append(session)
        return Browser(memos_client, session)

    yield make
    for session in sessions:
        await session.close()


async def general_setting(client, user) -> dict:
    r = await client.get(f"/api/v1/users/{user.username}/settings/GENERAL", headers=user.headers)
    assert r.status == 200
    return (await r.json())["generalSetting"]


async def test_signed_in_choice_is_stored_in_the_users_setting(memos_client, memos_users, browsers):
    await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    browser = await browsers()
    await browser.sign_in(alice)
    theme, html = await browser.page("/home")
    assert theme == "system"  # nothing stored yet: follow the system
    assert THEME_COLOR.findall(html) == [
        ("#f4f4f5", "(prefers-color-scheme: light)"),
        ("#111113", "(prefers-color-scheme: dark)"),
    ]
    assert '<select id="theme-choice" name="theme">' in html and '<label for="theme-choice">Theme</label>' in html

    for choice, stored, color in (("dark", "default-dark", "#111113"), ("light", "default", "#f4f4f5")):
        r = await browser.choose(choice)
        assert r.status == 303 and r.headers["Location"] == "/explore?tag=x"
        # Upstream's own values, so its web app (and any API client) reads the same choice.
        assert (await general_setting(memos_client, alice))["theme"] == stored
        theme, html = await browser.page("/home")
        assert theme == choice
        assert THEME_COLOR.findall(html) == [(color, "")]
        assert f'<option value="{choice}" selected>' in html

    r = await browser.choose("system", **{"X-Requested-With": "memos-web"})  # the page's script
    assert r.status == 200 and await r.json() == {"theme": "system"}
    assert (await general_setting(memos_client, alice))["theme"] == "system"
    assert (await browser.page("/home"))[0] == "system"
    # The other GENERAL fields are left alone.
    setting = await general_setting(memos_client, alice)
    assert setting["locale"] == "en" and setting["memoVisibility"] == "PRIVATE"


async def test_a_choice_made_through_the_api_is_drawn(memos_client, memos_users, browsers):
    await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    browser = await browsers()
    await browser.sign_in(alice)
    for stored, drawn in (("default-dark", "dark"), ("paper", "light"), ("default", "light"), ("", "system")):
        r = await memos_client.patch(
            f"/api/v1/users/{alice.username}/settings/GENERAL",
            params={"updateMask": "theme"},
            json={"generalSetting": {"theme": stored}},
            headers=alice.headers,
        )
        assert r.status == 200, await r.text()
        assert (await browser.page("/home"))[0] == drawn, stored
    # A signed-in user's setting wins over a cookie left by an earlier anonymous choice.
    browser.session.cookie_jar.update_cookies({"memos_theme": "dark"}, response_url=browser.client.make_url("/"))
    assert (await browser.page("/home"))[0] == "system"


async def test_visitors_keep_their_choice_in_a_cookie(memos_client, memos_users, browsers):
    await memos_users("admin", role="ADMIN")
    visitor = await browsers()
    assert (await visitor.page("/explore"))[0] == "system"
    r = await visitor.choose("dark")
    assert r.status == 303
    cookie = next(h for h in r.headers.getall("Set-Cookie") if h.startswith("memos_theme="))
    assert cookie.startswith("memos_theme=dark;") and "SameSite=Lax" in cookie and "Max-Age" in cookie
    theme, html = await visitor.page("/explore")
    assert theme == "dark" and THEME_COLOR.findall(html) == [("#111113", "")]
    assert (await visitor.page("/auth"))[0] == "dark"  # the sign-in page too
    # Anything else in the cookie is ignored.
    visitor.session.cookie_jar.update_cookies({"memos_theme": "neon"}, response_url=visitor.client.make_url("/"))
    assert (await visitor.page("/explore"))[0] == "system"


async def test_bad_choices_change_nothing(memos_client, memos_users, browsers):
    await memos_users("admin", role="ADMIN")
    alice = await memos_users("alice")
    browser = await browsers()
    await browser.sign_in(alice)
    await browser.page("/home")
    r = await browser.choose("neon", **{"X-Requested-With": "memos-web"})
    assert r.status == 400 and "theme must be one of system, light, dark" in (await r.json())["message"]
    assert (await general_setting(memos_client, alice))["theme"] == ""
    assert browser.cookie("memos_theme") is None
    # Without the form's token the post is refused.
    data = {"theme": "dark", "csrf_token": "forged"}
    r = await browser.session.post(browser.url("/web/preferences/theme"), data=data, allow_redirects=False)
    assert r.status == 403
    assert (await general_setting(memos_client, alice))["theme"] == ""
    assert (await browser.page("/home"))[0] == "system"


# -- colour contrast ---------------------------------------------------------------------------------
def _rules(css: str) -> dict[str, dict[str, str]]:
    """Top-level rules (``@media`` blocks left out) as selector -> declarations."""
    css = re.sub(r"/\*.*?\*/", "", css, flags=re.S)
    out = {}
    depth, start, top = 0, 0, []
    for i, ch in enumerate(css):  # drop nested blocks (media queries) but keep top-level rules
        if ch == "{":
            if depth == 0:
                head = css[start:i].strip()
                body_start = i + 1
            depth += 1
        elif ch == "}":
            depth -= 1
            if depth == 0:
                if not head.startswith("@"):
                    top.append((head, css[body_start:i]))
                start = i + 1
    for head, body in top:
        decls = {}
        for part in body.split(";"):
            if ":" in part:
                name, value = part.split(":", 1)
                decls[name.strip()] = value.strip()
        out[" ".join(head.split())] = decls
    return out


def _dark_in_media(css: str) -> dict[str, str]:
    block = re.search(r'@media \(prefers-color-scheme: dark\) \{\s*:root\[data-theme="system"\] \{(.*?)\}', css, re.S)
    assert block, "the system theme must follow a dark OS setting"
    return _declarations(block.group(1))


def _declarations(body: str) -> dict[str, str]:
    return {k.strip(): v.strip() for k, v in (p.split(":", 1) for p in body.split(";") if ":" in p)}


def _luminance(color: str) -> float:
    h = color.lstrip("#")
    if len(h) == 3:
        h = "".join(c * 2 for c in h)
    assert re.fullmatch(r"[0-9a-fA-F]{6}", h), f"not a hex colour: {color}"

    def channel(c: float) -> float:
        return c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (channel(int(h[i : i + 2], 16) / 255) for i in (0, 2, 4))
    return 0.2126 * r + 0.7152 * g + 0.0722 * b


def contrast(a: str, b: str) -> float:
    hi, lo = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (hi + 0.05) / (lo + 0.05)


def test_contrast_ratio_formula():
    assert round(contrast("#000000", "#ffffff"), 1) == 21.0
    assert round(contrast("#777777", "#ffffff"), 2) == 4.48  # the classic just-failing grey
    assert contrast("#fff", "#fff") == 1.0


#: (selector, what is checked): foreground from the rule's ``color``, background from its own
#: ``background`` or else each surface it is drawn on.
TEXT_RULES = [
    ("body", ["bg"]),
    (".muted", ["bg", "panel", "chip"]),
    ("a", ["bg", "panel", "chip"]),
    ("button, .button", None),
    (".primary", None),
    (".danger", None),
    (".badge", None),
    (".link-button", ["bg", "panel"]),
    (".error", ["bg", "panel"]),
    (".count", ["panel", "bg"]),
    (".calendar .lvl-3", None),
    (".calendar .lvl-4", None),
    (".search-snippet mark", None),
]


def _resolve(value: str, theme: dict[str, str], inherited: str) -> str:
    value = value.split()[0] if value else value
    if value in ("inherit", "currentColor", ""):
        return inherited
    m = re.fullmatch(r"var\(--([a-z0-9-]+)\)", value)
    return theme[m.group(1)] if m else value


def test_colours_meet_wcag_aa_in_both_themes():
    css = APP_CSS.read_text()
    rules = _rules(css)
    light = {k[2:]: v for k, v in rules[":root"].items() if k.startswith("--")}
    dark = {**light, **{k[2:]: v for k, v in rules[':root[data-theme="dark"]'].items() if k.startswith("--")}}
    # The system theme in a dark OS is exactly the dark theme.
    assert {k[2:]: v for k, v in _dark_in_media(css).items() if k.startswith("--")} == {
        k[2:]: v for k, v in rules[':root[data-theme="dark"]'].items() if k.startswith("--")
    }
    failures = []
    for name, theme in (("light", light), ("dark", dark)):
        text = theme["text"]
        for selector, surfaces in TEXT_RULES:
            decls = rules[selector]
            fg = _resolve(decls.get("color", ""), theme, text)
            if surfaces is None:
                backgrounds = [_resolve(decls["background"], theme, theme["panel"])]
            else:
                backgrounds = [theme[s] for s in surfaces]
            for bg in backgrounds:
                ratio = contrast(fg, bg)
                if ratio < 4.5:
                    failures.append(f"{name}: {selector} {fg} on {bg} = {ratio:.2f}")
        # Lighter calendar levels keep the body text; the focus ring is a 3:1 non-text contrast.
        for level in ("lvl1", "lvl2"):
            if contrast(text, theme[level]) < 4.5:
                failures.append(f"{name}: text on {level}")
        for surface in ("bg", "panel"):
            if contrast(theme["focus"], theme[surface]) < 3:
                failures.append(f"{name}: focus ring on {surface}")
    assert not failures, json.dumps(failures, indent=1)
