"""The object manager in a real browser (issue 11 items 1 and 8): the admin
creates the object "vehicle" (车辆) with text, currency, picklist, date,
lookup and formula fields through the screens, the API name suggested from
the label as they type; a label holding markup stays text; the screens work
on a phone; axe finds nothing serious."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.support import ADMIN, PHONE, assert_accessible, assert_no_horizontal_scrolling, sign_in


def _field(page: Page, name: str):
    return page.locator(f'[data-field="{name}"]')


def _new_field(page: Page, type_label: str, label: str, api_name: str) -> None:
    page.goto("/setup/objects/vehicle")
    page.get_by_role("link", name="New field").click()
    page.get_by_role("link", name=re.compile(f"^{re.escape(type_label)} ")).first.click()
    page.wait_for_load_state("load")  # htmx (deferred) asks for the API name as the label is typed
    page.locator("#f-label").fill(label)
    expect(page.locator("#f-api_name")).to_have_value(api_name)  # suggested from the label


def _create_field(page: Page) -> None:
    page.get_by_role("button", name="Create field").click()
    expect(page.get_by_role("status")).to_contain_text("The field was saved.")


def test_an_admin_builds_the_vehicle_object_through_the_screens(page: Page):
    sign_in(page, ADMIN)
    page.goto("/setup/objects")
    expect(page.get_by_role("heading", name="Objects and fields", level=1)).to_be_visible()
    page.get_by_role("link", name="New object").click()
    page.wait_for_load_state("load")
    page.locator("#f-label").fill("Vehicle")
    expect(page.locator("#f-api_name")).to_have_value("vehicle")
    page.locator("#f-label_zh").fill("车辆")
    page.locator("#f-plural_label").fill("Vehicles")
    page.locator("label[for=icon-briefcase]").click()
    assert_accessible(page)
    page.get_by_role("button", name="Create object").click()
    expect(page.get_by_role("heading", name="Vehicle", level=1)).to_be_visible()
    expect(page.get_by_role("status")).to_contain_text("The object was created.")

    _new_field(page, "Text", "Plate number", "plate_number")
    _create_field(page)

    _new_field(page, "Currency", "Price", "price")
    page.get_by_label("Currency code").fill("CNY")
    _create_field(page)

    _new_field(page, "Picklist", "Status", "status")
    rows = page.locator("[data-pv-list] > li")
    rows.nth(0).get_by_label("Label (English)").fill("Available")
    rows.nth(0).get_by_label("Colour").select_option(label="Green")
    page.get_by_role("button", name="Add a value").click()
    expect(rows).to_have_count(2)
    rows.nth(1).get_by_label("Label (English)").fill("Sold")
    rows.nth(1).get_by_label("Label (Chinese)").fill("已售")
    assert_accessible(page)
    _create_field(page)

    _new_field(page, "Date", "Registered on", "registered_on")
    _create_field(page)

    _new_field(page, "Lookup", "Account", "account")
    page.locator("#f-options-target").select_option("account")
    _create_field(page)

    _new_field(page, "Formula", "Price with tax", "price_with_tax")
    expression = page.locator("#f-options-expression")
    expression.fill("price * ")
    expect(_field(page, "options.expression").locator(".rule-check [role=alert]")).to_contain_text("Line 1, column")
    expression.fill("price * 1.13")
    expect(_field(page, "options.expression").locator(".rule-check")).to_contain_text("The rule is valid.")
    page.get_by_label("Result type").select_option("currency")
    _create_field(page)

    table = page.locator(".setup-fields-table")
    for name in ("plate_number", "price", "status", "registered_on", "account", "price_with_tax"):
        expect(table.locator(f'[data-field-row="{name}"]')).to_be_visible()

    page.goto("/o/vehicle/new")
    expect(page.get_by_role("heading", name="Vehicle", level=1)).to_be_visible()
    expect(page.get_by_label("Plate number")).to_be_visible()
    expect(page.get_by_label("Status")).to_be_visible()


def test_a_label_with_markup_stays_text_and_a_chinese_label_asks_for_an_api_name(page: Page):
    sign_in(page, ADMIN)
    page.goto("/setup/objects/new")
    page.wait_for_load_state("load")
    page.locator("#f-label_zh").fill("车队")
    expect(_field(page, "api_name")).to_contain_text("type an API name yourself")
    page.locator("#f-label").fill("<script>alert(1)</script>")
    expect(page.locator("#f-api_name")).to_have_value("script_alert_1_script")
    page.locator("#f-api_name").fill("scripted")
    page.get_by_role("button", name="Create object").click()
    expect(page.get_by_role("heading", name="<script>alert(1)</script>", level=1)).to_be_visible()
    page.goto("/setup/objects")
    expect(page.get_by_role("link", name="<script>alert(1)</script>")).to_be_visible()


def test_the_object_manager_works_on_a_phone(open_page):
    page = open_page(PHONE)
    sign_in(page, ADMIN)
    page.goto("/setup/objects")
    expect(page.get_by_role("heading", name="Objects and fields", level=1)).to_be_visible()
    assert_no_horizontal_scrolling(page)
    page.goto("/setup/objects/account")
    expect(page.get_by_role("heading", name="Account", level=1)).to_be_visible()
    assert_no_horizontal_scrolling(page)
    assert_accessible(page)
    page.goto("/setup/objects/account/fields/new?type=picklist")
    assert_no_horizontal_scrolling(page)
