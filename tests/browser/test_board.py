"""The kanban board in a real browser, as a sales rep: a card dragged to
another column is saved (the counts follow); a move a validation rule
refuses puts the card back with the reason in it; the phone stacks the
columns without sideways scrolling."""

from __future__ import annotations

import datetime as dt

import pytest
from playwright.sync_api import expect

from metacrm.app import create_app
from tests.browser.support import USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in
from tests.ui.list_demo import demo_of


@pytest.fixture(scope="module")
def deals(live):
    demo = demo_of(live.instance, create_app(instance=live.instance))
    past = (dt.date.today() - dt.timedelta(days=5)).isoformat()
    return {
        "mover": demo.opportunity(name="Mover deal", stage="qualification", amount="1000.00"),
        "late": demo.opportunity(name="Late deal", stage="closed_lost", amount="50.00", close_date=past),
    }


def column(page, value):
    return page.locator(f'[data-column="{value}"]')


def card(page, deal):
    return page.locator(f'.board-card[data-record-id="{deal["id"]}"]')


def test_dragging_a_card_saves_it_and_a_refused_move_comes_back_with_the_reason(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity")
    page.get_by_role("link", name="Board", exact=True).click()
    expect(page.get_by_role("heading", name="Opportunities", level=1)).to_be_visible()
    expect(column(page, "qualification").locator(".board-count")).to_have_text("1")
    expect(column(page, "qualification").locator(".board-sum")).to_contain_text("1,000.00")
    assert_accessible(page)

    card(page, deals["mover"]).drag_to(column(page, "proposal").locator(".board-cards"))
    expect(column(page, "proposal").locator(".board-count")).to_have_text("1")
    expect(column(page, "qualification").locator(".board-count")).to_have_text("0")
    expect(column(page, "proposal").locator(card(page, deals["mover"]))).to_have_count(1)

    card(page, deals["late"]).drag_to(column(page, "negotiation").locator(".board-cards"))
    late = column(page, "closed_lost").locator(card(page, deals["late"]))
    expect(late.get_by_role("alert")).to_contain_text("cannot close in the past")
    expect(column(page, "negotiation").locator(card(page, deals["late"]))).to_have_count(0)
    page.reload()
    expect(column(page, "closed_lost").locator(card(page, deals["late"]))).to_have_count(1)

    # The keyboard's way: focus the card, press the right arrow.
    card(page, deals["mover"]).focus()
    page.keyboard.press("ArrowRight")
    expect(column(page, "negotiation").locator(card(page, deals["mover"]))).to_have_count(1)
    expect(column(page, "negotiation").locator(".board-count")).to_have_text("1")
    expect(column(page, "proposal").locator(".board-count")).to_have_text("0")


def test_on_a_phone_the_columns_stack(phone_page, deals):
    sign_in(phone_page, USERS["sales_rep"])
    phone_page.goto("/o/opportunity/board?by=stage")
    expect(column(phone_page, "prospecting")).to_be_visible()
    assert_no_horizontal_scrolling(phone_page)
    assert_accessible(phone_page)


def test_at_1280_px_the_columns_scroll_inside_the_board_to_the_last_one(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.goto("/o/opportunity/board?by=stage")
    board = page.locator("#board")
    more = page.get_by_role("button", name="More columns")
    earlier = page.get_by_role("button", name="Earlier columns")
    expect(more).to_be_visible()  # the affordance: there are more columns to the right
    expect(earlier).to_be_hidden()
    assert_no_horizontal_scrolling(page)  # the page never scrolls sideways, the board does
    last = page.locator(".board-column").last
    for _ in range(10):
        if not more.is_visible():
            break
        more.click()
        page.wait_for_timeout(400)  # the smooth scroll
    expect(more).to_be_hidden()
    expect(earlier).to_be_visible()
    frame, column = board.bounding_box(), last.bounding_box()
    assert frame["x"] <= column["x"] and column["x"] + column["width"] <= frame["x"] + frame["width"] + 1
    assert_no_horizontal_scrolling(page)
    assert_accessible(page)
