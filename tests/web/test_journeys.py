"""Journeys through the web UI in headless Chromium, as a person makes them.

Elements are found by role and accessible name (or label), never by CSS class, so a control a
screen reader cannot name fails here too. The REST API sets scenes quickly and checks that what
the page showed is what was stored.
"""

from __future__ import annotations

import random
import re
import urllib.request

import pytest
from playwright.sync_api import expect

pytestmark = pytest.mark.browser

PHONE = {"width": 390, "height": 800}


def cards(page):
    return page.get_by_role("region", name="Memos").get_by_role("article")


def card(page, text: str):
    return cards(page).filter(has_text=text)


def write(page, text: str) -> None:
    """Type a memo into the home editor and save it with the Save button."""
    page.get_by_label("Write a memo").fill(text)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(card(page, text.splitlines()[0])).to_be_visible()


def menu(page, memo_text: str):
    """Open the actions menu of the card showing ``memo_text``; return the card."""
    c = card(page, memo_text)
    c.get_by_label("Memo actions").click()
    return c


def mine(web_server, account) -> list[str]:
    """The contents of the account's own memos, newest first, as the REST API has them."""
    memos = web_server.api("GET", "/api/v1/memos?pageSize=100", account=account)["memos"]
    return [m["content"] for m in memos if m["creator"] == f"users/{account.username}"]


def uid_of(memo: dict) -> str:
    return memo["name"].removeprefix("memos/")


# -- signing up, in and out -----------------------------------------------------------------------
def test_the_first_account_signed_up_in_the_browser_becomes_the_admin(fresh_server, new_context, ui):
    page = new_context(fresh_server).new_page()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/auth/signup$"))
    expect(page.get_by_text("the first account you create becomes its administrator")).to_be_visible()
    page.goto("/explore")  # every page leads to sign-up while there is no admin
    expect(page).to_have_url(re.compile(r"/auth/signup$"))

    ui.sign_up(page, "founder")
    expect(page.get_by_role("navigation", name="Main")).to_contain_text("founder")
    session = fresh_server.api(
        "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": "founder", "password": ui.password}}
    )
    assert session["user"]["role"] == "ADMIN"

    # The next visitor signs up as an ordinary user, and is not told they become the admin.
    other = new_context(fresh_server).new_page()
    other.goto("/auth/signup")
    expect(other.get_by_text("becomes its administrator")).to_have_count(0)
    ui.sign_up(other, "second")
    session = fresh_server.api(
        "POST", "/api/v1/auth/signin", {"passwordCredentials": {"username": "second", "password": ui.password}}
    )
    assert session["user"]["role"] == "USER"


def test_sign_in_returns_to_the_page_that_asked_and_sign_out_ends_the_session(page, account, web_server, new_context):
    memo = web_server.create_memo(account, "Only for my eyes")
    page.goto(f"/memos/{uid_of(memo)}")
    expect(page).to_have_url(re.compile(r"/auth\?redirect="))

    page.get_by_label("Username").fill(account.username)
    page.get_by_label("Password").fill("not my password")
    page.get_by_role("button", name="Sign in").click()
    expect(page.get_by_role("alert")).to_have_text("Incorrect username or password.")

    page.get_by_label("Password").fill(account.password)
    page.get_by_role("button", name="Sign in").click()
    expect(page).to_have_url(re.compile(rf"/memos/{uid_of(memo)}$"))
    expect(page.get_by_role("main")).to_contain_text("Only for my eyes")

    cookies = page.context.cookies()
    assert any(c["name"] == "memos_refresh" and c["httpOnly"] and c["sameSite"] == "Lax" for c in cookies)
    assert page.evaluate("document.cookie").find("memos_refresh") == -1  # never readable by script

    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/auth$"))
    page.goto("/home")
    expect(page).to_have_url(re.compile(r"/auth\?redirect=/home$"))

    # The cookie the browser held before signing out was revoked, not only forgotten.
    stale = new_context()
    stale.add_cookies(cookies)
    replay = stale.new_page()
    replay.goto("/home")
    expect(replay).to_have_url(re.compile(r"/auth\?redirect=/home$"))


