"""Settings > Export & import in headless Chromium: the zip downloads, and a memos.json chosen in the
file picker imports with the button saying it works meanwhile and the section telling the count."""

from __future__ import annotations

import json
import zipfile

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def test_download_then_import_through_the_page(signed_in, tmp_path, artifacts):
    page = signed_in
    page.goto("/setting#data")
    section = page.locator("section#data")
    expect(section.get_by_role("heading", name="Export & import")).to_be_visible()

    with page.expect_download() as download:
        section.get_by_role("link", name="Download zip").click()
    archive = tmp_path / "export.zip"
    download.value.save_as(archive)
    doc = json.loads(zipfile.ZipFile(archive).read("memos.json"))
    assert doc["format"] == "memos-py-export"

    memo = {"uid": "imported-from-elsewhere", "content": "brought over #moved", "visibility": "PRIVATE"}
    upload = tmp_path / "memos.json"
    upload.write_text(json.dumps({**doc, "memos": [memo]}))
    section.get_by_label("File to import").set_input_files(upload)
    section.get_by_role("button", name="Import", exact=True).click()
    expect(section.get_by_role("status")).to_contain_text("memo imported")
    page.screenshot(path=str(artifacts / "settings-data.png"), full_page=True)

    page.goto("/home")
    expect(page.get_by_role("paragraph").filter(has_text="brought over")).to_be_visible()


def test_the_section_fits_a_phone_in_the_dark(new_context, ui, account, artifacts):
    page = new_context(viewport={"width": 390, "height": 844}, color_scheme="dark").new_page()
    ui.sign_in(page, account, then="/setting")
    page.goto("/setting#data")
    section = page.locator("section#data")
    expect(section.get_by_role("link", name="Download zip")).to_be_visible()
    expect(section.get_by_role("button", name="Import", exact=True)).to_be_visible()
    assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")  # no sideways scrolling
    page.screenshot(path=str(artifacts / "settings-data-phone-dark.png"), full_page=True)
