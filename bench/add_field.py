"""Add a nullable field to a big table through the metadata change pipeline.

    .venv/bin/python bench/add_field.py [--quick] [--database-url URL] [--profile]

``deal`` (10 fields) is loaded with 1M rows (--quick: 200k rows), and an
equal copy of it (``CREATE TABLE ... AS SELECT``) is made beside it. Then,
interleaved, once per field type in FIELDS (nullable, no default, not indexed):

* ``pipeline``: ``MetadataService.change(...)`` → ``tx.add_field("deal", {...})``
  on PostgreSQL: lock the metadata head, load and validate the definitions,
  ``ALTER TABLE ... ADD COLUMN`` through Alembic operations, write the
  definition, the revision and the audit entry, commit — one transaction,
* ``api`` (reference): the same through ``POST /api/v1/meta/objects/deal/fields``,
* ``raw_alter`` (the baseline): a bare ``ALTER TABLE copy ADD COLUMN <same type>``
  in its own transaction on the same engine.

Also reported: the first ``model_for`` after a change (recompiling the
tenant's model), the cost every worker pays once per revision.
"""

from __future__ import annotations

import sys
import time

import _common as c
import sqlalchemy as sa

from metacrm.metadata.model import model_for

BENCH = "add_field"
OBJECT = "deal"
COPY = "deal_copy_raw"
FIELDS = [
    {"type": "text"},
    {"type": "integer"},
    {"type": "currency", "options": {"currency": "EUR"}},
    {"type": "date"},
    {"type": "boolean"},
    {"type": "picklist", "options": {"values": [{"value": "a", "label": "A"}, {"value": "b", "label": "B"}]}},
    {"type": "email"},
    {"type": "decimal"},
]


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    rows = 200_000 if args.quick else 1_000_000
    repeats = 1 if args.quick else 3  # passes over FIELDS
    with c.BenchEnv(args.database_url) as env:
        env.create_deal_object(OBJECT)
        env.load_series(OBJECT, rows)
        copy = f'"{env.schema}"."{COPY}"'
        with env.engine.begin() as conn:
            conn.execute(sa.text(f"CREATE TABLE {copy} AS SELECT * FROM {env.qualified(OBJECT)}"))
        with env.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text(f"VACUUM ANALYZE {copy}"))
        assert env.count(OBJECT) == rows
        c.log(f"tables ready: {rows:,} rows each")
        model_for(env.instance, env.binding)
        dialect = env.engine.dialect

        samples: dict[str, list[float]] = {"pipeline": [], "api": [], "raw_alter": [], "recompile": []}
        n = 0
        for _rep in range(repeats):
            for spec in FIELDS:
                n += 1
                doc = {"api_name": f"p_{spec['type']}_{n}", "label": f"P {n}", **spec}
                sql_type = env.registry.bind(doc).columns()[0].type.compile(dialect)
                order = ["pipeline", "api", "raw_alter"]
                order = order[n % 3 :] + order[: n % 3]
                for path in order:
                    t0 = time.perf_counter()
                    if path == "pipeline":
                        with env.metadata().change(f"bench: add {doc['api_name']}") as tx:
                            tx.add_field(OBJECT, doc)
                    elif path == "api":
                        api_doc = {**doc, "api_name": f"a_{spec['type']}_{n}"}
                        response = env.client.post(
                            f"/api/v1/meta/objects/{OBJECT}/fields", json=api_doc, headers=env.headers
                        )
                        assert response.status_code == 201, response.data[:300]
                    else:
                        with env.engine.begin() as conn:
                            conn.execute(sa.text(f'ALTER TABLE {copy} ADD COLUMN "r_{spec["type"]}_{n}" {sql_type}'))
                    samples[path].append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                model_for(env.instance, env.binding)
                samples["recompile"].append(time.perf_counter() - t0)
                c.log(
                    f"  {doc['type']:9s} ({sql_type}): pipeline {samples['pipeline'][-1] * 1000:7.1f} ms, "
                    f"api {samples['api'][-1] * 1000:7.1f} ms, raw ALTER {samples['raw_alter'][-1] * 1000:7.1f} ms, "
                    f"recompile {samples['recompile'][-1] * 1000:6.1f} ms"
                )
        assert env.count(OBJECT) == rows
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        if args.profile:
            counter = iter(range(10_000))

            def one():
                k = next(counter)
                with env.metadata().change("bench: profile") as tx:
                    tx.add_field(OBJECT, {"api_name": f"prof_{k}", "label": "Prof", "type": "text"})

            c.profile_calls("add_field through the pipeline", one, 10)
    c.emit(
        BENCH,
        {
            "pipeline_p50_ms": s["pipeline"]["p50_ms"],
            "pipeline_max_ms": c.rnd(max(samples["pipeline"]) * 1000),
            "api_p50_ms": s["api"]["p50_ms"],
            "recompile_after_change_p50_ms": s["recompile"]["p50_ms"],
        },
        {"raw_alter_p50_ms": s["raw_alter"]["p50_ms"], "raw_alter_max_ms": c.rnd(max(samples["raw_alter"]) * 1000)},
        {"pipeline_over_raw_p50_lower_is_better": c.rnd(s["pipeline"]["p50_ms"] / s["raw_alter"]["p50_ms"], 2)},
        {"pipeline_max_ms": 1000},
        mode="quick" if args.quick else "full",
        reference={
            "rows": rows,
            "fields_added_per_path": len(samples["pipeline"]),
            "types": [f["type"] for f in FIELDS],
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
