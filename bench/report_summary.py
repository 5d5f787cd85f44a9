"""A summary report over many opportunities against the same GROUP BY written by hand.

    .venv/bin/python bench/report_summary.py [--quick] [--database-url URL|sqlite] [--profile]

Object ``deal`` (the other scripts' 10 fields), rows loaded straight into
its table. The report (``REPORT``): deals with ``amount >= 1000`` grouped by
stage, then by the close date's quarter, with count, sum and average of the
amount. One call is what ``GET /api/v1/reports/<name>/run`` computes:

* ``report``: :func:`metacrm.data.reports.run_report` with the admin's
  PolicyGuard (the filter checked and compiled by the ``where=`` machinery,
  the scope clause, the groups, the first grouping's subtotals and the
  total, and each group's ``where`` link checked);
* ``raw_core`` (the baseline): the same three GROUP BY queries (groups,
  subtotals, total) in hand-written SQLAlchemy Core on one connection;
* ``raw_groups_only`` (for reference): only the first of them, the one
  GROUP BY a person would write for the table alone.

The report's groups, subtotals and total are checked to equal the baseline's.
Goal: report ≤ 1.3x raw_core (p50).

Sizes: full 1M rows, 20 rounds; --quick 200k rows, 15 rounds; --smoke (tests only) 5k rows, 2 rounds.
"""

from __future__ import annotations

import sys
from decimal import Decimal

import _common as c
import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.data.reports import run_report
from metacrm.metadata.store import RecordStore

BENCH = "report_summary"
OBJECT = "deal"
REPORT = {
    "api_name": "deals_by_stage_and_quarter",
    "label": "Deals by stage and quarter",
    "object": OBJECT,
    "type": "summary",
    "groupings": [{"field": "stage"}, {"field": "close_date", "date": "quarter"}],
    "aggregates": [{"op": "count"}, {"op": "sum", "field": "amount"}, {"op": "avg", "field": "amount"}],
    "filter": "amount >= 1000",
}


def handwritten(table: sa.Table, sqlite: bool):
    """The three GROUP BY queries as an engineer writes them in Core."""
    where = sa.and_(table.c.deleted_at.is_(None), table.c.amount >= Decimal(1000))
    day = sa.func.date(table.c.close_date) if sqlite else table.c.close_date
    year = sa.cast(sa.extract("year", day), sa.Integer)
    month = sa.cast(sa.extract("month", day), sa.Integer)
    quarter = (year * 10 + (month - 1) // 3 + 1).label("quarter")
    figures = [
        sa.func.count().label("n"),
        sa.func.sum(table.c.amount).label("s"),
        sa.func.avg(table.c.amount).label("a"),
    ]
    groups = sa.select(table.c.stage, quarter, *figures).where(where).group_by(table.c.stage, quarter.element)
    subtotals = sa.select(table.c.stage, *figures).where(where).group_by(table.c.stage)
    total = sa.select(*figures).where(where)
    return groups, subtotals, total


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rows, rounds = (5_000, 2) if args.smoke else (200_000, 15) if args.quick else (1_000_000, 20)
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        env.load_series(OBJECT, rows)
        model = env.model()
        guard = PolicyGuard.for_identity(env.instance, env.binding, env.identity, model)
        store = RecordStore(env.binding, model, guard, env.actor, env.registry, instance=env.instance)
        table = env.core_table(OBJECT)
        groups_q, subtotals_q, total_q = handwritten(table, env.sqlite)

        def report():
            return run_report(store, REPORT)

        def raw():
            with env.engine.connect() as conn:
                return (
                    conn.execute(groups_q).all(),
                    conn.execute(subtotals_q).all(),
                    conn.execute(total_q).one(),
                )

        def raw_groups_only():
            with env.engine.connect() as conn:
                return conn.execute(groups_q).all()

        result = report()
        groups, subtotals, total = raw()
        expected = {(g.stage, g.quarter): (g.n, float(g.s)) for g in groups}
        got = {
            (g["keys"][0]["value"], int(g["keys"][1]["raw"])): (g["values"]["count"], g["values"]["sum_amount"])
            for g in result["groups"]
        }
        assert got.keys() == expected.keys(), "report and raw groups differ"
        for key, (n, s) in expected.items():
            assert got[key][0] == n and abs(got[key][1] - s) < 0.01, (key, got[key], (n, s))
        assert {g["keys"][0]["value"]: g["values"]["count"] for g in result["subtotals"]} == {
            g.stage: g.n for g in subtotals
        }
        assert result["total"]["count"] == total.n
        c.log(f"same {len(expected)} groups, subtotals and total; {total.n:,} of {rows:,} rows counted")

        c.log(f"timing {rounds} interleaved rounds ...")
        samples = c.interleaved(
            {"report": report, "raw_core": raw, "raw_groups_only": raw_groups_only}, rounds, warmup=2
        )
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"  {name:16s} p50 {stats['p50_ms']:9.3f} ms  p95 {stats['p95_ms']:9.3f} ms")
        if args.profile:
            c.profile_calls("report", report, 10)
    ratio = s["report"]["p50_ms"] / s["raw_core"]["p50_ms"]
    c.emit(
        BENCH,
        {
            "report_p50_ms": s["report"]["p50_ms"],
            "report_p95_ms": s["report"]["p95_ms"],
            "rows": rows,
            "groups": len(expected),
        },
        {
            "raw_core_p50_ms": s["raw_core"]["p50_ms"],
            "raw_core_p95_ms": s["raw_core"]["p95_ms"],
            "raw_groups_only_p50_ms": s["raw_groups_only"]["p50_ms"],
        },
        {
            "report_over_raw_p50_lower_is_better": c.rnd(ratio, 3),
            "report_over_groups_only_p50_lower_is_better": c.rnd(
                s["report"]["p50_ms"] / s["raw_groups_only"]["p50_ms"], 3
            ),
        },
        {"report_over_raw_p50_max": 1.3},
        mode=c.mode(args),
        database=env.dialect,
        reference={"rows": rows, "rounds": rounds, "report": REPORT},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
