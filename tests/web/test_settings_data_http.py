"""Settings > Export & import over HTTP, on every driver: the download links give the signed-in
user's own export (zip or memos.json); the upload form imports a file into their account through
the service the API uses, says how many memos arrived, skips what was imported before, and a file
it cannot import changes nothing and is explained beside the form. The second form does the same
from another Memos server (here a second instance) with its address and an access token, which
no answer ever draws back into a page."""

from __future__ import annotations

import io
import json
import socket
import zipfile

import aiohttp
import pytest
from fixtures import web_pages

pages = web_pages.pages  # a signed-out browser of memos_client, with an admin on the instance
parse, api = web_pages.parse, web_pages.api


def import_form(data: bytes, filename: str) -> aiohttp.FormData:
    form = aiohttp.FormData()
    form.add_field("file", io.BytesIO(data), filename=filename, content_type="application/octet-stream")
    return form


async def post_import(pages, data: bytes, filename: str = "memos.json"):
    form = import_form(data, filename)
    form.add_field("csrf_token", await pages.csrf())
    return await pages.client.post(
        "/web/setting/data/import", data=form, headers={"Origin": pages.origin}, allow_redirects=False
    )


async def contents(client, user) -> list[str]:
    memos = (await api(client, user, "GET", "/api/v1/memos?pageSize=100"))["memos"]
    return sorted(m["content"] for m in memos)


async def test_the_section_downloads_the_users_own_export(pages, memos_client, memos_users):
    alice, bob = await memos_users("alice"), await memos_users("bob")
    mine = {"content": "alice's #note 日本語", "visibility": "PRIVATE"}
    await api(memos_client, alice, "POST", "/api/v1/memos", mine)
    await api(memos_client, bob, "POST", "/api/v1/memos", {"content": "bob's secret", "visibility": "PUBLIC"})

    r = await memos_client.get("/web/export", allow_redirects=False)
    assert r.status == 302 and r.headers["Location"].startswith("/auth")  # signed out: sign in first

    await pages.sign_in(alice)
    section = parse(await pages.get("/setting")).one("section", id="data")
    links = [a.attrs["href"] for a in section.all("a")]
    assert links == ["/web/export?format=zip", "/web/export?format=json"]

    r = await memos_client.get("/web/export?format=json")
    assert r.status == 200 and "attachment" in r.headers["Content-Disposition"]
    doc = json.loads(await r.read())
    assert [m["content"] for m in doc["memos"]] == ["alice's #note 日本語"]  # never bob's, public or not

    r = await memos_client.get("/web/export?format=zip")
    assert r.status == 200 and r.headers["Content-Type"] == "application/zip"
    archive = zipfile.ZipFile(io.BytesIO(await r.read()))
    assert json.loads(archive.read("memos.json"))["memos"] == doc["memos"]
    assert any(n.endswith(".md") for n in archive.namelist())


async def test_an_import_lands_in_the_account_once(pages, memos_client, memos_users):
    alice, carol = await memos_users("alice"), await memos_users("carol")
    for text in ("first #a", "second #b"):
        await api(memos_client, alice, "POST", "/api/v1/memos", {"content": text})
    await pages.sign_in(alice)
    exported = await (await memos_client.get("/web/export?format=json")).read()

    await pages.sign_in(carol)
    r = await post_import(pages, exported)
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=data&imported=2&skipped=0#data"
    assert await contents(memos_client, carol) == ["first #a", "second #b"]
    notice = parse(await pages.get(r.headers["Location"])).one("section", id="data").one(role="status")
    assert "2 memos imported" in notice.content()

    r = await post_import(pages, exported)  # the same file again: nothing twice
    assert r.status == 303 and "imported=0&skipped=2" in r.headers["Location"]
    assert await contents(memos_client, carol) == ["first #a", "second #b"]


async def test_a_file_that_cannot_be_imported_changes_nothing(pages, memos_client, memos_users):
    alice = await memos_users("alice")
    await api(memos_client, alice, "POST", "/api/v1/memos", {"content": "kept"})
    await pages.sign_in(alice)

    r = await post_import(pages, b"\x00not an archive at all", "notes.bin")
    assert r.status == 400
    section = parse(await r.text()).one("section", id="data")
    assert "import refused" in section.one(role="alert").content()
    assert await contents(memos_client, alice) == ["kept"]

    form = import_form(b"{}", "memos.json")  # no CSRF token: refused before anything is read
    r = await memos_client.post(
        "/web/setting/data/import", data=form, headers={"Origin": pages.origin}, allow_redirects=False
    )
    assert r.status == 403
    assert await contents(memos_client, alice) == ["kept"]


