"""The forecast (metacrm/data/forecast): its numbers equal the same aggregate
written by hand in SQL, for a sales rep (their own deals) and a sales
manager (the team's); quotas per user and period; teams; fiscal quarters;
hidden fields refused; the API. On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from metacrm.access import sharing
from metacrm.app import create_app
from metacrm.data.forecast.service import (
    STAGE_CATEGORY,
    forecast,
    month_period,
    parse_period,
    quarter_period,
    viewer_forecast,
)
from metacrm.platform import audit
from metacrm.platform import identity as identities
from metacrm.platform.errors import Forbidden, ValidationFailed
from tests.conftest import BACKENDS, PASSWORD
from tests.data.crm_support import OWN, crm_tenant

STAGES = ["prospecting", "qualification", "proposal", "negotiation", "closed_won", "closed_lost"]
CATEGORY_VALUES = [None, "pipeline", "best_case", "commit", "omitted", None]
TODAY = dt.date.today()
# The quarter after today's: every day of it lies ahead, so open deals may close in it.
PERIOD = parse_period(None, today=TODAY).shifted(1, 1)


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("forecast"), request.param) as crm:
        store = crm.system()
        n = 0
        for owner in ("rep", "other", "boss"):
            for i in range(14):
                n += 1
                # Half inside the period, the rest after it; one deal without an amount.
                day = PERIOD.start + dt.timedelta(days=(i * 11 + n) % 88) if i % 2 else PERIOD.end + dt.timedelta(i)
                store.create(
                    "opportunity",
                    {
                        "name": f"Deal {n}",
                        "stage": STAGES[(i + n) % len(STAGES)],
                        "forecast_category": CATEGORY_VALUES[(i * 5 + n) % len(CATEGORY_VALUES)],
                        "amount": None if n == 3 else str(Decimal(1000 + 250 * ((i * 7 + n) % 11)) + Decimal("0.50")),
                        "close_date": day.isoformat(),
                    },
                    owner_id=crm.users[owner],
                )
        months = [month_period(PERIOD.start.year, PERIOD.start.month).shifted(k, 1) for k in range(3)]
        quotas = [
            ("rep", "quarter", PERIOD.start, "20000"),
            ("rep", "month", months[0].start, "999"),  # a quarter's own quota wins over months
            ("other", "month", months[0].start, "3000"),
            ("other", "month", months[2].start, "4000.50"),
            ("boss", "quarter", PERIOD.shifted(1, 1).start, "50000"),  # another quarter
        ]
        for owner, kind, start, amount in quotas:
            store.create(
                "quota",
                {"name": f"{owner} {kind}", "period_type": kind, "period_start": start.isoformat(), "amount": amount},
                owner_id=crm.users[owner],
            )
        sharing.create_team(
            crm.instance,
            crm.binding,
            {"api_name": "east", "label": "East", "members": [crm.users["rep"]]},
            audit.SYSTEM,
        )
        sharing.create_team(
            crm.instance,
            crm.binding,
            {"api_name": "west", "label": "West", "members": [crm.users["other"], crm.users["boss"]]},
            audit.SYSTEM,
        )
        yield crm


def hand_written(crm, owners: list[str]) -> dict[int, dict[str, Decimal]]:
    """The forecast's numbers in plain SQL: owner → category → sum."""
    stage_case = " ".join(f"WHEN '{stage}' THEN '{category}'" for stage, category in STAGE_CATEGORY.items())
    ids = ", ".join(str(crm.users[o]) for o in owners)
    rows = crm.sql(
        f"""
        SELECT owner_id, category, SUM(amount) FROM (
            SELECT owner_id, amount,
                   CASE WHEN stage = 'closed_won' THEN 'closed'
                        WHEN stage = 'closed_lost' THEN 'omitted'
                        WHEN forecast_category IS NOT NULL THEN forecast_category
                        ELSE CASE stage {stage_case} ELSE 'pipeline' END END AS category
            FROM {crm.table_name("opportunity")}
            WHERE deleted_at IS NULL AND owner_id IN ({ids})
              AND close_date >= :start AND close_date < :end
        ) o WHERE category <> 'omitted' GROUP BY owner_id, category
        """,
        start=PERIOD.start,
        end=PERIOD.end,
    )
    result: dict[int, dict[str, Decimal]] = {}
    for owner_id, category, amount in rows:
        result.setdefault(owner_id, {})[category] = Decimal(str(amount or 0)).quantize(Decimal("0.01"))
    return result


def numbers(result) -> dict[int, dict[str, Decimal]]:
    return {row.key: {k: v for k, v in row.amounts.items() if v} for row in result.rows}


