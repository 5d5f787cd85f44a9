"""Create one record per request through the HTTP API.

    .venv/bin/python bench/create_api.py [--quick] [--database-url URL] [--profile]

One worker (this process, one thread) sends ``POST /api/v1/data/deal`` with
one 10-field record per request (Flask test client, bearer token), against a
``deal`` table that already holds 10k rows. Each request authenticates,
binds the tenant, checks the model revision, validates the record, inserts it
with its audit entry in one transaction and reads it back for the response.

* ``api``: the HTTP API, records/s of one worker = 1 / mean request time,
* ``store``: ``RecordStore.create`` directly (validation, insert, audit, read-back),
* ``raw_core`` (the baseline): the same single-row INSERT ... RETURNING id in
  hand-written SQLAlchemy Core, each row in its own transaction, same engine.

Requests: full 3000 per path, --quick 400 per path (interleaved).
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from decimal import Decimal

import _common as c

BENCH = "create_api"
OBJECT = "deal"


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rounds = 400 if args.quick else 3000
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        env.load_series(OBJECT, 10_000)
        store = env.store()
        table = env.core_table(OBJECT)
        counter = itertools.count(1_000_000)
        url = f"/api/v1/data/{OBJECT}"

        def api():
            response = env.client.post(url, json=c.deal_record(next(counter)), headers=env.headers)
            assert response.status_code == 201, response.data[:300]

        def via_store():
            store.create(OBJECT, c.deal_record(next(counter)))

        def raw():
            record = c.deal_record(next(counter))
            now = dt.datetime.now(dt.UTC)
            values = {
                **record,
                "amount": Decimal(record["amount"]),
                "probability": Decimal(record["probability"]),
                "close_date": dt.date.fromisoformat(record["close_date"]),
                "owner_id": env.user_id,
                "created_at": now,
                "created_by": env.user_id,
                "updated_at": now,
                "updated_by": env.user_id,
                "version": 1,
            }
            with env.engine.begin() as conn:
                conn.execute(table.insert().values(**values).returning(table.c.id)).scalar_one()

        before = env.count(OBJECT)
        c.log(f"timing {rounds} interleaved creates per path ...")
        samples = c.interleaved({"api": api, "store": via_store, "raw_core": raw}, rounds, warmup=10)
        created = env.count(OBJECT) - before
        assert created == 3 * (rounds + 10), created
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        per_s = {name: 1000.0 / stats["mean_ms"] for name, stats in s.items()}
        for name, stats in s.items():
            c.log(
                f"{name:10s} p50 {stats['p50_ms']:7.3f} ms  p95 {stats['p95_ms']:7.3f} ms  {per_s[name]:8.1f} records/s"
            )
        if args.profile:
            c.profile_calls("POST one record (api)", api, 300)
    c.emit(
        BENCH,
        {
            "api_records_per_s": c.rnd(per_s["api"], 1),
            "api_p50_ms": s["api"]["p50_ms"],
            "api_p95_ms": s["api"]["p95_ms"],
            "store_records_per_s": c.rnd(per_s["store"], 1),
            "store_p50_ms": s["store"]["p50_ms"],
        },
        {
            "raw_core_records_per_s": c.rnd(per_s["raw_core"], 1),
            "raw_core_p50_ms": s["raw_core"]["p50_ms"],
            "raw_core_p95_ms": s["raw_core"]["p95_ms"],
        },
        {
            "api_over_raw_throughput_higher_is_better": c.rnd(per_s["api"] / per_s["raw_core"], 3),
            "store_over_raw_throughput_higher_is_better": c.rnd(per_s["store"] / per_s["raw_core"], 3),
        },
        {"api_records_per_s_per_worker_min": 500},
        mode="quick" if args.quick else "full",
        reference={"requests_per_path": rounds, "workers": 1},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
