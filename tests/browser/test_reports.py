"""Reports in a real browser, as the demo's users: a sales rep builds a
summary report in the builder and sees the live preview, saves it (private)
and opens it; a crm_core report on a phone, whose count opens the records
behind it; axe on the way."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from playwright.sync_api import expect

from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in


@pytest.fixture(scope="module")
def deals(live):
    """Open opportunities of the demo's sales rep (three prospecting, one proposal)."""
    binding = live.instance.db.bind(DEMO_TENANT)
    store = record_store(live.instance, binding, SystemGuard(), audit.SYSTEM)
    rep = identities.user_id_of(live.instance, USERS["sales_rep"])
    soon = (dt.date.today() + dt.timedelta(days=20)).isoformat()
    for i, stage in enumerate(["prospecting", "prospecting", "prospecting", "proposal"]):
        store.create(
            "opportunity",
            {"name": f"Report deal {i}", "stage": stage, "amount": str(1000 * (i + 1)), "close_date": soon},
            owner_id=rep,
        )


def test_a_rep_builds_a_summary_report_and_sees_the_preview(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.wait_for_load_state("load")  # the menus are Bootstrap's (a deferred script)
    page.get_by_role("button", name="Analytics").click()
    page.get_by_label("Analytics").get_by_role("link", name="Reports").click()
    expect(page.get_by_role("heading", name="Reports", exact=True)).to_be_visible()
    page.get_by_role("link", name="New report").click()
    page.wait_for_load_state("load")
    page.get_by_label("Report name").fill("My deals by stage")
    page.get_by_label("API name").fill("my_deals_by_stage")
    if page.get_by_role("combobox", name="Object").input_value() != "opportunity":
        page.get_by_role("combobox", name="Object").select_option("opportunity")  # reloads the builder with its fields
        page.wait_for_load_state("load")
        page.get_by_label("Report name").fill("My deals by stage")
        page.get_by_label("API name").fill("my_deals_by_stage")
    page.get_by_label("Summary").check()
    page.locator("#f-group1-field").select_option("stage")
    page.locator("#f-agg2-op").select_option("sum")
    page.locator("#f-agg2-field").select_option("amount")
    preview = page.locator("#report-preview")
    expect(preview.get_by_role("columnheader", name="Sum of Amount")).to_be_visible()
    expect(preview.get_by_role("rowheader", name="Prospecting")).to_be_visible()
    expect(preview.get_by_role("link", name="3", exact=True)).to_be_visible()
    # A filter that does not compile is shown at once, beside the box.
    page.get_by_label("Filter (rule expression)").fill("amount >")
    expect(page.locator("#f-filter-check .field-error")).to_be_visible()
    page.get_by_label("Filter (rule expression)").fill("amount > 1500")
    expect(page.locator("#f-filter-check .where-ok")).to_be_visible()
    expect(preview.get_by_role("link", name="2", exact=True)).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Save report").click()
    expect(page.get_by_role("heading", name="My deals by stage")).to_be_visible()
    assert page.url.endswith("/reports/my_deals_by_stage")


def test_a_crm_core_report_on_a_phone_opens_the_records_behind_a_count(phone_page, deals):
    page = phone_page
    sign_in(page, USERS["sales_rep"])
    page.goto("/reports")
    page.get_by_role("link", name=re.compile("^Pipeline by stage")).click()
    expect(page.get_by_role("heading", name="Pipeline by stage")).to_be_visible()
    assert_no_horizontal_scrolling(page)
    assert_accessible(page)
    page.locator(".report-summary").get_by_role("link", name="3", exact=True).click()
    expect(page).to_have_url(re.compile(r"/o/opportunity\?where="))
    expect(page.get_by_text("Report deal 0").first).to_be_visible()
