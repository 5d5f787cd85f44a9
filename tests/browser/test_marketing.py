"""Marketing in a real browser: the public web-to-lead form works without
signing in under the strict CSP (accessible, readable on a phone) and its
post becomes a web lead; a marketer previews a campaign's e-mail on a phone
and sends it."""

from __future__ import annotations

import os

import pytest
import sqlalchemy as sa
from playwright.sync_api import expect

from metacrm.app import create_app
from metacrm.cli import DEMO_TENANT
from metacrm.metadata.model import model_for
from tests.browser.support import (
    PHONE,
    USERS,
    Watch,
    assert_accessible,
    assert_no_horizontal_scrolling,
    sign_in,
)
from tests.ui.list_demo import demo_of

SCREENSHOTS = os.environ.get("METACRM_SCREENSHOTS")  # a folder: save the screens there too


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, name), full_page=True)


@pytest.fixture(scope="module")
def campaign(live):
    demo = demo_of(live.instance, create_app(instance=live.instance))
    lead = demo.create(
        "lead", "marketing", last_name="王", first_name="芳", email="fang@example.com", preferred_language="zh_cn"
    )
    record = demo.create("campaign", "marketing", name="Spring launch", status="active")
    demo.create("campaign_member", "marketing", campaign=record["id"], lead=lead["id"], status="planned")
    return record


def test_the_public_form_creates_a_web_lead_without_signing_in(page, live):
    page.goto(f"{live.url}/f/{DEMO_TENANT}/contact_us")
    expect(page.get_by_role("heading", name="Contact us", level=1)).to_be_visible()
    assert_accessible(page)
    shot(page, "web-form-desktop.png")
    page.get_by_role("button", name="Send").click()
    expect(page.locator('[data-field="last_name"] [role="alert"]')).to_be_visible()
    page.get_by_label("Last name").fill("Visitor")
    page.get_by_label("E-mail").fill("visitor@example.com")
    page.get_by_label("How can we help?").fill("A demo, please.")
    page.get_by_role("button", name="Send").click()
    expect(page.get_by_role("status")).to_have_text("Thank you! We will be in touch soon.")
    binding = live.instance.db.bind(DEMO_TENANT)
    table = model_for(live.instance, binding).object("lead").table
    with binding.connect() as conn:
        row = conn.execute(sa.select(table.c.source, table.c.status).where(table.c.last_name == "Visitor")).one()
    assert (row.source, row.status) == ("web", "new")


def test_the_form_in_chinese_on_a_phone(browser, live):
    watch = Watch(live.url)
    context = browser.new_context(base_url=live.url, viewport=PHONE, locale="zh-CN")
    watch.attach(context)
    try:
        page = context.new_page()
        page.goto(f"/f/{DEMO_TENANT}/contact_us")
        expect(page.get_by_role("heading", name="联系我们", level=1)).to_be_visible()
        expect(page.get_by_label("我们能为您做什么？")).to_be_visible()
        assert_no_horizontal_scrolling(page)
        shot(page, "web-form-phone-zh.png")
    finally:
        context.close()
    assert not watch.problems, watch.problems


def test_a_marketer_previews_and_sends_a_campaign_email_on_a_phone(phone_page, live, campaign):
    sign_in(phone_page, USERS["marketing"])
    phone_page.goto(f"{live.url}/marketing/campaigns/{campaign['id']}/mass-email")
    phone_page.get_by_label("E-mail template").select_option("product_update")
    phone_page.get_by_role("button", name="Preview").click()
    expect(phone_page.locator("[data-recipients]")).to_have_attribute("data-recipients", "1")
    expect(phone_page.locator("#mass-email-preview")).to_contain_text("王芳，本月新动态")
    assert_no_horizontal_scrolling(phone_page)
    assert_accessible(phone_page)
    shot(phone_page, "mass-email-phone.png")
    phone_page.get_by_role("button", name="Send to 1 recipient").click()
    expect(phone_page.get_by_text("1 e-mail is queued in the outbox.")).to_be_visible()
