"""Dashboards (metacrm/data/dashboards): widgets run their reports within
the viewer's scope — a chart's numbers equal hand-written SQL for a rep and
a manager, a metric compares with the previous period, a click-through URL
lists exactly the records behind a bar; definitions are checked; the
screens list, render and load widgets. On SQLite and, when configured,
PostgreSQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from urllib.parse import parse_qs, urlparse

import pytest

from metacrm.app import create_app
from metacrm.data.dashboards import service
from metacrm.data.reports.engine import RunOptions
from metacrm.metadata.model import metadata_service
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.plugins.records import ListRequest, list_page
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import crm_tenant

TODAY = dt.date.today()
LAST_MONTH = service.period_range("month", TODAY, 1, 1)[0]
STAGES = ["prospecting", "proposal", "negotiation", "closed_won", "closed_lost"]


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("dash"), request.param) as crm:
        store = crm.system()
        n = 0
        for owner in ("rep", "other", "boss"):
            for i in range(10):
                n += 1
                stage = STAGES[(i + n) % len(STAGES)]
                closed = stage.startswith("closed")
                # closed deals this month or last month; open ones in the future
                day = (TODAY if i % 2 else LAST_MONTH + dt.timedelta(days=i)) if closed else TODAY + dt.timedelta(i + 1)
                store.create(
                    "opportunity",
                    {
                        "name": f"Deal {n}",
                        "stage": stage,
                        "amount": str(Decimal(100 * (n % 7 + 1)) + Decimal("0.25")),
                        "close_date": day.isoformat(),
                    },
                    owner_id=crm.users[owner],
                )
        yield crm


def sales(crm) -> dict:
    return service.find(crm.store("rep").model, crm.store("rep").guard, "sales")


def widget(crm, name: str) -> dict:
    return service.widget_of(sales(crm), name)


def hand_written_pipeline(crm, owners: list[str]) -> dict[int, Decimal]:
    ids = ", ".join(str(crm.users[o]) for o in owners)
    rows = crm.sql(
        f"SELECT owner_id, SUM(amount) FROM {crm.table_name('opportunity')} WHERE deleted_at IS NULL "
        f"AND stage NOT IN ('closed_won', 'closed_lost') AND owner_id IN ({ids}) GROUP BY owner_id"
    )
    return {owner: Decimal(str(amount)).quantize(Decimal("0.01")) for owner, amount in rows}


@pytest.mark.parametrize("user, owners", [("rep", ["rep"]), ("boss", ["rep", "other", "boss"])])
def test_a_chart_widget_is_the_viewers_numbers(crm, user, owners):
    store = crm.store(user)
    names = {crm.users[o]: o.title() for o in crm.users}
    options = service.chart_options(store, widget(crm, "pipeline_by_owner"), RunOptions())
    categories = options["yAxis"]["data"]  # horizontal bars: owners on the category axis
    values = [Decimal(str(p["value"])).quantize(Decimal("0.01")) for p in options["series"][0]["data"]]
    expected = hand_written_pipeline(crm, owners)
    assert dict(zip(categories, values, strict=True)) == {names[k]: v for k, v in expected.items()}
    assert values == sorted(values, reverse=True)  # the biggest pipeline first
    # each bar's URL lists exactly the records behind it, for this viewer
    for point, owner in zip(options["series"][0]["data"], categories, strict=True):
        url = urlparse(point["url"])
        assert url.path == "/o/opportunity"
        query = {k: v[0] for k, v in parse_qs(url.query).items()}
        page = list_page(store, "opportunity", replace(ListRequest.from_args(query), limit=200, fields=["amount"]))
        total = sum(Decimal(str(r["amount"])) for r in page.data)
        assert total == dict(zip(categories, values, strict=True))[owner]


def test_a_metric_compares_with_the_previous_period(crm):
    for user, owners in (("rep", ["rep"]), ("boss", ["rep", "other", "boss"])):
        found = service.metric(crm.store(user), widget(crm, "won_this_month"), RunOptions(), today=TODAY)
        ids = ", ".join(str(crm.users[o]) for o in owners)
        expected = []
        for start, end in (service.period_range("month", TODAY), service.period_range("month", TODAY, back=1)):
            (amount,) = crm.sql(
                f"SELECT COALESCE(SUM(amount), 0) FROM {crm.table_name('opportunity')} WHERE deleted_at IS NULL "
                f"AND stage = 'closed_won' AND owner_id IN ({ids}) AND close_date >= :s AND close_date < :e",
                s=start,
                e=end,
            )[0]
            expected.append(float(amount))
        assert (found.value, found.previous) == pytest.approx(tuple(expected))
        assert found.value_type == "currency"
        if expected[1]:
            assert found.change == round(100 * (expected[0] - expected[1]) / expected[1], 1)
    plain = service.metric(crm.store("rep"), widget(crm, "open_pipeline"), RunOptions())
    assert plain.previous is None and plain.change is None
    assert Decimal(str(plain.value)).quantize(Decimal("0.01")) == sum(hand_written_pipeline(crm, ["rep"]).values())


def test_the_funnel_and_the_other_charts_run(crm):
    store = crm.store("rep")
    for item in service.widgets(sales(crm)):
        if item["type"] == "chart":
            options = service.chart_options(store, item, RunOptions())
            assert options["series"], item["name"]
    funnel = service.chart_options(store, widget(crm, "funnel"), RunOptions())
    steps = funnel["series"][0]["data"]
    assert [s["name"] for s in steps] == ["Leads", "Opportunities", "Won"]
    (mine,) = crm.sql(
        f"SELECT COUNT(*) FROM {crm.table_name('opportunity')} WHERE deleted_at IS NULL AND owner_id = :o",
        o=crm.users["rep"],
    )[0:1]
    (won,) = crm.sql(
        f"SELECT COUNT(*) FROM {crm.table_name('opportunity')} WHERE deleted_at IS NULL AND owner_id = :o "
        "AND stage = 'closed_won'",
        o=crm.users["rep"],
    )[0:1]
    assert (steps[1]["value"], steps[2]["value"]) == (mine[0], won[0])


def test_hidden_fields_and_roles(crm):
    rep = crm.store("rep")
    listed = [d["api_name"] for d in service.dashboards_for(rep.model, rep.guard)]
    assert "sales" in listed and "service" not in listed  # the service dashboard is for other roles
    with pytest.raises(NotFound):
        service.find(rep.model, rep.guard, "service")
    assert service.default_for(rep.model, rep.guard)["api_name"] == "sales"
    crm.access(
        "sales_rep",
        "opportunity",
        {"create": True, "read": "own", "update": "own", "delete": "own", "fields": {"amount": "hidden"}},
    )
    try:
        with pytest.raises(ValidationFailed) as caught:
            service.chart_options(crm.store("rep"), widget(crm, "pipeline_by_owner"), RunOptions())
        assert "amount" in caught.value.message
    finally:
        crm.access("sales_rep", "opportunity", {"create": True, "read": "own", "update": "own", "delete": "own"})


def test_definitions_are_checked(crm):
    bad = {
        "api_name": "broken",
        "label": "Broken",
        "widgets": [
            {"name": "a", "type": "chart", "title": "A", "report": "no_such_report"},
            {"name": "a", "type": "list", "title": "B", "object": "opportunity", "view": "nope"},
            {
                "name": "c",
                "type": "metric",
                "title": "C",
                "report": "top_reps",
                "compare": {"field": "name", "period": "month"},
            },
            {"name": "d", "type": "chart", "title": "D", "width": 13, "report": "top_reps"},
        ],
    }
    with (
        pytest.raises(ValidationFailed) as caught,
        metadata_service(crm.instance, crm.binding, audit.SYSTEM).change("bad dashboard") as tx,
    ):
        tx.put("dashboard", None, bad)
    text = str(caught.value.details)
    assert "width" in text
    del bad["widgets"][3]
    with (
        pytest.raises(ValidationFailed) as caught,
        metadata_service(crm.instance, crm.binding, audit.SYSTEM).change("bad dashboard") as tx,
    ):
        tx.put("dashboard", None, bad)
    text = str(caught.value.details)
    for expected in ("no_such_report", "another widget is named", "no list view", "no date field"):
        assert expected in text, (expected, text)


def test_the_screens(crm):
    app = create_app(instance=crm.instance)
    client = app.test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    response = client.post(
        "/login", data={"email": "rep@crm.test", "password": PASSWORD, "tenant": "crm", "csrf_token": token}
    )
    assert response.status_code == 302
    listing = client.get("/dashboards").get_data(as_text=True)
    assert "Sales dashboard" in listing and "Service dashboard" not in listing
    grid = client.get("/dashboards/sales").get_data(as_text=True)
    assert grid.count('class="widget-body" hx-get=') == len(sales(crm)["widgets"])
    assert "/dashboards/sales/widgets/top_reps" in grid
    fragment = client.get("/dashboards/sales/widgets/pipeline_by_owner", headers={"HX-Request": "true"})
    html = fragment.get_data(as_text=True)
    assert fragment.status_code == 200 and "data-chart=" in html and "<html" not in html
    assert "Other" not in html and "Boss" not in html  # only the rep's bar
    metric = client.get("/dashboards/sales/widgets/won_this_month", headers={"HX-Request": "true"}).get_data(
        as_text=True
    )
    assert "data-metric-value" in metric
    listed = client.get("/dashboards/sales/widgets/my_pipeline").get_data(as_text=True)
    assert "<html" in listed and "Open the list" in listed
    assert client.get("/dashboards/service").status_code == 404
    assert client.get("/dashboards/sales/widgets/nope").status_code == 404
    home = client.get("/").get_data(as_text=True)
    assert 'href="/dashboards/sales"' in home


def test_the_api(crm):
    client = create_app(instance=crm.instance).test_client()

    def bearer(name):
        identity = identities.identity_for(crm.instance, crm.users[name], "crm")
        return {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 'test')[1]}"}

    rep = bearer("rep")
    listed = client.get("/api/v1/dashboards", headers=rep).json["data"]
    assert [d["api_name"] for d in listed] == ["sales"]
    assert client.get("/api/v1/dashboards/service", headers=rep).status_code == 404
    chart = client.get("/api/v1/dashboards/sales/widgets/pipeline_by_owner", headers=rep).json
    assert chart["options"]["yAxis"]["data"] == ["Rep"]
    boss = client.get("/api/v1/dashboards/sales/widgets/pipeline_by_owner", headers=bearer("boss")).json
    assert set(boss["options"]["yAxis"]["data"]) == {"Rep", "Other", "Boss"}
    metric = client.get("/api/v1/dashboards/sales/widgets/won_this_month", headers=rep).json
    assert metric["type"] == "metric" and metric["value_type"] == "currency" and metric["previous"] is not None
    rows = client.get("/api/v1/dashboards/sales/widgets/my_pipeline", headers=rep).json
    assert rows["data"] and {r["owner_id"] for r in rows["data"]} == {crm.users["rep"]}
    assert client.get("/api/v1/dashboards").status_code == 401
