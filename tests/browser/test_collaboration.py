"""Collaboration and the satisfaction survey in a real browser: the demo's
sales rep comments on an account (htmx, no reload), mentions a colleague who
may read it and is refused one who may not (the message beside the box),
follows the record; on a phone the comment box fits; a customer answers a
closed case's survey without signing in."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from metacrm.cli import DEMO_TENANT
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import record_store
from metacrm.platform import audit
from metacrm.platform import identity as identities
from tests.browser.support import ADMIN, USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in


@pytest.fixture(scope="module")
def seeded(live):
    instance = live.instance
    binding = instance.db.bind(DEMO_TENANT)
    users = {row["email"]: row["id"] for row in identities.list_users(instance, DEMO_TENANT)}
    rep = users[USERS["sales_rep"]]
    store = record_store(instance, binding, SystemGuard(), audit.Actor(user_id=rep, email=USERS["sales_rep"]))
    account = store.create("account", {"name": "Yangtze Shipping"})
    case = store.create("case", {"subject": "Container delayed", "origin": "phone"})
    case = store.update("case", case["id"], {"status": "closed"})
    return {"account": account, "survey": case["survey_url"]}


def test_a_rep_comments_mentions_and_follows_without_a_reload(page, seeded):
    sign_in(page, USERS["sales_rep"])
    page.goto(f"/o/account/{seeded['account']['id']}")
    page.evaluate("window.stayedOnPage = true")  # gone if the page reloads
    page.get_by_role("tab", name="Comment").click()

    box = page.get_by_role("textbox", name="Comment", exact=True)
    box.fill(f"@{USERS['service_agent']} can you help?")
    page.get_by_role("button", name="Post comment").click()
    expect(page.locator('[data-field="body"] [role="alert"]')).to_have_text(
        f"{USERS['service_agent']} cannot read this record, so they cannot be mentioned."
    )
    expect(box).to_have_value(f"@{USERS['service_agent']} can you help?")  # kept for correcting

    box.fill(f"Shipping terms agreed, see https://example.com/terms @{ADMIN}")
    page.get_by_role("button", name="Post comment").click()
    comment = page.locator('.timeline-entry[data-kind="comment"]')
    expect(comment).to_contain_text("Shipping terms agreed")
    expect(comment.get_by_role("link", name="https://example.com/terms")).to_be_visible()

    page.get_by_role("button", name="Follow").click()
    expect(page.get_by_role("button", name="Following")).to_have_attribute("aria-pressed", "true")
    assert page.evaluate("window.stayedOnPage") is True
    assert_accessible(page)


def test_on_a_phone_a_customer_answers_the_survey_once_and_the_comment_box_fits(phone_page, seeded):
    phone_page.goto(seeded["survey"])
    expect(phone_page.get_by_role("heading", name="How did we do?")).to_be_visible()
    expect(phone_page.get_by_text("Container delayed")).to_have_count(0)
    phone_page.get_by_text("4", exact=True).click()
    phone_page.get_by_label("Anything you want to tell us? (optional)").fill("Quick and friendly")
    assert_accessible(phone_page)
    phone_page.get_by_role("button", name="Send").click()
    expect(phone_page.get_by_role("status")).to_have_text("Thank you! Your answer has been recorded.")
    phone_page.goto(seeded["survey"])
    expect(phone_page.get_by_role("status")).to_have_text("This survey has already been answered. Thank you!")
    assert_no_horizontal_scrolling(phone_page)

    sign_in(phone_page, USERS["sales_rep"])
    phone_page.goto(f"/o/account/{seeded['account']['id']}")
    phone_page.get_by_role("tab", name="Comment").click()
    expect(phone_page.get_by_role("textbox", name="Comment", exact=True)).to_be_visible()
    assert_no_horizontal_scrolling(phone_page)
