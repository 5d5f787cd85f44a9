"""List page: 50 rows, one equality filter, sorted on an indexed field.

    .venv/bin/python bench/list_page.py [--quick|--smoke] [--database-url URL|sqlite] [--profile]

Object ``deal`` (10 fields; ``industry`` picklist and ``amount`` currency are
indexed — partial indexes of live rows), rows loaded with generate_series (a
recursive CTE on SQLite), then analysed; industry has 10 values, so the
filter keeps 10 % of the rows. Three pages, each through

* ``api``: the HTTP API (Flask test client, bearer token: authentication,
  tenant binding, model revision check, roles, query, JSON — one connection),
* ``store``: ``RecordStore.query`` directly (model already compiled), for the page,
* the baseline (``raw_core``): the same page in hand-written SQLAlchemy Core
  on an engine of its own with the same URL and default settings
  (``BenchEnv.baseline_engine``: its ROLLBACKs must not drop the API's
  prepared statements), the same columns the store selects, the same WHERE
  and ORDER BY, rows fetched as mappings — no HTTP, no JSON;
* ``bare`` (the second baseline, for ``page`` and ``deep``): the same page
  served by a bare Flask + SQLAlchemy Core endpoint (``_common.bare_app``,
  the baseline of get_by_id) through the same kind of test client, as JSON:
  the floor of any JSON list endpoint on this stack. ``bare ÷ raw`` is what
  HTTP and JSON alone add; ``api ÷ bare`` is what the product adds (token,
  tenant, roles, guard, metadata-driven dump).

The API and the bare endpoint each decode their answer once.

1. ``page``: ``?industry=ind3&sort=-amount&limit=50`` — every field;
2. ``fields``: the same with ``fields=name,amount`` — the SELECT narrows to
   the record's system columns and the two fields (the sort key once);
3. ``deep``: the page at ``offset=OFFSET`` — the API answers it with the
   deferred join (ids first, rows by primary key); the baseline is the plain
   ``OFFSET`` query a hand-written list would send, and ``raw_deferred`` the
   same deferred join written by hand (reference).

Sizes: full 100k and 1M rows (300 rounds); --quick 100k and 300k (60 and 40
rounds); --smoke 20k rows, 5 rounds, offset 1,000. Calls are interleaved (each path once per
round, rotating) so machine noise hits all alike.
"""

from __future__ import annotations

import sys

import _common as c
import sqlalchemy as sa

BENCH = "list_page"
OBJECT = "deal"
FILTER_VALUE = "ind3"
URL = f"/api/v1/data/{OBJECT}?industry={FILTER_VALUE}&sort=-amount&limit=50"
FIELDS_URL = URL + "&fields=name,amount"
SYSTEM = ["id", "owner_id", "created_at", "created_by", "updated_at", "updated_by", "version"]
FIELDS = [
    "name",
    "industry",
    "amount",
    "stage",
    "probability",
    "quantity",
    "close_date",
    "contact_email",
    "is_key",
    "notes",
]


