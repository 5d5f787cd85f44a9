"""CSV import: a file of ``deal`` rows through the import (reader, mapping,
cell parsing, batches of 1000 through the record store: validation, audit)
vs a plain bulk insert of the same rows.

    .venv/bin/python bench/import_csv.py [--quick|--smoke] [--database-url URL|sqlite]

Rows: full 1,000,000, --quick 50,000, --smoke 500. Paths:

* ``import``: :func:`metacrm.data.imports.service.start_import` run inline
  (as ``metacrm import`` does), the file read as a stream, one bad row in
  the middle (reported, the rest written);
* ``raw_copy`` (the baseline): read the same CSV with the csv module, type
  the values by hand and write them with :func:`metacrm.platform.bulk.insert_rows`
  (COPY on PostgreSQL, executemany on SQLite) in batches of 10,000: no
  validation, no rules, no audit.

Peak RSS: the process's resident memory sampled whenever the import stores
its progress (at most every 0.5 s), minus the resident memory before it:
flat in the file's size when the reader streams. CPU: the seconds this
process (the import's Python, not the database server) spent per path, which
a machine shared with other jobs disturbs far less than the wall time. The
goal: 1M rows within 60 s on PostgreSQL (16,667 rows/s).
"""

from __future__ import annotations

import csv
import datetime as dt
import os
import sys
import time
from decimal import Decimal

import _common as c

from metacrm.data.imports import service
from metacrm.metadata.model import record_store
from metacrm.platform import bulk

BENCH = "import_csv"
OBJECT = "deal"
COLUMNS = [
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


def rss_mb() -> float:
    with open("/proc/self/statm") as handle:
        pages = int(handle.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def write_csv(path, rows: int, start: int, bad_at: int | None) -> None:
    with open(path, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(COLUMNS)
        for i in range(start, start + rows):
            record = c.deal_record(i)
            if i - start == bad_at:
                record["amount"] = "not a number"
            writer.writerow(
                ["true" if record[k] is True else "false" if record[k] is False else record[k] for k in COLUMNS]
            )


def raw_copy(env, path) -> int:
    table = env.core_table(OBJECT)
    now = dt.datetime.now(dt.UTC)
    written = 0
    with open(path, encoding="utf-8", newline="") as handle, env.engine.begin() as conn:
        conn = conn.execution_options(schema_translate_map={None: env.schema})
        reader = csv.DictReader(handle)
        batch = []
        for r in reader:
            batch.append(
                {
                    "name": r["name"],
                    "industry": r["industry"],
                    "amount": Decimal(r["amount"]),
                    "stage": r["stage"],
                    "probability": Decimal(r["probability"]),
                    "quantity": int(r["quantity"]),
                    "close_date": dt.date.fromisoformat(r["close_date"]),
                    "contact_email": r["contact_email"],
                    "is_key": r["is_key"] == "true",
                    "notes": r["notes"],
                    "owner_id": env.user_id,
                    "created_at": now,
                    "created_by": env.user_id,
                    "updated_at": now,
                    "updated_by": env.user_id,
                    "version": 1,
                }
            )
            if len(batch) == 10_000:
                bulk.insert_rows(conn, table, batch)
                written += len(batch)
                batch = []
        if batch:
            bulk.insert_rows(conn, table, batch)
            written += len(batch)
    return written


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    mode = c.mode(args)
    rows = {"smoke": 500, "quick": 50_000, "full": 1_000_000}[mode]
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        import_file = env.tmp / "deals.csv"
        raw_file = env.tmp / "deals-raw.csv"
        write_csv(import_file, rows, 1, rows // 2)
        write_csv(raw_file, rows, 10_000_000, None)
        file_mib = import_file.stat().st_size / 2**20
        c.log(f"{rows} rows, {file_mib:.1f} MiB")
        guard = c.SystemGuard(("create", "read", "update", "delete", "import"))
        store = record_store(env.instance, env.binding, guard, env.actor)
        mapping = {name: name for name in COLUMNS}

        before = rss_mb()
        peak = [before]
        original = service._update

        def sampling_update(binding, import_id, **values):
            peak[0] = max(peak[0], rss_mb())
            original(binding, import_id, **values)

        service._update = sampling_update
        cpu_started, started = time.process_time(), time.perf_counter()
        with open(import_file, "rb") as stream:
            record = service.start_import(
                env.instance, env.binding, store, OBJECT, stream, "deals.csv", mapping=mapping, inline=True
            )
        import_s, import_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        service._update = original
        assert record["status"] == "done", record["message"]
        assert (record["created"], record["failed"]) == (rows - 1, 1), record
        assert record["errors"][0]["field"] == "amount" and record["errors"][0]["row"] == rows // 2 + 2

        cpu_started, started = time.process_time(), time.perf_counter()
        assert raw_copy(env, raw_file) == rows
        raw_s, raw_cpu = time.perf_counter() - started, time.process_time() - cpu_started
        assert env.count(OBJECT) == 2 * rows - 1
    import_rate = rows / import_s
    raw_rate = rows / raw_s
    c.log(
        f"import   {import_s:8.2f} s  {import_rate:9.0f} rows/s  CPU {import_cpu:6.2f} s"
        f"  peak RSS +{peak[0] - before:.1f} MiB"
    )
    c.log(f"raw_copy {raw_s:8.2f} s  {raw_rate:9.0f} rows/s  CPU {raw_cpu:6.2f} s")
    c.emit(
        BENCH,
        {
            "import_rows_per_s": c.rnd(import_rate, 0),
            "import_seconds": c.rnd(import_s, 2),
            "import_cpu_us_per_row": c.rnd(import_cpu / rows * 1e6, 1),
            "import_peak_rss_growth_mb": c.rnd(peak[0] - before, 1),
            "peak_rss_mb": c.rnd(peak[0], 1),
        },
        {
            "raw_copy_rows_per_s": c.rnd(raw_rate, 0),
            "raw_copy_seconds": c.rnd(raw_s, 2),
            "raw_copy_cpu_us_per_row": c.rnd(raw_cpu / rows * 1e6, 1),
        },
        {
            "import_over_raw_throughput_higher_is_better": c.rnd(import_rate / raw_rate, 3),
            "import_over_raw_cpu_lower_is_better": c.rnd(import_cpu / raw_cpu, 2),
        },
        {"rows": 1_000_000, "seconds_max_on_postgresql": 60, "import_rows_per_s_min": 16_667},
        mode=mode,
        database="sqlite" if env.sqlite else "postgresql",
        reference={"rows": rows, "file_mib": c.rnd(file_mib, 1), "batch": 1000},
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
