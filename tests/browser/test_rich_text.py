"""A rich-text field in a real browser, as the demo's sales rep: the
editor's toolbar (bold, italic, a bulleted list, a link) writes what the
form posts; the server keeps it sanitised and the record page shows it
formatted. Under the strict CSP (the watch fails on any violation), by
keyboard and by touch, on a phone too, in zh_CN; axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from metacrm.access.guard import SystemGuard
from metacrm.cli import DEMO_TENANT
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import PHONE, USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in

REP = USERS["sales_rep"]
NOTES = {
    "api_name": "notes",
    "label": "Notes",
    "type": "rich_text",
    "translations": {"zh_CN": {"label": "纪要"}},
}


@pytest.fixture(scope="module")
def demo(live):
    """Accounts get a rich-text field "Notes", on their layout's first section."""
    instance = live.instance
    binding = instance.db.bind(DEMO_TENANT)
    layout = next(d.document for d in model_for(instance, binding).definitions.scoped("layout", "account"))
    sections = [dict(s) for s in layout["sections"]]
    sections[0]["fields"] = [*sections[0]["fields"], "notes"]
    with metadata_service(instance, binding, audit.Actor(email="test")).change("account notes") as tx:
        tx.add_field("account", NOTES)
        tx.put_layout("account", {**layout, "sections": sections})
    rep = audit.Actor(user_id=identities.user_id_of(instance, REP), email=REP)
    return record_store(instance, binding, SystemGuard(), rep)


def test_a_rep_writes_formatted_notes_with_the_toolbar(page, demo):
    sign_in(page, REP)
    page.goto("/o/account/new")
    page.get_by_label("Account name").fill("Formatted Ltd")
    notes = page.get_by_role("textbox", name="Notes")
    expect(notes).to_be_visible()  # the editor replaced the textarea
    expect(page.locator("textarea[name='notes']")).to_be_hidden()
    toolbar = page.get_by_role("toolbar", name="Formatting")

    notes.click()
    notes.press_sequentially("Met the buyer. ")
    toolbar.get_by_role("button", name="Bold").click()
    expect(toolbar.get_by_role("button", name="Bold")).to_have_attribute("aria-pressed", "true")
    notes.press_sequentially("Urgent")
    toolbar.get_by_role("button", name="Bold").click()
    notes.press("Enter")
    toolbar.get_by_role("button", name="Bulleted list").click()
    notes.press_sequentially("Send prices")
    notes.press("Enter")
    notes.press_sequentially("Call back")
    # A link on a selected word, from the keyboard: select "prices", Ctrl+K, type, Enter.
    notes.get_by_text("Send prices").click()
    page.keyboard.press("End")
    for _ in range(len("prices")):
        page.keyboard.press("Shift+ArrowLeft")
    notes.press("Control+k")
    address = page.get_by_label("Link address")
    expect(address).to_be_focused()
    address.fill("https://example.com/prices")
    address.press("Enter")
    expect(notes.get_by_role("link", name="prices")).to_have_attribute("href", "https://example.com/prices")
    assert_accessible(page)

    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/o/account/\d+$"))
    saved = demo.get("account", int(page.url.rsplit("/", 1)[1]))["notes"]
    assert "<b>Urgent</b>" in saved and "<li>Send <a" in saved and "<li>Call back</li>" in saved
    assert 'href="https://example.com/prices"' in saved and "style=" not in saved
    shown = page.locator('[data-field="notes"]')
    expect(shown.locator("b")).to_have_text("Urgent")
    expect(shown.get_by_role("listitem")).to_have_count(2)
    expect(shown.get_by_role("link", name="prices")).to_be_visible()

    # Editing starts from what is stored; removing the bold keeps the text.
    page.goto(page.url + "/edit")
    notes = page.get_by_role("textbox", name="Notes")
    expect(notes.locator("b")).to_have_text("Urgent")
    notes.locator("b").dblclick()
    page.get_by_role("toolbar", name="Formatting").get_by_role("button", name="Bold").click()
    expect(notes.locator("b")).to_have_count(0)
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/o/account/\d+$"))
    assert "<b>" not in demo.get("account", int(page.url.rsplit("/", 1)[1]))["notes"]


@pytest.fixture
def in_chinese(live):
    rep = identities.user_id_of(live.instance, REP)
    yield lambda: identities.set_preferences(live.instance, rep, locale="zh_CN", time_zone=None)
    identities.set_preferences(live.instance, rep, locale=None, time_zone=None)


def test_on_a_phone_in_chinese_the_toolbar_fits_and_is_touchable(open_page, demo, in_chinese):
    page = open_page(PHONE)
    sign_in(page, REP)
    in_chinese()
    page.goto("/o/account/new")
    toolbar = page.get_by_role("toolbar", name="格式")
    expect(toolbar).to_be_visible()
    for name in ("粗体", "斜体", "项目符号列表", "编号列表", "链接", "移除链接"):
        button = toolbar.get_by_role("button", name=name, exact=True)
        box = button.bounding_box()
        assert box["height"] >= 44 and box["width"] >= 44, name
    notes = page.get_by_role("textbox", name="纪要")
    notes.click()
    notes.press_sequentially("你好")
    toolbar.get_by_role("button", name="编号列表").click()
    expect(notes.locator("ol li")).to_have_text("你好")
    assert_no_horizontal_scrolling(page)
    assert_accessible(page)
