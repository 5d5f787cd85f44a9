"""Shared setup for the bench/ scripts (not a benchmark itself).

Every script builds a :class:`BenchEnv`: a metacrm instance on PostgreSQL in
namespaces of its own (platform schema ``bench_<hex>``, tenant schemas
``tb<hex>_<slug>``), or, with ``--database-url sqlite``, on embedded SQLite in
a temporary folder; one tenant with an admin user and an API token, a Flask
test client, and helpers to create objects through the metadata change
pipeline and to load many rows straight into an object table with
``INSERT ... SELECT generate_series(...)`` (SQLite: a recursive CTE). Leaving
the ``with`` block drops every namespace (or file) the run created, also when
the run fails. (list_page, create_api, bulk_create, add_field and
compile_model are PostgreSQL-only; the rules and access scripts run on both.)

Measurement helpers print progress to stderr; :func:`emit` prints the one JSON
line that must be the last line on stdout.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import io
import json
import os
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy.engine import Engine  # noqa: E402

from metacrm.access.guard import SystemGuard  # noqa: E402
from metacrm.app import build_instance, create_app  # noqa: E402
from metacrm.metadata.changes import MetadataService  # noqa: E402
from metacrm.metadata.model import field_types, model_for  # noqa: E402
from metacrm.metadata.physical import table_name  # noqa: E402
from metacrm.metadata.store import RecordStore  # noqa: E402
from metacrm.platform import audit, tenancy  # noqa: E402
from metacrm.platform import identity as identities  # noqa: E402

DEFAULT_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
PASSWORD = "correct horse battery staple"
TENANT = "bench"

# The object most scripts use: a CRM "deal" with a mix of field types.
# industry and amount are indexed (the list page filters on one, sorts on the other).
INDUSTRIES = [f"ind{i}" for i in range(10)]
STAGES = ["prospect", "qualify", "propose", "negotiate", "won", "lost"]
DEAL_FIELDS: list[dict] = [
    {
        "api_name": "industry",
        "label": "Industry",
        "type": "picklist",
        "indexed": True,
        "options": {"values": [{"value": v, "label": v.title()} for v in INDUSTRIES]},
    },
    {"api_name": "amount", "label": "Amount", "type": "currency", "indexed": True, "options": {"currency": "USD"}},
    {
        "api_name": "stage",
        "label": "Stage",
        "type": "picklist",
        "options": {"values": [{"value": v, "label": v.title()} for v in STAGES]},
    },
    {"api_name": "probability", "label": "Probability", "type": "percent"},
    {"api_name": "quantity", "label": "Quantity", "type": "integer"},
    {"api_name": "close_date", "label": "Close date", "type": "date"},
    {"api_name": "contact_email", "label": "Contact e-mail", "type": "email"},
    {"api_name": "is_key", "label": "Key deal", "type": "boolean"},
    {"api_name": "notes", "label": "Notes", "type": "long_text"},
]
# Column → SQL expression over the series value ``i`` (a bigint) for bulk loading.
DEAL_SERIES_SQL = {
    "name": "'Deal ' || i",
    "industry": f"'ind' || (i % {len(INDUSTRIES)})",
    "amount": "((i * 7919) % 1000003) / 100.0",
    "stage": "(ARRAY['prospect','qualify','propose','negotiate','won','lost'])[1 + (i % 6)]",
    "probability": "(i % 101)",
    "quantity": "(i % 50)",
    "close_date": "DATE '2024-01-01' + (i % 730)::int",
    "contact_email": "'buyer' || i || '@example.com'",
    "is_key": "(i % 7 = 0)",
    "notes": "'note for deal ' || i",
}


# The same rows in SQLite's dialect (dates and datetimes are stored as text).
DEAL_SERIES_SQLITE = {
    "name": "'Deal ' || i",
    "industry": f"'ind' || (i % {len(INDUSTRIES)})",
    "amount": "((i * 7919) % 1000003) / 100.0",
    "stage": "CASE i % 6 " + " ".join(f"WHEN {k} THEN '{v}'" for k, v in enumerate(STAGES)) + " END",
    "probability": "(i % 101)",
    "quantity": "(i % 50)",
    "close_date": "date('2024-01-01', '+' || (i % 730) || ' days')",
    "contact_email": "'buyer' || i || '@example.com'",
    "is_key": "(i % 7 = 0)",
    "notes": "'note for deal ' || i",
}


def deal_record(i: int) -> dict:
    """A JSON record for the API/record store, like one row of DEAL_SERIES_SQL."""
    return {
        "name": f"Deal {i}",
        "industry": INDUSTRIES[i % len(INDUSTRIES)],
        "amount": f"{(i * 7919) % 1000003 / 100:.2f}",
        "stage": STAGES[i % len(STAGES)],
        "probability": i % 101,
        "quantity": i % 50,
        "close_date": f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}",
        "contact_email": f"buyer{i}@example.com",
        "is_key": i % 7 == 0,
        "notes": f"note for deal {i}",
    }


# -- command line and output -----------------------------------------------------------


def parse_args(description: str, extra: Callable[[argparse.ArgumentParser], None] | None = None):
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--quick", action="store_true", help="smaller sizes, finishes in under a minute")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny sizes for the test suite (where supported): proves the script runs; the figures mean nothing",
    )
    parser.add_argument(
        "--database-url",
        default=os.environ.get("METACRM_BENCH_DATABASE_URL") or DEFAULT_URL,
        help="PostgreSQL URL, or 'sqlite' for embedded SQLite (default: $METACRM_BENCH_DATABASE_URL or %(default)s)",
    )
    parser.add_argument("--profile", action="store_true", help="also profile the measured path (cProfile, stderr)")
    if extra:
        extra(parser)
    return parser.parse_args()


SMOKE_ORG = {"reps": 3, "north": 2, "south": 2, "others": 5}  # bench/_access.py sizes for --smoke


def mode(args) -> str:
    return "smoke" if getattr(args, "smoke", False) else "quick" if args.quick else "full"


def log(*parts: Any) -> None:
    print(*parts, file=sys.stderr, flush=True)


def emit(bench: str, metrics: dict, baseline: dict, ratio: dict, goal: dict, **extra: Any) -> None:
    """The last stdout line: one JSON object."""
    payload = {"bench": bench, "metrics": metrics, "baseline": baseline, "ratio": ratio, "goal": goal, **extra}
    sys.stdout.flush()
    print(json.dumps(payload, default=str), flush=True)


def rnd(value: float, digits: int = 3) -> float:
    return round(float(value), digits)


# -- timing --------------------------------------------------------------------------------


def percentile(samples: list[float], p: float) -> float:
    """Nearest-rank-with-interpolation percentile (p in 0..100)."""
    data = sorted(samples)
    if not data:
        return float("nan")
    k = (len(data) - 1) * p / 100
    lo, hi = int(k), min(int(k) + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (k - lo)


def summary_ms(samples_s: list[float]) -> dict:
    ms = [s * 1000 for s in samples_s]
    return {
        "p50_ms": rnd(percentile(ms, 50)),
        "p95_ms": rnd(percentile(ms, 95)),
        "mean_ms": rnd(statistics.fmean(ms)),
        "n": len(ms),
    }


def interleaved(cases: dict[str, Callable[[], Any]], rounds: int, warmup: int = 5) -> dict[str, list[float]]:
    """Run every case once per round, in rotating order, so machine noise
    hits all of them alike. Returns seconds per call, by case."""
    names = list(cases)
    for _ in range(warmup):
        for name in names:
            cases[name]()
    samples: dict[str, list[float]] = {name: [] for name in names}
    clock = time.perf_counter
    gc_was = gc.isenabled()
    for r in range(rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            fn = cases[name]
            t0 = clock()
            fn()
            samples[name].append(clock() - t0)
        if gc_was and r % 50 == 49:
            gc.collect()
    return samples


def profile_calls(label: str, fn: Callable[[], Any], calls: int, top: int = 25) -> str:
    """cProfile ``calls`` runs of ``fn``; print the top entries (by internal
    and by cumulative time) to stderr and return the text."""
    profiler = cProfile.Profile()
    profiler.enable()
    for _ in range(calls):
        fn()
    profiler.disable()
    out = io.StringIO()
    stats = pstats.Stats(profiler, stream=out)
    stats.strip_dirs()
    out.write(f"==== profile: {label} ({calls} calls), by tottime ====\n")
    stats.sort_stats("tottime").print_stats(top)
    out.write(f"==== profile: {label} ({calls} calls), by cumulative ====\n")
    stats.sort_stats("cumulative").print_stats(top)
    text = out.getvalue()
    log(text)
    return text


# -- the environment -------------------------------------------------------------------------


def is_sqlite(database_url: str) -> bool:
    return database_url == "sqlite" or database_url.startswith("sqlite:")


class BenchEnv:
    """An instance on PostgreSQL in private namespaces (or on embedded SQLite
    in a temporary folder), one tenant, an admin with a bearer token, and a
    Flask test client. Use as a context manager."""

    def __init__(
        self, database_url: str, *, tenant: str = TENANT, load_entry_points: bool = False, config: dict | None = None
    ):
        """``load_entry_points``: run the installed plugins (crm_core...) too;
        ``config``: more settings for the instance."""
        self.database_url = database_url
        self.load_entry_points = load_entry_points
        self.extra_config = dict(config or {})
        self.sqlite = is_sqlite(database_url)
        self.suffix = uuid.uuid4().hex[:8]
        self.platform_schema = f"bench_{self.suffix}"
        self.tenant_prefix = f"tb{self.suffix}_"
        self.tenant_slug = tenant
        self.tmp = Path(tempfile.mkdtemp(prefix="metacrm-bench-"))
        self.instance = None

    # setup / teardown

    def __enter__(self) -> BenchEnv:
        try:
            self._setup()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def _setup(self) -> None:
        config = {
            "DATA_DIR": str(self.tmp / "data"),
            "SECRET_KEY": "bench-secret-" + self.suffix,
            "SESSION_COOKIE_SECURE": False,
            "LOG_LEVEL": "WARNING",
            **self.extra_config,
        }
        if self.sqlite:
            log(f"setup: embedded SQLite in {self.tmp}")
        else:
            config.update(
                DATABASE_URL=self.database_url,
                PLATFORM_SCHEMA=self.platform_schema,
                TENANT_SCHEMA_PREFIX=self.tenant_prefix,
            )
            log(f"setup: platform schema {self.platform_schema}, tenant schema {self.tenant_prefix}{self.tenant_slug}")
        self.config = config
        self.instance = build_instance(config, load_entry_points=self.load_entry_points)
        self.instance.upgrade_platform()
        tenancy.create_tenant(self.instance, self.tenant_slug, "Bench")
        self.user_id = identities.create_user(
            self.instance,
            tenant=self.tenant_slug,
            email="admin@bench.test",
            password=PASSWORD,
            is_admin=True,
            role="admin",
        )
        self.identity = identities.identity_for(self.instance, self.user_id, self.tenant_slug)
        self.token = identities.create_token(self.instance, self.identity, "bench")[1]
        self.headers = {"Authorization": f"Bearer {self.token}"}
        self.app = create_app(instance=self.instance)
        self.client = self.app.test_client()
        self.binding = self.instance.db.bind(self.tenant_slug)
        # The tenant's engine (on PostgreSQL the instance's one engine; on SQLite the tenant file's).
        self.engine = self.binding.engine
        self.dialect = self.binding.dialect
        self.schema = self.binding.schema
        self.registry = field_types(self.instance)
        self.actor = self.identity.as_actor("127.0.0.1", None)

    def close(self) -> None:
        if self.sqlite:
            if self.instance is not None:
                self.instance.dispose()
                self.instance = None
            shutil.rmtree(self.tmp, ignore_errors=True)
            return
        if self.instance is not None:
            try:
                self.drop_namespaces()
            except Exception as exc:  # noqa: BLE001 - report, keep cleaning
                log(f"cleanup: could not drop namespaces: {exc!r}")
            self.instance.dispose()
            self.instance = None
        else:
            # The instance never came up: drop whatever the failed setup left.
            try:
                engine = sa.create_engine(self.database_url)
                with engine.begin() as conn:
                    self._drop(conn)
                engine.dispose()
            except Exception as exc:  # noqa: BLE001
                log(f"cleanup: could not drop namespaces: {exc!r}")
        shutil.rmtree(self.tmp, ignore_errors=True)

    def drop_namespaces(self) -> None:
        with self.instance.db.engine.begin() as conn:
            self._drop(conn)

    def _drop(self, conn) -> None:
        schemas = (
            conn.execute(
                sa.text("SELECT nspname FROM pg_namespace WHERE nspname = :p OR nspname LIKE :t"),
                {"p": self.platform_schema, "t": self.tenant_prefix.replace("_", r"\_") + "%"},
            )
            .scalars()
            .all()
        )
        # One transaction per schema: dropping hundreds of tenant schemas in
        # one would need a lock per relation (max_locks_per_transaction).
        for schema in schemas:
            with conn.engine.begin() as own:
                own.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
        log(f"cleanup: dropped {len(schemas)} schema(s)")

    # metadata and data

    def metadata(self) -> MetadataService:
        return MetadataService(self.binding, self.registry, self.actor)

    def create_object(self, api_name: str, fields: list[dict], label: str | None = None) -> None:
        with self.metadata().change(f"bench: create {api_name}") as tx:
            tx.create_object({"api_name": api_name, "label": label or api_name.title()}, fields)

    def create_deal_object(self, api_name: str = "deal") -> None:
        self.create_object(api_name, DEAL_FIELDS, "Deal")

    def model(self):
        return model_for(self.instance, self.binding)

    def store(self) -> RecordStore:
        return RecordStore(self.binding, self.model(), SystemGuard(), self.actor, self.registry)

    @contextlib.contextmanager
    def as_request(self) -> Iterator[None]:
        """Read as a request does: on the request's shared connection, in
        autocommit on PostgreSQL. A read block outside a request runs in a
        transaction and its connection goes back to the pool with a
        ROLLBACK, on which psycopg drops every statement it had prepared on
        that connection; the pool is the API's, so a reference path read
        that way would make the API re-plan its statements (measured: GET by
        id 1.1 ms alone, 2.8 ms with such a read between two calls)."""
        token = self.instance.db.open_request()
        try:
            yield
        finally:
            self.instance.db.close_request(token)

    def baseline_engine(self) -> Engine:
        """An engine of the baseline's own (same URL, same pool settings as
        a default engine), so its transactions' ROLLBACKs leave the API's
        pooled connections and their prepared statements alone (see
        :meth:`as_request`). Dispose it at the end."""
        return sa.create_engine(self.engine.url.render_as_string(hide_password=False))

    def tenant_url(self) -> str:
        """The URL of the database holding the tenant's records (its own file
        on SQLite), for a baseline of its own (:func:`bare_app`)."""
        if self.sqlite:
            return f"sqlite:///{self.instance.db.tenant_file(self.tenant_slug)}"
        return self.engine.url.render_as_string(hide_password=False)

    def qualified(self, object_api_name: str) -> str:
        if self.schema is None:
            return f'"{table_name(object_api_name)}"'
        return f'"{self.schema}"."{table_name(object_api_name)}"'

    def load_series(
        self,
        object_api_name: str,
        rows: int,
        columns: dict[str, str] | None = None,
        *,
        chunk=250_000,
        owner_sql: str | None = None,
    ):
        """Fill the object table with ``rows`` rows from generate_series (fast:
        no API, no per-row Python), then ANALYZE it. On SQLite the series is
        a recursive CTE, and ``columns`` defaults to DEAL_SERIES_SQLITE.
        ``owner_sql`` (an expression over ``i``) spreads the rows over owners;
        by default the admin owns them all."""
        columns = columns or (DEAL_SERIES_SQLITE if self.sqlite else DEAL_SERIES_SQL)
        table = self.qualified(object_api_name)
        owner = owner_sql or str(self.user_id)
        names = ", ".join(f'"{c}"' for c in columns)
        exprs = ", ".join(columns.values())
        started = time.perf_counter()
        with self.engine.begin() as conn:
            start = conn.execute(sa.text(f"SELECT coalesce(max(id), 0) FROM {table}")).scalar_one()
        done = 0
        while done < rows:
            n = min(chunk, rows - done)
            lo, hi = start + done + 1, start + done + n
            if self.sqlite:
                # SQLAlchemy's text form of a DateTime on SQLite.
                now = f"'{time.strftime('%Y-%m-%d %H:%M:%S', time.gmtime())}.000000'"
                series = (
                    f"(WITH RECURSIVE s(i) AS (SELECT {lo} UNION ALL SELECT i + 1 FROM s WHERE i < {hi}) "
                    "SELECT i FROM s)"
                )
            else:
                now = "now()"
                series = f"generate_series({lo}::bigint, {hi}::bigint) AS s(i)"
            with self.engine.begin() as conn:
                conn.execute(
                    sa.text(
                        f"INSERT INTO {table} "
                        f"(owner_id, created_at, created_by, updated_at, updated_by, version, {names}) "
                        f"SELECT {owner}, {now}, {self.user_id}, {now}, {self.user_id}, 1, {exprs} "
                        f"FROM {series}"
                    )
                )
            done += n
            log(f"  loaded {done:,}/{rows:,} rows into {table_name(object_api_name)}")
        self.analyze(object_api_name)
        log(f"  load + analyze: {time.perf_counter() - started:.1f} s")

    def analyze(self, object_api_name: str) -> None:
        """Refresh the planner's statistics of an object table (after a bulk load)."""
        table = self.qualified(object_api_name)
        with self.engine.connect() as conn:
            if self.sqlite:
                conn.exec_driver_sql(f"ANALYZE {table}")
                conn.commit()
            else:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text(f"VACUUM ANALYZE {table}"))

    def count(self, object_api_name: str) -> int:
        with self.engine.connect() as conn:
            return conn.execute(sa.text(f"SELECT count(*) FROM {self.qualified(object_api_name)}")).scalar_one()

    def core_table(self, object_api_name: str) -> sa.Table:
        """A hand-written SQLAlchemy Core Table for the raw baselines: reflected
        from the database, with the schema named directly (no metacrm model,
        no schema_translate_map)."""
        return sa.Table(table_name(object_api_name), sa.MetaData(), schema=self.schema, autoload_with=self.engine)


