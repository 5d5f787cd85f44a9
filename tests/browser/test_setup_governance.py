"""Governance, apps and navigation in a real browser: the admin reorders the
navigation by dragging, opens the revision that made, reads its diff, and
rolls it back after seeing what the rollback would change; a sales rep works
in the Sales app and an admin switches apps; the governance screens fit a
phone."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import (
    ADMIN,
    PHONE,
    USERS,
    assert_accessible,
    assert_no_horizontal_scrolling,
    drag,
    sign_in,
)


def nav_objects(page):
    return page.locator('ul[aria-label="Objects"] [data-object]')


def test_the_admin_drags_the_navigation_then_rolls_the_change_back(page):
    sign_in(page, ADMIN)
    expect(nav_objects(page).first).to_have_attribute("data-object", "account")
    page.goto("/setup/apps")
    expect(page.get_by_role("heading", name="Apps and navigation", level=1)).to_be_visible()
    assert_accessible(page)

    items = page.locator(".nav-order-list > li")
    activity = page.locator('.nav-order-list > li[data-object="activity"]')
    drag(page, activity.locator(".drag-handle"), items.first, dx=20, dy=5)
    expect(items.first).to_have_attribute("data-object", "activity")
    page.get_by_role("button", name="Save the navigation").click()
    expect(page.get_by_role("status")).to_contain_text("The navigation is saved.")
    expect(nav_objects(page).first).to_have_attribute("data-object", "activity")

    # The move buttons do the same without a pointer (their script is deferred).
    page.wait_for_load_state("load")
    page.get_by_role("button", name="Move Accounts up").click()
    expect(items.first).to_have_attribute("data-object", "account")

    page.goto("/setup/revisions")
    page.get_by_role("link", name="order the navigation").first.click()
    expect(page.get_by_role("heading", name=re.compile(r"^Revision \d+$"), level=1)).to_be_visible()
    change = page.locator('.diff-card[data-key="activity"]')
    expect(change.locator('tr[data-property="nav_order"] .diff-before')).to_have_text("50")
    expect(change.locator('tr[data-property="nav_order"] .diff-after')).to_have_text("10")
    assert_accessible(page)

    page.get_by_role("link", name="Undo this change…").click()
    expect(page.get_by_role("heading", name="The rollback would change")).to_be_visible()
    preview = page.locator('.diff-card[data-key="activity"] tr[data-property="nav_order"]')
    expect(preview.locator(".diff-before")).to_have_text("10")
    expect(preview.locator(".diff-after")).to_have_text("50")
    page.get_by_role("button", name="Roll back now").click()
    expect(page.get_by_role("status")).to_contain_text("Rolled back to revision")
    expect(nav_objects(page).first).to_have_attribute("data-object", "account")


def test_a_rep_works_in_the_sales_app_and_an_admin_switches_apps(open_page):
    rep = open_page()
    sign_in(rep, USERS["sales_rep"])
    expect(nav_objects(rep).first).to_have_attribute("data-object", "account")
    expect(rep.locator("#app-switcher")).to_have_count(0)
    expect(rep.locator('ul[aria-label="Objects"] > li > a[data-object="case"]')).to_have_count(0)  # under "More"

    admin = open_page()
    sign_in(admin, ADMIN)
    admin.locator("#app-switcher").click()
    admin.get_by_role("link", name="Service").click()
    expect(admin.locator("#app-switcher")).to_contain_text("Service")
    bar = admin.locator('ul[aria-label="Objects"] > li > a[data-object]')
    expect(bar).to_have_count(5)  # the Service app's objects (crm_core's apps.yaml)
    expect(bar.nth(2)).to_have_attribute("data-object", "case")
    assert_accessible(admin)


def test_the_governance_screens_fit_a_phone(open_page):
    page = open_page(PHONE)
    sign_in(page, ADMIN)
    for url, heading in (
        ("/setup/revisions", "Revisions"),
        ("/setup/revisions/1", "Revision 1"),
        ("/setup/recycle-bin", "Recycle bin"),
        ("/setup/audit", "Audit log"),
        ("/setup/plugins", "Plugins"),
        ("/setup/settings", "Organisation settings"),
        ("/setup/apps", "Apps and navigation"),
    ):
        page.goto(url)
        expect(page.get_by_role("heading", name=heading, level=1)).to_be_visible()
        assert_no_horizontal_scrolling(page)
    assert_accessible(page)
