"""The rule editors of setup in a real browser (issue 11, items 4 and 8):
the admin writes a validation rule, meets a type error with its line and
column while typing, fixes it and saves; a sales rep then meets its message
on the record form. The admin writes an automation and dry-runs it on a
record picked by typeahead: what would change shows, nothing is written.
The screens on a phone; axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from metacrm.access.guard import SystemGuard
from metacrm.cli import DEMO_TENANT
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.tables import automation_outbox
from tests.browser.support import (
    ADMIN,
    PHONE,
    USERS,
    assert_accessible,
    assert_no_horizontal_scrolling,
    sign_in,
)

REP = USERS["sales_rep"]


@pytest.fixture(scope="module")
def store(live):
    """The record store acting as the rep (to seed and check records)."""
    instance = live.instance
    rep = audit.Actor(user_id=identities.user_id_of(instance, REP), email=REP)
    return record_store(instance, instance.db.bind(DEMO_TENANT), SystemGuard(), rep)


def _field(page, name):
    return page.locator(f'[data-field="{name}"]')


def test_an_admin_writes_a_validation_rule_fixing_a_type_error_and_a_rep_meets_its_message(open_page):
    admin = open_page()
    sign_in(admin, ADMIN)
    admin.goto("/setup/objects/opportunity/validation-rules")
    expect(admin.get_by_role("heading", level=1)).to_have_text("Opportunity")
    admin.get_by_role("link", name="New validation rule").click()
    expect(admin).to_have_url(re.compile(r"/validation-rules/new$"))
    admin.wait_for_load_state("load")  # the page's scripts are attached
    admin.get_by_label("Label").fill("Big deals have a next step")
    expect(admin.get_by_label("API name")).to_have_value("big_deals_have_a_next_step")  # suggested from the label
    condition = admin.get_by_label("Error condition")
    condition.fill('AND(amount > "lots", ISBLANK(next_step))')
    check = _field(admin, "condition").get_by_role("alert")
    expect(check).to_contain_text(re.compile(r"Line 1, column \d+"))  # live, as the admin types
    condition.fill("AND(amount > 100000, ISBLANK(next_step))")
    expect(_field(admin, "condition").get_by_role("status")).to_contain_text("The rule is valid.")
    admin.get_by_label("Error message (English)").fill("A big deal needs a next step")
    admin.get_by_label("Error message (Chinese)").fill("大单需要下一步")
    admin.get_by_label("Show the message beside").select_option(label="Next step")
    assert_accessible(admin)
    admin.get_by_role("button", name="Save").click()
    expect(admin).to_have_url(re.compile(r"/setup/objects/opportunity/validation-rules$"))
    row = admin.locator('tr[data-rule="big_deals_have_a_next_step"]')
    expect(row).to_contain_text("A big deal needs a next step")
    expect(admin.get_by_role("status").filter(has_text="saved")).to_be_visible()

    rep = open_page()
    sign_in(rep, REP)
    rep.goto("/o/opportunity/new")
    rep.get_by_label("Opportunity name").fill("Harbour expansion")
    rep.get_by_label("Close date").fill("2030-06-30")
    rep.get_by_label("Amount").fill("250000")
    rep.get_by_label("Stage").select_option("prospecting")
    rep.get_by_role("button", name="Save").click()
    expect(_field(rep, "next_step").get_by_role("alert")).to_contain_text("A big deal needs a next step")
    rep.get_by_label("Next step").fill("Send the proposal")
    rep.get_by_role("button", name="Save").click()
    expect(rep).to_have_url(re.compile(r"/o/opportunity/\d+$"))


def test_an_admin_dry_runs_an_automation_on_a_chosen_record(page, store):
    deal = store.create(
        "opportunity", {"name": "Lighthouse renewal", "stage": "proposal", "close_date": "2030-01-31", "amount": 5000}
    )
    sign_in(page, ADMIN)
    page.goto("/setup/automations")
    page.get_by_role("link", name="New automation", exact=True).click()
    expect(page).to_have_url(re.compile(r"/setup/automations/new$"))
    page.wait_for_load_state("load")
    page.get_by_label("Object the rule watches").select_option(label="Opportunity")  # the form follows the choice
    expect(page).to_have_url(re.compile(r"/setup/automations/new\?object=opportunity$"))
    page.wait_for_load_state("load")
    page.get_by_label("Label").fill("Chase big deals")
    rule = page.get_by_role("textbox", name="Rule", exact=True)
    rule.fill("WHEN updated IF amount > 1000 THEN SET nxt_step = 1")
    expect(_field(page, "rule").get_by_role("alert")).to_contain_text("Line 1, column 40")
    rule.fill('WHEN updated IF amount > 1000 THEN SET next_step = "Call the buyer"; NOTIFY owner_id "Big: {{name}}"')
    expect(_field(page, "rule").get_by_role("status")).to_contain_text("The rule is valid.")
    page.get_by_role("button", name="Save").click()
    expect(page).to_have_url(re.compile(r"/setup/automations/opportunity/chase_big_deals$"))

    expect(_field(page, "record_id").locator(".ts-wrapper")).to_be_visible()  # the typeahead is ready
    record = page.get_by_role("combobox", name="Record")
    record.click()
    record.press_sequentially("lighthouse")
    page.get_by_role("option", name="Lighthouse renewal").click()
    expect(page.locator(".ts-dropdown")).to_be_hidden()  # the list closes once a record is chosen
    page.get_by_role("button", name="Run the dry run").click()
    result = page.locator("#dry-run-result")
    expect(result).to_contain_text("nothing was saved")
    expect(result).to_contain_text("Call the buyer")
    expect(result).to_contain_text("Notify")
    assert_accessible(page)
    assert store.get("opportunity", deal["id"])["next_step"] is None


def test_the_rule_screens_work_on_a_phone(open_page, live):
    with live.instance.db.bind(DEMO_TENANT).begin() as conn:
        conn.execute(
            automation_outbox.insert().values(
                kind="webhook",
                rule="opportunity.stage_probability",
                object="opportunity",
                record_id=1,
                payload={"url": "https://hooks.example.com/services/T0001/B0001/a-long-secret-path", "body": {}},
                status="failed",
                attempts=6,
                last_error="the webhook could not be reached: Name or service not known",
                created_at=utcnow(),
            )
        )
    phone = open_page(PHONE)
    sign_in(phone, ADMIN)
    for url in (
        "/setup/automations",
        "/setup/automations/opportunity/stage_probability",
        "/setup/automations/runs",
        "/setup/outbox",
        "/setup/objects/opportunity/validation-rules",
        "/setup/objects/opportunity/validation-rules/amount_not_negative",
    ):
        phone.goto(url)
        expect(phone.get_by_role("heading", level=1)).to_be_visible()
        assert_no_horizontal_scrolling(phone)
        if url == "/setup/outbox":
            expect(phone.get_by_role("button", name=re.compile(r"^Send #\d+ again$"))).to_be_visible()
            assert "a-long-secret-path" not in phone.content()
    assert_accessible(phone)
