"""Light, dark, or as the system says: the page's theme and how it is stored.

A signed-in user's choice lives in their GENERAL user setting, in the values upstream's web app
writes there (``system``, ``default``, ``default-dark``; also ``paper``, a light theme), so both
front ends read each other's choice. A visitor without an account keeps it in a cookie. Either
way the server writes it on ``<html data-theme>`` before the first paint.
"""

from __future__ import annotations

THEMES = ("system", "light", "dark")
THEME_COOKIE = "memos_theme"
#: What the GENERAL setting stores for each choice (upstream's theme names).
STORED = {"system": "system", "light": "default", "dark": "default-dark"}
#: Stored values -> the page's theme; anything else (unset, unknown) follows the system.
_FROM_STORED = {"system": "system", "default": "light", "default-dark": "dark", "paper": "light"}
#: The browser chrome's colour (``<meta name="theme-color">``): each theme's page background.
COLORS = {"light": "#f4f4f5", "dark": "#111113"}


def from_setting(value: str | None) -> str:
    """The page theme for a stored GENERAL ``theme`` value."""
    return _FROM_STORED.get((value or "").strip().lower(), "system")


def from_cookie(value: str | None) -> str:
    """The page theme for the visitor's ``memos_theme`` cookie."""
    return value if value in THEMES else "system"