def system_actor() -> audit.Actor:
    return audit.SYSTEM


# -- the baseline server of the per-request benches ------------------------------------------

# The deal's columns as a GET by id returns them (system columns, then the fields).
DEAL_COLUMNS = [
    "id", "owner_id", "created_at", "created_by", "updated_at", "updated_by", "version",
    "name", "industry", "amount", "stage", "probability", "quantity", "close_date", "contact_email", "is_key", "notes",
]  # fmt: skip


def bare_app(url: str, schema: str | None, object_name: str = "deal", **engine_options: Any):
    """The baseline of get_by_id, list_page and load: a Flask app that selects
    the record's columns with SQLAlchemy Core on its own engine
    (``engine_options``: the pool, sized as the product's) and returns them
    with ``jsonify``. Its views:

    * ``GET /<object>/<id>``: one record;
    * ``GET /<object>?<field>=<value>&sort=-<field>&limit=N&offset=M``: a page
      of live records with one equality filter, sorted on one field (NULLs
      first when descending, as the API sorts) and the id, ``limit + 1`` rows
      read to know whether more follow — the list a hand-written endpoint serves;
    * ``GET /health``: a readiness probe.

    Returns the app and its engine (dispose it at the end)."""
    from flask import Flask, abort, jsonify, request

    engine = sa.create_engine(url, **engine_options)
    table = sa.Table(f"o_{object_name}", sa.MetaData(), schema=schema, autoload_with=engine)
    query = sa.select(*[table.c[n] for n in DEAL_COLUMNS]).where(table.c.deleted_at.is_(None))
    app = Flask("bare")

    @app.get(f"/{object_name}/<int:record_id>")
    def get_record(record_id: int):
        with engine.connect() as conn:
            row = conn.execute(query.where(table.c.id == record_id)).mappings().first()
        if row is None:
            abort(404)
        return jsonify(dict(row))

    @app.get(f"/{object_name}")
    def list_records():
        args = request.args.to_dict()
        sort, limit, offset = args.pop("sort"), int(args.pop("limit", 50)), int(args.pop("offset", 0))
        ((field, value),) = args.items()
        key = table.c[sort.lstrip("-")]
        order = key.desc().nulls_first() if sort.startswith("-") else key.asc().nulls_last()
        page = query.where(table.c[field] == value).order_by(order, table.c.id.asc()).limit(limit + 1)
        page = page.offset(offset) if offset else page
        with engine.connect() as conn:
            rows = conn.execute(page).mappings().all()
        return jsonify({"data": [dict(row) for row in rows[:limit]], "more": len(rows) > limit})

    @app.get("/health")
    def health():
        return {"status": "ok"}

    return app, engine
