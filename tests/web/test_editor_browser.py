"""The editor in headless Chromium: keyboard saving, list continuation, tag and snippet suggestions,
an image dropped in, drafts across a reload, editing a card in place with its created time,
linking a memo, preview and focus mode, and a refused save that keeps the text.

Elements are found by role and accessible name (or label); the REST API checks what was stored.
"""

from __future__ import annotations

import base64
import io

import pytest
from playwright.sync_api import expect

pytestmark = [pytest.mark.browser, pytest.mark.xdist_group("browser")]


def editor(page):
    return page.get_by_label("Write a memo")


def cards(page):
    return page.get_by_role("region", name="Memos").get_by_role("article")


def stored(web_server, account) -> list[dict]:
    return web_server.api("GET", "/api/v1/memos", account=account)["memos"]


def png(width: int = 40, height: int = 30) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (width, height), (200, 40, 40)).save(out, format="PNG")
    return out.getvalue()


def test_ctrl_enter_saves_and_enter_continues_lists(signed_in, web_server, account):
    page = signed_in
    box = editor(page)
    box.click()
    page.keyboard.type("Shopping")
    page.keyboard.press("Enter")
    page.keyboard.type("- milk")
    page.keyboard.press("Enter")
    expect(box).to_have_value("Shopping\n- milk\n- ")
    page.keyboard.type("bread")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")  # an empty item ends the list
    expect(box).to_have_value("Shopping\n- milk\n- bread\n")
    page.keyboard.type("- [x] done")
    page.keyboard.press("Enter")
    expect(box).to_have_value("Shopping\n- milk\n- bread\n- [x] done\n- [ ] ")
    page.keyboard.type("next")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.keyboard.type("9. nine")
    page.keyboard.press("Enter")
    page.keyboard.type("ten")
    expected = "Shopping\n- milk\n- bread\n- [x] done\n- [ ] next\n9. nine\n10. ten"
    expect(box).to_have_value(expected)
    page.keyboard.press("Control+Enter")

    new_card = cards(page).filter(has_text="Shopping")
    expect(new_card).to_be_visible()
    expect(new_card.get_by_role("checkbox")).to_have_count(2)
    expect(box).to_have_value("")
    assert [m["content"] for m in stored(web_server, account)] == [expected]


def test_enter_while_an_ime_composes_is_left_alone(signed_in):
    page = signed_in
    box = editor(page)
    box.fill("- 日本")
    enter = """(box, composing) => {
        box.setSelectionRange(box.value.length, box.value.length);
        const options = { key: "Enter", isComposing: composing, bubbles: true, cancelable: true };
        box.dispatchEvent(new KeyboardEvent("keydown", options));
    }"""
    box.evaluate(enter, True)  # the Enter that confirms a conversion
    expect(box).to_have_value("- 日本")
    box.evaluate(enter, False)
    expect(box).to_have_value("- 日本\n- ")


def test_hash_offers_tags_by_count_from_the_keyboard(signed_in, web_server, account):
    for content in ("#travel one", "#travel two", "#tea three", "#work four"):
        web_server.create_memo(account, content)
    page = signed_in
    page.reload()
    box = editor(page)
    box.click()
    page.keyboard.type("Trip to #t")
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(listbox).to_be_visible()
    options = listbox.get_by_role("option")
    expect(options).to_have_text(["#travel 2", "#tea 1"])
    expect(options.first).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.first.get_attribute("id"))
    page.keyboard.press("ArrowDown")
    expect(options.nth(1)).to_have_attribute("aria-selected", "true")
    expect(box).to_have_attribute("aria-activedescendant", options.nth(1).get_attribute("id"))
    page.keyboard.press("Enter")
    expect(box).to_have_value("Trip to #tea ")
    expect(listbox).to_be_hidden()

    page.keyboard.type("#w")
    expect(listbox.get_by_role("option")).to_have_text(["#work 1"])
    page.keyboard.press("Escape")
    expect(listbox).to_be_hidden()
    page.keyboard.type("o")  # typing on opens it again; Tab accepts
    expect(listbox).to_be_visible()
    page.keyboard.press("Tab")
    expect(box).to_have_value("Trip to #tea #work ")


