"""Bulk create: 1000 records per call.

    .venv/bin/python bench/bulk_create.py [--quick] [--database-url URL] [--profile]

``deal`` (10 fields) starts with 10k rows. Each call creates 1000 new
records, all-or-nothing, through

* ``api``: ``POST /api/v1/data/deal/bulk`` with ``{"records": [...1000...]}``
  (Flask test client, bearer token): JSON parsing, validation of every value,
  one transaction with the INSERT and one audit entry per record,
* ``store``: ``RecordStore.bulk_create`` directly (same work minus HTTP/auth/JSON),
* ``raw_core`` (the baseline): SQLAlchemy Core ``conn.execute(table.insert(), rows)``
  (executemany) of the same 1000 rows, already typed (Decimal, date), in one
  transaction on the same engine.

rows/s = 1000 / mean call time. Calls: full 40 per path, --quick 4 per path
(interleaved, after one warm-up call each).
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from decimal import Decimal

import _common as c

BENCH = "bulk_create"
OBJECT = "deal"
BATCH = 1000


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rounds = 4 if args.quick else 40
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        env.load_series(OBJECT, 10_000)
        store = env.store()
        table = env.core_table(OBJECT)
        counter = itertools.count(1_000_000)
        url = f"/api/v1/data/{OBJECT}/bulk"

        def batch() -> list[dict]:
            return [c.deal_record(next(counter)) for _ in range(BATCH)]

        def api():
            response = env.client.post(url, json={"records": batch()}, headers=env.headers)
            assert response.status_code == 201, response.data[:300]
            assert response.json["count"] == BATCH

        def via_store():
            assert len(store.bulk_create(OBJECT, batch())) == BATCH

        def raw():
            now = dt.datetime.now(dt.UTC)
            rows = [
                {
                    **r,
                    "amount": Decimal(r["amount"]),
                    "probability": Decimal(r["probability"]),
                    "close_date": dt.date.fromisoformat(r["close_date"]),
                    "owner_id": env.user_id,
                    "created_at": now,
                    "created_by": env.user_id,
                    "updated_at": now,
                    "updated_by": env.user_id,
                    "version": 1,
                }
                for r in batch()
            ]
            with env.engine.begin() as conn:
                conn.execute(table.insert(), rows)

        before = env.count(OBJECT)
        c.log(f"timing {rounds} interleaved calls of {BATCH} records per path ...")
        samples = c.interleaved({"api": api, "store": via_store, "raw_core": raw}, rounds, warmup=1)
        created = env.count(OBJECT) - before
        assert created == 3 * (rounds + 1) * BATCH, created
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        per_s = {name: BATCH * 1000.0 / stats["mean_ms"] for name, stats in s.items()}
        for name, stats in s.items():
            c.log(f"{name:10s} p50 {stats['p50_ms']:9.1f} ms/call  {per_s[name]:9.0f} rows/s")
        if args.profile:
            c.profile_calls("POST bulk of 1000 (api)", api, 5)
    c.emit(
        BENCH,
        {
            "api_rows_per_s": c.rnd(per_s["api"], 0),
            "api_p50_ms_per_call": s["api"]["p50_ms"],
            "store_rows_per_s": c.rnd(per_s["store"], 0),
            "store_p50_ms_per_call": s["store"]["p50_ms"],
        },
        {"raw_core_rows_per_s": c.rnd(per_s["raw_core"], 0), "raw_core_p50_ms_per_call": s["raw_core"]["p50_ms"]},
        {
            "api_over_raw_throughput_higher_is_better": c.rnd(per_s["api"] / per_s["raw_core"], 3),
            "store_over_raw_throughput_higher_is_better": c.rnd(per_s["store"] / per_s["raw_core"], 3),
        },
        {"api_rows_per_s_min": 20_000},
        mode="quick" if args.quick else "full",
        reference={"records_per_call": BATCH, "calls_per_path": rounds},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
