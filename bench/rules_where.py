"""``where=`` filter on a big table against the same query written by hand.

    .venv/bin/python bench/rules_where.py [--quick] [--database-url URL|sqlite] [--profile]

Object ``deal`` (10 fields; ``industry`` and ``amount`` indexed, as in the
other scripts), rows loaded straight into its table (generate_series, or a
recursive CTE on SQLite). The admin's filter (``WHERE_TEXT``): two stages, an
amount floor, a close-date floor built with DATE(), a text prefix with BEGINS
and a boolean — about 4 % of the rows match. One call is what the list API
does for ``GET /api/v1/data/deal?where=…&sort=amount&limit=50&count=true``:

* ``where_store``: the list service's ``metacrm.plugins.records.list_page``
  (``where_clause`` of ``metacrm.plugins.where``: parse — cached per
  text —, type-check against the live model, compile to SQL; then
  ``RecordStore.query(extra_where=…, sort="amount", limit=50, count=True)``)
  with the admin's PolicyGuard, as the API handler calls it: the first
  page and the total,
* ``api`` (for reference): the same through the HTTP API (test client,
  bearer token),
* ``raw_core`` (the baseline): the same SELECT (same columns, ``WHERE
  deleted_at IS NULL AND stage IN (…) AND amount >= 5000 AND close_date >=
  '2025-01-01' AND contact_email LIKE 'buyer1%' AND NOT is_key ORDER BY amount
  NULLS LAST, id LIMIT 51``) and the same ``count(*)`` in hand-written
  SQLAlchemy Core on one connection.

The three are checked to return the same ids and total. No index is added:
both sides use the object's own (``amount``, ``industry``, ``owner_id``,
``created_at``, ``deleted_at``). Goal: where_store ≤ 1.2x raw_core (p50).

Sizes: full 1M rows, 40 rounds; --quick 200k rows, 30 rounds; --smoke (tests only) 5k rows, 2 rounds.
"""

from __future__ import annotations

import datetime as dt
import sys
from decimal import Decimal

import _common as c
import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.metadata.store import RecordStore
from metacrm.plugins.records import ListRequest, list_page
from metacrm.plugins.where import where_clause

BENCH = "rules_where"
OBJECT = "deal"
WHERE_TEXT = (
    'stage IN ("propose", "negotiate") and amount >= 5000 and close_date >= DATE(2025, 1, 1) '
    'and BEGINS(contact_email, "buyer1") and not is_key'
)
SORT = "amount"
SELECTED = [
    "id", "owner_id", "created_at", "created_by", "updated_at", "updated_by", "version", "deleted_at",
    "name", "industry", "amount", "stage", "probability", "quantity", "close_date", "contact_email", "is_key", "notes",
]  # fmt: skip


def handwritten(table: sa.Table):
    """The filter as an engineer writes it in Core (same meaning, same order)."""
    condition = sa.and_(
        table.c.deleted_at.is_(None),
        table.c.stage.in_(["propose", "negotiate"]),
        table.c.amount >= Decimal(5000),
        table.c.close_date >= dt.date(2025, 1, 1),
        table.c.contact_email.like("buyer1%"),
        sa.not_(table.c.is_key),
    )
    page = (
        sa.select(*[table.c[n] for n in SELECTED])
        .where(condition)
        .order_by(table.c.amount.asc().nulls_last(), table.c.id)
        .limit(51)
    )
    count = sa.select(sa.func.count()).select_from(table).where(condition)
    return page, count


def explain(env: c.BenchEnv, query) -> str:
    with env.engine.connect() as conn:
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        prefix = "EXPLAIN QUERY PLAN" if env.sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)"
        rows = conn.execute(sa.text(f"{prefix} {sql}")).all()
    return "\n".join(" ".join(str(v) for v in r) for r in rows)


