"""Duplicates in a real browser, as the demo's admin: the record form warns
of a likely duplicate (crm_core's similar account name rule) and saves
anyway when asked; a list's bulk action "Merge" opens the merge screen,
which keeps the chosen values and moves the contacts to the survivor."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from tests.browser.support import ADMIN, PHONE, assert_accessible, assert_no_horizontal_scrolling, sign_in


@pytest.fixture
def store(live):
    return record_store(live.instance, live.instance.db.bind(DEMO_TENANT), SystemGuard(), audit.SYSTEM)


def test_the_form_warns_of_a_likely_duplicate_and_saves_anyway(page, store, open_page):
    store.create("account", {"name": "Umbrella Corporation", "phone": "555-0199"})
    sign_in(page, ADMIN)
    page.goto("/o/account/new")
    page.get_by_label("Account name").fill("UMBRELLA Corp.")
    page.get_by_role("button", name="Save", exact=True).click()
    warning = page.locator('[data-duplicates="warn"]')
    expect(warning).to_contain_text("This record may already exist")
    expect(warning.get_by_role("link", name="Umbrella Corporation")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("button", name="Save anyway").click()
    expect(page.get_by_role("heading", name="UMBRELLA Corp.")).to_be_visible()


def test_merge_from_the_list_keeps_chosen_values_and_moves_contacts(page, store, open_page):
    survivor = store.create("account", {"name": "Hooli", "phone": "555-0123"})
    loser = store.create("account", {"name": "Hooli XYZ", "website": "https://hooli.example"})
    contact = store.create("contact", {"last_name": "Belson", "full_name": "Gavin Belson", "account": loser["id"]})
    sign_in(page, ADMIN)
    page.goto("/o/account?q=Hooli&sort=name")
    page.get_by_label("Select Hooli", exact=True).check()
    page.get_by_label("Select Hooli XYZ").check()
    bulk = page.locator("#bulk-form")
    bulk.get_by_label("Action").select_option(label="Merge (2–3 records)")
    bulk.get_by_role("button", name="Apply to selected").click()
    expect(page.get_by_role("heading", name="Merge Accounts")).to_be_visible()
    assert_accessible(page)
    page.get_by_role("radio", name="Website: https://hooli.example").check()
    page.get_by_role("button", name="Merge").click()
    expect(page.get_by_role("heading", name="Hooli", exact=True)).to_be_visible()
    kept = store.get("account", survivor["id"])
    assert kept["website"] == "https://hooli.example" and kept["phone"] == "555-0123"
    assert store.get("contact", contact["id"])["account"]["id"] == survivor["id"]
    phone = open_page(PHONE)
    sign_in(phone, ADMIN)
    third = store.create("account", {"name": "Pied Piper"})
    phone.goto(f"/o/account/merge?ids={survivor['id']},{third['id']}")
    assert_no_horizontal_scrolling(phone)
