"""Compiling a big model, and the per-request cost of a compiled-model cache hit.

    .venv/bin/python bench/compile_model.py [--quick] [--database-url URL] [--profile]

1. ``compile``: ``metacrm.metadata.physical.compile_model`` over an in-memory
   DefinitionSet of 100 objects x 50 fields (a name field plus 49 fields
   cycling through 19 built-in types: text, long/rich text, e-mail, phone,
   URL, integer, decimal, currency, percent, date, datetime, boolean,
   picklist, multi-picklist, tags, auto-number, lookup, many-to-many; lookups
   and many-to-many point at other objects). Time per compile (p50, max) and
   peak traced memory (tracemalloc, separate run). Goal: < 2 s. Baseline:
   ``handwritten``, the same 300 tables (5600 columns, junction indexes)
   declared directly with ``sa.Table``/``sa.Column`` from a precomputed list,
   i.e. the SQLAlchemy cost alone, with no definitions or field types between.
2. ``cache hit``: ``model_for(instance, binding)`` when the tenant's model is
   already compiled: one checkout of a pooled connection and one indexed read
   of the tenant's head revision. Baseline: a bare ``SELECT 1`` round trip on
   the same engine (``engine.connect()`` + execute), the least any per-request
   check can cost. Goal: cache hit < 2x SELECT 1. The same big model is
   written into the tenant's ``meta_definitions`` (directly, bench only) so
   the first ``model_for`` (a miss: load + compile) is reported too.

Repeats: full 20 compiles and 2000 cache hits; --quick 3 compiles and 400 hits.
"""

from __future__ import annotations

import gc
import sys
import time
import tracemalloc

import _common as c
import sqlalchemy as sa

from metacrm.metadata.changes import normalized_field
from metacrm.metadata.definitions import Definition, DefinitionSet
from metacrm.metadata.model import model_for
from metacrm.metadata.physical import compile_model
from metacrm.metadata.tables import meta_definitions, meta_head

BENCH = "compile_model"
OBJECTS = 100
FIELDS_PER_OBJECT = 50
PICK = {"values": [{"value": f"v{i}", "label": f"Value {i}"} for i in range(8)]}
TYPE_CYCLE = [
    ("text", {}),
    ("long_text", {}),
    ("email", {}),
    ("integer", {}),
    ("decimal", {"precision": 12, "scale": 3}),
    ("currency", {"currency": "EUR"}),
    ("percent", {}),
    ("date", {}),
    ("datetime", {}),
    ("boolean", {}),
    ("picklist", PICK),
    ("multi_picklist", PICK),
    ("tags", {}),
    ("phone", {}),
    ("url", {}),
    ("rich_text", {}),
    ("lookup", None),  # options filled per object
    ("many_to_many", None),
    ("auto_number", {"format": "N-{00000}"}),
]


def object_name(i: int) -> str:
    return f"obj_{i:03d}"


def build_definitions() -> DefinitionSet:
    items: dict = {}
    for i in range(OBJECTS):
        api = object_name(i)
        items[("object", api)] = Definition(
            "object",
            api,
            {"api_name": api, "label": f"Object {i}", "plural_label": f"Objects {i}", "name_field": "name",
             "search_fields": ["name"]},
        )  # fmt: skip
        docs = [{"api_name": "name", "label": "Name", "type": "text", "required": True, "indexed": True}]
        for k in range(FIELDS_PER_OBJECT - 1):
            type_name, options = TYPE_CYCLE[k % len(TYPE_CYCLE)]
            if options is None:
                options = {"target": object_name((i + 1 + k) % OBJECTS)}
            doc = {"api_name": f"f{k:02d}_{type_name}", "label": f"Field {k}", "type": type_name, "options": options}
            if k % 10 == 3:
                doc["indexed"] = True
            docs.append(doc)
        for doc in docs:
            doc = normalized_field(doc)
            items[("field", f"{api}.{doc['api_name']}")] = Definition("field", f"{api}.{doc['api_name']}", doc)
    return DefinitionSet(items)


def handwritten_plan(metadata: sa.MetaData) -> list[tuple]:
    """(table name, [(column name, type, primary key, nullable)], [(index name, column)]) per table."""
    return [
        (
            t.name,
            [(col.name, col.type, col.primary_key, col.nullable) for col in t.columns],
            [(ix.name, ix.columns[0].name) for ix in t.indexes],
        )
        for t in metadata.tables.values()
    ]


def handwritten(plan: list[tuple]) -> sa.MetaData:
    metadata = sa.MetaData()
    for name, columns, indexes in plan:
        sa.Table(
            name,
            metadata,
            *[sa.Column(n, t, primary_key=pk, nullable=nl) for n, t, pk, nl in columns],
            *[sa.Index(ix, col) for ix, col in indexes],
        )
    return metadata


