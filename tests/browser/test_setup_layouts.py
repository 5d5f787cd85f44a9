"""The layout editor in a real browser, as the admin: a field dragged into
another section and a section dragged above another change the preview;
saved, the record page shows the new order; a condition with a type error
shows its line and column as it is typed; on a phone the move buttons do
what dragging does, without sideways scrolling."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from metacrm.app import create_app
from tests.browser.support import ADMIN, assert_accessible, assert_no_horizontal_scrolling, sign_in
from tests.ui.list_demo import demo_of

EDITOR = "/setup/objects/opportunity/layouts"
TALL = {"width": 1280, "height": 2400}


@pytest.fixture(scope="module")
def deal(live):
    demo = demo_of(live.instance, create_app(instance=live.instance))
    return demo.opportunity(name="Layout deal", stage="qualification", amount="1000.00", description="Fleet renewal")


def section(page, key):
    return page.locator(f'#layout-form [data-item="section:{key}"]')


def field(page, name):
    return page.locator(f'#layout-form [data-item="field:{name}"]')


def test_dragging_a_field_and_a_section_changes_the_preview_and_the_saved_record_page(page, deal):
    sign_in(page, ADMIN)
    page.set_viewport_size(TALL)  # a drag that scrolls the page midway loses its drop in headless chromium
    page.goto(EDITOR)
    expect(page.get_by_role("heading", name="Opportunity", level=1)).to_be_visible()
    preview = page.locator("#layout-preview")
    expect(preview.locator(".preview-section").first).to_contain_text("Opportunity information")
    assert_accessible(page)

    # The amount into the first section, the description's section above the first.
    field(page, "amount").locator(".layout-handle").drag_to(field(page, "account").locator(".layout-handle"))
    expect(section(page, "s0").locator('[data-item="field:amount"]')).to_have_count(1)
    expect(preview.locator(".preview-section").first.locator('[data-field="amount"]')).to_have_count(1)
    section(page, "s2").locator(".layout-section-handle").drag_to(
        section(page, "s0").locator(".layout-section-handle"), target_position={"x": 2, "y": 2}
    )
    expect(page.locator("#layout-form .layout-section").first).to_have_attribute("data-item", "section:s2")
    expect(preview.locator(".preview-section").first).to_contain_text("Description")

    page.get_by_role("button", name="Save layout").click()
    expect(page.get_by_role("status").filter(has_text="Layout saved")).to_be_visible()

    page.goto(f"/o/opportunity/{deal['id']}")
    sections = page.locator(".record-section")
    expect(sections.first).to_contain_text("Description")
    expect(sections.nth(1).locator('[data-field="amount"]')).to_have_count(1)


def test_a_condition_with_a_type_error_shows_line_and_column(page, deal):
    sign_in(page, ADMIN)
    page.goto(EDITOR)
    page.get_by_role("button", name="Conditions of Next step").click()
    dialog = page.get_by_role("dialog")
    editor = dialog.get_by_label("Visible when")
    editor.fill("stage = ")
    expect(dialog.get_by_role("alert")).to_contain_text(re.compile(r"Line 1, column \d+"))
    editor.fill("stage = 'closed_won'")
    expect(dialog.get_by_text("The rule is valid.")).to_be_visible()
    dialog.get_by_role("button", name="Apply").click()
    expect(field(page, "next_step").locator("[data-rule-summary]")).to_contain_text("stage = 'closed_won'")
    expect(page.locator("#layout-preview").locator(".layout-badge")).to_contain_text("Visible when")
    page.get_by_role("button", name="Save layout").click()
    expect(page.get_by_role("status").filter(has_text="Layout saved")).to_be_visible()
    expect(field(page, "next_step").locator("[data-rule-summary]")).to_contain_text("closed_won")


def test_on_a_phone_the_move_buttons_arrange_the_layout(phone_page, deal):
    page = phone_page
    sign_in(page, ADMIN)
    page.goto(EDITOR)
    first = page.locator('#layout-form .layout-section:has([data-item="field:name"])')
    names = first.locator(".layout-field")
    second = names.nth(1).get_attribute("data-layout-field")
    label = names.nth(0).get_attribute("data-label")
    page.get_by_role("button", name=f"Move {label} down").click()
    expect(names.nth(0)).to_have_attribute("data-layout-field", second)
    assert_no_horizontal_scrolling(page)
    sections = page.locator("#layout-form .layout-section").count()
    page.get_by_role("button", name="Add section").click()
    expect(page.locator("#layout-form .layout-section")).to_have_count(sections + 1)
    expect(page.locator("#layout-form .layout-section").last.get_by_label("Title", exact=True)).to_be_focused()
    assert_no_horizontal_scrolling(page)
