"""The admin's story of issue 11 (item 8) on one live app, as the people do it
in a browser: an admin, in an organisation without a custom object, builds
the object "vehicle" (车辆) with text, currency, picklist, date, lookup and
formula fields; lays out its page by dragging; adds a validation rule
(meeting a type error with its line and column first); writes an automation
and dry-runs it on a vehicle; makes a role that hides one field and a user
holding it. That user creates a vehicle, meets the validation message beside
its field and never sees the hidden field. A rollback on the revisions
screen brings back the layout as it was before the drag. A sales rep gets
"Not allowed" on setup and sees no link to it; a label holding markup stays
text on the setup screens and the record page.

The tests run in order and build on each other (one organisation per
database), as the steps of the story do.
"""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.browser.support import ADMIN, USERS, assert_accessible, open_user_menu, sign_in

USER = "fleet.clerk@example.com"
REP = USERS["sales_rep"]
TALL = {"width": 1280, "height": 2400}  # a drag that scrolls the page midway loses its drop
# The vehicle's fields in the order the object page lists them.
FIELDS = ("plate_number", "price", "status", "registered_on", "account", "price_with_tax")
STATE: dict = {}  # what a later step of the story needs from an earlier one


def _field(page: Page, name: str):
    return page.locator(f'[data-field="{name}"]')


def _new_field(page: Page, type_label: str, label: str, api_name: str) -> None:
    page.goto("/setup/objects/vehicle")
    page.get_by_role("link", name="New field").click()
    page.get_by_role("link", name=re.compile(f"^{re.escape(type_label)} ")).first.click()
    page.wait_for_load_state("load")  # htmx (deferred) suggests the API name as the label is typed
    page.locator("#f-label").fill(label)
    expect(page.locator("#f-api_name")).to_have_value(api_name)


def _create_field(page: Page) -> None:
    page.get_by_role("button", name="Create field").click()
    expect(page.get_by_role("status")).to_contain_text("The field was saved.")


def _record_fields(page: Page) -> list[str]:
    """The fields of the record page, in the order it shows them."""
    return page.locator(".record-section [data-field]").evaluate_all("els => els.map(e => e.dataset.field)")


def test_an_admin_builds_the_vehicle_and_lays_out_its_page_by_dragging(page: Page):
    sign_in(page, ADMIN)
    open_user_menu(page)
    page.get_by_role("link", name="Setup").click()
    expect(page.get_by_role("heading", level=1)).to_be_visible()
    page.goto("/setup/objects")
    expect(page.get_by_role("heading", name="Objects and fields", level=1)).to_be_visible()
    expect(page.locator(".badge", has_text="Custom")).to_have_count(0)  # nothing custom yet

    page.get_by_role("link", name="New object").click()
    page.wait_for_load_state("load")
    page.locator("#f-label").fill("Vehicle")
    expect(page.locator("#f-api_name")).to_have_value("vehicle")  # suggested from the label
    page.locator("#f-label_zh").fill("车辆")
    page.locator("#f-plural_label").fill("Vehicles")
    page.locator("label[for=icon-key]").click()
    page.get_by_role("button", name="Create object").click()
    expect(page.get_by_role("heading", name="Vehicle", level=1)).to_be_visible()

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
    rows.nth(1).get_by_label("Label (English)").fill("Sold")
    rows.nth(1).get_by_label("Label (Chinese)").fill("已售")
    _create_field(page)
    _new_field(page, "Date", "Registered on", "registered_on")
    _create_field(page)
    _new_field(page, "Lookup", "Account", "account")
    page.locator("#f-options-target").select_option("account")
    _create_field(page)
    _new_field(page, "Formula", "Price with tax", "price_with_tax")
    page.locator("#f-options-expression").fill("price * 1.13")
    expect(_field(page, "options.expression").locator(".rule-check")).to_contain_text("The rule is valid.")
    page.get_by_label("Result type").select_option("currency")
    _create_field(page)
    for name in FIELDS:
        expect(page.locator(f'.setup-fields-table [data-field-row="{name}"]')).to_be_visible()

    # A vehicle of the admin's, to preview the page with (and to dry-run on later).
    page.goto("/o/vehicle/new")
    page.get_by_label("Name").fill("Fleet van 1")
    page.get_by_label("Plate number").fill("沪A 12345")
    page.get_by_label("Price").fill("30000")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/o/vehicle/\d+$"))
    STATE["van"] = int(page.url.rsplit("/", 1)[1])
    STATE["before_drag"] = _record_fields(page)
    assert STATE["before_drag"].index("plate_number") < STATE["before_drag"].index("price")

    page.set_viewport_size(TALL)
    page.goto("/setup/objects/vehicle/layouts")
    expect(page.get_by_role("heading", name="Vehicle", level=1)).to_be_visible()
    items = page.locator("#layout-form .layout-fields").first.locator(".layout-field")
    preview = page.locator("#layout-preview")
    price = page.locator('#layout-form [data-item="field:price"] .layout-handle')
    plate = page.locator('#layout-form [data-item="field:plate_number"] .layout-handle')
    price.drag_to(plate, target_position={"x": 2, "y": 2})  # price above the plate number
    order = items.evaluate_all("els => els.map(e => e.dataset.layoutField)")
    assert order.index("price") < order.index("plate_number"), order
    expect(preview.locator('[data-field="price"]').first).to_be_visible()
    page.get_by_role("button", name="Save layout").click()
    expect(page.get_by_role("status").filter(has_text="Layout saved")).to_be_visible()
    STATE["layout_revision"] = int(re.search(r"revision (\d+)", page.get_by_role("status").inner_text())[1])

    page.goto(f"/o/vehicle/{STATE['van']}")
    after = _record_fields(page)
    assert after.index("price") < after.index("plate_number"), after


