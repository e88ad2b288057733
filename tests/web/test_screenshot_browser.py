"""The README's picture of the home page, taken by the tests from a real server and browser.

Every run saves it as ``test-artifacts/web/home.png`` (so a reviewer sees what the UI looks like
now); ``MEMOS_UPDATE_SCREENSHOT=1 scripts/test.sh tests/web/test_screenshot_browser.py`` also
writes it to ``docs/screenshot-home.png``, the file the README shows.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

pytestmark = pytest.mark.browser

MEMOS = [
    ("Welcome to **memos-py**. Notes are markdown: #ideas and #travel/2027 become tags.", "PUBLIC"),
    ("Trip checklist #travel/2027\n\n- [x] passport\n- [ ] book the night train\n- [ ] pack light", "PRIVATE"),
    ("A snippet worth keeping #code\n\n```python\nprint('hello, memos')\n```", "PROTECTED"),
]


def test_home_page_screenshot(plain_server, new_context, ui, request):
    server = plain_server
    account = server.create_account("alice")
    for content, visibility in reversed(MEMOS):
        server.create_memo(account, content, visibility)
    page = new_context(server=server, viewport={"width": 1280, "height": 800}, color_scheme="light").new_page()
    ui.sign_in(page, account)
    cards = page.locator("article.memo")
    assert cards.count() == len(MEMOS)
    assert page.get_by_role("link", name="#travel/2027").first.is_visible()

    folder = Path(request.config.rootpath) / "test-artifacts" / "web"
    folder.mkdir(parents=True, exist_ok=True)
    shot = folder / "home.png"
    page.screenshot(path=str(shot))
    assert shot.stat().st_size < 400_000
    if os.environ.get("MEMOS_UPDATE_SCREENSHOT") == "1":
        from PIL import Image

        target = Path(request.config.rootpath) / "docs" / "screenshot-home.png"
        with Image.open(shot) as image:  # a palette PNG: a fraction of the size, no visible loss
            image.convert("RGB").quantize(colors=128).save(target, optimize=True)
