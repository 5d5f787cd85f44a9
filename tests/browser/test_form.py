"""Record forms in a real browser, as the demo's sales rep: a validation
error first, then fixed; a layout condition showing a field live (the
server evaluates it); the lookup typeahead picking an account; an edit
conflict with "overwrite"; the phone; zh_CN; axe."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from metacrm.access.guard import SystemGuard
from metacrm.cli import DEMO_TENANT
from metacrm.metadata.model import metadata_service, model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in

REP = USERS["sales_rep"]
LOSS_RULES = {"loss_reason": {"visible": "stage = 'closed_lost'", "required": "stage = 'closed_lost'"}}


@pytest.fixture(scope="module")
def demo(live):
    return seed_demo(live)


def seed_demo(live):
    """The demo with a layout condition on opportunities and accounts of the
    rep's; the record store acting as the rep (to check and change records)."""
    instance = live.instance
    binding = instance.db.bind(DEMO_TENANT)
    rep = audit.Actor(user_id=identities.user_id_of(instance, REP), email=REP)
    layout = next(d.document for d in model_for(instance, binding).definitions.scoped("layout", "opportunity"))
    with metadata_service(instance, binding, audit.Actor(email="test")).change("loss reason when lost") as tx:
        tx.put_layout("opportunity", {**layout, "field_rules": LOSS_RULES})
    store = record_store(instance, binding, SystemGuard(), rep)
    store.create("account", {"name": "Acme Trading"})
    store.create("account", {"name": "Zenith Foods"})
    return store


def _field(page, name):
    return page.locator(f'[data-field="{name}"]')


def test_a_sales_rep_creates_an_opportunity_fixing_an_error_first(page, demo):
    sign_in(page, REP)
    page.goto("/o/opportunity/new")
    expect(page.get_by_role("heading", name="Opportunity", exact=True)).to_be_visible()
    expect(page.get_by_label("Loss reason")).to_have_count(0)  # hidden until the stage is "Closed lost"

    page.get_by_role("button", name="Save").click()
    expect(_field(page, "name").get_by_role("alert")).to_contain_text("Is required")
    expect(page.get_by_label("Opportunity name")).to_have_attribute("aria-invalid", "true")

    page.get_by_label("Opportunity name").fill("Acme renewal")
    expect(_field(page, "account").locator(".ts-wrapper")).to_be_visible()  # the typeahead is ready
    account = page.get_by_role("combobox", name="Account")
    account.click()
    account.press_sequentially("acme")
    page.get_by_role("option", name="Acme Trading").click()
    page.get_by_label("Close date").fill("2026-12-31")
    page.get_by_label("Amount").fill("12000")
    page.get_by_label("Stage").select_option("closed_lost")
    loss = page.get_by_label("Loss reason")
    expect(loss).to_be_visible()  # the server said so, live
    expect(loss).to_have_attribute("required", "")
    assert_accessible(page)
    page.get_by_role("button", name="Save").click()
    expect(_field(page, "loss_reason").get_by_role("alert")).to_contain_text("Is required")
    expect(page.get_by_label("Opportunity name")).to_have_value("Acme renewal")  # what was typed stays
    page.get_by_label("Loss reason").select_option(label="No budget")
    page.get_by_role("button", name="Save").click()

    expect(page).to_have_url(re.compile(r"/o/opportunity/\d+$"))
    record_id = int(page.url.rsplit("/", 1)[1])
    saved = demo.get("opportunity", record_id)
    assert saved["account"]["name"] == "Acme Trading" and saved["loss_reason"] == "no_budget"
    assert saved["stage"] == "closed_lost" and str(saved["amount"]) == "12000.00"


def test_an_edit_conflict_shows_what_changed_and_can_overwrite(page, demo):
    deal = demo.create("opportunity", {"name": "Zenith pilot", "stage": "prospecting", "close_date": "2027-01-31"})
    sign_in(page, REP)
    page.goto(f"/o/opportunity/{deal['id']}/edit")
    expect(page.get_by_role("heading", name="Zenith pilot")).to_be_visible()
    demo.update("opportunity", deal["id"], {"next_step": "Call the CFO"})  # someone else, meanwhile
    page.get_by_label("Next step").fill("Send the proposal")
    page.get_by_role("button", name="Save").click()

    conflict = page.get_by_role("alert").filter(has_text="Someone else changed this record")
    expect(conflict).to_be_visible()
    expect(conflict.locator('[data-field="next_step"]')).to_contain_text("Call the CFO")
    expect(page.get_by_label("Next step")).to_have_value("Send the proposal")
    assert_accessible(page)
    page.get_by_role("button", name="Overwrite their changes").click()
    expect(page).to_have_url(re.compile(rf"/o/opportunity/{deal['id']}$"))
    assert demo.get("opportunity", deal["id"])["next_step"] == "Send the proposal"


def test_the_form_on_a_phone_in_chinese(open_page, demo):
    page = open_page({"width": 390, "height": 844})
    rep = identities.user_id_of(demo.instance, REP)
    sign_in(page, REP)
    identities.set_preferences(demo.instance, rep, locale="zh_CN", time_zone="Asia/Shanghai")
    try:
        page.goto("/o/opportunity/new")
        expect(page.get_by_role("heading", name="商机", exact=True)).to_be_visible()
        expect(page.get_by_label("阶段")).to_have_value("prospecting")  # the field's default
        page.get_by_role("button", name="保存").click()
        expect(_field(page, "name").get_by_role("alert")).to_contain_text("为必填项")
        assert_no_horizontal_scrolling(page)
        for control in (page.get_by_role("button", name="保存"), page.get_by_label("商机名称")):
            assert control.bounding_box()["height"] >= 44
        assert_accessible(page)
    finally:
        identities.set_preferences(demo.instance, rep, locale=None, time_zone=None)