def main() -> int:
    args = c.parse_args(__doc__.splitlines()[0])
    compiles = 3 if args.quick else 20
    hits = 400 if args.quick else 2000
    with c.BenchEnv(args.database_url) as env:
        definitions = build_definitions()
        registry = env.registry
        n_fields = sum(1 for kind, _ in definitions.items if kind == "field")
        c.log(f"definitions: {OBJECTS} objects, {n_fields} fields")

        # 1. compile time
        model = compile_model(0, definitions, registry)  # warm imports and caches
        plan = handwritten_plan(model.sa_metadata)
        handwritten(plan)
        times, hand_times = [], []
        for r in range(compiles):
            for which in ("compile", "handwritten") if r % 2 == 0 else ("handwritten", "compile"):
                gc.collect()
                t0 = time.perf_counter()
                if which == "compile":
                    model = compile_model(r + 1, definitions, registry)
                    times.append(time.perf_counter() - t0)
                else:
                    handwritten(plan)
                    hand_times.append(time.perf_counter() - t0)
            c.log(
                f"  compile {r + 1}/{compiles}: {times[-1] * 1000:.1f} ms "
                f"(hand-written tables {hand_times[-1] * 1000:.1f} ms)"
            )
        columns = sum(len(o.table.columns) for o in model.objects.values())
        junctions = sum(len(o.junctions) for o in model.objects.values())
        assert len(model.objects) == OBJECTS
        # peak memory of one compile
        gc.collect()
        tracemalloc.start()
        tracemalloc.reset_peak()
        before, _ = tracemalloc.get_traced_memory()
        kept = compile_model(999, definitions, registry)
        current, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
        peak_mb = (peak - before) / 2**20
        retained_mb = (current - before) / 2**20
        del kept
        c.log(f"  tables {len(model.objects)} (+{junctions} junctions), columns {columns}")
        c.log(f"  peak traced memory of one compile: {peak_mb:.1f} MiB (retained {retained_mb:.1f} MiB)")

        # 2. the tenant holds the same model: write it straight into its metadata tables
        with env.binding.begin() as conn:
            conn.execute(
                meta_definitions.insert(),
                [
                    {"kind": d.kind, "key": d.key, "document": d.document, "deleted_at": None, "revision": 2}
                    for d in definitions.items.values()
                ],
            )
            conn.execute(meta_head.update().where(meta_head.c.id == 1).values(revision=meta_head.c.revision + 1))
        t0 = time.perf_counter()
        big = model_for(env.instance, env.binding)
        miss_ms = (time.perf_counter() - t0) * 1000
        assert len(big.objects) >= OBJECTS
        c.log(
            f"  model_for miss (load {len(definitions.items)} definitions from PostgreSQL + compile): {miss_ms:.1f} ms"
        )

        def hit():
            assert model_for(env.instance, env.binding) is big

        def select_1():
            with env.engine.connect() as conn:
                conn.execute(sa.text("SELECT 1")).scalar_one()

        held = env.engine.connect()

        def select_1_open_conn():
            held.execute(sa.text("SELECT 1")).scalar_one()

        c.log(f"timing {hits} interleaved cache hits / SELECT 1 ...")
        samples = c.interleaved(
            {"cache_hit": hit, "select_1": select_1, "select_1_open_conn": select_1_open_conn}, hits, warmup=20
        )
        held.close()
        s = {name: c.summary_ms(v) for name, v in samples.items()}
        for name, stats in s.items():
            c.log(f"  {name:20s} p50 {stats['p50_ms']:7.3f} ms  p95 {stats['p95_ms']:7.3f} ms")
        if args.profile:
            c.profile_calls("compile_model 100x50", lambda: compile_model(1, definitions, registry), 3)
            c.profile_calls("model_for cache hit", hit, 500)
    compile_p50 = c.percentile(times, 50) * 1000
    hand_p50 = c.percentile(hand_times, 50) * 1000
    c.emit(
        BENCH,
        {
            "compile_p50_ms": c.rnd(compile_p50, 1),
            "compile_max_ms": c.rnd(max(times) * 1000, 1),
            "compile_peak_mib": c.rnd(peak_mb, 1),
            "compiled_model_retained_mib": c.rnd(retained_mb, 1),
            "model_for_miss_ms": c.rnd(miss_ms, 1),
            "cache_hit_p50_ms": s["cache_hit"]["p50_ms"],
            "cache_hit_p95_ms": s["cache_hit"]["p95_ms"],
        },
        {
            "handwritten_tables_p50_ms": c.rnd(hand_p50, 1),
            "select_1_p50_ms": s["select_1"]["p50_ms"],
            "select_1_p95_ms": s["select_1"]["p95_ms"],
            "select_1_open_conn_p50_ms": s["select_1_open_conn"]["p50_ms"],
        },
        {
            "compile_over_handwritten_p50_lower_is_better": c.rnd(compile_p50 / hand_p50, 2),
            "cache_hit_over_select_1_p50_lower_is_better": c.rnd(s["cache_hit"]["p50_ms"] / s["select_1"]["p50_ms"], 2),
            "cache_hit_over_select_1_open_conn_p50_lower_is_better": c.rnd(
                s["cache_hit"]["p50_ms"] / s["select_1_open_conn"]["p50_ms"], 2
            ),
        },
        {"compile_max_ms": 2000, "cache_hit_over_select_1_p50_max": 2.0},
        mode="quick" if args.quick else "full",
        reference={
            "objects": OBJECTS,
            "fields": n_fields,
            "columns": columns,
            "junction_tables": junctions,
            "compiles": compiles,
            "cache_hits": hits,
        },
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
