"""Approvals in a real browser, as the demo's users: a sales rep submits a
big deal from its record page, the sales manager approves it on a phone
from "My approvals" with a comment, and the rep's record page then shows
the outcome and the timeline the events."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import metadata_service, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import USERS, assert_accessible, assert_no_horizontal_scrolling, open_user_menu, sign_in

PROCESS = {
    "api_name": "big_deal",
    "label": "Big deal",
    "entry_condition": "amount > 10000",
    "steps": [{"name": "manager", "label": "Sales manager", "approvers": [{"type": "role", "name": "sales_manager"}]}],
}


@pytest.fixture(scope="module")
def big_deal(live):
    """An opportunity of the demo's sales rep that needs approval, its id."""
    binding = live.instance.db.bind(DEMO_TENANT)
    with metadata_service(live.instance, binding, audit.SYSTEM).change("approvals") as tx:
        tx.put("approval_process", "opportunity", PROCESS)
    rep = identities.user_id_of(live.instance, USERS["sales_rep"])
    store = record_store(live.instance, binding, SystemGuard(), audit.SYSTEM)
    values = {"name": "Pagoda roof", "stage": "proposal", "amount": "25000", "close_date": "2030-06-30"}
    return store.create("opportunity", values, owner_id=rep)["id"]


def test_a_rep_submits_and_the_manager_approves_on_a_phone(page, phone_page, big_deal):
    sign_in(page, USERS["sales_rep"])
    page.goto(f"/o/opportunity/{big_deal}")
    card = page.locator(".record-approval")
    card.get_by_label("Comment").fill("Discount agreed with the customer")
    card.get_by_role("button", name="Submit for approval").click()
    expect(page.get_by_text("Submitted for approval.")).to_be_visible()
    expect(card.locator(".badge")).to_have_text("Waiting for approval")
    expect(card.get_by_role("button", name="Recall")).to_be_visible()
    expect(card.locator('[data-field="approvers"]')).to_have_text("Waiting for: Sales Manager")

    manager = phone_page
    sign_in(manager, USERS["sales_manager"])
    open_user_menu(manager)
    manager.get_by_role("link", name="My approvals").click()
    expect(manager.get_by_role("heading", name="My approvals")).to_be_visible()
    item = manager.locator(f'[data-record-id="{big_deal}"]')
    expect(item.get_by_role("link", name="Pagoda roof")).to_be_visible()
    expect(item).to_contain_text("Discount agreed with the customer")
    assert_no_horizontal_scrolling(manager)
    assert_accessible(manager)
    item.get_by_label("Comment").fill("Go ahead")
    item.get_by_role("button", name="Approve").click()
    expect(manager.get_by_text("Approved.")).to_be_visible()
    expect(manager.get_by_text("Nothing waits for your approval.")).to_be_visible()

    page.reload()
    expect(card.locator(".badge")).to_have_text("Approved")
    expect(card).to_contain_text("Go ahead")
    expect(page.locator('.timeline-entry[data-kind="approval"]')).to_have_count(2)