# -- writing and finding --------------------------------------------------------------------------
def test_write_memos_with_tags_then_find_them_by_tag_and_by_text(signed_in, web_server, account):
    page = signed_in
    write(page, "Groceries #shopping\n\n- oat milk")
    write(page, "Standup notes #work/meetings")
    expect(cards(page)).to_have_count(2)
    assert mine(web_server, account) == ["Standup notes #work/meetings", "Groceries #shopping\n\n- oat milk"]

    # A tag in the sidebar filters the list, with a chip that removes the filter again. (The sidebar
    # is drawn with the page: the tags of memos saved in place appear after a reload.)
    page.reload()
    sidebar = page.get_by_role("complementary", name="Search and filters")
    sidebar.get_by_role("link", name="#shopping").click()
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Groceries")
    page.get_by_role("link", name="Remove filter #shopping").click()
    expect(cards(page)).to_have_count(2)

    # A tag inside a card filters the same way, and the private memo it came from stays in view.
    card(page, "Standup").get_by_role("link", name="#work/meetings").click()
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Standup notes")

    # Words in the search box: the full-text search, the matched word highlighted in an excerpt.
    page.goto("/home")
    search = page.get_by_role("searchbox", name="Search memos")
    search.fill("MILK oat")
    search.press("Enter")
    expect(page).to_have_url(re.compile(r"text=MILK\+oat"))
    expect(cards(page)).to_have_count(1)
    expect(cards(page).first).to_contain_text("Groceries")
    expect(cards(page).first.locator("mark")).to_have_text(["oat", "milk"])


def test_pin_archive_restore_and_delete_from_the_card_menu(signed_in, web_server, account):
    page = signed_in
    first = web_server.create_memo(account, "The first memo")
    web_server.create_memo(account, "The second memo")
    page.reload()
    expect(cards(page).first).to_contain_text("The second memo")  # newest first

    menu(page, "The first memo").get_by_role("menuitem", name="Pin").click()
    expect(card(page, "The first memo")).to_contain_text("Pinned")
    assert web_server.memo(account, first["name"])["pinned"] is True
    page.reload()
    expect(cards(page).first).to_contain_text("The first memo")  # pinned first

    menu(page, "The first memo").get_by_role("menuitem", name="Archive").click()
    expect(card(page, "The first memo")).to_have_count(0)
    assert web_server.memo(account, first["name"])["state"] == "ARCHIVED"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Archived").click()
    menu(page, "The first memo").get_by_role("menuitem", name="Restore").click()
    expect(card(page, "The first memo")).to_have_count(0)
    assert web_server.memo(account, first["name"])["state"] == "NORMAL"

    page.get_by_role("navigation", name="Main").get_by_role("link", name="Home").click()
    actions = menu(page, "The first memo")
    actions.get_by_role("menuitem", name="Delete…").click()
    actions.get_by_role("button", name="Delete", exact=True).click()
    expect(card(page, "The first memo")).to_have_count(0)
    assert web_server.status(f"/api/v1/{first['name']}", account) == 404
    page.reload()
    expect(cards(page)).to_have_count(1)