@pytest.mark.parametrize("user, owners", [("rep", ["rep"]), ("boss", ["rep", "other", "boss"])])
def test_forecast_equals_hand_written_sql_within_scope(crm, user, owners):
    result = forecast(crm.store(user), PERIOD, names={v: k for k, v in crm.users.items()})
    expected = hand_written(crm, owners)
    assert {k: {c: v for c, v in cats.items() if v} for k, cats in expected.items()} == numbers(result)
    assert {row.key for row in result.rows} <= {crm.users[o] for o in owners}
    assert sum(sum(c.values()) for c in expected.values()) == sum(result.total.amounts.values())
    assert all(result.total.amounts[c] == sum(row.amounts[c] for row in result.rows) for c in result.total.amounts)


def test_quotas_and_attainment(crm):
    boss = forecast(crm.store("boss"), PERIOD)
    quota = {row.key: row.quota for row in boss.rows}
    assert quota[crm.users["rep"]] == Decimal("20000.00")  # the quarterly quota, not the month's
    assert quota[crm.users["other"]] == Decimal("7000.50")  # two monthly quotas
    assert quota.get(crm.users["boss"]) is None  # their quota is for another quarter
    assert boss.total.quota == Decimal("27000.50")
    rep_row = next(row for row in boss.rows if row.key == crm.users["rep"])
    assert rep_row.attainment == (rep_row.amounts["closed"] * 100 / Decimal("20000")).quantize(Decimal("0.1"))
    # a month: only that month's quota
    month = month_period(PERIOD.start.year, PERIOD.start.month)
    rows = {row.key: row.quota for row in forecast(crm.store("boss"), month).rows}
    assert rows.get(crm.users["rep"]) == Decimal("999.00") and rows.get(crm.users["other"]) == Decimal("3000.00")
    # a rep reads their own quota only
    mine = forecast(crm.store("rep"), PERIOD)
    assert [row.quota for row in mine.rows] == [Decimal("20000.00")] and mine.total.quota == Decimal("20000.00")


def test_by_team_counts_each_owner_in_their_teams(crm):
    result = forecast(crm.store("boss"), PERIOD, by="team", team_labels={"east": "East", "west": "West"})
    expected = hand_written(crm, ["rep", "other", "boss"])
    teams = {row.key: row for row in result.rows}
    assert set(teams) == {"east", "west"} and teams["east"].label == "East"
    for category in ("pipeline", "best_case", "commit", "closed"):
        east = expected.get(crm.users["rep"], {}).get(category, Decimal("0.00"))
        west = sum(
            (expected.get(crm.users[o], {}).get(category, Decimal("0.00")) for o in ("other", "boss")), Decimal(0)
        )
        assert teams["east"].amounts[category] == east and teams["west"].amounts[category] == west
    assert teams["east"].quota == Decimal("20000.00") and teams["west"].quota == Decimal("7000.50")
    assert result.total.quota == Decimal("27000.50")


def test_periods_follow_the_fiscal_year():
    assert parse_period("2026-Q4") == quarter_period(2026, 4)
    q4 = parse_period("2026-Q4")
    assert (q4.start, q4.last_day) == (dt.date(2026, 10, 1), dt.date(2026, 12, 31))
    # a fiscal year starting in April is named by the year it ends in, as the reports name it
    april = parse_period("2027-Q1", 4)
    assert (april.start, april.last_day) == (dt.date(2026, 4, 1), dt.date(2026, 6, 30))
    last = parse_period("2027-Q4", 4)
    assert (last.start, last.last_day) == (dt.date(2027, 1, 1), dt.date(2027, 3, 31))
    assert parse_period("2026-02").last_day == dt.date(2026, 2, 28)
    assert parse_period(None, 4, today=dt.date(2027, 2, 10)).name == "2027-Q4"
    assert parse_period(None, 4, today=dt.date(2026, 4, 1)).name == "2027-Q1"
    assert last.shifted(1, 4).name == "2028-Q1" and parse_period("2026-01").shifted(-1, 1).name == "2025-12"
    for bad in ("2026-Q5", "2026-13", "Q4", "2026-4", "x"):
        with pytest.raises(ValidationFailed) as caught:
            parse_period(bad)
        assert "period" in caught.value.details["fields"]