def test_an_admin_adds_a_validation_rule_and_dry_runs_an_automation(page: Page):
    sign_in(page, ADMIN)
    page.goto("/setup/objects/vehicle/validation-rules")
    page.get_by_role("link", name="New validation rule").click()
    page.wait_for_load_state("load")
    page.get_by_label("Label").fill("Price at least 1000")
    expect(page.get_by_label("API name")).to_have_value("price_at_least_1000")
    condition = page.get_by_label("Error condition")
    condition.fill('price < "1000"')
    expect(_field(page, "condition").get_by_role("alert")).to_contain_text(re.compile(r"Line 1, column \d+"))
    condition.fill("price < 1000")
    expect(_field(page, "condition").get_by_role("status")).to_contain_text("The rule is valid.")
    page.get_by_label("Error message (English)").fill("A vehicle costs at least 1,000")
    page.get_by_label("Error message (Chinese)").fill("车辆价格至少为 1,000")
    page.get_by_label("Show the message beside").select_option(label="Price")
    page.get_by_role("button", name="Save").click()
    expect(page.locator('tr[data-rule="price_at_least_1000"]')).to_contain_text("A vehicle costs at least 1,000")

    page.goto("/setup/automations/new?object=vehicle")
    page.wait_for_load_state("load")
    page.get_by_label("Label").fill("Flag expensive vehicles")
    rule = page.get_by_role("textbox", name="Rule", exact=True)
    rule.fill("WHEN created IF price > 20000 THEN SET plate = 1")
    expect(_field(page, "rule").get_by_role("alert")).to_contain_text(re.compile(r"Line 1, column \d+"))
    rule.fill('WHEN created IF price > 20000 THEN SET registered_on = TODAY(); NOTIFY owner_id "New: {{name}}"')
    expect(_field(page, "rule").get_by_role("status")).to_contain_text("The rule is valid.")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/setup/automations/vehicle/flag_expensive_vehicles$"))

    expect(_field(page, "record_id").locator(".ts-wrapper")).to_be_visible()  # the typeahead is ready
    record = page.get_by_role("combobox", name="Record")
    record.click()
    record.press_sequentially("fleet")
    page.get_by_role("option", name="Fleet van 1").click()
    page.get_by_role("button", name="Run the dry run").click()
    result = page.locator("#dry-run-result")
    expect(result).to_contain_text("nothing was saved")
    expect(result.locator('[data-field="registered_on"]')).to_contain_text("Registered on")
    expect(result).to_contain_text("Notify")
    page.goto(f"/o/vehicle/{STATE['van']}")
    expect(_field(page, "registered_on")).not_to_contain_text(re.compile(r"\d"))  # the dry run wrote nothing


