"""Bulk create: 1000 records per call, validation, rules and audit on.

    .venv/bin/python bench/bulk_create.py [--quick|--smoke] [--database-url URL|sqlite] [--profile]

``deal`` (10 fields) starts with 10k rows (--smoke 200) and has two active
validation rules (every record passes them). Each call creates 1000 new
records (--smoke 50), all-or-nothing, through

* ``api``: ``POST /api/v1/data/deal/bulk`` with ``{"records": [...1000...]}``
  (Flask test client, bearer token): JSON parsing, the row loader
  (type checks and conversion of every value), the save pipeline (the
  validation rules), reference and required checks, the INSERT and one
  audit entry per record, in one transaction,
* ``store``: the instance's record store (``record_store``: the same save
  pipeline) ``bulk_create`` with the same 1000 (the same work minus
  HTTP/auth/JSON),
* ``raw_core`` (the baseline): SQLAlchemy Core ``conn.execute(table.insert(), rows)``
  (executemany) of the same 1000 rows, already typed (Decimal, date), in one
  transaction on the same engine: no validation, no rules, no audit.

rows/s = records per call / mean call time; the ratios are throughput over
the baseline's (higher is better; the goal: 20,000 rows/s through the API,
or at least half the baseline's throughput). Calls: full 40 per path,
--quick 6, --smoke 2 (interleaved, after one warm-up call each). Also the
client process's CPU time per call of each path (``..._cpu_ms_per_call``):
on a machine shared with other jobs it moves far less than the wall time.
"""

from __future__ import annotations

import datetime as dt
import itertools
import sys
import time
from decimal import Decimal

import _common as c

from metacrm.metadata.model import metadata_service, record_store

BENCH = "bulk_create"
OBJECT = "deal"
RULES = {  # conditions under which a record is refused; none of the bench's records is
    "no_negative_amount": ("amount < 0", "amount", "must not be negative"),
    "sane_quantity": ("quantity > 1000000", "quantity", "is not a plausible quantity"),
}


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    mode = c.mode(args)
    batch_size = 50 if args.smoke else 1000
    rounds = {"smoke": 2, "quick": 6, "full": 40}[mode]
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        with metadata_service(env.instance, env.binding, env.actor).change("bench: validation rules") as tx:
            for name, (condition, field, message) in RULES.items():
                tx.put_validation_rule(
                    OBJECT, {"api_name": name, "condition": condition, "field": field, "message": message}
                )
        env.load_series(OBJECT, 200 if args.smoke else 10_000)
        store = record_store(env.instance, env.binding, c.SystemGuard(), env.actor)
        assert store.steps, "the save pipeline is on"
        table = env.core_table(OBJECT)
        counter = itertools.count(1_000_000)
        url = f"/api/v1/data/{OBJECT}/bulk"

        def batch() -> list[dict]:
            return [c.deal_record(next(counter)) for _ in range(batch_size)]

        def api():
            response = env.client.post(url, json={"records": batch()}, headers=env.headers)
            assert response.status_code == 201, response.data[:300]
            assert response.json["count"] == batch_size

        def via_store():
            assert len(store.bulk_create(OBJECT, batch())) == batch_size

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

        # A refused row is reported, naming its field, and nothing is written.
        bad = batch()
        bad[7]["amount"] = "-5"
        response = env.client.post(url, json={"records": bad}, headers=env.headers)
        assert response.status_code == 422, response.data[:300]
        assert response.json["error"]["details"]["rows"] == {"7": {"fields": {"amount": ["must not be negative"]}}}

        # The client's CPU per call as well: a machine shared with other jobs
        # disturbs it far less than the wall time (the server's work is not in it).
        cpu: dict[str, list[float]] = {}

        def on_cpu(name, fn):
            def run():
                started = time.process_time()
                fn()
                cpu.setdefault(name, []).append(time.process_time() - started)

            return run

        before = env.count(OBJECT)
        c.log(f"timing {rounds} interleaved calls of {batch_size} records per path ...")
        cases = {"api": api, "store": via_store, "raw_core": raw}
        samples = c.interleaved({name: on_cpu(name, fn) for name, fn in cases.items()}, rounds, warmup=1)
        created = env.count(OBJECT) - before
        assert created == 3 * (rounds + 1) * batch_size, created
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        per_s = {name: batch_size * 1000.0 / stats["mean_ms"] for name, stats in s.items()}
        cpu_ms = {name: 1000.0 * sum(v) / len(v) for name, v in cpu.items()}
        for name, stats in s.items():
            c.log(
                f"{name:10s} p50 {stats['p50_ms']:9.1f} ms/call  {per_s[name]:9.0f} rows/s"
                f"  CPU {cpu_ms[name]:7.1f} ms/call"
            )
        if args.profile:
            c.profile_calls(f"POST bulk of {batch_size} (api)", api, 3)
            c.profile_calls(f"store.bulk_create of {batch_size}", via_store, 3)
    c.emit(
        BENCH,
        {
            "api_rows_per_s": c.rnd(per_s["api"], 0),
            "api_p50_ms_per_call": s["api"]["p50_ms"],
            "store_rows_per_s": c.rnd(per_s["store"], 0),
            "store_p50_ms_per_call": s["store"]["p50_ms"],
            "api_cpu_ms_per_call": c.rnd(cpu_ms["api"], 1),
            "store_cpu_ms_per_call": c.rnd(cpu_ms["store"], 1),
        },
        {
            "raw_core_rows_per_s": c.rnd(per_s["raw_core"], 0),
            "raw_core_p50_ms_per_call": s["raw_core"]["p50_ms"],
            "raw_core_cpu_ms_per_call": c.rnd(cpu_ms["raw_core"], 1),
        },
        {
            "api_over_raw_throughput_higher_is_better": c.rnd(per_s["api"] / per_s["raw_core"], 3),
            "store_over_raw_throughput_higher_is_better": c.rnd(per_s["store"] / per_s["raw_core"], 3),
            "store_over_raw_cpu_lower_is_better": c.rnd(cpu_ms["store"] / cpu_ms["raw_core"], 2),
        },
        {"api_rows_per_s_min": 20_000, "or_api_over_raw_throughput_min": 0.5},
        mode=mode,
        database="sqlite" if env.sqlite else "postgresql",
        reference={"records_per_call": batch_size, "calls_per_path": rounds, "validation_rules": len(RULES)},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