def test_comment_and_react(signed_in, web_server, account):
    page = signed_in
    memo = web_server.create_memo(account, "What do you think?", "PUBLIC")
    page.goto(f"/memos/{uid_of(memo)}")
    comments = page.get_by_role("region", name=re.compile(r"^Comments"))
    comments.get_by_label("Write a comment").fill("Sounds good to me")
    comments.get_by_role("button", name="Comment").click()
    expect(page.get_by_role("region", name=re.compile(r"^Comments")).get_by_role("article")).to_contain_text(
        "Sounds good to me"
    )
    listed = web_server.api("GET", f"/api/v1/{memo['name']}/comments", account=account)["memos"]
    assert [c["content"] for c in listed] == ["Sounds good to me"]

    page.goto("/home")
    target = card(page, "What do you think?")
    expect(target.get_by_role("link", name="1 comment")).to_be_visible()
    target.get_by_label("Add reaction").click()
    target.get_by_role("button", name="React 🎉").click()
    pill = card(page, "What do you think?").get_by_role("button", name=re.compile(r"^🎉 1"))
    expect(pill).to_have_attribute("aria-pressed", "true")
    reactions = web_server.memo(account, memo["name"])["reactions"]
    assert [(r["reactionType"], r["creator"]) for r in reactions] == [("🎉", f"users/{account.username}")]

    pill.click()  # again: the reaction is taken back
    expect(card(page, "What do you think?").get_by_role("button", name=re.compile(r"^🎉"))).to_have_count(0)
    assert web_server.memo(account, memo["name"])["reactions"] == []


def test_a_share_link_opens_the_private_memo_in_a_private_window(signed_in, web_server, account, new_context):
    page = signed_in
    memo = web_server.create_memo(account, "Secret recipe: more butter")
    page.goto(f"/memos/{uid_of(memo)}")
    shares = page.get_by_role("region", name="Share links")
    shares.get_by_role("button", name="Create share link").click()
    link = page.get_by_role("region", name="Share links").get_by_role("link", name=re.compile(r"\/memos\/shares\/"))
    expect(link).to_have_count(1)
    href = link.get_attribute("href")

    anonymous = new_context().new_page()
    anonymous.goto(f"/memos/{uid_of(memo)}")  # the memo itself stays private
    expect(anonymous).to_have_url(re.compile(r"/auth\?redirect="))
    anonymous.goto(href)
    expect(anonymous.get_by_role("main")).to_contain_text("Secret recipe: more butter")

    page.get_by_role("button", name=re.compile(r"^Revoke share link")).click()
    expect(page.get_by_role("region", name="Share links").get_by_role("link")).to_have_count(0)
    response = anonymous.goto(href)
    assert response.status == 404
    expect(anonymous.get_by_role("main")).not_to_contain_text("Secret recipe")


def test_ticking_a_task_saves_it_at_once(signed_in, web_server, account):
    page = signed_in
    memo = web_server.create_memo(account, "Today\n\n- [ ] buy bread\n- [ ] call mum")
    page.reload()
    box = card(page, "Today").get_by_role("checkbox", name=re.compile("call mum"))
    with page.expect_response(lambda r: "/tasks/" in r.url) as saved:
        box.check()
    assert saved.value.ok
    expect(card(page, "Today").get_by_role("checkbox", name=re.compile("call mum"))).to_be_checked()
    assert web_server.memo(account, memo["name"])["content"] == "Today\n\n- [ ] buy bread\n- [x] call mum"
    page.reload()
    expect(card(page, "Today").get_by_role("checkbox", name=re.compile("call mum"))).to_be_checked()
    expect(card(page, "Today").get_by_role("checkbox", name=re.compile("buy bread"))).not_to_be_checked()


# -- look and reach -------------------------------------------------------------------------------
def _background(page) -> tuple[int, int, int]:
    color = page.evaluate("getComputedStyle(document.body).backgroundColor")
    return tuple(int(x) for x in re.findall(r"\d+", color)[:3])


def _is_dark(rgb: tuple[int, int, int]) -> bool:
    return sum(rgb) / 3 < 96


def test_the_theme_follows_the_system_unless_the_user_chose_one(new_context, account, ui):
    for scheme, dark in (("light", False), ("dark", True)):
        page = new_context(color_scheme=scheme).new_page()
        ui.sign_in(page, account)
        assert _is_dark(_background(page)) is dark, (scheme, _background(page))

    # The user picks Dark while the system is light: applied at once, kept for the next sign-in.
    page = new_context(color_scheme="light").new_page()
    ui.sign_in(page, account)
    with page.expect_response(lambda r: r.request.method == "POST") as saved:
        page.get_by_label("Theme", exact=True).select_option(label="Dark")
    assert saved.value.ok
    expect(page.locator("html")).to_have_attribute("data-theme", "dark")
    assert _is_dark(_background(page))
    later = new_context(color_scheme="light").new_page()
    ui.sign_in(later, account)
    expect(later.locator("html")).to_have_attribute("data-theme", "dark")
    assert _is_dark(_background(later))