def test_a_role_hides_a_field_and_its_user_creates_a_vehicle_without_ever_seeing_it(page: Page, open_page):
    sign_in(page, ADMIN)
    page.goto("/setup/roles")
    new_role = page.locator("form", has=page.get_by_role("button", name="Create role"))
    new_role.get_by_label("Label").fill("Fleet Clerk")
    new_role.get_by_role("button", name="Create role").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Fleet Clerk")
    page.get_by_role("link", name="Edit its permissions").click()
    expect(page.get_by_label("Role", exact=True)).to_have_value("fleet_clerk")
    page.get_by_label("Vehicle: Create", exact=True).check()
    page.get_by_label("Vehicle: View", exact=True).select_option("all")
    page.get_by_label("Vehicle: Edit", exact=True).select_option("own")
    page.get_by_label("Account: View", exact=True).select_option("all")
    page.get_by_role("button", name="Save permissions").click()
    expect(page.get_by_role("status")).to_contain_text("Permissions of Fleet Clerk saved.")
    page.wait_for_load_state("load")
    page.get_by_label("Object", exact=True).select_option("vehicle")
    page.wait_for_url(re.compile(r"object=vehicle"))
    page.get_by_label(re.compile("^Registered on")).select_option("hidden")
    page.get_by_role("button", name="Save field access").click()
    expect(page.get_by_role("status")).to_contain_text("Field access of Fleet Clerk saved.")

    page.goto("/setup/users")
    new_user = page.locator("form", has=page.get_by_role("button", name="Add user"))
    new_user.get_by_label("E-mail").fill(USER)
    new_user.get_by_label("Name").fill("Fang Clerk")
    new_user.get_by_label("Fleet Clerk").check()
    new_user.get_by_role("button", name="Add user").click()
    password = page.locator("[data-secret]").inner_text().strip()

    clerk = open_page()
    sign_in(clerk, USER, password)
    clerk.goto("/o/vehicle/new")
    expect(clerk.get_by_role("heading", name="Vehicle", level=1)).to_be_visible()
    expect(_field(clerk, "registered_on")).to_have_count(0)
    expect(clerk.get_by_label("Registered on")).to_have_count(0)
    clerk.get_by_label("Name").fill("Electric scooter")
    clerk.get_by_label("Plate number").fill("沪B 67890")
    clerk.get_by_label("Price").fill("500")
    clerk.get_by_label("Status").select_option(label="Available")
    clerk.get_by_role("button", name="Save").click()
    expect(_field(clerk, "price").get_by_role("alert")).to_contain_text("A vehicle costs at least 1,000")
    expect(clerk.get_by_label("Plate number")).to_have_value("沪B 67890")  # what they typed is kept
    clerk.get_by_label("Price").fill("25000")
    clerk.get_by_role("button", name="Save").click()
    expect(clerk).to_have_url(re.compile(r"/o/vehicle/\d+$"))
    expect(clerk.get_by_role("heading", level=1)).to_have_text("Electric scooter")
    expect(clerk.locator('.record-field[data-field="price_with_tax"]')).to_contain_text("28,250")  # the formula
    expect(_field(clerk, "registered_on")).to_have_count(0)
    expect(clerk.get_by_text("Registered on")).to_have_count(0)
    clerk.goto("/o/vehicle")
    expect(clerk.get_by_text("Electric scooter").first).to_be_visible()
    expect(_field(clerk, "registered_on")).to_have_count(0)
    expect(clerk.get_by_text("Registered on")).to_have_count(0)


def test_a_rollback_on_the_revisions_screen_brings_back_the_layout_before_the_drag(page: Page):
    sign_in(page, ADMIN)
    page.goto("/setup/revisions")
    page.get_by_role("link", name="save layout vehicle.default").click()
    expect(page.get_by_role("heading", name=f"Revision {STATE['layout_revision']}", level=1)).to_be_visible()
    # Later revisions came after it: the button says they go too, and the preview shows them.
    page.get_by_role("link", name="Undo this change and every later one…").click()
    expect(page.get_by_role("heading", name="The rollback would change")).to_be_visible()
    expect(page.locator('.diff-card[data-key="vehicle.default"] [data-status]')).to_have_text("removed")
    expect(page.locator('.diff-card[data-key="vehicle.price_at_least_1000"]')).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Roll back now").click()
    expect(page.get_by_role("status")).to_contain_text("Rolled back to revision")
    page.goto(f"/o/vehicle/{STATE['van']}")
    assert _record_fields(page) == STATE["before_drag"]


def test_a_label_holding_markup_stays_text_on_the_setup_screens_and_the_record_page(page: Page):
    dialogs: list[str] = []
    page.on("dialog", lambda dialog: (dialogs.append(dialog.message), dialog.dismiss()))
    sign_in(page, ADMIN)
    _new_field(page, "Text", "<script>alert(1)</script>", "script_alert_1_script")
    page.locator("#f-api_name").fill("remarks")
    _create_field(page)
    row = page.locator('.setup-fields-table [data-field-row="remarks"]')
    expect(row).to_contain_text("<script>alert(1)</script>")
    for url in ("/setup/objects/vehicle/layouts", "/setup/objects/vehicle/fields/remarks"):
        page.goto(url)
        expect(page.get_by_text("<script>alert(1)</script>").first).to_be_visible()
    page.goto(f"/o/vehicle/{STATE['van']}")
    expect(page.locator('.record-field[data-field="remarks"]')).to_contain_text("<script>alert(1)</script>")
    page.goto(f"/o/vehicle/{STATE['van']}/edit")
    expect(page.get_by_label("<script>alert(1)</script>")).to_be_visible()
    assert not dialogs


def test_a_sales_rep_gets_not_allowed_on_setup_and_sees_no_link_to_it(page: Page):
    sign_in(page, REP)
    open_user_menu(page)
    expect(page.locator("#user-menu + .dropdown-menu, .dropdown-menu.show").first).to_be_visible()
    expect(page.get_by_role("link", name="Setup")).to_have_count(0)
    for url in (
        "/setup",
        "/setup/objects",
        "/setup/objects/vehicle",
        "/setup/objects/vehicle/layouts",
        "/setup/objects/vehicle/validation-rules",
        "/setup/automations",
        "/setup/roles",
        "/setup/permissions",
        "/setup/revisions",
    ):
        response = page.goto(url)
        assert response.status == 403, url
        expect(page.get_by_role("heading", level=1)).to_be_visible()
        assert "vehicle" not in page.locator("main").inner_text().lower(), url
