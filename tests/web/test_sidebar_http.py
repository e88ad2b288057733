"""The list pages' sidebar over HTTP, on every driver: shortcuts created, edited, selected and
deleted through its forms (a refused one shows its message and writes nothing), the tag tree, and
the calendar's memos per day (month and year views) against a brute-force count of ListMemos."""

from __future__ import annotations

import collections
import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlsplit
from zoneinfo import ZoneInfo

import pytest
from fixtures import web_pages

pages = web_pages.pages  # the fixture: a signed-out browser of memos_client, with an admin on the instance
parse, api, cards = web_pages.parse, web_pages.api, web_pages.cards


async def memo(client, user, content: str, visibility: str = "PRIVATE", created: str | None = None, uid: str = ""):
    body = {"content": content, "visibility": visibility}
    if created:
        body["createTime"] = created
    return await api(client, user, "POST", "/api/v1/memos" + (f"?memoId={uid}" if uid else ""), body)


# -- shortcuts -------------------------------------------------------------------------------------
async def shortcuts_of(client, user) -> list[dict]:
    return (await api(client, user, "GET", f"/api/v1/users/{user.username}/shortcuts"))["shortcuts"]


async def test_save_the_current_filter_as_a_shortcut_select_edit_and_delete_it(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    await memo(memos_client, alice, "#work plan", uid="w1")
    await memo(memos_client, alice, "#home chores", uid="h1")
    await memo(memos_client, alice, "#work/sub detail", uid="w2")

    page = parse(await pages.get("/home?tag=work"))
    new = page.one("form", action="/web/shortcuts")
    assert new.parent.one("summary").content() == "Save current filter as shortcut"
    prefilled = new.one("textarea", name="filter").text
    assert prefilled == '(tag in ["work"])'

    r = await pages.post("/web/shortcuts", {"title": "Work", "filter": prefilled, "next": "/home?tag=work"})
    assert r.status == 303, await r.text()
    (saved,) = await shortcuts_of(memos_client, alice)
    assert (saved["title"], saved["filter"]) == ("Work", prefilled)
    sid = saved["name"].rsplit("/", 1)[1]
    assert r.headers["Location"] == f"/home?shortcut={sid}"  # the new shortcut, selected

    text = await pages.get(f"/home?shortcut={sid}")
    assert sorted(cards(text)) == ["w1", "w2"]
    listed = parse(text).one("section", id="shortcuts")
    link = listed.one("a", href=f"/home?shortcut={sid}")
    assert link.attrs.get("aria-current") == "true" and link.content() == "Work"
    assert "Shortcut: Work" in text

    # Edit: a new title and filter, then back to the page it was edited on.
    r = await pages.post(
        f"/web/shortcuts/{sid}", {"title": "Chores", "filter": 'tag in ["home"]', "next": f"/home?shortcut={sid}"}
    )
    assert r.status == 303 and r.headers["Location"] == f"/home?shortcut={sid}"
    (saved,) = await shortcuts_of(memos_client, alice)
    assert (saved["title"], saved["filter"]) == ("Chores", 'tag in ["home"]')
    assert cards(await pages.get(f"/home?shortcut={sid}")) == ["h1"]

    # The page's script gets JSON with where to go.
    r = await pages.post(
        f"/web/shortcuts/{sid}", {"title": "Home", "filter": 'tag in ["home"]', "next": "/home"}, script=True
    )
    assert r.status == 200 and (await r.json())["redirect"] == "/home"

    # Delete from the page that shows it: back to the unfiltered page.
    r = await pages.post(f"/web/shortcuts/{sid}/delete", {"next": f"/home?shortcut={sid}&x=1"})
    assert r.status == 303 and r.headers["Location"] == "/home?x=1"
    assert await shortcuts_of(memos_client, alice) == []
    text = await pages.get("/home")
    assert "No shortcuts yet." in text and sorted(cards(text)) == ["h1", "w1", "w2"]


async def test_a_refused_shortcut_shows_its_message_and_writes_nothing(
    pages, memos_client, memos_users, memos_unchanged
):
    alice = await memos_users("alice")
    bob = await memos_users("bob")
    await pages.sign_in(bob)
    bobs = await api(memos_client, bob, "POST", "/api/v1/users/bob/shortcuts", {"title": "Bob's", "filter": "pinned"})
    bob_sid = bobs["name"].rsplit("/", 1)[1]
    await pages.sign_in(alice)
    mine = await api(
        memos_client, alice, "POST", "/api/v1/users/alice/shortcuts", {"title": "Mine", "filter": "pinned"}
    )
    sid = mine["name"].rsplit("/", 1)[1]
    watched = ("/api/v1/users/alice/shortcuts",)

    async with memos_unchanged(alice.headers, *watched), memos_unchanged(bob.headers, "/api/v1/users/bob/shortcuts"):
        # An invalid filter: the form again, with the message and what was typed (not an error page).
        r = await pages.post("/web/shortcuts", {"title": "Broken <b>", "filter": 'tag == "x', "next": "/home?tag=a"})
        text = await r.text()
        assert r.status == 400
        page = parse(text)
        assert not page.all("section", class_="error-page")
        form = page.one("form", action="/web/shortcuts")
        assert form.one("p", class_="error").content().startswith("invalid filter")
        assert form.one("input", name="title").attrs["value"] == "Broken <b>"  # escaped, kept
        assert form.one("textarea", name="filter").text == 'tag == "x'
        cancel = [a for a in page.all("a", class_="button") if a.content() == "Cancel"]
        assert [a.attrs["href"] for a in cancel] == ["/home?tag=a"]  # Cancel goes back

        # The same for the page's script: JSON with the message.
        r = await pages.post("/web/shortcuts", {"title": "t", "filter": "no_such_field", "next": "/home"}, script=True)
        assert r.status == 400 and "invalid filter" in (await r.json())["message"]
        r = await pages.post("/web/shortcuts", {"title": " ", "filter": "pinned", "next": "/home"})
        assert r.status == 400 and "title is required" in await r.text()

        # Editing into a bad filter keeps the old one.
        r = await pages.post(f"/web/shortcuts/{sid}", {"title": "Mine", "filter": "pinned ==", "next": "/home"})
        assert r.status == 400
        assert parse(await r.text()).one("form", action=f"/web/shortcuts/{sid}")

        # Bob's shortcut is not alice's to edit or delete.
        r = await pages.post(f"/web/shortcuts/{bob_sid}", {"title": "x", "filter": "pinned", "next": "/home"})
        assert r.status == 404
        r = await pages.post(f"/web/shortcuts/{bob_sid}/delete", {"next": "/home"})
        assert r.status == 404

        # No CSRF token, or another site: refused.
        r = await pages.post("/web/shortcuts", {"title": "t", "filter": "pinned"}, token="forged")
        assert r.status == 403
        r = await memos_client.post(
            "/web/shortcuts",
            data={"title": "t", "filter": "pinned", "csrf_token": await pages.csrf()},
            headers={"Origin": "https://evil.example"},
            allow_redirects=False,
        )
        assert r.status == 403

    # Signed out: the forms lead to sign-in and write nothing.
    memos_client.session.cookie_jar.clear()
    token = await pages.csrf("/explore")
    r = await pages.post("/web/shortcuts", {"title": "t", "filter": "pinned"}, token=token)
    assert r.status == 302 and r.headers["Location"].startswith("/auth?redirect=")
    assert len(await shortcuts_of(memos_client, alice)) == 1


# -- tags --------------------------------------------------------------------------------------------
async def test_the_tag_list_is_flat_or_a_tree_and_remembers_the_choice(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await pages.sign_in(alice)
    for content in ("#work/projects/alpha a", "#work/projects/alpha b", "#work c", "#work/admin d", "#zeta e"):
        await memo(memos_client, alice, content)

    flat = parse(await pages.get("/home"))
    tags = flat.one("section", **{"aria-labelledby": "tags-title"})
    assert [a.content() for a in tags.all("a")] == [
        "#work/projects/alpha",
        "#work",
        "#work/admin",
        "#zeta",
    ]
    assert tags.one("button", value="flat").attrs["aria-pressed"] == "true"

    r = await pages.post("/web/sidebar/tags", {"mode": "tree", "next": "/home?pinned=1"})
    assert r.status == 303 and r.headers["Location"] == "/home?pinned=1"
    tree = parse(await pages.get("/home")).one("section", **{"aria-labelledby": "tags-title"})
    assert tree.one("button", value="tree").attrs["aria-pressed"] == "true"
    top = tree.one("div", class_="tag-tree").children[0]
    assert top.tag == "ul"
    roots = [li for li in top.children if li.tag == "li"]
    assert [li.all("a")[0].content() for li in roots] == ["#work", "#zeta"]
    work = roots[0].children[0]
    assert work.tag == "details" and "open" in work.attrs  # expandable, open to start with
    summary = work.children[0]
    assert summary.tag == "summary" and summary.content() == "#work 1"
    assert summary.one("a").attrs["href"] == "/home?tag=work"
    nested = [li for li in work.children[1].children if li.tag == "li"]
    assert [li.all("a")[0].content() for li in nested] == ["#admin", "#projects"]
    projects = nested[1].one("details")
    assert projects.children[0].content() == "#projects"  # no memo has exactly this tag
    alpha = projects.all("li")[0]
    assert alpha.content() == "#alpha 2"
    assert alpha.one("a").attrs["href"] == "/home?tag=work%2Fprojects%2Falpha"
    assert roots[1].content() == "#zeta 1" and not roots[1].all("details")

    # A tag link keeps the other filters and lists the tag with its children.
    assert sorted(cards(await pages.get("/home?tag=work%2Fprojects"))) == sorted(
        cards(await pages.get("/home?tag=work%2Fprojects%2Falpha"))
    )
    r = await pages.post("/web/sidebar/tags", {"mode": "flat", "next": "/home"})
    assert r.status == 303
    assert not parse(await pages.get("/home")).all("div", class_="tag-tree")
    r = await pages.post("/web/sidebar/tags", {"mode": "sideways", "next": "//evil.example/"})
    assert r.status == 303 and r.headers["Location"] == "/home"  # an unknown mode changes nothing
    assert not parse(await pages.get("/home")).all("div", class_="tag-tree")


# -- calendar ----------------------------------------------------------------------------------------
#: (author, content, visibility, createTime): around New York's DST changes and year ends, and at
#: midnights of other zones; comments and an archived memo are added by the test (never counted).
CALENDAR_MEMOS = [
    ("alice", "new year's eve, local", "PRIVATE", "2024-01-01T04:30:00Z"),  # NY: 2023-12-31 23:30
    ("alice", "first of the year", "PUBLIC", "2024-01-01T05:00:00Z"),  # NY: 2024-01-01 00:00
    ("alice", "before the spring change", "PROTECTED", "2024-03-10T06:59:59Z"),  # NY: 01:59:59 EST
    ("alice", "after the spring change", "PRIVATE", "2024-03-10T07:00:00Z"),  # NY: 03:00 EDT
    ("alice", "summer midnight", "PRIVATE", "2024-07-01T04:30:00Z"),  # NY: 07-01 00:30 EDT (06-30 at EST)
    ("alice", "summer late", "PUBLIC", "2024-07-01T03:59:00Z"),  # NY: 06-30 23:59 EDT
    ("alice", "autumn fold, first", "PUBLIC", "2024-11-03T05:30:00Z"),  # NY: 01:30 EDT
    ("alice", "autumn fold, second", "PRIVATE", "2024-11-03T06:30:00Z"),  # NY: 01:30 EST
    ("alice", "last minute", "PROTECTED", "2025-01-01T04:59:00Z"),  # NY: 2024-12-31 23:59
    ("alice", "next year", "PUBLIC", "2025-01-01T05:00:00Z"),  # NY: 2025-01-01
    ("bob", "bob public", "PUBLIC", "2024-07-01T04:30:00Z"),
    ("bob", "bob protected", "PROTECTED", "2024-03-10T12:00:00Z"),
    ("bob", "bob private", "PRIVATE", "2024-03-10T12:00:00Z"),  # never alice's to count
    ("bob", "bob kathmandu midnight", "PUBLIC", "2024-06-14T18:15:00Z"),  # Kathmandu: 06-15 00:00
    ("bob", "bob kathmandu before", "PUBLIC", "2024-06-14T18:14:59Z"),  # Kathmandu: 06-14 23:59:59
]
ZONES = ("America/New_York", "Asia/Kathmandu", "UTC")


@pytest.fixture
async def calendar_world(pages, memos_client, memos_users):
    users = {"alice": await memos_users("alice"), "bob": await memos_users("bob")}
    for author, content, visibility, created in CALENDAR_MEMOS:
        await memo(memos_client, users[author], content, visibility, created)
    archived = await memo(memos_client, users["alice"], "archived", "PUBLIC", "2024-07-01T12:00:00Z")
    await api(
        memos_client,
        users["alice"],
        "PATCH",
        f"/api/v1/{archived['name']}?updateMask=state",
        {"state": "ARCHIVED"},
    )
    parent = await memo(memos_client, users["bob"], "parent", "PUBLIC", "2024-07-02T12:00:00Z")
    await api(memos_client, users["alice"], "POST", f"/api/v1/{parent['name']}/comments", {"content": "a comment"})
    return users


async def brute_force(
    client, viewer, zone: str, creator: str | None, year: int, *, shared_only: bool = False
) -> dict[str, int]:
    """Memos per local day of ``year``, from what ListMemos shows ``viewer`` (``shared_only``: not
    PRIVATE ones, as Explore lists)."""
    r = await client.get("/api/v1/memos", params={"pageSize": "1000"}, headers=viewer.headers)
    assert r.status == 200
    counts: collections.Counter[str] = collections.Counter()
    for m in (await r.json())["memos"]:
        if creator and m["creator"] != f"users/{creator}":
            continue
        if shared_only and m["visibility"] == "PRIVATE":
            continue
        t = dt.datetime.fromisoformat(m["createTime"].replace("Z", "+00:00")).astimezone(ZoneInfo(zone))
        if t.year == year:
            counts[t.date().isoformat()] += 1
    return dict(counts)


def year_counts(text: str) -> dict[str, int]:
    """The year view's days: ``{"2024-03-10": 2}`` from each day link's accessible name."""
    out = {}
    block = parse(text).one("section", class_="calendar-block")
    for a in block.all("a"):
        m = re.fullmatch(r"(\d{4}-\d\d-\d\d): (\d+) memos?", a.attrs.get("aria-label", ""))
        if m:
            out[m.group(1)] = int(m.group(2))
    return out


@pytest.mark.parametrize("zone", ZONES)
async def test_memos_per_day_match_a_brute_force_count(calendar_world, pages, memos_client, zone):
    alice = calendar_world["alice"]
    await pages.sign_in(alice)
    pages.set_zone(zone)
    for path, creator in (("/home", "alice"), ("/explore", None), ("/u/bob", "bob")):
        for year in (2023, 2024, 2025):
            expected = await brute_force(memos_client, alice, zone, creator, year, shared_only=path == "/explore")
            got = year_counts(await pages.get(f"{path}?calendar=year&year={year}"))
            assert got == expected, (path, year)
    # The month view: the same counts on the days of its grid.
    expected = await brute_force(memos_client, alice, zone, None, 2024, shared_only=True)
    month = parse(await pages.get("/explore?month=2024-07"))
    shown = {}
    for a in month.one("table", class_="calendar").all("a"):
        day, n = re.fullmatch(r"(\S+): (\d+) memos?", a.attrs["aria-label"]).groups()
        shown[day] = int(n)
    assert shown == {d: n for d, n in expected.items() if "2024-06-30" <= d <= "2024-08-03"}
    assert shown  # the fixture has memos around 1 July


async def test_the_year_view_links_each_day_to_its_memos(calendar_world, pages, memos_client):
    alice = calendar_world["alice"]
    await pages.sign_in(alice)
    pages.set_zone("America/New_York")
    page = parse(await pages.get("/home?calendar=year&year=2024&pinned=1"))
    block = page.one("section", class_="calendar-block")
    assert block.one("h2").content() == "2024"
    assert [c.content() for c in block.all("caption")] == [dt.date(2024, m, 1).strftime("%B") for m in range(1, 13)]
    assert block.one("a", **{"aria-label": "Previous year"}).attrs["href"] == "/home?pinned=1&calendar=year&year=2023"
    assert block.one("a", **{"aria-label": "Next year"}).attrs["href"] == "/home?pinned=1&calendar=year&year=2025"
    toggle = next(a for a in block.all("a") if a.content() == "Month view")
    assert toggle.attrs["href"] == "/home?pinned=1"

    # Every day link filters to that day (keeping the other filters and the year view).
    page = parse(await pages.get("/home?calendar=year&year=2024"))
    links = {
        a.attrs["aria-label"].split(":")[0]: a.attrs["href"]
        for a in page.one("section", class_="calendar-block").all("a")
        if re.match(r"\d{4}-", a.attrs.get("aria-label", ""))
    }
    assert set(links) == {"2024-01-01", "2024-03-10", "2024-06-30", "2024-07-01", "2024-11-03", "2024-12-31"}
    href = links["2024-11-03"]
    assert parse_qs(urlsplit(href).query) == {"day": ["2024-11-03"], "calendar": ["year"], "year": ["2024"]}
    text = await pages.get(href)
    listed = [html.unescape(s) for s in re.findall(r'<div class="memo-body[^>]*>\s*<p>(.*?)</p>', text)]
    assert sorted(listed) == ["autumn fold, first", "autumn fold, second"]
    selected = parse(text).one("section", class_="calendar-block").all("td", class_="selected")
    assert [td.children[0].attrs["aria-label"] for td in selected] == ["2024-11-03: 2 memos"]
    assert "2024-11-03" in [c.strip() for c in re.findall(r'class="chip">([^<]+)<', text)]

    # Back to the month view: the month of the day filter, with that day marked.
    month = parse(await pages.get("/home?day=2024-11-03"))
    block = month.one("section", class_="calendar-block")
    assert block.one("h2").content() == "November 2024"
    assert block.one("td", class_="selected").content() == "3"
    year_link = next(a for a in block.all("a") if a.content() == "Year view")
    assert year_link.attrs["href"] == "/home?day=2024-11-03&calendar=year&year=2024"

    # Nonsense years fall back to the shown one.
    page = parse(await pages.get("/home?calendar=year&year=12345&day=2024-11-03"))
    assert page.one("section", class_="calendar-block").one("h2").content() == "2024"
