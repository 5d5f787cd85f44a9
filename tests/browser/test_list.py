"""The list screen in a real browser, as a sales rep: sort by a header,
quick search, a filter, the where box checked live, inline edit with a
validation error first, bulk edit; the hidden field nowhere; the phone's
cards; no console error, CSP violation or serious accessibility problem."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import expect

from metacrm.app import create_app
from tests.browser.support import USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in
from tests.ui.list_demo import demo_of, hide_from_reps


@pytest.fixture(scope="module")
def deals(live):
    """Three opportunities of the sales rep (and one of the manager), probability hidden from reps."""
    demo = demo_of(live.instance, create_app(instance=live.instance))
    hide_from_reps(demo)
    made = {
        "alpha": demo.opportunity(name="Alpha rollout", stage="proposal", amount="300.00", probability="40"),
        "beta": demo.opportunity(name="Beta upgrade", stage="prospecting", amount="100.00"),
        "gamma": demo.opportunity(name="Gamma renewal", stage="negotiation", amount="200.00"),
    }
    demo.opportunity(owner="sales_manager", name="Manager's own deal")
    return made


def names(page) -> list[str]:
    return page.locator("tbody tr td.cell-name").all_inner_texts()


def test_a_sales_rep_sorts_searches_filters_and_checks_a_condition(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity")
    expect(page.get_by_role("heading", name="Opportunities", level=1)).to_be_visible()
    expect(page.locator("#list-count")).to_have_text("3 records")
    # The hidden field: no column, no filter, no sort option.
    expect(page.get_by_role("columnheader", name="Probability")).to_have_count(0)
    expect(page.locator('[data-field="probability"]')).to_have_count(0)
    expect(page.locator('#list-sort option[value="probability"]')).to_have_count(0)
    assert_accessible(page)

    page.get_by_role("link", name="Amount", exact=True).click()
    expect(page.get_by_role("columnheader", name="Amount")).to_have_attribute("aria-sort", "ascending")
    expect(page).to_have_url(re.compile(r"sort=amount"))
    assert names(page) == ["Beta upgrade", "Gamma renewal", "Alpha rollout"]
    page.get_by_role("link", name="Amount", exact=True).click()
    expect(page.get_by_role("columnheader", name="Amount")).to_have_attribute("aria-sort", "descending")
    expect(page.locator("tbody tr td.cell-name").first).to_have_text("Alpha rollout")

    page.get_by_label("Search Opportunities").fill("gamma")
    expect(page.locator("#list-count")).to_have_text("1 record")
    expect(page).to_have_url(re.compile(r"q=gamma"))
    page.get_by_label("Search Opportunities").fill("")
    expect(page.locator("#list-count")).to_have_text("3 records")

    page.get_by_role("button", name="Filters").click()
    page.get_by_label("Stage", exact=True).select_option("proposal")
    expect(page.locator("#list-count")).to_have_text("1 record")
    expect(page).to_have_url(re.compile(r"filter\.stage=proposal"))

    where = page.get_by_label("Condition (rule expression)")
    where.fill("amount >\n  > 1")
    alert = page.locator('[data-field="where"]').get_by_role("alert")
    expect(alert).to_contain_text(re.compile(r"Line 2, column 3"))
    assert_accessible(page)  # with the filter panel open
    where.fill("amount > 150")
    expect(page.get_by_text("The condition is valid.")).to_be_visible()
    page.get_by_role("button", name="Apply").click()
    expect(page).to_have_url(re.compile(r"where=amount"))
    expect(page.locator("#list-count")).to_have_text("1 record")


def test_inline_edit_shows_the_rule_error_in_the_cell_then_saves(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity?q=Beta")
    row = page.locator(f'tr[data-record-id="{deals["beta"]["id"]}"]')
    cell = row.locator('td[data-field="amount"]')
    cell.get_by_role("button", name="Edit Amount").click()
    cell.get_by_label("Amount", exact=True).fill("-1")
    cell.get_by_role("button", name="Save").click()
    expect(cell.get_by_role("alert")).to_have_text("The amount cannot be negative")
    cell.get_by_label("Amount", exact=True).fill("150")
    cell.get_by_role("button", name="Save").click()
    expect(cell).to_contain_text("150.00")
    expect(page.get_by_role("status").filter(has_text="Saved.")).to_be_visible()
    assert_accessible(page)


def test_bulk_edit_changes_the_ticked_rows(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity?sort=name")
    bulk = page.locator("#bulk-form")
    expect(bulk).to_be_hidden()
    page.get_by_label("Select Alpha rollout").check()
    page.get_by_label("Select Gamma renewal").check()
    expect(bulk.get_by_text("2 selected")).to_be_visible()
    assert_accessible(page)  # with the bulk bar
    bulk.get_by_label("Field").select_option(label="Next step")
    bulk.get_by_label("Next step").fill("Send the contract")
    bulk.get_by_role("button", name="Apply to selected").click()
    expect(page.get_by_role("status").filter(has_text="2 records done.")).to_be_visible()
    page.get_by_role("button", name="Filters").click()
    page.get_by_label("Show column Next step").check()
    for key in ("alpha", "gamma"):
        cell = page.locator(f'tr[data-record-id="{deals[key]["id"]}"] td[data-field="next_step"]')
        expect(cell).to_contain_text("Send the contract")


def test_assign_owner_fetches_the_members_when_chosen(page, deals):
    sign_in(page, USERS["sales_manager"])
    page.goto("/o/opportunity?q=Manager")
    page.get_by_label("Select Manager's own deal").check()
    bulk = page.locator("#bulk-form")
    expect(bulk.locator("#bulk-owner")).to_have_count(0)  # not in the page: fetched when the action is chosen
    bulk.get_by_label("Action").select_option(label="Assign owner")
    owner = bulk.get_by_label("New owner")
    expect(owner).to_be_visible()
    assert owner.locator("option").count() >= 2


def test_on_a_phone_rows_are_cards_and_nothing_scrolls_sideways(phone_page, deals):
    sign_in(phone_page, USERS["sales_rep"])
    phone_page.goto("/o/opportunity")
    card = phone_page.locator(f'tr[data-record-id="{deals["alpha"]["id"]}"]')
    expect(card.get_by_role("link", name="Alpha rollout")).to_be_visible()
    expect(card.locator('td[data-field="stage"]')).to_be_visible()
    expect(phone_page.get_by_role("columnheader").first).to_be_hidden()  # no table header: cards
    box = card.bounding_box()
    assert box["width"] <= 390 and box["height"] > 80
    assert_no_horizontal_scrolling(phone_page)
    assert_accessible(phone_page)
    phone_page.get_by_label("Sort by").select_option(label="Amount, descending")  # the phone's sort menu
    expect(phone_page).to_have_url(re.compile(r"sort=-amount"))
    expect(phone_page.locator("tbody tr td.cell-name").first).to_have_text("Alpha rollout")


def test_a_lookup_filter_picks_a_record_by_name_with_the_typeahead(page, deals, live):
    demo = demo_of(live.instance, create_app(instance=live.instance))
    zeta = demo.account(name="Zeta Shipping")
    demo.opportunity(name="Zeta freight", account=zeta["id"])
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity")
    page.get_by_role("button", name="Filters").click()
    # The list's columns come first, in their order.
    grid = page.locator('[data-filters="columns"] .filter')
    expect(grid.first).to_have_attribute("data-field", "name")
    expect(grid.nth(1)).to_have_attribute("data-field", "account")
    # The account filter is the record form's typeahead: type, pick, the list filters by the record's id.
    page.get_by_role("combobox", name="Account").click()
    page.keyboard.type("Zeta")
    page.get_by_role("option", name="Zeta Shipping").click()
    expect(page).to_have_url(re.compile(rf"filter\.account={zeta['id']}"))
    expect(page.locator("#list-count")).to_have_text("1 record")
    assert names(page) == ["Zeta freight"]
    assert_accessible(page)
    page.reload()  # the picked record keeps its name
    expect(page.locator('[data-field="account"] .ts-control')).to_contain_text("Zeta Shipping")
