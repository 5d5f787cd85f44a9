"""Charts, the forecast and dashboards in a real browser: charts draw under
the strict CSP with no console error, a click on a bar opens the records
behind it, and the forecast reads on a phone without sideways scrolling."""

from __future__ import annotations

import datetime as dt
import os

import pytest
from playwright.sync_api import expect

from metacrm.app import create_app
from metacrm.data.forecast.service import parse_period
from tests.browser.support import USERS, assert_accessible, assert_no_horizontal_scrolling, sign_in
from tests.ui.list_demo import demo_of

SCREENSHOTS = os.environ.get("METACRM_SCREENSHOTS")  # a folder: save the screens there too


@pytest.fixture(scope="module")
def deals(live):
    demo = demo_of(live.instance, create_app(instance=live.instance))
    today = dt.date.today()
    period = parse_period(None, today=today)
    won = demo.opportunity(name="Forecast won", stage="closed_won", amount="4000.00", close_date=today.isoformat())
    open_deal = demo.opportunity(
        name="Forecast open", stage="negotiation", amount="2500.00", close_date=period.last_day.isoformat()
    )
    boss = demo.opportunity(
        owner="sales_manager", name="Manager's deal", stage="proposal", amount="900.00", close_date=today.isoformat()
    )
    demo.create(
        "quota",
        "sales_rep",
        name="Rep quota",
        period_type="quarter",
        period_start=period.start.isoformat(),
        amount="10000",
    )
    for i, (source, status) in enumerate([("web", "new"), ("web", "converted"), ("referral", "new")]):
        # A converted lead as Convert lead leaves it: the status with the moment it was converted.
        converted = {"converted_at": "2026-01-05T10:00:00+00:00"} if status == "converted" else {}
        values = {"last_name": f"Lead {i}", "company": f"Company {i}", "source": source, "status": status}
        demo.create("lead", "sales_rep", **values, **converted)
    return {"period": period, "won": won, "open": open_deal, "boss": boss}


def shot(page, name: str) -> None:
    if SCREENSHOTS:
        page.screenshot(path=os.path.join(SCREENSHOTS, name), full_page=True)


def test_the_forecast_chart_draws_and_a_bar_opens_its_records(page, deals):
    sign_in(page, USERS["sales_manager"])
    page.wait_for_load_state("load")  # the menus are Bootstrap's (a deferred script)
    page.get_by_role("button", name="Analytics").click()
    page.get_by_label("Analytics").get_by_role("link", name="Forecast").click()
    expect(page.get_by_role("heading", name="Forecast", level=1)).to_be_visible()
    page.wait_for_load_state("load")
    chart = page.locator("#forecast-chart")
    expect(chart).to_have_attribute("data-chart-ready", "true")
    expect(chart.locator("canvas")).to_have_count(1)
    rep = page.locator("#forecast-table tbody tr", has_text="Sales Rep")
    expect(rep.locator('[data-category="closed"]')).to_contain_text("4,000.00")
    expect(rep.locator('[data-category="commit"]')).to_contain_text("2,500.00")
    expect(rep.locator('[data-column="attainment"]')).to_have_text("40.0%")
    assert_accessible(page)
    shot(page, "forecast-desktop.png")

    # The point at the middle of the rep's closed-won bar, as ECharts places it.
    rows = page.locator("#forecast-table tbody th").all_inner_texts()
    index = rows.index("Sales Rep")
    x, y = page.evaluate(
        "([i]) => { const c = echarts.getInstanceByDom(document.getElementById('forecast-chart'));"
        " return c.convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, [i, 2000]); }",
        [index],
    )
    box = chart.bounding_box()
    # Point at the bar first, as a person does: ECharts finds the element under
    # the pointer on mousemove, and a click on a point never hovered can miss it.
    page.mouse.move(box["x"] + x, box["y"] + y)
    page.wait_for_timeout(300)  # ECharts handles mousemove throttled
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/o/opportunity?**")
    expect(page.get_by_role("link", name="Forecast won")).to_be_visible()
    expect(page.get_by_role("link", name="Manager's deal")).to_have_count(0)


def test_the_forecast_on_a_phone(phone_page, deals):
    page = phone_page
    sign_in(page, USERS["sales_rep"])
    page.goto(f"/forecast?period={deals['period'].name}")
    expect(page.get_by_role("heading", name="Forecast", level=1)).to_be_visible()
    expect(page.locator("#forecast-chart")).to_have_attribute("data-chart-ready", "true")
    rows = page.locator("#forecast-table tbody tr")
    expect(rows).to_have_count(1)  # the rep sees their own numbers only
    expect(rows.first.locator('[data-column="quota"]')).to_contain_text("10,000.00")
    assert_no_horizontal_scrolling(page)
    assert_accessible(page)
    shot(page, "forecast-phone.png")


def test_the_sales_dashboard_draws_its_charts_and_a_bar_opens_its_records(page, deals):
    sign_in(page, USERS["sales_rep"])
    page.wait_for_load_state("load")  # the menus are Bootstrap's (a deferred script)
    page.get_by_role("button", name="Analytics").click()
    page.get_by_label("Analytics").get_by_role("link", name="Dashboards").click()
    page.get_by_role("link", name="Sales dashboard").click()
    expect(page.get_by_role("heading", name="Sales dashboard", level=1)).to_be_visible()
    page.wait_for_load_state("load")
    charts = page.locator(".dashboard-chart")
    expect(charts).to_have_count(6)
    for i in range(6):
        expect(charts.nth(i)).to_have_attribute("data-chart-ready", "true")
        expect(charts.nth(i).locator("canvas")).to_have_count(1)
    won = page.locator('[data-widget="won_this_month"] [data-metric-value]')
    expect(won).to_contain_text("4,000.00")
    expect(page.locator('[data-widget="my_pipeline"]')).to_contain_text("Forecast open")
    expect(page.locator('[data-widget="my_pipeline"]')).not_to_contain_text("Manager's deal")
    assert_no_horizontal_scrolling(page)
    assert_accessible(page)
    shot(page, "dashboard-sales.png")

    # The rep's only open deal is in negotiation: the one bar of "pipeline by stage".
    chart = page.locator('[data-widget="pipeline_by_stage"] .dashboard-chart')
    x, y = page.evaluate(
        "([id]) => { const el = document.querySelector('[data-widget=\"' + id + '\"] .dashboard-chart');"
        " return echarts.getInstanceByDom(el).convertToPixel({xAxisIndex: 0, yAxisIndex: 0}, [0, 1000]); }",
        ["pipeline_by_stage"],
    )
    box = chart.bounding_box()
    page.mouse.click(box["x"] + x, box["y"] + y)
    page.wait_for_url("**/o/opportunity?where=**")
    expect(page.get_by_role("link", name="Forecast open")).to_be_visible()
    expect(page.get_by_role("link", name="Forecast won")).to_have_count(0)
