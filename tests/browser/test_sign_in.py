"""Signing in and out in a real browser, as the demo's users, on desktop and
phone, with an accessibility pass; API tokens through htmx under the strict CSP."""

from __future__ import annotations

import re

from playwright.sync_api import expect

from tests.browser.support import (
    ADMIN,
    DESKTOP,
    USERS,
    Watch,
    assert_accessible,
    assert_no_horizontal_scrolling,
    fill_sign_in,
    new_page,
    sign_in,
    sign_out,
)


def test_the_sign_in_page_is_accessible(page):
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    expect(page.get_by_label("Organisation")).to_have_value("demo")  # the instance's default
    assert_accessible(page)


def test_a_wrong_password_is_answered_beside_the_field_then_the_right_one_signs_in(page):
    fill_sign_in(page, ADMIN, password="not the password")
    password = page.locator('[data-field="password"]')
    expect(password.get_by_role("alert")).to_contain_text("Wrong e-mail address, password or organisation.")
    expect(page.get_by_label("Password")).to_have_attribute("aria-invalid", "true")
    expect(page.get_by_label("E-mail")).to_have_value(ADMIN)  # what the user typed stays
    assert_accessible(page)

    sign_in(page, ADMIN)
    expect(page.get_by_role("heading", name="Demo Company")).to_be_visible()
    expect(page.get_by_text("Signed in as Demo Admin")).to_be_visible()


def test_an_empty_form_names_each_missing_field(page):
    page.goto("/login")
    page.get_by_role("button", name="Sign in").click()
    for name in ("email", "password"):
        expect(page.locator(f'[data-field="{name}"]').get_by_role("alert")).to_have_text("Required.")
    expect(page.locator('[data-field="tenant"]').get_by_role("alert")).to_have_count(0)


def test_the_account_page_creates_and_revokes_an_api_token_through_htmx(page):
    sign_in(page, ADMIN)
    expect(page.get_by_role("heading", name="Recent activity")).to_be_visible()  # an admin sees the audit
    assert_accessible(page)
    page.goto("/account")

    page.get_by_label("New token name").fill("ERP sync")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_role("status")).to_contain_text("New token:")
    row = page.get_by_role("row").filter(has_text="ERP sync")
    expect(row).to_have_count(1)

    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Revoke").click()
    expect(row.get_by_text("revoked")).to_be_visible()


def test_a_sales_rep_signs_out_and_the_start_page_asks_to_sign_in_again(page):
    sign_in(page, USERS["sales_rep"])
    expect(page.get_by_text("Signed in as Sales Rep")).to_be_visible()
    expect(page.get_by_role("heading", name="Recent activity")).to_have_count(0)  # not an admin

    sign_out(page)
    expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login"))


def test_on_a_phone_nothing_scrolls_sideways(phone_page):
    phone_page.goto("/login")
    assert_no_horizontal_scrolling(phone_page)
    sign_in(phone_page, ADMIN)  # the widest start page: tokens and the audit table
    expect(phone_page.get_by_role("heading", name="Recent activity")).to_be_visible()
    assert_no_horizontal_scrolling(phone_page)
    assert_accessible(phone_page)


def test_the_watch_sees_a_csp_violation_a_script_error_and_a_request_leaving_the_app(browser, live):
    """The harness is not blind: what the page fixture fails a test on is seen."""
    watch = Watch(live.url)
    page = new_page(browser, live, DESKTOP, watch)
    try:
        page.goto("/login")
        page.evaluate("document.body.insertAdjacentHTML('beforeend', '<p style=\"color: red\">inline style</p>')")
        page.evaluate("fetch('https://cdn.example.com/lib.js').catch(() => null)")
        page.evaluate("setTimeout(() => { throw new Error('boom') }, 0)")
        page.wait_for_timeout(200)
        # The CSP stops what a page loads; a navigation it does not: the route does.
        page.evaluate("window.location.assign('https://elsewhere.example/')")
        page.wait_for_timeout(200)
    finally:
        page.context.close()
    report = "\n".join(watch.problems)
    assert "CSP violation: style-src" in report
    assert "CSP violation: connect-src blocked https://cdn.example.com/lib.js" in report
    assert "request to another origin: https://elsewhere.example/" in report
    assert "page error: boom" in report


def test_a_page_that_does_not_exist_says_so_and_leads_back(page):
    sign_in(page, USERS["read_only"])
    page.goto("/no-such-page")
    expect(page.get_by_role("heading", name="Not found")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("link", name="Back to the start page").click()
    expect(page.get_by_text("Signed in as Read Only")).to_be_visible()
