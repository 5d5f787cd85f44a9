"""Public pools (公海) in a real browser, as the demo's users: a sales rep
claims a lead, sees the quota drop, returns it with a reason and is refused
during the cool-down; a manager assigns; someone outside the pools sees none;
the phone shows cards; zh_CN; axe on the way."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metacrm.access import pools as pool_service
from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import model_for, record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import (
    PHONE,
    USERS,
    Watch,
    assert_accessible,
    assert_no_horizontal_scrolling,
    fill_sign_in,
    sign_in,
)


@pytest.fixture
def pool_leads(live):
    """``pool_leads(*last_names)``: leads put in lead_pool (as if returned), their ids."""

    def make(*names: str) -> list[int]:
        binding = live.instance.db.bind(DEMO_TENANT)
        store = record_store(live.instance, binding, SystemGuard(), audit.SYSTEM)
        ids = [
            store.create("lead", {"first_name": "Pat", "last_name": n, "company": f"{n} Ltd", "source": "event"})["id"]
            for n in names
        ]
        with binding.begin() as conn:
            model = model_for(live.instance, binding)
            pool_service.return_to_pool(conn, model, "lead", ids, reason="seed", actor=audit.SYSTEM, pool="lead_pool")
        return ids

    return make


def _owner(live, record_id: int) -> int | None:
    binding = live.instance.db.bind(DEMO_TENANT)
    return record_store(live.instance, binding, SystemGuard(), audit.SYSTEM).get("lead", record_id)["owner_id"]


def _quota_left(page) -> int:
    return int(page.locator('[data-figure="quota-left"]').inner_text().split()[0])


def test_a_rep_claims_a_lead_returns_it_with_a_reason_and_meets_the_cool_down(page, live, pool_leads):
    (lovelace,) = pool_leads("Lovelace")
    sign_in(page, USERS["sales_rep"])
    page.goto("/pools")
    page.get_by_role("link", name="Lead pool").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Lead pool")
    assert_accessible(page)
    before = _quota_left(page)

    row = page.locator(f'[data-record-id="{lovelace}"]')
    expect(row.get_by_role("link", name="Pat Lovelace")).to_have_attribute("href", f"/o/lead/{lovelace}")
    row.get_by_role("button", name="Claim Pat Lovelace").click()
    expect(page.locator("#toasts")).to_contain_text("Records claimed: 1.")
    expect(page.locator('[data-figure="quota-left"]')).to_have_text(f"{before - 1} of 50")
    expect(page.locator(f'tr[data-record-id="{lovelace}"]')).to_have_count(0)

    page.get_by_label("Pat Lovelace", exact=True).check()  # under "Your Leads"
    page.get_by_role("button", name="Return to pool").click()
    reason = page.locator('[data-field="reason"]')
    expect(reason.get_by_role("alert")).to_have_text("Say why the records go back to the pool.")
    page.get_by_label("Pat Lovelace", exact=True).check()
    page.get_by_label("Reason").fill("Wrong region: they buy through the Munich office")
    page.get_by_role("button", name="Return to pool").click()
    expect(page.locator("#toasts")).to_contain_text("Records returned to the pool: 1.")
    expect(page.locator('[data-figure="quota-left"]')).to_have_text(f"{before} of 50")
    assert _owner(live, lovelace) is None

    row = page.locator(f'tr[data-record-id="{lovelace}"]')
    expect(row).to_contain_text("You returned it: claimable after")
    row.get_by_label("Select Pat Lovelace").check()
    page.get_by_role("button", name="Claim selected").click()
    expect(page.locator("#pool-error")).to_contain_text(f"Cool-down: you returned #{lovelace} less than 7 days ago")
    assert _owner(live, lovelace) is None
    assert_accessible(page)


def test_a_manager_assigns_a_lead_to_a_rep(page, live, pool_leads):
    (hopper,) = pool_leads("Hopper")
    sign_in(page, USERS["sales_manager"])
    page.goto("/pools/lead_pool")
    page.get_by_label("Select Pat Hopper").check()
    page.get_by_label("Assign to").select_option(label="Sales Rep")
    page.get_by_role("button", name="Assign selected").click()
    expect(page.locator("#toasts")).to_contain_text("Records assigned to Sales Rep: 1.")
    expect(page.locator(f'tr[data-record-id="{hopper}"]')).to_have_count(0)
    assert _owner(live, hopper) == identities.user_id_of(live.instance, USERS["sales_rep"])
    assert_accessible(page)


def test_someone_outside_the_pools_gets_no_pool(page):
    sign_in(page, USERS["service_agent"])
    page.goto("/pools")
    expect(page.get_by_text("You are not a member of any public pool.")).to_be_visible()
    page.goto("/pools/lead_pool")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()


def test_on_a_phone_records_are_cards_with_thumb_sized_targets(phone_page, pool_leads):
    (turing,) = pool_leads("Turing")
    sign_in(phone_page, USERS["sales_rep"])
    phone_page.goto("/pools/lead_pool")
    card = phone_page.locator(f'tr[data-record-id="{turing}"]')
    expect(card).to_be_visible()
    assert_no_horizontal_scrolling(phone_page)
    claim = card.get_by_role("button", name="Claim Pat Turing")
    for target in (claim, card.locator("label.pool-pick"), card.get_by_role("link", name="Pat Turing")):
        box = target.bounding_box()
        assert box["height"] >= 44, f"{target} is {box['height']} px high"
    assert card.bounding_box()["width"] <= PHONE["width"]
    claim.click()
    expect(phone_page.locator("#toasts")).to_contain_text("Records claimed: 1.")
    assert_no_horizontal_scrolling(phone_page)
    assert_accessible(phone_page)


def test_the_pool_speaks_chinese(browser, live, pool_leads):
    pool_leads("Zhang")
    watch = Watch(live.url)
    context = browser.new_context(base_url=live.url, viewport=PHONE, locale="zh-CN")
    watch.attach(context)
    try:
        page = context.new_page()
        fill_sign_in(page, USERS["sales_rep"])
        expect(page.get_by_role("navigation", name="主导航")).to_be_visible()
        page.goto("/pools/lead_pool")
        expect(page.get_by_role("heading", level=1)).to_have_text("线索公海")  # its Chinese name (crm_core)
        expect(page.get_by_text("剩余额度")).to_be_visible()
        expect(page.get_by_role("button", name="领取 Pat Zhang")).to_be_visible()
        expect(page.locator('td[data-field="company"]').first).to_have_attribute("data-label", "公司")
        assert_no_horizontal_scrolling(page)
    finally:
        context.close()
    assert not watch.problems, "the browser reported:\n" + "\n".join(watch.problems)