def test_slash_at_line_start_offers_snippets(signed_in):
    page = signed_in
    box = editor(page)
    box.click()
    page.keyboard.type("/")
    listbox = page.get_by_role("listbox", name="Suggestions")
    expect(listbox.get_by_role("option")).to_have_text(["Task", "Code block", "Link", "Table"])
    page.keyboard.type("tab")
    expect(listbox.get_by_role("option")).to_have_text(["Table"])
    page.keyboard.press("Enter")
    expect(box).to_have_value("| Column | Column |\n| --- | --- |\n| Cell | Cell |")
    page.keyboard.press("Control+End")
    page.keyboard.press("Enter")
    page.keyboard.press("Enter")
    page.keyboard.type("see /")  # not at the start of a line: no snippets
    expect(listbox).to_be_hidden()
    page.keyboard.press("Enter")
    page.keyboard.type("/link")
    page.keyboard.press("Enter")
    page.keyboard.type("the docs")  # "text" is selected: typing replaces it
    expect(box).to_have_value("| Column | Column |\n| --- | --- |\n| Cell | Cell |\n\nsee /\n[the docs](url)")


def test_an_image_dropped_on_the_editor_is_in_the_saved_card(signed_in, web_server, account):
    page = signed_in
    editor(page).fill("A red square")
    data = base64.b64encode(png()).decode()
    page.get_by_label("Write a memo").evaluate(
        """(box, data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "square.png", { type: "image/png" }));
            for (const type of ["dragenter", "dragover", "drop"]) {
                box.dispatchEvent(new DragEvent(type, { dataTransfer: transfer, bubbles: true, cancelable: true }));
            }
        }""",
        data,
    )
    expect(page.get_by_role("button", name="Remove attachment square.png")).to_be_visible()
    page.get_by_role("button", name="Save", exact=True).click()

    new_card = cards(page).filter(has_text="A red square")
    image = new_card.get_by_role("img", name="square.png")
    expect(image).to_be_visible()
    page.wait_for_function("(img) => img.complete && img.naturalWidth > 0", arg=image.element_handle())
    expect(page.get_by_role("button", name="Remove attachment square.png")).to_have_count(0)
    [memo] = stored(web_server, account)
    assert [(a["filename"], a["type"]) for a in memo["attachments"]] == [("square.png", "image/png")]


def test_a_pasted_image_is_uploaded(signed_in, web_server, account):
    page = signed_in
    editor(page).fill("pasted")
    editor(page).evaluate(
        """(box, data) => {
            const bytes = Uint8Array.from(atob(data), (c) => c.charCodeAt(0));
            const transfer = new DataTransfer();
            transfer.items.add(new File([bytes], "image.png", { type: "image/png" }));
            const paste = new ClipboardEvent("paste", { clipboardData: transfer, bubbles: true, cancelable: true });
            box.dispatchEvent(paste);
        }""",
        base64.b64encode(png()).decode(),
    )
    expect(page.get_by_role("button", name="Remove attachment image.png")).to_be_visible()
    expect(editor(page)).to_have_value("pasted")  # the picture did not land in the text
    page.keyboard.press("Control+Enter")
    expect(cards(page).filter(has_text="pasted").get_by_role("img", name="image.png")).to_be_visible()


def test_location_from_the_browser_or_typed(new_context, web_server, account, ui):
    context = new_context(geolocation={"latitude": 38.7223, "longitude": -9.1393}, permissions=["geolocation"])
    page = context.new_page()
    ui.sign_in(page, account)
    editor(page).fill("Where I am")
    page.get_by_text("Location", exact=True).click()
    page.get_by_role("button", name="Use my position").click()
    expect(page.get_by_text("Location: 38.722300, -9.139300")).to_be_visible()
    page.get_by_label("Place").fill("Lisbon")
    page.keyboard.press("Control+Enter")
    expect(cards(page).filter(has_text="Where I am")).to_contain_text("Lisbon")
    [memo] = stored(web_server, account)
    assert memo["location"] == {"placeholder": "Lisbon", "latitude": 38.7223, "longitude": -9.1393}


def test_removing_an_attachment_before_saving_drops_it(signed_in, web_server, account):
    page = signed_in
    page.get_by_label("Attach files").set_input_files(
        [
            {"name": "keep.txt", "mimeType": "text/plain", "buffer": b"keep"},
            {"name": "drop.txt", "mimeType": "text/plain", "buffer": b"drop"},
        ]
    )
    page.get_by_role("button", name="Remove attachment drop.txt").click()
    expect(page.get_by_role("button", name="Remove attachment keep.txt")).to_be_visible()
    expect(page.get_by_role("button", name="Remove attachment drop.txt")).to_have_count(0)
    editor(page).fill("one file left")
    page.keyboard.press("Control+Enter")
    expect(cards(page).filter(has_text="one file left")).to_be_visible()
    [memo] = stored(web_server, account)
    assert [a["filename"] for a in memo["attachments"]] == ["keep.txt"]