def _overflow(page) -> tuple[int, int]:
    return page.evaluate("[document.documentElement.scrollWidth, window.innerWidth]")


def test_a_phone_sized_screen_has_no_sideways_scrolling_and_drawers_open(new_context, account, ui, web_server):
    memo = web_server.create_memo(
        account,
        "A long line: " + "word " * 80 + "\n\nhttps://example.com/" + "a" * 120 + "\n\n| a | b |\n|---|---|\n| 1 | 2 |",
        "PUBLIC",
    )
    page = new_context(viewport=PHONE, is_mobile=True, has_touch=True).new_page()
    ui.sign_in(page, account)
    for path in ("/home", "/explore", f"/memos/{uid_of(memo)}", "/archived", f"/u/{account.username}"):
        page.goto(path)
        width, inner = _overflow(page)
        assert width <= inner, f"{path} scrolls sideways: {width} > {inner}"
    page.goto("/home")
    expect(page.get_by_label("Write a memo")).to_be_in_viewport()
    menu_button = page.get_by_role("button", name="Menu")
    menu_button.click()
    expect(menu_button).to_have_attribute("aria-expanded", "true")
    expect(page.get_by_role("navigation", name="Main").get_by_role("link", name="Explore")).to_be_in_viewport()

    signed_out = new_context(viewport=PHONE, is_mobile=True).new_page()
    signed_out.goto("/auth")
    width, inner = _overflow(signed_out)
    assert width <= inner


