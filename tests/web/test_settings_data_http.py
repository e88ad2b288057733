"""Settings > Export & import over HTTP, on every driver: the download links give the signed-in
user's own export (zip or memos.json); the upload form imports a file into their account through
the service the API uses, says how many memos arrived, skips what was imported before, and a file
it cannot import changes nothing and is explained beside the form."""

from __future__ import annotations

import io
import json
import zipfile

import aiohttp
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
