"""List page: 50 rows, one equality filter, sorted on an indexed field.

    .venv/bin/python bench/list_page.py [--quick] [--database-url URL] [--profile]

Object ``deal`` (10 fields; ``industry`` picklist and ``amount`` currency are
indexed), rows loaded with generate_series; industry has 10 values, so the
filter keeps 10 % of the rows. The page is
``GET /api/v1/data/deal?industry=ind3&sort=-amount&limit=50`` through

* ``api``: the HTTP API (Flask test client, bearer token: authentication,
  tenant binding, model revision check, query, JSON),
* ``store``: ``RecordStore.query`` directly (model already compiled),
* ``raw_core`` (the baseline): the same SELECT (same columns, same WHERE, same
  ``ORDER BY amount DESC NULLS FIRST, id`` — the store's order, which a plain
  index serves — LIMIT 51) in hand-written SQLAlchemy Core on the same engine,
  rows fetched as mappings,
* ``raw_core_nulls_last`` (for reference): ``ORDER BY amount DESC NULLS LAST, id``,
  which a plain index cannot serve (the store's order before 2026-11-22).

Sizes: full 100k and 1M rows (300 rounds each); --quick 100k and 300k rows
(60 and 40 rounds). Calls are
interleaved (api, store, raw in rotating order) so machine noise hits all alike.
"""

from __future__ import annotations

import sys

import _common as c
import sqlalchemy as sa

BENCH = "list_page"
OBJECT = "deal"
FILTER_VALUE = "ind3"
URL = f"/api/v1/data/{OBJECT}?industry={FILTER_VALUE}&sort=-amount&limit=50"
SELECTED = [
    "id", "owner_id", "created_at", "created_by", "updated_at", "updated_by", "version", "deleted_at",
    "name", "industry", "amount", "stage", "probability", "quantity", "close_date", "contact_email", "is_key", "notes",
]  # fmt: skip


def plan(env: c.BenchEnv, query) -> str:
    with env.engine.connect() as conn:
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        rows = conn.execute(sa.text(f"EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF) {sql}")).scalars().all()
    return "\n".join(rows)


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    sizes = [100_000, 300_000] if args.quick else [100_000, 1_000_000]
    # Fewer rounds on the bigger quick table keep --quick under a minute on a busy machine.
    rounds_by_size = {100_000: 60, 300_000: 40} if args.quick else {100_000: 300, 1_000_000: 300}
    metrics: dict = {}
    baseline: dict = {}
    ratio: dict = {}
    extra: dict = {}
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        store = env.store()
        table = env.core_table(OBJECT)
        columns = [table.c[name] for name in SELECTED]

        def raw_query(nulls_last: bool = False):
            amount = table.c.amount.desc()
            return (
                sa.select(*columns)
                .where(table.c.industry == FILTER_VALUE, table.c.deleted_at.is_(None))
                .order_by(amount.nulls_last() if nulls_last else amount, table.c.id.asc())
                .limit(51)
            )

        def api():
            response = env.client.get(URL, headers=env.headers)
            assert response.status_code == 200, response.data[:300]
            assert len(response.json["data"]) == 50
            return response

        def via_store():
            page = store.query(OBJECT, filters=[("industry", "eq", FILTER_VALUE)], sort="-amount", limit=50)
            assert len(page.data) == 50
            return page

        def raw():
            with env.engine.connect() as conn:
                rows = conn.execute(raw_query()).mappings().all()
            assert len(rows) == 51
            return rows

        def raw_nulls_last():
            with env.engine.connect() as conn:
                return conn.execute(raw_query(nulls_last=True)).mappings().all()

        loaded = 0
        for size in sizes:
            env.load_series(OBJECT, size - loaded)
            loaded = size
            label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
            # Same rows, same order from all three paths.
            api_ids = [r["id"] for r in api().json["data"]]
            assert api_ids == [r["id"] for r in via_store().data] == [r["id"] for r in raw()][:50], "paths disagree"
            c.log(f"[{label}] plan of the list query (same SQL as the API's):\n{plan(env, raw_query())}")
            c.log(f"[{label}] plan with DESC NULLS LAST:\n{plan(env, raw_query(nulls_last=True))}")
            rounds = rounds_by_size[size]
            c.log(f"[{label}] timing {rounds} interleaved rounds ...")
            samples = c.interleaved(
                {"api": api, "store": via_store, "raw_core": raw, "raw_core_nulls_last": raw_nulls_last},
                rounds,
                warmup=10,
            )
            s = {name: c.summary_ms(v) for name, v in samples.items()}
            for name, stats in s.items():
                c.log(f"[{label}] {name:22s} p50 {stats['p50_ms']:8.3f} ms  p95 {stats['p95_ms']:8.3f} ms")
            metrics[f"api_{label}"] = {k: s["api"][k] for k in ("p50_ms", "p95_ms")}
            metrics[f"store_{label}"] = {k: s["store"][k] for k in ("p50_ms", "p95_ms")}
            baseline[f"raw_core_{label}"] = {k: s["raw_core"][k] for k in ("p50_ms", "p95_ms")}
            extra[f"raw_core_nulls_last_{label}"] = {k: s["raw_core_nulls_last"][k] for k in ("p50_ms", "p95_ms")}
            raw_p50 = s["raw_core"]["p50_ms"]
            ratio[f"api_over_raw_p50_{label}_lower_is_better"] = c.rnd(s["api"]["p50_ms"] / raw_p50, 2)
            ratio[f"store_over_raw_p50_{label}_lower_is_better"] = c.rnd(s["store"]["p50_ms"] / raw_p50, 2)

        extra["rows"] = sizes
        extra["rounds"] = list(rounds_by_size.values())
        if args.profile:
            c.profile_calls("GET list page (api)", api, 200)
    c.emit(
        BENCH,
        metrics,
        baseline,
        ratio,
        {"api_over_raw_p50_max": 2.0},
        mode="quick" if args.quick else "full",
        reference=extra,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
