"""The service desk end to end (issue 13 item 7), crm_core installed: new
cases assigned round-robin over the service team, first-response and
resolution times measured against the SLA of their priority (and flagged
when missed, also by the scheduled rules), the knowledge base searched and
linked to cases, the service dashboard's averages and breach numbers equal
to hand-written SQL, and a closed case's e-mail carrying a signed,
single-use satisfaction survey link whose public page shows nothing of the
case, stores the rating once and is throttled like the sign-in. One tenant
per module, on SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
import sqlalchemy as sa

from metacrm.access import sharing
from metacrm.app import create_app
from metacrm.data.dashboards import service
from metacrm.data.reports.engine import RunOptions
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.scheduled import run_time_rules
from metacrm.rules.automation.tables import automation_outbox, notifications
from tests.conftest import BACKENDS
from tests.data.crm_support import crm_tenant


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("service"), request.param) as crm:
        yield crm


def age(crm, record_id: int, hours: float) -> None:
    table = crm.table("case")
    with crm.binding.begin() as conn:
        conn.execute(table.update().where(table.c.id == record_id).values(created_at=utcnow() - timedelta(hours=hours)))


def team(crm, name: str, members: list[int]) -> None:
    sharing.create_team(
        crm.instance, crm.binding, {"api_name": name, "label": name.title(), "members": members}, audit.SYSTEM
    )


def test_new_cases_go_round_robin_over_the_service_team_but_phone_cases_stay(crm):
    team(crm, "service", [crm.users["rep"], crm.users["other"]])
    store = crm.system()
    cases = store.bulk_create("case", [{"subject": f"Mail {i}", "origin": "email"} for i in range(3)])
    owners = [case["owner_id"] for case in cases]
    assert owners[0] != owners[1] and owners[2] == owners[0]  # in turn, wherever the rotation stood
    assert set(owners) == {crm.users["rep"], crm.users["other"]}
    phone = store.create("case", {"subject": "Call", "origin": "phone"}, owner_id=crm.users["boss"])
    assert phone["owner_id"] == crm.users["boss"]


def test_response_and_resolution_times_are_measured_against_the_priority_targets(crm):
    store = crm.system()
    case = store.create("case", {"subject": "Down", "priority": "urgent", "origin": "phone"})
    assert (case["response_target_hours"], case["resolution_target_hours"]) == (1, 4)
    assert case["first_response_at"] is None and case["response_breached"] is False
    age(crm, case["id"], 2)

    worked = store.update("case", case["id"], {"status": "working"})
    assert worked["first_response_at"] is not None
    assert Decimal("1.99") <= worked["first_response_hours"] <= Decimal("2.01")
    assert worked["response_breached"] is True  # 2 hours against 1

    closed = store.update("case", case["id"], {"status": "closed"})
    assert closed["closed_at"] is not None and Decimal("1.99") <= closed["resolution_hours"] <= Decimal("2.01")
    assert closed["resolution_breached"] is False  # 2 hours against 4
    assert closed["first_response_at"] == worked["first_response_at"]  # measured once

    reopened = store.update("case", case["id"], {"status": "working"})
    assert reopened["closed_at"] is None and reopened["resolution_hours"] is None


def test_unanswered_cases_are_flagged_by_the_scheduled_rules(crm):
    store = crm.system()
    rep = crm.users["rep"]
    high = store.create("case", {"subject": "Slow", "priority": "high", "origin": "phone"}, owner_id=rep)
    low = store.create("case", {"subject": "Typo", "priority": "low", "origin": "phone"}, owner_id=rep)
    for case in (high, low):
        age(crm, case["id"], 5)
    run_time_rules(crm.instance, crm.binding)
    high, low = store.get("case", high["id"]), store.get("case", low["id"])
    assert high["response_breached"] is True and high["resolution_breached"] is False  # 4 h / 24 h targets
    assert low["response_breached"] is False  # 24 hours to answer a low case
    with crm.binding.connect() as conn:
        told = conn.execute(
            sa.select(notifications.c.user_id, notifications.c.record_id, notifications.c.message)
        ).all()
    assert [(user, text) for user, record_id, text in told if record_id in (high["id"], low["id"])] == [
        (rep, f"Case {high['case_number']} (Slow) has had no response for 4 hours")
    ]


def test_articles_are_searched_and_linked_to_cases(crm):
    store = crm.system()
    article = store.create(
        "article",
        {"title": "重置密码", "language": "zh_cn", "status": "draft", "body": "<p>步骤<script>x()</script></p>"},
    )
    assert article["article_number"].startswith("KB-") and article["body"] == "<p>步骤</p>"
    assert article["published_at"] is None
    published = store.update("article", article["id"], {"status": "published"})
    assert published["published_at"] is not None
    case = store.create("case", {"subject": "登录失败", "origin": "phone", "articles": [article["id"]]})
    assert [a["id"] for a in store.get("case", case["id"], fields=["articles"])["articles"]] == [article["id"]]
    found = store.query("article", q="密码")
    assert [row["id"] for row in found.data] == [article["id"]]


def test_the_service_dashboard_reports_average_times_and_breaches(crm):
    store = crm.system()
    for hours, priority in ((2, "urgent"), (6, "urgent"), (30, "high")):
        case = store.create("case", {"subject": f"{hours} h", "priority": priority, "origin": "phone"})
        age(crm, case["id"], hours)
        store.update("case", case["id"], {"status": "closed"})
    table = crm.table_name("case")
    [(average_hours, breached, late)] = crm.sql(
        "SELECT AVG(resolution_hours), "
        f"SUM(CASE WHEN response_breached OR resolution_breached THEN 1 ELSE 0 END), "
        f"SUM(CASE WHEN response_breached THEN 1 ELSE 0 END) FROM {table} WHERE deleted_at IS NULL"
    )
    assert late >= 3 and breached >= 3  # these three were answered late (on closing), 6 h and 30 h resolved late
    dashboard = service.find(store.model, store.guard, "service")

    def value(widget: str):
        return service.metric(store, service.widget_of(dashboard, widget), RunOptions()).value

    assert round(value("avg_resolution"), 2) == round(float(average_hours), 2)
    assert (value("breaches"), value("late_responses")) == (breached, late)
    chart = service.chart_options(store, service.widget_of(dashboard, "resolution_by_priority"), RunOptions())
    assert chart["series"][0]["data"]


def test_a_closed_case_mails_a_single_use_survey_link_that_stores_the_rating(crm):
    client = create_app(instance=crm.instance).test_client()
    store = crm.system()
    contact = store.create("contact", {"last_name": "Li", "full_name": "Li Lei", "email": "li@cust.test"})
    case = store.create("case", {"subject": "Secret subject", "origin": "phone", "contact": contact["id"]})
    link = store.update("case", case["id"], {"status": "closed"})["survey_url"]
    assert link.startswith("/survey/")
    with crm.binding.connect() as conn:
        [mail] = conn.execute(sa.select(automation_outbox).where(automation_outbox.c.kind == "email")).mappings().all()
    assert mail["payload"]["to"] == "li@cust.test" and link in mail["payload"]["body"]

    page = client.get(link)
    assert page.status_code == 200 and "Secret subject" not in page.text and "CASE-" not in page.text
    token = page.text.split('name="csrf_token" value="')[1].split('"')[0]
    assert client.post(link, data={"rating": "6", "csrf_token": token}).status_code == 422
    answered = client.post(link, data={"rating": "2", "comment": "slow", "csrf_token": token})
    assert answered.status_code == 200 and "Thank you" in answered.text
    stored = store.get("case", case["id"])
    assert (stored["survey_rating"], stored["survey_comment"], stored["satisfaction"]) == (2, "slow", "dissatisfied")
    assert client.post(link, data={"rating": "5", "csrf_token": token}).status_code == 409  # once
    assert store.get("case", case["id"])["survey_rating"] == 2

    forged = link[:-2] + ("AA" if not link.endswith("AA") else "BB")
    assert client.get(forged).status_code == 404
    for _ in range(5):
        client.post(forged, data={"rating": "5", "csrf_token": token})
    assert client.post(forged, data={"rating": "5", "csrf_token": token}).status_code == 429  # like the sign-in