def plan(env: c.BenchEnv, query) -> str:
    with env.engine.connect() as conn:
        sql = query.compile(dialect=conn.dialect, compile_kwargs={"literal_binds": True})
        explain = "EXPLAIN QUERY PLAN" if env.sqlite else "EXPLAIN (ANALYZE, COSTS OFF, TIMING OFF)"
        rows = conn.execute(sa.text(f"{explain} {sql}")).all()
    return "\n".join(str(row[-1]) for row in rows)


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    mode = c.mode(args)
    sizes = {"smoke": [20_000], "quick": [100_000, 300_000], "full": [100_000, 1_000_000]}[mode]
    rounds_by_size = {20_000: 5, 100_000: 60 if args.quick else 300, 300_000: 40, 1_000_000: 300}
    offset = 1_000 if args.smoke else 5_000
    metrics: dict = {}
    baseline: dict = {}
    ratio: dict = {}
    extra: dict = {"offset": offset}
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        store = env.store()
        table = env.core_table(OBJECT)
        baseline_engine = env.baseline_engine()

        def raw_query(names, at: int = 0):
            query = (
                sa.select(*[table.c[n] for n in names])
                .where(table.c.industry == FILTER_VALUE, table.c.deleted_at.is_(None))
                .order_by(table.c.amount.desc().nulls_first(), table.c.id.asc())
                .limit(51)
            )
            return query.offset(at) if at else query

        def raw_deferred_query():
            ids = (
                sa.select(table.c.id)
                .where(table.c.industry == FILTER_VALUE, table.c.deleted_at.is_(None))
                .order_by(table.c.amount.desc().nulls_first(), table.c.id.asc())
                .limit(51)
                .offset(offset)
                .subquery()
            )
            return (
                sa.select(*[table.c[n] for n in SYSTEM + FIELDS])
                .join(ids, ids.c.id == table.c.id)
                .order_by(table.c.amount.desc().nulls_first(), table.c.id.asc())
            )

        app, bare_engine = c.bare_app(env.tenant_url(), env.schema, OBJECT)
        bare = app.test_client()
        BARE_URL = f"/{OBJECT}?industry={FILTER_VALUE}&sort=-amount&limit=50"  # noqa: N806

        def answered(response) -> list[int]:
            assert response.status_code == 200, response.data[:300]
            data = response.json["data"]
            assert len(data) == 50
            return [r["id"] for r in data]

        def get(url: str) -> list[int]:
            return answered(env.client.get(url, headers=env.headers))

        def rows(query) -> list[int]:
            with baseline_engine.connect() as conn:
                found = conn.execute(query).mappings().all()
            assert len(found) == 51
            return [r["id"] for r in found[:50]]

        def via_store():
            with env.as_request():
                page = store.query(OBJECT, filters=[("industry", "eq", FILTER_VALUE)], sort="-amount", limit=50)
            assert len(page.data) == 50
            return [r["id"] for r in page.data]

        cases = {
            "page": {
                "api": lambda: get(URL),
                "store": via_store,
                "bare": lambda: answered(bare.get(BARE_URL)),
                "raw_core": lambda: rows(raw_query(SYSTEM + FIELDS)),
            },
            "fields": {
                "api": lambda: get(FIELDS_URL),
                "raw_core": lambda: rows(raw_query(SYSTEM + ["name", "amount"])),
            },
            "deep": {
                "api": lambda: get(f"{URL}&offset={offset}"),
                "bare": lambda: answered(bare.get(f"{BARE_URL}&offset={offset}")),
                "raw_core": lambda: rows(raw_query(SYSTEM + FIELDS, offset)),
                "raw_deferred": lambda: rows(raw_deferred_query()),
            },
        }
        loaded = 0
        for size in sizes:
            env.load_series(OBJECT, size - loaded)
            loaded = size
            label = f"{size // 1000}k" if size < 1_000_000 else f"{size // 1_000_000}M"
            for name, paths in cases.items():
                results = [fn() for fn in paths.values()]
                assert all(r == results[0] for r in results), f"{name}: the paths disagree"
            c.log(f"[{label}] plan of the page:\n{plan(env, raw_query(SYSTEM + FIELDS))}")
            c.log(f"[{label}] plan of the deep page, plain OFFSET:\n{plan(env, raw_query(SYSTEM + FIELDS, offset))}")
            c.log(f"[{label}] plan of the deep page, deferred join:\n{plan(env, raw_deferred_query())}")
            rounds = rounds_by_size[size]
            c.log(f"[{label}] timing {rounds} interleaved rounds ...")
            flat = {f"{case}.{path}": fn for case, paths in cases.items() for path, fn in paths.items()}
            samples = c.interleaved(flat, rounds, warmup=3 if args.smoke else 10)
            s = {name: c.summary_ms(v) for name, v in samples.items()}
            for name, stats in s.items():
                c.log(f"[{label}] {name:22s} p50 {stats['p50_ms']:8.3f} ms  p95 {stats['p95_ms']:8.3f} ms")
            for name, stats in s.items():
                case, path = name.split(".")
                target = baseline if path in ("raw_core", "bare") else extra if path == "raw_deferred" else metrics
                target[f"{case}_{path}_{label}"] = {k: stats[k] for k in ("p50_ms", "p95_ms")}
            for case, paths in cases.items():
                raw_p50 = s[f"{case}.raw_core"]["p50_ms"]
                for path in paths:
                    if path != "raw_core":
                        ratio[f"{case}_{path}_over_raw_p50_{label}_lower_is_better"] = c.rnd(
                            s[f"{case}.{path}"]["p50_ms"] / raw_p50, 2
                        )
                if "bare" in paths:
                    ratio[f"{case}_api_over_bare_p50_{label}_lower_is_better"] = c.rnd(
                        s[f"{case}.api"]["p50_ms"] / s[f"{case}.bare"]["p50_ms"], 2
                    )

        extra["rows"] = sizes
        extra["rounds"] = [rounds_by_size[size] for size in sizes]
        if args.profile:
            c.profile_calls("GET list page (api)", cases["page"]["api"], 200)
        baseline_engine.dispose()
        bare_engine.dispose()
    c.emit(
        BENCH,
        metrics,
        baseline,
        ratio,
        {"page_api_over_raw_p50_max": 1.5},
        mode=mode,
        database="sqlite" if env.sqlite else "postgresql",
        reference=extra,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
