"""Lead conversion in a real browser, as the demo's admin: the lead's
"Convert lead" button opens the screen, the likely existing account is
offered and chosen, an opportunity is opened with the fields asked for, and
the user lands on the account; on a phone, in Chinese, the screen fits."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from tests.browser.support import (
    ADMIN,
    PHONE,
    Watch,
    assert_accessible,
    assert_no_horizontal_scrolling,
    fill_sign_in,
    sign_in,
)

WIDE = {"width": 1366, "height": 900}


@pytest.fixture
def store(live):
    return record_store(live.instance, live.instance.db.bind(DEMO_TENANT), SystemGuard(), audit.SYSTEM)


def _lead(store, name: str, company: str) -> dict:
    first, last = name.split()
    return store.create("lead", {"first_name": first, "last_name": last, "full_name": name, "company": company})


def test_convert_a_lead_into_the_existing_account_and_a_new_opportunity(open_page, store):
    account = store.create("account", {"name": "Initech Ltd"})
    lead = _lead(store, "Peter Gibbons", "Initech")
    page = open_page(WIDE)
    sign_in(page, ADMIN)
    page.goto(f"/o/lead/{lead['id']}")
    page.locator(".record-actions").get_by_role("link", name="Convert lead").click()
    expect(page.get_by_role("heading", name="Convert lead: Peter Gibbons")).to_be_visible()
    expect(page.get_by_role("radio", name="Use existing: Initech Ltd")).to_be_checked()
    opportunity = page.locator('[data-target="opportunity"]')
    opportunity.get_by_label("Opportunity name").fill("Initech – TPS reports")
    opportunity.get_by_label("Close date").fill((dt.date.today() + dt.timedelta(days=45)).isoformat())
    opportunity.get_by_label("Amount").fill("25000")
    assert_accessible(page)
    page.get_by_role("button", name="Convert", exact=True).click()
    expect(page.get_by_role("heading", name="Initech Ltd")).to_be_visible()
    converted = store.get("lead", lead["id"])
    assert converted["status"] == "converted" and converted["converted_account"]["id"] == account["id"]
    assert converted["converted_opportunity"] is not None


def test_the_screen_fits_a_phone_in_chinese(browser, live, store, request):
    lead = _lead(store, "Li Lei", "Hanmeimei Trading")
    context = browser.new_context(base_url=live.url, viewport=PHONE, locale="zh-CN")
    watch = Watch(live.url)
    watch.attach(context)
    try:
        page = context.new_page()
        fill_sign_in(page, ADMIN)
        page.wait_for_url("**/")
        page.goto(f"/o/lead/{lead['id']}/convert")
        expect(page.get_by_role("heading", name="转化线索: Li Lei")).to_be_visible()
        expect(page.get_by_role("radio", name="不创建")).to_be_visible()
        assert_no_horizontal_scrolling(page)
        assert not watch.problems, watch.problems
    finally:
        context.close()