def test_keyboard_only_write_and_save(signed_in, web_server, account):
    page = signed_in
    page.goto("/home")
    editor = page.get_by_label("Write a memo")
    for _ in range(30):
        page.keyboard.press("Tab")
        if editor.evaluate("el => el === document.activeElement"):
            break
    else:
        pytest.fail("Tab never reached the editor")
    page.keyboard.type("Typed without a mouse #keyboard")
    # Onwards to Save, then Enter.
    for _ in range(15):
        page.keyboard.press("Tab")
        focused = page.evaluate("document.activeElement.textContent.trim()")
        if focused == "Save":
            break
    else:
        pytest.fail("Tab never reached Save")
    outline = page.evaluate("getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none", "the focused Save button shows no focus ring"
    page.keyboard.press("Enter")
    expect(card(page, "Typed without a mouse")).to_be_visible()
    assert mine(web_server, account) == ["Typed without a mouse #keyboard"]


def test_reading_writing_and_commenting_work_with_javascript_off(new_context, account, ui, web_server):
    page = new_context(java_script_enabled=False).new_page()
    ui.sign_in(page, account)
    write(page, "Written with scripts off")
    expect(page).to_have_url(re.compile(r"/home$"))
    card(page, "Written with scripts off").get_by_role("link", name="0 comments").click()
    page.get_by_label("Write a comment").fill("A comment, also without scripts")
    page.get_by_role("button", name="Comment").click()
    expect(page).to_have_url(re.compile(r"/memos/\w+#comments$"))
    expect(page.get_by_role("region", name=re.compile(r"^Comments"))).to_contain_text("A comment, also without scripts")


# -- safety ---------------------------------------------------------------------------------------
XSS = [
    "<script>window.__xss = 1; alert('memo')</script>",
    "<img src=x onerror=\"window.__xss = 1; alert('img')\">",
    "[click](javascript:alert('link'))",
    "<svg onload=\"alert('svg')\"></svg>",
    '"><script>alert("attr")</script>',
]


def test_xss_payloads_in_memos_names_and_search_never_run(new_context, web_server, ui):
    evil = web_server.create_account(displayName="<script>alert('name')</script>Mallory")
    memos = [web_server.create_memo(evil, payload + " #xss", "PUBLIC") for payload in XSS]
    web_server.create_memo(evil, "#<script>alert('tag')</script> tag payload", "PUBLIC")
    viewer = web_server.create_account()
    page = new_context().new_page()
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    ui.sign_in(page, viewer)
    paths = [
        "/explore",
        f"/u/{evil.username}",
        "/explore?text=" + urllib.request.quote("<script>alert('q')</script>"),
        "/explore?tag=" + urllib.request.quote("<img src=x onerror=alert('chip')>"),
        *(f"/memos/{uid_of(m)}" for m in memos),
    ]
    for path in paths:
        page.goto(path)
        page.wait_for_load_state("load")
        assert page.evaluate("window.__xss") is None, path
    page.goto("/explore")
    expect(page.get_by_role("main")).to_contain_text("<script>alert('name')</script>Mallory")
    for link in page.get_by_role("main").get_by_role("link", name="click").all():
        assert not (link.get_attribute("href") or "").lower().startswith("javascript:")
    assert dialogs == []


# -- weight ---------------------------------------------------------------------------------------
def test_home_with_16_memos_weighs_under_100_kb_gzipped(new_context, account, ui, web_server, artifacts):
    words = ["plan", "garden", "meeting", "budget", "travel", "recipe", "idea", "draft", "review", "notes", "walk"]
    for i in range(16):
        prose = " ".join(random.Random(i).choices(words, k=40))  # varied text, as real memos are
        web_server.create_memo(
            account,
            f"Memo {i}: {prose} #project/alpha #notes{i}\n\n"
            f"Some **bold** text, a [link](https://example.com/page/{i}) and `code {i}`.\n\n"
            f"- [ ] task {i}\n- [x] done {i}\n\n"
            f"```python\nprint('hello {i}')\n```",
            "PROTECTED" if i % 2 else "PRIVATE",
        )
    signing_in = new_context().new_page()
    ui.sign_in(signing_in, account)
    # A cold cache: a new context holding only the session cookie.
    cold = new_context()
    cold.add_cookies(signing_in.context.cookies())
    page = cold.new_page()
    finished, started = [], []
    page.on("request", lambda request: started.append(request))
    page.on("requestfinished", lambda request: finished.append(request))
    page.on("requestfailed", lambda request: finished.append(request))
    page.goto("/home")
    page.wait_for_load_state("load")
    expect(cards(page)).to_have_count(16)
    # Not "networkidle": the live-update connection stays open by design. Wait instead until every
    # request but that one has finished (link previews are fetched after load).
    for _ in range(100):
        pending = {r.url for r in started} - {r.url for r in finished}
        if all("/web/live" in url for url in pending):
            break
        page.wait_for_timeout(100)
    finished = [r for r in finished if r.failure is None]

    weights: dict[str, int] = {}
    for request in finished:
        if request.resource_type in ("image", "media", "font", "eventsource"):
            continue
        # The body as it came over the wire (compressed when the server compressed it).
        weights[f"{request.resource_type} {request.url.removeprefix(web_server.base)}"] = request.sizes()[
            "responseBodySize"
        ]
    total = sum(weights.values())
    lines = ["page weight of /home with 16 memos, compressed, without images:"]
    lines += [f"  {size / 1024:7.1f} KB  {what}" for what, size in sorted(weights.items(), key=lambda kv: -kv[1])]
    lines.append(f"  {total / 1024:7.1f} KB  total")
    print("\n" + "\n".join(lines))  # shown with -s or -rP; kept in test-artifacts/web/page-weight.txt
    (artifacts / "page-weight.txt").write_text("\n".join(lines) + "\n")
    kinds = {k.split()[0] for k in weights}
    assert {"document", "stylesheet", "script"} <= kinds, weights
    assert total < 100 * 1024, weights
