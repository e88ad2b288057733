"""Settings > Export & import in headless Chromium: the zip downloads, and a memos.json chosen in the
file picker imports with the button saying it works meanwhile and the section telling the count.
The page's script sends the file itself so a bar shows how much of it has gone up; a file the server
refuses brings the message beside the form, as without the script."""

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


def test_the_upload_shows_its_progress_then_the_import_lands(signed_in, tmp_path):
    page = signed_in
    page.goto("/setting#data")
    section = page.locator("section#data")
    bar = section.locator("form[data-upload-progress] progress")
    expect(bar).to_be_hidden()  # nothing to show before a file goes up

    # Every state of the bar and the button, kept across the navigation that follows the import.
    seen: list[tuple[bool, float, float, str]] = []
    page.expose_function("recordUpload", lambda *state: seen.append(tuple(state)))
    page.evaluate(
        """() => {
          const bar = document.querySelector("form[data-upload-progress] progress");
          const button = bar.closest("form").querySelector("button");
          const record = () => window.recordUpload(bar.hidden, bar.value, bar.max, button.textContent);
          new MutationObserver(record).observe(bar, { attributes: true });
          new MutationObserver(record).observe(button, { childList: true, characterData: true, subtree: true });
        }"""
    )
    # A slow line and a file of ~600 kB (memos.json padded with spaces): the upload takes a few seconds.
    cdp = page.context.new_cdp_session(page)
    cdp.send("Network.enable")
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": 256 * 1024},
    )
    memos = [{"uid": f"slow-{i}", "content": f"came up slowly {i}", "visibility": "PRIVATE"} for i in range(3)]
    upload = tmp_path / "memos.json"
    upload.write_text(json.dumps({"format": "memos-py-export", "version": 1, "memos": memos}) + " " * 600_000)

    section.get_by_label("File to import").set_input_files(upload)
    section.get_by_role("button", name="Import", exact=True).click()
    expect(bar).to_be_visible()
    expect(section.get_by_role("button", name="Uploading…")).to_be_disabled()
    expect(section.get_by_role("status")).to_have_text("3 memos imported.", timeout=30_000)
    cdp.send(
        "Network.emulateNetworkConditions",
        {"offline": False, "latency": 0, "downloadThroughput": -1, "uploadThroughput": -1},
    )

    assert page.url.endswith("/setting?saved=data&imported=3&skipped=0#data")
    shown = [(value, most, label) for hidden, value, most, label in seen if not hidden]
    assert any(0 < value < most for value, most, _ in shown), seen  # part of the file had gone up
    value, most, label = shown[-1]
    assert value == most and label == "Importing…", seen  # all of it sent, then the server imports


def test_a_refused_file_is_explained_beside_the_form_and_it_can_be_sent_again(signed_in, tmp_path):
    page = signed_in
    page.goto("/setting#data")
    section = page.locator("section#data")
    bad = tmp_path / "notes.zip"
    bad.write_bytes(b"\x00not an archive at all")
    section.get_by_label("File to import").set_input_files(bad)
    section.get_by_role("button", name="Import", exact=True).click()
    expect(section.get_by_role("alert")).to_contain_text("import refused")
    assert page.url.endswith("/setting#data")  # the section was drawn again in place
    expect(section.get_by_label("File to import")).to_be_focused()

    good = tmp_path / "memos.json"
    memo = {"uid": "after-a-refusal", "content": "second try", "visibility": "PRIVATE"}
    good.write_text(json.dumps({"format": "memos-py-export", "version": 1, "memos": [memo]}))
    section.get_by_label("File to import").set_input_files(good)
    section.get_by_role("button", name="Import", exact=True).click()
    expect(section.get_by_role("status")).to_have_text("1 memo imported.")

    page.context.clear_cookies()  # signed out elsewhere: the answer is another page, shown as it came
    section.get_by_label("File to import").set_input_files(good)
    section.get_by_role("button", name="Import", exact=True).click()
    expect(page.get_by_text("the form expired or did not come from this site")).to_be_visible()
