"""Issue 16, item 5 -- ten thousand tenants: what one more tenant costs.

On PostgreSQL, creates N tenants (default 1,000; --quick 5; --smoke 3), each
with crm_core installed through the plugin lifecycle (``tenancy.create_tenant``
then ``lifecycle.install``, as ``metacrm plugin install`` does), an admin and
an API token, and reports:

* creation time per tenant: p50/p95, and the last decile against the first
  (the baseline: does creating gets slower as the catalog grows?), and the
  statements it sends to the server (each a round trip);
* catalog size: pg_class / pg_attribute rows and the catalog tables' bytes
  added per tenant, the tenant schema's own relations and bytes, and
  pg_database_size growth (other sessions on the server add noise to that);
* first-request latency of a cold tenant: a fresh worker process (its own
  instance and app; its caches have never seen the tenant) GETs a page of
  accounts through the API for each tenant, then the same request again
  (warm, the baseline);
* the worker's RSS after touching every tenant against after touching the
  first 10%, with ``TENANT_CACHE_SIZE`` = N/10 (the per-tenant caches are
  full at 10%, so the rest must be flat), and the same with the bound set
  huge (what a worker would grow to without it).

Password hashing uses the test suite's cheap parameters (users are set-up,
not what is measured). Every schema the run made (platform ``bench_<hex>``,
tenants ``tb<hex>_*``) is dropped at the end; nothing else is touched.
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import sqlalchemy as sa
from _common import BenchEnv, emit, log, mode, parse_args, percentile, profile_calls, rnd, summary_ms
from argon2 import PasswordHasher

from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.plugins import lifecycle

BENCH = "tenants"
PACKAGE = "crm_core"
OBJECT = "account"
REQUEST = f"/api/v1/data/{OBJECT}?limit=20"
ACTOR = audit.Actor(email="bench")
HUGE = 10**9  # "no bound"


def extra_args(parser) -> None:
    parser.add_argument("--tenants", type=int, help="how many tenants to create (default 1000; quick 5; smoke 3)")
    parser.add_argument("--cache-size", type=int, help="the worker's TENANT_CACHE_SIZE (default: a tenth of N)")
    parser.add_argument("--worker", help=argparse.SUPPRESS)  # internal: run as the fresh worker


def rss_kib() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def backend_kib(instance) -> dict:
    """The memory of the PostgreSQL backend serving the worker (its pooled
    connection: requests run one after another, so they reuse it): all of
    it, and its relation/catalog caches, which grow with every schema's
    tables it has touched."""
    with instance.db.engine.connect() as conn:
        row = conn.execute(
            sa.text(
                "SELECT sum(total_bytes) AS total, "
                "sum(total_bytes) FILTER (WHERE name = 'CacheMemoryContext' OR parent = 'CacheMemoryContext') AS cache "
                "FROM pg_backend_memory_contexts"
            )
        ).one()
    return {"total": int(row.total) // 1024, "cache": int(row.cache or 0) // 1024}


# -- the worker: a fresh process that serves every tenant once ---------------------------------


def worker(path: str) -> None:
    """Read the plan, build an app, touch every tenant (cold request, then
    warm), print what it saw as one JSON line."""
    from metacrm.access.policy import POLICIES
    from metacrm.app import build_instance, create_app
    from metacrm.metadata.model import MODELS

    plan = json.loads(Path(path).read_text())
    instance = build_instance(plan["config"], load_entry_points=True)
    app = create_app(instance=instance)
    client = app.test_client()
    # Warm the worker itself (imports, first request) on the bench's own tenant.
    for _ in range(3):
        assert client.get("/api/v1/meta/objects", headers=plan["warmup"]).status_code == 200
    gc.collect()
    rss = {"start": rss_kib()}
    backend = {"start": backend_kib(instance)}
    marks: dict[int, list[str]] = {}
    for k in range(1, 11):
        marks.setdefault(max(1, len(plan["tenants"]) * k // 10), []).append(f"{k * 10}%")
    cold, warm = [], []
    clock = time.perf_counter
    for n, (slug, token) in enumerate(plan["tenants"], 1):
        headers = {"Authorization": f"Bearer {token}"}
        t0 = clock()
        response = client.get(REQUEST, headers=headers)
        t1 = clock()
        again = client.get(REQUEST, headers=headers)
        t2 = clock()
        if response.status_code != 200 or again.status_code != 200:
            raise SystemExit(f"{slug}: {response.status_code} {response.get_data(as_text=True)[:300]}")
        cold.append(t1 - t0)
        warm.append(t2 - t1)
        if n in marks:
            gc.collect()
            rss.update(dict.fromkeys(marks[n], rss_kib()))
            backend.update(dict.fromkeys(marks[n], backend_kib(instance)))
    # The minutely ``automation.scheduled`` job visits every tenant: its
    # cost per tenant whose model this worker dropped (cold) and kept (warm).
    from metacrm.rules.automation.scheduled import run_time_rules

    scheduled_cold, scheduled_warm = [], []
    for slug, _token in plan["tenants"][: min(20, max(1, len(plan["tenants"]) - plan.get("cache_size", 0)))]:
        t0 = clock()
        run_time_rules(instance, instance.db.bind(slug))
        t1 = clock()
        run_time_rules(instance, instance.db.bind(slug))
        scheduled_cold.append(t1 - t0)
        scheduled_warm.append(clock() - t1)
    caches = instance.caches
    print(
        json.dumps(
            {
                "cold_s": cold,
                "scheduled_cold_s": scheduled_cold,
                "scheduled_warm_s": scheduled_warm,
                "warm_s": warm,
                "rss_kib": rss,
                "backend_kib": backend,
                "models_cached": len(caches[MODELS]),
                "policies_cached": len(caches[POLICIES]),
            }
        )
    )
    instance.dispose()


def run_worker(env: BenchEnv, tenants: list[tuple[str, str]], cache_size: int) -> dict:
    config = {**env.config, "TENANT_CACHE_SIZE": cache_size, "LOG_LEVEL": "WARNING"}
    plan = {"config": config, "tenants": tenants, "warmup": env.headers, "cache_size": cache_size}
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as fh:
        json.dump(plan, fh)
    try:
        done = subprocess.run(
            [sys.executable, __file__, "--worker", fh.name], capture_output=True, text=True, check=False
        )
    finally:
        Path(fh.name).unlink(missing_ok=True)
    if done.returncode != 0:
        raise SystemExit(f"worker failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# -- the catalog -----------------------------------------------------------------------------

CATALOG_TABLES = ("pg_class", "pg_attribute", "pg_index", "pg_constraint", "pg_depend", "pg_type", "pg_attrdef")


def catalog(conn) -> dict:
    row = conn.execute(
        sa.text(
            "SELECT (SELECT count(*) FROM pg_class) AS classes, (SELECT count(*) FROM pg_attribute) AS attributes, "
            "pg_database_size(current_database()) AS database_bytes, "
            + " + ".join(f"pg_total_relation_size('pg_catalog.{t}')" for t in CATALOG_TABLES)
            + " AS catalog_bytes"
        )
    ).one()
    return dict(row._mapping)


def schema_footprint(conn, schema: str) -> dict:
    row = conn.execute(
        sa.text(
            "SELECT count(*) AS relations, "
            "count(*) FILTER (WHERE c.relkind IN ('r', 'p')) AS tables, "
            "count(*) FILTER (WHERE c.relkind = 'i') AS indexes, "
            "coalesce(sum(pg_relation_size(c.oid)), 0) AS bytes, "
            "(SELECT count(*) FROM pg_attribute a JOIN pg_class k ON k.oid = a.attrelid "
            " WHERE k.relnamespace = n.oid) AS attributes "
            "FROM pg_namespace n JOIN pg_class c ON c.relnamespace = n.oid WHERE n.nspname = :s GROUP BY n.oid"
        ),
        {"s": schema},
    ).one()
    return {key: int(value) for key, value in row._mapping.items()}


# -- the run ---------------------------------------------------------------------------------


def create(instance, slug: str):
    """A tenant with crm_core, as ``metacrm tenant create`` then ``metacrm plugin install`` make it."""
    binding = tenancy.create_tenant(instance, slug, slug.title())
    lifecycle.install(instance, binding, PACKAGE, ACTOR)
    return binding


def main() -> None:
    args = parse_args(__doc__.splitlines()[0], extra_args)
    if args.worker:
        worker(args.worker)
        return
    n = args.tenants or (3 if args.smoke else 5 if args.quick else 1000)
    cache_size = args.cache_size or max(1, n // 10)
    identities._hasher = PasswordHasher(time_cost=1, memory_cost=8, parallelism=1)  # set-up, not measured
    started = time.perf_counter()
    with BenchEnv(args.database_url, load_entry_points=True) as env:
        if env.sqlite:
            raise SystemExit("bench/tenants.py measures PostgreSQL's catalog: give a PostgreSQL --database-url")
        instance = env.instance
        with instance.db.engine.connect() as conn:
            before = catalog(conn)
        create_s, tenants = [], []
        statements = [0]

        def count(*_args) -> None:
            statements[0] += 1

        sa.event.listen(instance.db.engine, "before_cursor_execute", count)
        create_statements = []
        for i in range(n):
            slug = f"ten{i:05d}"
            statements[0] = 0
            t0 = time.perf_counter()
            if args.profile and i == 0:
                profile_calls("create a tenant with crm_core", lambda slug=slug: create(instance, slug), 1)
                binding = instance.db.bind(slug)
            else:
                binding = create(instance, slug)
            create_s.append(time.perf_counter() - t0)
            create_statements.append(statements[0])
            user_id = identities.create_user(
                instance, tenant=slug, email=f"admin@{slug}.test", password="bench-pass", is_admin=True, role="admin"
            )
            identity = identities.identity_for(instance, user_id, slug)
            tenants.append((slug, identities.create_token(instance, identity, "bench")[1]))
            if (i + 1) % max(1, n // 20) == 0 or i == n - 1:
                elapsed = time.perf_counter() - started
                log(f"  created {i + 1}/{n} tenants, last {create_s[-1]:.2f} s, {elapsed:.0f} s in")
        sa.event.remove(instance.db.engine, "before_cursor_execute", count)
        with instance.db.engine.connect() as conn:
            after = catalog(conn)
            one = schema_footprint(conn, binding.schema)
        log(f"worker: TENANT_CACHE_SIZE={cache_size}, touching {n} tenants")
        bounded = run_worker(env, tenants, cache_size)
        log("worker: TENANT_CACHE_SIZE unbounded")
        unbounded = run_worker(env, tenants, HUGE)
    decile = max(1, n // 10)
    first, last = create_s[:decile], create_s[-decile:]
    per_tenant = {key: (after[key] - before[key]) / n for key in before}
    ten = max(1, n // 10)
    cold = bounded["cold_s"]
    warm = bounded["warm_s"]
    rss_b, rss_u = bounded["rss_kib"], unbounded["rss_kib"]
    pg = bounded["backend_kib"]
    grow_b = rss_b["100%"] - rss_b["10%"]
    grow_u = rss_u["100%"] - rss_u["10%"]
    metrics = {
        "tenants": n,
        "create": summary_ms(create_s),
        "create_first_decile_mean_ms": rnd(statistics.fmean(first) * 1000),
        "create_last_decile_mean_ms": rnd(statistics.fmean(last) * 1000),
        "create_total_s": rnd(sum(create_s), 1),
        "create_statements": statistics.median(create_statements),
        "catalog_per_tenant": {
            "pg_class_rows": rnd(per_tenant["classes"], 1),
            "pg_attribute_rows": rnd(per_tenant["attributes"], 1),
            "catalog_kib": rnd(per_tenant["catalog_bytes"] / 1024, 1),
            "database_kib": rnd(per_tenant["database_bytes"] / 1024, 1),
        },
        "tenant_schema": one,
        "catalog_total": {"pg_class_rows": after["classes"], "pg_attribute_rows": after["attributes"]},
        "cold_request": summary_ms(cold),
        "warm_request": summary_ms(warm),
        "scheduled_job_per_tenant": {
            "cold": summary_ms(bounded["scheduled_cold_s"]),
            "warm": summary_ms(bounded["scheduled_warm_s"]),
        },
        "worker_cache_size": cache_size,
        "rss_mib_bounded": {k: rnd(v / 1024, 1) for k, v in rss_b.items()},
        "rss_mib_unbounded": {k: rnd(v / 1024, 1) for k, v in rss_u.items()},
        "rss_growth_10_to_100pct_mib": {"bounded": rnd(grow_b / 1024, 1), "unbounded": rnd(grow_u / 1024, 1)},
        "rss_kib_per_cached_tenant": rnd(grow_u / max(1, n - ten), 1),
        "pg_backend_mib": {k: {m: rnd(v / 1024, 1) for m, v in pg[k].items()} for k in ("start", "10%", "100%")},
        "models_cached": {"bounded": bounded["models_cached"], "unbounded": unbounded["models_cached"]},
        "wall_s": rnd(time.perf_counter() - started, 1),
    }
    baseline = {
        "create_first_decile_mean_ms": metrics["create_first_decile_mean_ms"],
        "warm_request_p50_ms": metrics["warm_request"]["p50_ms"],
        "rss_mib_bounded_at_10pct": metrics["rss_mib_bounded"]["10%"],
    }
    ratio = {
        "create_last_vs_first_decile": rnd(statistics.fmean(last) / statistics.fmean(first), 2),
        "cold_vs_warm_p50": rnd(percentile(cold, 50) / percentile(warm, 50), 1),
        "scheduled_cold_vs_warm_p50": rnd(
            percentile(bounded["scheduled_cold_s"], 50) / percentile(bounded["scheduled_warm_s"], 50), 1
        ),
        "rss_bounded_100pct_vs_10pct": rnd(rss_b["100%"] / rss_b["10%"], 3),
        # At 10 % the cache has just filled; from 20 % on nothing should grow.
        "rss_bounded_100pct_vs_20pct": rnd(rss_b["100%"] / rss_b["20%"], 3),
        "rss_unbounded_100pct_vs_10pct": rnd(rss_u["100%"] / rss_u["10%"], 3),
    }
    goal = {
        "rss_bounded_100pct_vs_20pct": "about 1 (flat in the number of tenants touched)",
        "create_last_vs_first_decile": "about 1 (creating does not slow down as the catalog grows)",
    }
    emit(BENCH, metrics, baseline, ratio, goal, mode=mode(args))


if __name__ == "__main__":
    main()