def store_plans(env: c.BenchEnv, call) -> str:
    """Run ``call`` once, capturing the statements it sends, and EXPLAIN each
    with the same parameters (stderr only)."""
    captured: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, parameters, _context, _many):
        if statement.lstrip().upper().startswith("SELECT"):
            captured.append((statement, parameters))

    sa.event.listen(env.engine, "before_cursor_execute", capture)
    try:
        call()
    finally:
        sa.event.remove(env.engine, "before_cursor_execute", capture)
    prefix = "EXPLAIN QUERY PLAN" if env.sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)"
    out = []
    with env.engine.connect() as conn:
        if env.schema:
            conn.exec_driver_sql(f'SET search_path TO "{env.schema}"')
        for statement, parameters in captured[-2:]:  # the page and the count
            rows = conn.exec_driver_sql(f"{prefix} {statement}", parameters).all()
            out.append(statement + "\n" + "\n".join(" ".join(str(v) for v in r) for r in rows))
    return "\n\n".join(out)


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rows, rounds = (5_000, 2) if args.smoke else (200_000, 30) if args.quick else (1_000_000, 40)
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        env.load_series(OBJECT, rows)
        model = env.model()
        obj = model.object(OBJECT)
        guard = PolicyGuard.for_identity(env.instance, env.binding, env.identity, model)
        store = RecordStore(env.binding, model, guard, env.actor, env.registry)
        table = env.core_table(OBJECT)
        raw_page, raw_count = handwritten(table)
        url = f"/api/v1/data/{OBJECT}"
        query_string = {"where": WHERE_TEXT, "sort": SORT, "limit": 50, "count": "true"}

        listed = ListRequest(where=WHERE_TEXT, sort=SORT, limit=50, count=True)

        def via_store():
            return list_page(store, OBJECT, listed)

        def via_api():
            response = env.client.get(url, query_string=query_string, headers=env.headers)
            assert response.status_code == 200, response.data[:300]
            return response.json

        def raw():
            with env.engine.connect() as conn:
                page = conn.execute(raw_page).mappings().all()
                total = conn.execute(raw_count).scalar_one()
            return page, total

        store_page = via_store()
        api_page = via_api()
        raw_rows, raw_total = raw()
        raw_ids = [r["id"] for r in raw_rows[:50]]
        assert [r["id"] for r in store_page.data] == raw_ids, "store and raw ids differ"
        assert [r["id"] for r in api_page["data"]] == raw_ids, "API and raw ids differ"
        assert store_page.total == raw_total == api_page["total"], (store_page.total, raw_total, api_page["total"])
        assert len(raw_ids) == 50
        c.log(f"same 50 ids on every path; {raw_total:,} of {rows:,} rows match ({raw_total / rows:.2%})")
        c.log("plan of the hand-written page query:\n" + explain(env, raw_page))
        c.log("plan of the hand-written count:\n" + explain(env, raw_count))
        c.log("statements and plans of the store:\n" + store_plans(env, via_store))

        c.log(f"timing {rounds} interleaved rounds ...")
        samples = c.interleaved({"where_store": via_store, "api": via_api, "raw_core": raw}, rounds, warmup=3)
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"  {name:12s} p50 {stats['p50_ms']:9.3f} ms  p95 {stats['p95_ms']:9.3f} ms")
        # The filter's own compile cost, per request (parse is cached per text).
        compile_samples = c.interleaved(
            {
                "where_clause": lambda: where_clause(
                    model, OBJECT, WHERE_TEXT, guard.readable_fields(obj), guard.user_globals
                )
            },
            10 if args.smoke else 300,
        )["where_clause"]
        where_clause_ms = c.summary_ms(compile_samples)
        c.log(f"  where_clause alone p50 {where_clause_ms['p50_ms']:.3f} ms")
        if args.profile:
            c.profile_calls("where_store", via_store, 20)
    ratio = s["where_store"]["p50_ms"] / s["raw_core"]["p50_ms"]
    c.emit(
        BENCH,
        {
            "where_store_p50_ms": s["where_store"]["p50_ms"],
            "where_store_p95_ms": s["where_store"]["p95_ms"],
            "api_p50_ms": s["api"]["p50_ms"],
            "where_clause_p50_ms": where_clause_ms["p50_ms"],
            "rows": rows,
            "matching_rows": raw_total,
        },
        {"raw_core_p50_ms": s["raw_core"]["p50_ms"], "raw_core_p95_ms": s["raw_core"]["p95_ms"]},
        {
            "where_store_over_raw_p50_lower_is_better": c.rnd(ratio, 3),
            "api_over_raw_p50_lower_is_better": c.rnd(s["api"]["p50_ms"] / s["raw_core"]["p50_ms"], 3),
        },
        {"where_store_over_raw_p50_max": 1.2},
        mode=c.mode(args),
        database=env.dialect,
        reference={"rows": rows, "rounds": rounds, "where": WHERE_TEXT, "sort": SORT, "page": 50, "count": True},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
