"""GET one record by id: the API against a bare Flask + SQLAlchemy Core endpoint.

    .venv/bin/python bench/get_by_id.py [--quick|--smoke] [--database-url URL|sqlite] [--profile]

Object ``deal`` (10 fields) with 10k rows (--smoke 200). Side by side, in one
process, through the same kind of server (a Flask app driven by its test
client, same Werkzeug and Flask, same engine settings — a default pool, no
pre-ping), the same row ids in the same rotating order:

* ``api``: ``GET /api/v1/data/deal/<id>`` with a bearer token: the token
  check, the tenant binding, the model's revision check, the caller's roles,
  the guard, the record's SELECT and its JSON — all on one connection per
  request (issue 16);
* ``store``: ``RecordStore.get`` directly, read as a request reads (the
  request's connection, autocommit: ``BenchEnv.as_request``) — reference: the
  request's own cost is api − store;
* ``bare`` (the baseline): a Flask app of one view, ``GET /deal/<id>``, that
  selects the same columns of the same row with SQLAlchemy Core on its own
  engine (same URL, same pool settings) and returns them with ``jsonify``.

Also counted: pool checkouts per API request (1 on PostgreSQL, one per
database file on SQLite) and statements per API request once the worker
has checked the token (1 on PostgreSQL: the record's SELECT carries the
token check, the head revision and the roles — ``platform.web.read_only``;
3 on SQLite). Full 3,000 rounds, --quick 600, --smoke 20.
"""

from __future__ import annotations

import sys

import _common as c
import sqlalchemy as sa

BENCH = "get_by_id"
OBJECT = "deal"


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    mode = c.mode(args)
    rows = 200 if args.smoke else 10_000
    rounds = {"smoke": 20, "quick": 600, "full": 3_000}[mode]
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        env.load_series(OBJECT, rows)
        store = env.store()
        app, bare_engine = c.bare_app(env.tenant_url(), env.schema, OBJECT)
        bare = app.test_client()
        ids = iter(range(10**9))

        def next_id() -> int:
            return 1 + (next(ids) * 7919) % rows

        def api():
            record_id = next_id()
            response = env.client.get(f"/api/v1/data/{OBJECT}/{record_id}", headers=env.headers)
            assert response.status_code == 200, response.data[:300]
            return response.json

        def via_store():
            with env.as_request():
                return store.get(OBJECT, next_id())

        def baseline():
            record_id = next_id()
            response = bare.get(f"/deal/{record_id}")
            assert response.status_code == 200
            return response.json

        # Same row, same values from the API and the bare endpoint.
        first = env.client.get(f"/api/v1/data/{OBJECT}/7", headers=env.headers).json
        plain = bare.get("/deal/7").json
        assert first["id"] == plain["id"] == 7 and first["name"] == plain["name"], (first, plain)
        assert first["industry"] == plain["industry"] and first["quantity"] == plain["quantity"]

        checkouts: list = []
        statements: list = []
        engines = {id(e): e for e in (env.instance.db.engine, env.engine)}.values()
        for engine in engines:
            sa.event.listen(engine, "checkout", lambda *a: checkouts.append(1))
            sa.event.listen(engine, "before_cursor_execute", lambda _c, _k, sql, *a: statements.append(sql))
        api()  # the worker has now checked the token with its tenant reads: what every later request costs
        checkouts.clear()
        statements.clear()
        api()
        per_request = len(checkouts)
        # SQL sent per request (BEGIN/ROLLBACK of SQLite's read blocks not counted).
        sent = len([s for s in statements if s.split()[0].upper() in ("SELECT", "INSERT", "UPDATE", "WITH")])
        c.log(f"pool checkouts per API request: {per_request}; statements: {sent}")

        c.log(f"timing {rounds} interleaved rounds ...")
        samples = c.interleaved({"api": api, "store": via_store, "bare": baseline}, rounds, warmup=20)
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"{name:6s} p50 {stats['p50_ms']:8.3f} ms  p95 {stats['p95_ms']:8.3f} ms")
        if args.profile:
            c.profile_calls("GET by id (api)", api, 500)
        bare_engine.dispose()
    c.emit(
        BENCH,
        {
            "api": {k: s["api"][k] for k in ("p50_ms", "p95_ms")},
            "store": {k: s["store"][k] for k in ("p50_ms", "p95_ms")},
        },
        {"bare_flask_core": {k: s["bare"][k] for k in ("p50_ms", "p95_ms")}},
        {
            "api_over_bare_p50_lower_is_better": c.rnd(s["api"]["p50_ms"] / s["bare"]["p50_ms"], 2),
            "store_over_bare_p50_lower_is_better": c.rnd(s["store"]["p50_ms"] / s["bare"]["p50_ms"], 2),
        },
        {"api_over_bare_p50_max_postgresql": 1.5},
        mode=mode,
        database="sqlite" if env.sqlite else "postgresql",
        reference={
            "rows": rows,
            "rounds": rounds,
            "pool_checkouts_per_api_request": per_request,
            "statements_per_api_request": sent,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