@pytest.fixture
async def other_server(memos_new_config, memos_driver, aiohttp_client):
    """A second instance with an account "away" holding two memos: ``(its address, the account's token)``."""
    from memos_core.app import create_app

    other = await aiohttp_client(create_app(memos_new_config(memos_driver)))
    r = await other.post("/api/v1/users", json={"username": "away", "password": "away-pw-1"})
    assert r.status == 200, await r.text()
    signin = {"passwordCredentials": {"username": "away", "password": "away-pw-1"}}
    token = (await (await other.post("/api/v1/auth/signin", json=signin)).json())["accessToken"]
    for text in ("from the other side #moved", "second one"):
        r = await other.post("/api/v1/memos", json={"content": text}, headers={"Authorization": f"Bearer {token}"})
        assert r.status == 200, await r.text()
    return str(other.make_url("/")).rstrip("/"), token


async def post_server_import(pages, url: str, token: str):
    return await pages.post("/web/setting/data/import-server", {"url": url, "token": token})


def server_form(text: str):
    """The section's form for another server, and its refusal if it shows one."""
    section = parse(text).one("section", id="data")
    (form,) = [f for f in section.all("form") if f.attrs["action"].startswith("/web/setting/data/import-server")]
    alerts = form.all(role="alert")
    return form, (alerts[0].content() if alerts else None)


async def test_memos_from_another_server_land_once(pages, memos_client, memos_users, other_server):
    url, token = other_server
    boss = await memos_users("boss", role="ADMIN")  # an admin may name a server on this machine
    await pages.sign_in(boss)
    form, _ = server_form(await pages.get("/setting"))
    (field,) = form.all("input", name="token")
    assert field.attrs["type"] == "password" and field.attrs["autocomplete"] == "off"

    r = await post_server_import(pages, url, token)
    assert r.status == 303, await r.text()
    assert r.headers["Location"] == "/setting?saved=data&imported=2&skipped=0#data"
    assert await contents(memos_client, boss) == ["from the other side #moved", "second one"]
    page = await pages.get(r.headers["Location"])
    assert "2 memos imported" in parse(page).one("section", id="data").one(role="status").content()
    assert token not in page

    r = await post_server_import(pages, url, token)  # again: nothing twice
    assert r.status == 303 and r.headers["Location"] == "/setting?saved=data&imported=0&skipped=2#data"
    assert await contents(memos_client, boss) == ["from the other side #moved", "second one"]


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # free once closed: nothing listens there


async def test_a_server_import_that_is_refused_changes_nothing(pages, memos_client, memos_users, other_server):
    url, token = other_server
    boss, plain = await memos_users("boss", role="ADMIN"), await memos_users("plain")
    await pages.sign_in(boss)
    await api(memos_client, boss, "POST", "/api/v1/memos", {"content": "kept"})
    cases = [
        (url, "not-the-token", "refused the access token"),
        (f"http://127.0.0.1:{_closed_port()}", token, "Could not connect"),
        ("memos.example.com", token, "url is required"),
    ]
    for address, sent, says in cases:
        r = await post_server_import(pages, address, sent)
        assert r.status == 400, (address, r.status)
        text = await r.text()
        form, alert = server_form(text)
        assert alert is not None and says in alert, (address, alert)
        assert form.one("input", name="url").attrs["value"] == address  # kept, to correct it
        assert form.one("input", name="token").attrs["value"] == ""  # never drawn again
        assert sent not in text
        assert len(parse(text).one("section", id="data").all(role="alert")) == 1  # beside this form only
        assert await contents(memos_client, boss) == ["kept"]

    r = await post_server_import(pages, url, "")  # no token: said before anything is asked
    assert r.status == 400
    assert "address and an access token" in server_form(await r.text())[1]

    await pages.sign_in(plain)  # only an admin may reach a server on this machine's network
    r = await post_server_import(pages, url, token)
    assert r.status == 400
    text = await r.text()
    assert "not allowed" in server_form(text)[1] and token not in text
    assert await contents(memos_client, plain) == []

    r = await memos_client.post(  # no CSRF token: refused before the other server is asked
        "/web/setting/data/import-server",
        data={"url": url, "token": token},
        headers={"Origin": pages.origin},
        allow_redirects=False,
    )
    assert r.status == 403
    assert await contents(memos_client, plain) == []