def test_hidden_fields_are_refused_or_left_out(crm):
    crm.access("sales_rep", "opportunity", {**OWN, "fields": {"forecast_category": "hidden"}})
    try:
        # without the forecast category, the stage alone decides
        rows = forecast(crm.store("rep"), PERIOD).rows
        amounts = {c: v for c, v in rows[0].amounts.items() if v}
        stage_only = crm.sql(
            f"SELECT stage, SUM(amount) FROM {crm.table_name('opportunity')} WHERE deleted_at IS NULL "
            "AND owner_id = :owner AND close_date >= :start AND close_date < :end GROUP BY stage",
            owner=crm.users["rep"],
            start=PERIOD.start,
            end=PERIOD.end,
        )
        expected: dict[str, Decimal] = {}
        for stage, amount in stage_only:
            category = STAGE_CATEGORY[stage]
            if category != "omitted" and amount:
                expected[category] = expected.get(category, Decimal(0)) + Decimal(str(amount))
        assert amounts == {k: v.quantize(Decimal("0.01")) for k, v in expected.items()}
        crm.access("sales_rep", "opportunity", {**OWN, "fields": {"amount": "hidden"}})
        with pytest.raises(Forbidden) as caught:
            forecast(crm.store("rep"), PERIOD)
        assert caught.value.details["field"] == "amount"
        crm.access("sales_rep", "quota", {**OWN, "create": False, "fields": {"amount": "hidden"}})
        crm.access("sales_rep", "opportunity", OWN)
        result = forecast(crm.store("rep"), PERIOD)
        assert result.quotas_visible is False and result.total.quota is None
        assert all(row.quota is None for row in result.rows)
    finally:
        crm.access("sales_rep", "opportunity", OWN)
        crm.access("sales_rep", "quota", OWN)


def test_the_api_answers_within_scope_and_names_a_bad_parameter(crm):
    app = create_app(instance=crm.instance)
    client = app.test_client()

    def bearer(name):
        identity = identities.identity_for(crm.instance, crm.users[name], "crm")
        return {"Authorization": f"Bearer {identities.create_token(crm.instance, identity, 'test')[1]}"}

    response = client.get(f"/api/v1/forecast?period={PERIOD.name}", headers=bearer("rep"))
    assert response.status_code == 200, response.json
    body = response.json
    assert body["period"] == {
        "name": PERIOD.name,
        "type": "quarter",
        "start": PERIOD.start.isoformat(),
        "end": PERIOD.last_day.isoformat(),
    }
    assert [row["key"] for row in body["rows"]] == [crm.users["rep"]] and body["rows"][0]["label"] == "Rep"
    assert body["categories"] == ["pipeline", "best_case", "commit", "closed"]
    expected = hand_written(crm, ["rep"])[crm.users["rep"]]
    assert {c: Decimal(str(body["rows"][0][c])) for c in expected} == expected
    team = client.get(f"/api/v1/forecast?period={PERIOD.name}&by=team", headers=bearer("boss")).json
    assert {row["key"] for row in team["rows"]} == {"east", "west"}
    bad = client.get("/api/v1/forecast?period=2026-Q9", headers=bearer("rep"))
    assert bad.status_code == 422 and "period" in bad.json["error"]["details"]["fields"]
    bad = client.get("/api/v1/forecast?by=region", headers=bearer("rep"))
    assert bad.status_code == 422 and "by" in bad.json["error"]["details"]["fields"]
    assert client.get("/api/v1/forecast").status_code == 401
    spec = client.get("/api/v1/openapi.json", headers=bearer("rep")).json
    assert "/api/v1/forecast" in spec["paths"]


def test_viewer_forecast_names_owners(crm):
    result = viewer_forecast(crm.store("boss"), crm.instance, PERIOD.name)
    assert {row.label for row in result.rows} <= {"Rep", "Other", "Boss"}


def test_the_screen(crm):
    client = create_app(instance=crm.instance).test_client()
    page = client.get("/login").get_data(as_text=True)
    token = page.split('name="csrf_token" value="')[1].split('"')[0]
    data = {"email": "boss@crm.test", "password": PASSWORD, "tenant": "crm", "csrf_token": token}
    assert client.post("/login", data=data).status_code == 302
    html = client.get(f"/forecast?period={PERIOD.name}").get_data(as_text=True)
    assert f'data-period="{PERIOD.name}"' in html and 'id="forecast-table"' in html
    assert html.count("<tr data-row=") == 4  # rep, other, boss, the total
    assert 'data-chart="' in html and "/o/opportunity?filter.close_date" in html
    assert f'<option value="{PERIOD.name}" selected>' in html
    team = client.get(f"/forecast?period={PERIOD.name}&by=team").get_data(as_text=True)
    assert ">East<" in team and ">West<" in team
    bad = client.get("/forecast?period=2026-Q9").get_data(as_text=True)
    assert 'id="forecast-period-error"' in bad and 'aria-invalid="true"' in bad
    empty = client.get("/forecast?period=2001-01").get_data(as_text=True)
    assert 'id="forecast-empty"' in empty
