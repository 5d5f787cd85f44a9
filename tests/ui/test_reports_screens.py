"""The report screens (metacrm/ui/views/reports.py): the list, a result
(summary, matrix, tabular) with links to the records behind each count, the
builder's preview and filter check, saving (private for a rep, shared for an
admin) and the exports."""

from __future__ import annotations

import datetime as dt
import html
import re
from urllib.parse import parse_qs, urlparse

import pytest

from tests.ui.record_support import Crm, text


@pytest.fixture
def crm(app, package_tenant) -> Crm:
    crm = Crm.make(app, package_tenant)
    store = crm.tenant.store()
    soon = (dt.date.today() + dt.timedelta(days=10)).isoformat()
    for i, stage in enumerate(["prospecting", "prospecting", "proposal", "closed_won"]):
        store.create(
            "opportunity",
            {"name": f"Deal {i}", "stage": stage, "amount": str(1000 * (i + 1)), "close_date": soon},
            owner_id=crm.rep_id,
        )
    store.create(
        "opportunity",
        {"name": "Theirs", "stage": "proposal", "amount": "99", "close_date": soon},
        owner_id=crm.other_id,
    )
    return crm


def builder_form(**extra) -> dict:
    return {
        "label": "By stage",
        "api_name": "by_stage",
        "object": "opportunity",
        "type": "summary",
        "group1_field": "stage",
        "agg1_op": "count",
        "agg2_op": "sum",
        "agg2_field": "amount",
        **extra,
    }


def test_the_list_and_a_summary_with_links_to_the_records(crm):
    client = crm.client("rep")
    page = text(client.get("/reports"))
    assert 'href="/reports"' in page  # the navigation's link
    for name in ("pipeline_by_stage", "won_lost_by_month", "cases_by_status"):
        assert f'data-report="{name}"' in page
    response = client.get("/reports/pipeline_by_stage")
    assert response.status_code == 200
    page = text(response)
    assert "Prospecting" in page and "Proposal" in page
    links = re.findall(r'href="(/o/opportunity\?[^"]+)" data-records-link>(\d+)<', page)
    counts = {parse_qs(urlparse(link).query)["where"][0]: int(n) for link, n in links}
    # The rep's own open deals: two prospecting, one proposal (not the other rep's).
    assert sorted(counts.values()) == [1, 2]
    where = next(w for w, n in counts.items() if n == 2)
    listing = text(client.get("/o/opportunity", query_string={"where": where}))
    assert "Deal 0" in listing and "Deal 1" in listing and "Deal 2" not in listing


def test_a_matrix_and_a_tabular_report(crm):
    client = crm.client("rep")
    page = text(client.get("/reports/won_lost_by_month"))
    assert 'data-report-type="matrix"' in page and "Closed won" in page
    form = builder_form(type="tabular", columns=["name", "amount"], sort="-amount")
    page = text(post(client, "/reports/preview", form))
    assert 'data-report-type="tabular"' in page
    assert page.index("Deal 3") < page.index("Deal 0")
    assert "Theirs" not in page


def test_preview_refuses_a_hidden_field_and_checks_the_filter(crm):
    crm.hide("sales_rep", "opportunity", "probability")
    client = crm.client("rep")
    page = text(post(client, "/reports/preview", builder_form(group1_field="probability")))
    assert "report-preview-error" in page and "probability" in page
    page = text(post(client, "/reports/filter-check", {"object": "opportunity", "filter": "amount >"}))
    assert "field-error" in page
    page = text(post(client, "/reports/filter-check", {"object": "opportunity", "filter": "amount > 10"}))
    assert "where-ok" in page
    page = text(post(client, "/reports/filter-check", {"object": "opportunity", "filter": "probability > 10"}))
    assert "field-error" in page


def test_the_builder_saves_private_reports_for_a_rep_and_shared_ones_for_an_admin(crm):
    rep = crm.client("rep")
    assert rep.get("/reports/new?object=opportunity").status_code == 200
    response = post(rep, "/reports/new", builder_form())
    assert response.status_code == 303, text(response)
    assert response.headers["Location"].endswith("/reports/by_stage")
    assert 'data-report="by_stage"' in text(rep.get("/reports"))
    assert 'data-report="by_stage"' not in text(crm.client("other").get("/reports"))
    assert crm.client("other").get("/reports/by_stage").status_code == 404
    # Its builder comes back filled in; a change is saved.
    page = text(rep.get("/reports/by_stage/edit"))
    assert '<option value="stage" selected>' in page and 'value="By stage"' in page
    response = post(rep, "/reports/by_stage/edit", builder_form(label="By stage, renamed"))
    assert response.status_code == 303
    assert "By stage, renamed" in text(rep.get("/reports/by_stage"))
    # A bad grouping is shown beside its field.
    response = post(rep, "/reports/new", builder_form(api_name="bad", group1_field="stage", group1_date="month"))
    assert response.status_code == 422
    assert 'id="group1_date-error"' in text(response)
    admin = crm.client("admin")
    response = post(admin, "/reports/new", builder_form(api_name="shared_by_stage", label="Shared"))
    assert response.status_code == 303
    assert 'data-report="shared_by_stage"' in text(crm.client("other").get("/reports"))
    # The rep may not change the shared one.
    assert rep.get("/reports/shared_by_stage/edit").status_code == 403
    assert admin.get("/reports/shared_by_stage/edit").status_code == 200


def test_exports(crm):
    client = crm.client("rep")
    response = client.get("/api/v1/reports/pipeline_by_stage/run?format=csv")
    assert response.status_code == 200 and response.mimetype == "text/csv"
    body = response.get_data().decode("utf-8-sig")
    assert body.splitlines()[0].startswith("Stage,")
    assert "Prospecting" in body and body.splitlines()[-1].startswith("Total")
    response = client.get("/api/v1/reports/pipeline_by_stage/run?format=xlsx")
    assert response.status_code == 200 and response.get_data()[:2] == b"PK"
    api = client.get("/api/v1/reports").json["data"]
    assert {"pipeline_by_stage", "cases_by_priority"} <= {r["api_name"] for r in api}
    response = client.post(
        "/api/v1/reports/run",
        json={"object": "opportunity", "type": "summary", "groupings": [{"field": "probability"}]},
        headers={"X-CSRFToken": html.unescape(csrf_of(client))},
    )
    assert response.status_code in (200, 422)


def csrf_of(client) -> str:
    page = client.get("/reports").get_data(as_text=True)
    return page.split('name="csrf-token" content="')[1].split('"')[0]


def post(client, url: str, data: dict):
    """A form post as the page's htmx or form sends it: with the session's CSRF token."""
    return client.post(
        url,
        data={**data, "csrf_token": html.unescape(csrf_of(client))},
        headers={"HX-Request": "true"} if "/new" not in url and "/edit" not in url else {},
    )
