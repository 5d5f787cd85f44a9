"""Reports (metacrm/data/reports): the numbers a report gives equal the same
aggregate written by hand in SQL, for a sales rep (their own records) and a
sales manager (their team's); hidden fields are refused wherever a report
names them; dates group by day, week, month, quarter and (fiscal) year;
matrices. On SQLite and, when configured, PostgreSQL."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
import sqlalchemy as sa

from metacrm.data.reports import RunOptions, run_report
from metacrm.data.reports.engine import records_query
from metacrm.metadata.model import definition_kinds
from metacrm.platform.errors import Forbidden, ValidationFailed
from metacrm.plugins.where import where_clause
from tests.conftest import BACKENDS
from tests.data.crm_support import crm_tenant

STAGES = ["prospecting", "qualification", "proposal", "closed_won", "closed_lost"]


@pytest.fixture(scope="module", params=BACKENDS)
def crm(request, tmp_path_factory):
    with crm_tenant(tmp_path_factory.mktemp("reports"), request.param) as crm:
        store = crm.system()
        accounts = [
            store.create("account", {"name": f"Account {i}"}, owner_id=crm.users["rep"])["id"] for i in range(3)
        ]
        n = 0
        for owner in ("rep", "other", "boss"):
            for i in range(12):
                n += 1
                store.create(
                    "opportunity",
                    {
                        "name": f"Deal {n}",
                        "stage": STAGES[(i + n) % len(STAGES)],
                        "amount": str(Decimal(1000 + 250 * ((i * 7 + n) % 11)) + Decimal("0.50")),
                        "probability": (i * 13) % 100,
                        "close_date": (dt.date.today() + dt.timedelta(days=1 + 23 * i + n)).isoformat(),
                        "account": accounts[i % 3] if i % 4 else None,
                    },
                    owner_id=crm.users[owner],
                )
        yield crm


def by_stage(**extra) -> dict:
    return {
        "api_name": "t",
        "label": "T",
        "object": "opportunity",
        "type": "summary",
        "groupings": [{"field": "stage"}],
        "aggregates": [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "avg", "field": "amount"}],
        **extra,
    }


def values_of(result) -> dict:
    return {tuple(k["value"] for k in g["keys"]): g["values"] for g in result["groups"]}


@pytest.mark.parametrize("user, owners", [("rep", ["rep"]), ("boss", ["rep", "other", "boss"])])
def test_summary_equals_hand_written_sql_within_scope(crm, user, owners):
    t = crm.table("opportunity")
    ids = [crm.users[o] for o in owners]
    expected = {
        (stage,): {"count": count, "sum_amount": float(total), "avg_amount": round(float(avg), 6)}
        for stage, count, total, avg in crm.sql(
            sa.select(t.c.stage, sa.func.count(), sa.func.sum(t.c.amount), sa.func.avg(t.c.amount))
            .where(t.c.owner_id.in_(ids), t.c.deleted_at.is_(None))
            .group_by(t.c.stage)
        )
    }
    result = run_report(crm.store(user), by_stage())
    got = values_of(result)
    assert got.keys() == expected.keys()
    for key, values in expected.items():
        assert got[key]["count"] == values["count"]
        assert got[key]["sum_amount"] == pytest.approx(values["sum_amount"])
        assert got[key]["avg_amount"] == pytest.approx(values["avg_amount"])
    assert result["total"]["count"] == sum(v["count"] for v in expected.values())
    label = {g["keys"][0]["value"]: g["keys"][0]["label"] for g in result["groups"]}
    assert label["closed_won"] == "Closed won"
    assert run_report(crm.store(user), by_stage(), RunOptions(locale="zh_CN"))["groups"][0]["keys"][0]["label"]


def test_tabular_lists_the_users_records_with_columns_sort_and_limit(crm):
    definition = {
        "api_name": "t",
        "label": "T",
        "object": "opportunity",
        "type": "tabular",
        "columns": ["name", "stage", "amount", "account"],
        "sort": "-amount,id",
        "limit": 5,
        "filter": 'stage != "closed_lost"',
    }
    result = run_report(crm.store("rep"), definition)
    t = crm.table("opportunity")
    expected = crm.sql(
        sa.select(t.c.id)
        .where(t.c.owner_id == crm.users["rep"], t.c.stage != "closed_lost", t.c.deleted_at.is_(None))
        .order_by(t.c.amount.desc(), t.c.id)
    )
    assert [r["id"] for r in result["records"]] == [row.id for row in expected[:5]]
    assert result["total"] == len(expected)
    assert result["truncated"] is True
    assert [c["key"] for c in result["columns"]] == ["name", "stage", "amount", "account"]


def test_the_report_kind_is_registered(crm):
    kinds = definition_kinds(crm.instance)
    assert "report" in kinds
    assert kinds.get("report").collection == "reports"


def rows_in_scope(crm, owners, *columns):
    t = crm.table("opportunity")
    ids = [crm.users[o] for o in owners]
    return crm.sql(sa.select(*[t.c[c] for c in columns]).where(t.c.owner_id.in_(ids), t.c.deleted_at.is_(None)))


def as_date(value) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value)[:10])


def test_matrix_cells_and_totals_equal_hand_written_sql(crm):
    t = crm.table("opportunity")
    matrix = {
        "api_name": "m",
        "label": "M",
        "object": "opportunity",
        "type": "matrix",
        "groupings": [{"field": "owner_id"}, {"field": "stage"}],
        "aggregates": [{"op": "count"}, {"op": "max", "field": "amount"}],
    }
    result = run_report(crm.store("boss"), matrix)
    expected = {
        (owner, stage): (count, float(top))
        for owner, stage, count, top in crm.sql(
            sa.select(t.c.owner_id, t.c.stage, sa.func.count(), sa.func.max(t.c.amount))
            .where(t.c.deleted_at.is_(None))
            .group_by(t.c.owner_id, t.c.stage)
        )
    }
    got = {k: (v["count"], v["max_amount"]) for k, v in values_of(result).items()}
    assert got == expected
    rows = {g["keys"][0]["value"]: g["values"]["count"] for g in result["subtotals"]}
    assert rows == {crm.users[o]: 12 for o in ("rep", "other", "boss")}
    assert {g["keys"][0]["label"] for g in result["subtotals"]} == {"Rep", "Other", "Boss"}
    columns = {g["keys"][0]["value"]: g["values"]["count"] for g in result["column_totals"]}
    assert sum(columns.values()) == result["total"]["count"] == 36
    # The rep's matrix has their row only.
    mine = run_report(crm.store("rep"), matrix)
    assert [g["keys"][0]["value"] for g in mine["subtotals"]] == [crm.users["rep"]]


def period(day: dt.date, unit: str, fiscal_start: int = 1) -> str:
    if unit == "day":
        return day.isoformat()
    if unit == "week":
        return (day - dt.timedelta(days=day.weekday())).isoformat()
    if unit == "month":
        return f"{day.year:04d}-{day.month:02d}"
    year = day.year + (1 if fiscal_start > 1 and day.month >= fiscal_start else 0)
    prefix = "FY" if fiscal_start > 1 else ""
    if unit == "year":
        return f"{prefix}{year}"
    quarter = (day.month - fiscal_start) % 12 // 3 + 1
    return f"{prefix}{year}-Q{quarter}"


@pytest.mark.parametrize("unit", ["day", "week", "month", "quarter", "year"])
def test_date_grouping(crm, unit):
    expected: dict = {}
    for close_date, amount in rows_in_scope(crm, ["rep"], "close_date", "amount"):
        key = period(as_date(close_date), unit)
        count, total = expected.get(key, (0, 0.0))
        expected[key] = (count + 1, total + float(amount))
    definition = by_stage(groupings=[{"field": "close_date", "date": unit}])
    result = run_report(crm.store("rep"), definition)
    got = {g["keys"][0]["value"]: (g["values"]["count"], g["values"]["sum_amount"]) for g in result["groups"]}
    assert got.keys() == expected.keys()
    for key, (count, total) in expected.items():
        assert got[key][0] == count and got[key][1] == pytest.approx(total)
    assert [g["keys"][0]["value"] for g in result["groups"]] == sorted(expected)


def test_fiscal_quarters_follow_the_fiscal_year_start(crm):
    expected: dict = {}
    for (close_date,) in rows_in_scope(crm, ["rep", "other", "boss"], "close_date"):
        key = period(as_date(close_date), "quarter", 4)
        expected[key] = expected.get(key, 0) + 1
    definition = by_stage(groupings=[{"field": "close_date", "date": "quarter", "fiscal": True}])
    result = run_report(crm.store("boss"), definition, RunOptions(fiscal_year_start=4))
    assert {g["keys"][0]["value"]: g["values"]["count"] for g in result["groups"]} == expected
    # Without "fiscal", quarters are the calendar's.
    calendar = run_report(crm.store("boss"), by_stage(groupings=[{"field": "close_date", "date": "quarter"}]))
    assert all(not g["keys"][0]["value"].startswith("FY") for g in calendar["groups"])


def test_datetime_grouping_uses_the_time_zone(crm):
    t = crm.table("opportunity")
    created = [row.created_at for row in crm.sql(sa.select(t.c.created_at).where(t.c.owner_id == crm.users["rep"]))]
    definition = by_stage(groupings=[{"field": "created_at", "date": "day"}])
    utc = run_report(crm.store("rep"), definition)
    assert sum(g["values"]["count"] for g in utc["groups"]) == len(created)
    shanghai = run_report(crm.store("rep"), definition, RunOptions(time_zone="Asia/Shanghai"))
    expected = {(as_utc(c) + dt.timedelta(hours=8)).date().isoformat() for c in created}
    assert {g["keys"][0]["value"] for g in shanghai["groups"]} == expected


def as_utc(value: dt.datetime) -> dt.datetime:
    return value.replace(tzinfo=None) if value.tzinfo is None else value.astimezone(dt.UTC).replace(tzinfo=None)


def test_lookup_groups_show_the_target_name_and_link_to_their_records(crm):
    definition = by_stage(groupings=[{"field": "account"}], filter="amount > 1500")
    store = crm.store("boss")
    result = run_report(store, definition)
    names = {g["keys"][0]["label"] for g in result["groups"]}
    assert names == {"Account 0", "Account 1", "Account 2", None}
    obj = store.object("opportunity")
    readable = store.guard.readable_fields(obj)
    for group in result["groups"]:
        # The group's where= lists exactly the records it counts.
        clause = where_clause(store.model, "opportunity", group["where"], readable, store.guard.user_globals)
        page = store.query("opportunity", fields=["name"], limit=1, count=True, extra_where=clause)
        assert page.total == group["values"]["count"], group["where"]


def test_the_records_behind_a_date_group_and_an_owner_group(crm):
    store = crm.store("boss")
    definition = by_stage(groupings=[{"field": "owner_id"}, {"field": "close_date", "date": "month"}])
    result = run_report(store, definition)
    readable = store.guard.readable_fields(store.object("opportunity"))
    for group in result["groups"] + result["subtotals"]:
        query = records_query(group)
        filters = [(k, "eq", v) for k, v in query.items() if k != "where"]
        clause = where_clause(
            store.model, "opportunity", query.get("where") or "true", readable, store.guard.user_globals
        )
        page = store.query("opportunity", fields=["name"], filters=filters, limit=1, count=True, extra_where=clause)
        assert page.total == group["values"]["count"], group["where"]


def test_summary_sorted_by_an_aggregate(crm):
    result = run_report(crm.store("boss"), by_stage(sort="-sum_amount"))
    sums = [g["values"]["sum_amount"] for g in result["groups"]]
    assert sums == sorted(sums, reverse=True)


def test_bad_definitions_name_the_field(crm):
    store = crm.store("rep")
    with pytest.raises(ValidationFailed) as raised:
        run_report(store, by_stage(groupings=[{"field": "nope"}]))
    assert "groupings[0].field" in raised.value.details["fields"]
    with pytest.raises(ValidationFailed) as raised:
        run_report(store, by_stage(aggregates=[{"op": "sum", "field": "stage"}]))
    assert "aggregates[0].field" in raised.value.details["fields"]
    with pytest.raises(ValidationFailed) as raised:
        run_report(store, by_stage(groupings=[{"field": "stage", "date": "month"}]))
    assert "groupings[0].date" in raised.value.details["fields"]
    with pytest.raises(ValidationFailed) as raised:
        run_report(store, by_stage(filter="amount >"))
    assert "filter" in raised.value.details["fields"]
    with pytest.raises(ValidationFailed):
        run_report(store, by_stage(type="matrix"))


def test_crm_core_reports_run_for_a_rep_and_a_manager(crm):
    from metacrm.data.reports import service

    names = {
        "pipeline_by_stage",
        "pipeline_by_owner",
        "won_lost_by_month",
        "leads_by_source",
        "cases_by_status",
        "cases_by_priority",
    }
    for user in ("rep", "boss"):
        store = crm.store(user)
        listed = {r["api_name"] for r in service.reports_for(store, crm.users[user])}
        assert names <= listed
        for name in names:
            result = run_report(store, service.find(store.model, name, crm.users[user]))
            assert result["type"] in ("summary", "matrix")
    pipeline = run_report(crm.store("rep"), service.find(crm.store("rep").model, "pipeline_by_stage", None))
    t = crm.table("opportunity")
    (count,) = crm.sql(
        sa.select(sa.func.count()).where(
            t.c.owner_id == crm.users["rep"],
            t.c.stage.not_in(["closed_won", "closed_lost"]),
            t.c.deleted_at.is_(None),
        )
    )[0]
    assert pipeline["total"]["count"] == count


def test_hidden_fields_are_refused_everywhere_and_nothing_is_counted(crm):
    crm.hide("sales_rep", "opportunity", "probability")
    if True:
        store = crm.store("rep")
        attempts = {
            "groupings[0].field": by_stage(groupings=[{"field": "probability"}]),
            "aggregates[0].field": by_stage(aggregates=[{"op": "sum", "field": "probability"}]),
            "filter": by_stage(filter="probability > 50"),
            "columns[1]": {**by_stage(type="tabular"), "columns": ["name", "probability"], "groupings": []},
        }
        for path, definition in attempts.items():
            with pytest.raises(ValidationFailed) as raised:
                run_report(store, definition)
            assert path in raised.value.details["fields"], (path, raised.value.details)
            assert "probability" in raised.value.message
        with pytest.raises(ValidationFailed):
            run_report(store, {**by_stage(type="tabular"), "columns": ["name"], "sort": "-probability"})
        # The manager still sees it.
        assert run_report(crm.store("boss"), by_stage(aggregates=[{"op": "avg", "field": "probability"}]))["groups"]
        # A report naming it is not offered to the rep.
        from metacrm.data.reports import service

        assert service.runnable(store, by_stage()) is True
        assert service.runnable(store, by_stage(groupings=[{"field": "probability"}])) is False
        assert service.runnable(store, by_stage(filter="probability > 5")) is False


def test_a_user_without_read_on_the_object_is_refused(crm):
    crm.hide_object("sales_rep", "campaign")
    with pytest.raises(Forbidden):
        run_report(crm.store("rep"), {**by_stage(), "object": "campaign", "groupings": [{"field": "owner_id"}]})


@pytest.mark.slow
def test_the_benchmark_runs_at_its_smoke_size():
    """bench/report_summary.py agrees with its hand-written GROUP BY (its own
    asserts) and prints its JSON line (tests/test_bench.py runs the others)."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    script = Path(__file__).resolve().parents[2] / "bench" / "report_summary.py"
    done = subprocess.run(
        [sys.executable, str(script), "--smoke", "--database-url", "sqlite"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    payload = json.loads(done.stdout.strip().splitlines()[-1])
    assert payload["bench"] == "report_summary" and payload["mode"] == "smoke"
    assert all(payload[key] for key in ("metrics", "baseline", "ratio", "goal"))
