"""The service desk with the platform's parts (issue 13 item 7): crm_core's
service dashboard computes the average time to resolve and the SLA breach
numbers from the case fields its automations keep, and a closed case's
e-mail carries a signed, single-use satisfaction survey link whose public
page shows nothing of the case, stores the rating once and is throttled
like the sign-in. On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

from datetime import timedelta

import pytest
import sqlalchemy as sa

from metacrm.app import create_app
from metacrm.data.dashboards import service
from metacrm.data.reports.engine import RunOptions
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.tables import automation_outbox
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


def test_the_service_dashboard_reports_average_times_and_breaches(crm):
    store = crm.system()
    for hours, priority in ((2, "urgent"), (6, "urgent"), (30, "high")):
        case = store.create("case", {"subject": f"{hours} h", "priority": priority, "origin": "phone"})
        age(crm, case["id"], hours)
        store.update("case", case["id"], {"status": "closed"})
    dashboard = service.find(store.model, store.guard, "service")
    average = service.metric(store, service.widget_of(dashboard, "avg_resolution"), RunOptions())
    assert round(average.value, 1) == round((2 + 6 + 30) / 3, 1)
    breaches = service.metric(store, service.widget_of(dashboard, "breaches"), RunOptions())
    assert breaches.value == 3  # every one answered late (on closing); 6 h and 30 h also resolved late
    late = service.metric(store, service.widget_of(dashboard, "late_responses"), RunOptions())
    assert late.value == 3
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