def test_a_draft_survives_a_reload_and_is_cleared_on_save(signed_in, web_server, account):
    page = signed_in
    editor(page).click()
    page.keyboard.type("half a thought")
    page.wait_for_timeout(500)  # drafts are kept a moment after typing stops
    page.reload()
    expect(editor(page)).to_have_value("half a thought")
    editor(page).press("End")
    page.keyboard.type(", finished")
    page.keyboard.press("Control+Enter")
    expect(cards(page).filter(has_text="half a thought, finished")).to_be_visible()
    page.reload()
    expect(editor(page)).to_have_value("")
    stored_keys = page.evaluate("Object.keys(localStorage)")
    assert not [k for k in stored_keys if k.startswith("memos-draft:")]


def test_edit_in_place_with_created_time(new_context, web_server, account, ui):
    page = new_context(timezone_id="Europe/Paris").new_page()
    memo = web_server.create_memo(account, "Before the edit", createTime="2024-01-15T09:30:00Z")
    ui.sign_in(page, account)
    card = cards(page).filter(has_text="Before the edit")
    card.get_by_label("Memo actions").click()
    card.get_by_role("menuitem", name="Edit").click()

    box = page.get_by_label("Edit memo")
    expect(box).to_have_value("Before the edit")
    expect(page).to_have_url(f"{web_server.base}/home")  # in place: no page load
    created = page.get_by_label("Created")
    expect(created).to_have_value("2024-01-15T10:30")  # Paris time

    # Cancel puts the card back as it was.
    page.get_by_role("link", name="Cancel").click()
    expect(box).to_have_count(0)
    expect(card).to_be_visible()

    card.get_by_label("Memo actions").click()
    card.get_by_role("menuitem", name="Edit").click()
    box = page.get_by_label("Edit memo")
    box.fill("After the edit")
    page.get_by_label("Created").fill("2021-06-15T10:00")
    page.get_by_role("region", name="Memos").get_by_role("button", name="Save", exact=True).click()

    edited = cards(page).filter(has_text="After the edit")
    expect(edited).to_be_visible()
    expect(edited.locator("time")).to_have_text("Jun 15, 2021, 10:00")  # the viewer's language's format
    expect(page.get_by_label("Edit memo")).to_have_count(0)
    got = web_server.memo(account, memo["name"])
    assert got["content"] == "After the edit"
    assert got["createTime"] == "2021-06-15T08:00:00Z"  # 10:00 in Paris, summer time


def test_link_a_memo_by_searching(signed_in, web_server, account):
    target = web_server.create_memo(account, "The recipe for soup")
    web_server.create_memo(account, "Something else")
    page = signed_in
    page.reload()
    editor(page).fill("Dinner plans")
    page.get_by_role("button", name="Link memo").click()
    search = page.get_by_role("combobox", name="Search memos to link")
    expect(search).to_be_focused()
    search.type("soup")
    results = page.get_by_role("listbox", name="Memos to link")
    expect(results.get_by_role("option")).to_have_count(1)
    expect(results.get_by_role("option").first).to_contain_text("The recipe for soup")
    page.keyboard.press("Enter")
    expect(page.get_by_role("button", name="Remove link to The recipe for soup")).to_be_visible()
    page.keyboard.press("Control+Enter")
    expect(cards(page).filter(has_text="Dinner plans")).to_be_visible()
    memo = next(m for m in stored(web_server, account) if m["content"] == "Dinner plans")
    assert [r["relatedMemo"]["name"] for r in memo["relations"]] == [target["name"]]


def test_preview_and_focus_mode(signed_in):
    page = signed_in
    editor(page).fill("Some **bold** words")
    page.get_by_role("button", name="Preview").click()
    expect(page.get_by_role("button", name="Preview")).to_have_attribute("aria-pressed", "true")
    preview = page.locator("[data-preview]")
    expect(preview.locator("strong")).to_have_text("bold")
    editor(page).fill("Now *leaning*")
    expect(preview.locator("em")).to_have_text("leaning")

    page.get_by_role("button", name="Focus mode").click()
    expect(page.get_by_role("button", name="Focus mode")).to_have_attribute("aria-pressed", "true")
    box = editor(page).bounding_box()
    assert box["height"] > 300
    expect(editor(page)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Focus mode")).to_have_attribute("aria-pressed", "false")
    expect(editor(page)).to_have_value("Now *leaning*")


def test_a_refused_save_shows_why_and_keeps_the_text(signed_in, web_server, account):
    page = signed_in
    long = "word " * 2000  # over the 8 KiB content limit
    editor(page).fill(long)
    page.keyboard.press("Control+Enter")
    expect(page.get_by_role("alert")).to_have_text("content too long")
    expect(editor(page)).to_have_value(long)
    assert stored(web_server, account) == []
    editor(page).fill("short enough")
    page.keyboard.press("Control+Enter")
    expect(cards(page).filter(has_text="short enough")).to_be_visible()
    expect(page.get_by_role("alert")).to_be_hidden()
