"""Engines, namespaces and the tenant binding.

One :class:`Database` per app (or CLI invocation). It owns the engines and
knows where each namespace lives:

* PostgreSQL: one engine; the platform namespace is the schema
  ``PLATFORM_SCHEMA``, tenant ``acme`` is the schema ``t_acme``.
* SQLite (embedded default): ``DATA_DIR/platform.db`` and one file per tenant,
  ``DATA_DIR/tenants/acme.db``.

Tenant tables are defined without a schema and reach a tenant's namespace only
through a :class:`TenantBinding`, which is the one way to get a connection to
them: on PostgreSQL the binding's connections translate the empty schema to
``t_<slug>``; on SQLite the tenant's file has its own engine that only the
binding hands out.

During a web request the connections are shared (:class:`RequestConnections`,
opened and closed by ``platform.web``): the token check, the revision check,
the roles and the work all use ONE checkout per engine — on PostgreSQL one
connection for the platform and the request's tenant. A block nested in a
write, a write nested in an open block, and any other tenant's namespace get
a pooled connection of their own, exactly as outside a request.

A read-only request may also carry a deferred identity check
(:class:`RequestCheck`, ``platform.web.read_only``): the token check the
request assumed passed, sent with the request's first read
(:func:`request_check_to_fold`) — or alone, before any other statement of
the request runs — so nothing the request reads is used before the check has
confirmed who is asking.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, suppress
from contextvars import ContextVar
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Engine

from metacrm.platform.caches import DEFAULT_TENANT_CACHE_SIZE, LruDict
from metacrm.platform.errors import BadRequest, ConfigError, NotFound
from metacrm.platform.tables import PLATFORM, tenants

SLUG_RE = re.compile(r"^[a-z][a-z0-9_]{1,39}$")
# The PostgreSQL engine's pool: DATABASE_POOL_SIZE connections kept (0: this
# many; `metacrm serve` raises it to its threads per worker), and this many
# more opened while busy and closed when returned (SQLAlchemy's defaults).
DEFAULT_POOL_SIZE = 5
POOL_OVERFLOW = 10
# Some platform and metadata tables (tokens, shares, revisions, the audit log)
# number rows in 32-bit INTEGER columns: PostgreSQL answers a bigger parameter
# with an error, not an empty match, so such a number is checked first.
INT32_MAX = 2**31 - 1


def validate_slug(slug: str) -> str:
    if not isinstance(slug, str) or not SLUG_RE.match(slug):
        raise BadRequest(
            "a tenant slug is 2-40 characters: a lower-case letter, then lower-case letters, digits or _",
            details={"fields": {"slug": ["must match ^[a-z][a-z0-9_]{1,39}$"]}},
        )
    return slug


def _names_a_table(key: object, tables: set[int]) -> bool:
    """Whether a compiled-cache key (nested tuples) holds one of ``tables`` (by id)."""
    stack = [key]
    while stack:
        item = stack.pop()
        if isinstance(item, tuple):
            stack.extend(item)
        elif isinstance(item, sa.Table) and id(item) in tables:
            return True
    return False


def _pg_engine_options(config: dict) -> dict:
    """PostgreSQL engine options from the settings (docs/scaling.md):
    ``DATABASE_PREPARED_STATEMENTS`` false turns psycopg's server-side
    prepared statements off (PgBouncer in transaction mode before 1.21);
    ``DATABASE_POOL_SIZE`` connections kept open (0: the default);
    ``DATABASE_POOL_RECYCLE_SECONDS`` replaces a pooled connection that old,
    which bounds the catalog caches a server process builds as it serves
    tenant after tenant."""
    options: dict = {"pool_size": config.get("DATABASE_POOL_SIZE") or DEFAULT_POOL_SIZE, "max_overflow": POOL_OVERFLOW}
    if not config.get("DATABASE_PREPARED_STATEMENTS", True):
        options["connect_args"] = {"prepare_threshold": None}
    if config.get("DATABASE_POOL_RECYCLE_SECONDS"):
        options["pool_recycle"] = int(config["DATABASE_POOL_RECYCLE_SECONDS"])
    return options


def _sqlite_engine(path: Path) -> Engine:
    """A SQLite engine with real transactions around DDL (pysqlite would
    otherwise not open a transaction before CREATE/ALTER, so DDL would survive
    a rollback), WAL, foreign keys and a busy
    timeout. A connection that is given the execution option
    ``sqlite_immediate=True`` takes the write lock when it begins, so
    read-then-write transactions serialize instead of failing."""
    engine = sa.create_engine(f"sqlite:///{path}", connect_args={"timeout": 30})

    @sa.event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection, _record):
        dbapi_connection.isolation_level = None  # we emit BEGIN ourselves
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        cursor.close()

    @sa.event.listens_for(engine, "begin")
    def _on_begin(conn):
        immediate = conn.get_execution_options().get("sqlite_immediate")
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")

    return engine


_UNCLAIMED = object()  # a shared connection no tenant has used yet


@dataclass
class _Held:
    """One shared connection of a request: which tenant's schema its tables
    translate to (one only, for the request's life), and how many blocks use it."""

    conn: Connection
    tenant_schema: object = _UNCLAIMED
    blocks: int = 0
    writing: bool = False


class RequestCheck(Protocol):
    """A check a request has assumed passed (the identity its token stood for
    when this worker last checked it) and must confirm before any other use
    of the database: ``ensure`` runs it alone if it has not run and raises
    again what it found wrong; ``fold_into`` runs it in the same statement as
    a read of the request's tenant."""

    def pending(self) -> bool: ...

    def ensure(self) -> None: ...

    def fold_into(self, conn: Connection, statement: sa.Select, params: dict | None = None) -> Sequence[sa.Row]: ...


@dataclass
class RequestConnections:
    """The connections one request shares, at most one per engine, checked
    out on first use and returned (rolled back) by :meth:`close`; and the
    request's deferred check, confirmed before any block runs its statements."""

    platform_schema: str | None
    held: dict[Engine, _Held] = field(default_factory=dict)
    check: RequestCheck | None = None
    folding: bool = False

    def claim(self, engine: Engine, tenant_schema: object) -> _Held | None:
        """The shared connection for ``tenant_schema`` (``_UNCLAIMED`` for the
        platform), or None when it must not be shared: it already serves
        another tenant — one request connection, one tenant."""
        held = self.held.get(engine)
        if held is None:
            conn = engine.connect()
            if engine.dialect.name == "postgresql":
                # Reads in autocommit: no BEGIN and ROLLBACK round trips, no
                # snapshot or lock held between statements (each statement
                # sees what is committed, as READ COMMITTED would).
                conn.execution_options(isolation_level="AUTOCOMMIT")
            held = self.held[engine] = _Held(conn)
        if tenant_schema is _UNCLAIMED or held.tenant_schema == tenant_schema:
            return held
        if held.tenant_schema is not _UNCLAIMED:
            return None
        held.tenant_schema = tenant_schema
        return held

    def close(self) -> None:
        """Return every connection to the pool; the pool rolls back whatever
        a failed request left open."""
        held, self.held = self.held, {}
        for item in held.values():
            item.conn.close()


_request_connections: ContextVar[RequestConnections | None] = ContextVar("metacrm_request_connections", default=None)


@contextmanager
def _connection(engine: Engine, options: dict, tenant_schema: object, *, write: bool) -> Iterator[Connection]:
    """A connection (in a transaction when ``write``): the request's shared
    one when it may be shared, else a pooled one of its own. A read block
    must not write (on PostgreSQL the request's reads run in autocommit)."""
    scope = _request_connections.get()
    if scope is not None and scope.check is not None and not scope.folding:
        scope.check.ensure()
    held = scope.claim(engine, tenant_schema) if scope is not None else None
    if held is None or held.writing or (write and held.blocks):
        with engine.connect() as conn:
            conn = conn.execution_options(**options)
            if write:
                with conn.begin():
                    yield conn
            else:
                yield conn
        return
    conn = held.conn
    sqlite = engine.dialect.name == "sqlite"
    # Each block translates schemas its own way (platform or tenant tables;
    # SQLAlchemy wants the same keys each time a statement runs); a nested
    # block of the other kind restores the outer block's map when it ends.
    outer_map = conn.get_execution_options().get("schema_translate_map")
    conn.execution_options(schema_translate_map=options["schema_translate_map"])
    held.blocks += 1
    try:
        if write:
            if conn.in_transaction():
                conn.rollback()  # end the request's read transaction: a write begins its own
            if sqlite:
                conn.execution_options(sqlite_immediate=True)
            else:
                conn.execution_options(isolation_level=conn.default_isolation_level)
            try:
                held.writing = True
                with conn.begin():
                    yield conn
            finally:
                held.writing = False
                conn.execution_options(**({"sqlite_immediate": False} if sqlite else {"isolation_level": "AUTOCOMMIT"}))
        else:
            try:
                yield conn
            except BaseException:
                # A failed statement aborts a PostgreSQL transaction: do not
                # hand the next block a connection that refuses everything.
                if conn.in_transaction():
                    conn.rollback()
                raise
    finally:
        held.blocks -= 1
        if outer_map is not None:
            conn.execution_options(schema_translate_map=outer_map)
    if sqlite and not held.blocks and conn.in_transaction():
        # SQLite reads see the snapshot their transaction began with; end it
        # so the next block sees what other connections committed.
        conn.rollback()


def defer_request_check(check: RequestCheck | None) -> None:
    """Give the current request a check to confirm before (or with) its
    first statement (None: forget the one it had, the request starts again)."""
    scope = _request_connections.get()
    if scope is None:
        raise RuntimeError("a deferred check needs a request (Database.open_request)")
    scope.check = check


def ensure_request_check() -> None:
    """Confirm the request's deferred check now if nothing has yet (the end
    of a read-only view), and raise what it found wrong."""
    scope = _request_connections.get()
    if scope is not None and scope.check is not None:
        scope.check.ensure()


@contextmanager
def request_check_to_fold() -> Iterator[RequestCheck | None]:
    """The request's deferred check when it has not run yet, for the block's
    first read to carry (``check.fold_into(conn, statement, params)``); None when
    there is nothing to carry. No block opened inside runs it alone, and when
    the block ends it has run one way or the other."""
    scope = _request_connections.get()
    check = scope.check if scope is not None else None
    if check is None or not check.pending():
        yield None
        return
    scope.folding = True
    try:
        yield check
    finally:
        scope.folding = False
        check.ensure()


@dataclass(frozen=True)
class TenantBinding:
    """A tenant bound for the duration of a request or CLI command.

    ``connect()``/``begin()`` are the only ways to reach the tenant's tables.
    """

    slug: str
    tenant_id: int
    name: str
    schema: str | None
    engine: Engine

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    def _options(self, write: bool) -> dict:
        options: dict = {"schema_translate_map": {None: self.schema}}
        if write and self.dialect == "sqlite":
            options["sqlite_immediate"] = True
        return options

    @contextmanager
    def connect(self) -> Iterator[Connection]:
        """A connection for reading (commit explicitly to write)."""
        with _connection(self.engine, self._options(write=False), self.schema, write=False) as conn:
            yield conn

    @contextmanager
    def begin(self) -> Iterator[Connection]:
        """A connection in a write transaction, committed on success and
        rolled back on any exception."""
        with _connection(self.engine, self._options(write=True), self.schema, write=True) as conn:
            yield conn


class Database:
    """The engines of one metacrm instance."""

    def __init__(self, config: dict):
        self.config = config
        url = config.get("DATABASE_URL") or ""
        self.data_dir = Path(config["DATA_DIR"])
        # SQLite: the engines of the TENANT_CACHE_SIZE most recently used
        # tenant files (one pool and compiled-statement cache each); a dropped
        # one is disposed (connections checked out stay usable until returned).
        size = config.get("TENANT_CACHE_SIZE") or DEFAULT_TENANT_CACHE_SIZE
        self._tenant_engines: LruDict[str, Engine] = LruDict(size, on_evict=lambda _slug, engine: engine.dispose())
        if not url:
            # Private: the platform database holds password hashes.
            self.data_dir.mkdir(mode=0o700, parents=True, exist_ok=True)
            (self.data_dir / "tenants").mkdir(mode=0o700, exist_ok=True)
            self.dialect = "sqlite"
            self.engine = _sqlite_engine(self.data_dir / "platform.db")
            self.platform_schema = None
        else:
            # No ping per checkout: a request retries once on a dropped
            # connection instead (platform.web), and the pool is refreshed
            # as soon as one is found dead.
            self.engine = sa.create_engine(url, **_pg_engine_options(config))
            self.dialect = self.engine.dialect.name
            if self.dialect != "postgresql":
                raise ConfigError(
                    f"METACRM_DATABASE_URL must name PostgreSQL (or be empty for embedded SQLite), not {self.dialect}"
                )
            self.platform_schema = config["PLATFORM_SCHEMA"]
        self.tenant_prefix = config["TENANT_SCHEMA_PREFIX"]

    # -- platform namespace -------------------------------------------------

    @property
    def _platform_options(self) -> dict:
        return {"schema_translate_map": {PLATFORM: self.platform_schema}}

    @contextmanager
    def platform_connect(self) -> Iterator[Connection]:
        with _connection(self.engine, self._platform_options, _UNCLAIMED, write=False) as conn:
            yield conn

    @contextmanager
    def platform_begin(self) -> Iterator[Connection]:
        options = dict(self._platform_options)
        if self.dialect == "sqlite":
            options["sqlite_immediate"] = True
        with _connection(self.engine, options, _UNCLAIMED, write=True) as conn:
            yield conn

    @contextmanager
    def platform_and_tenant_connect(self, slug: str) -> Iterator[Connection]:
        """PostgreSQL only: a read connection whose statements reach both
        the platform tables and tenant ``slug``'s (one statement over both,
        the request's token check). Within a request it is the request's
        shared connection, claimed for that tenant."""
        if self.dialect != "postgresql":
            raise ConfigError("platform and tenant tables share a connection on PostgreSQL only")
        schema = self.tenant_schema(slug)
        options = {"schema_translate_map": {PLATFORM: self.platform_schema, None: schema}}
        with _connection(self.engine, options, schema, write=False) as conn:
            yield conn

    # -- the request's connections -----------------------------------------

    def open_request(self):
        """Start sharing connections for the current request (context);
        returns the token :meth:`close_request` needs."""
        return _request_connections.set(RequestConnections(self.platform_schema))

    def close_request(self, token) -> None:
        """Return the request's connections to the pool and stop sharing."""
        scope = _request_connections.get()
        try:
            if scope is not None:
                scope.close()
        finally:
            _request_connections.reset(token)

    def drop_request_connections(self) -> None:
        """Forget the request's connections (after one was found dropped),
        so the next use checks out a fresh one."""
        scope = _request_connections.get()
        if scope is not None:
            for item in scope.held.values():
                with suppress(sa.exc.DBAPIError):
                    item.conn.close()
            scope.held.clear()

    # -- tenant namespaces --------------------------------------------------

    def tenant_schema(self, slug: str) -> str | None:
        return None if self.dialect == "sqlite" else self.tenant_prefix + validate_slug(slug)

    def tenant_file(self, slug: str) -> Path:
        return self.data_dir / "tenants" / f"{validate_slug(slug)}.db"

    def tenant_engine(self, slug: str) -> Engine:
        if self.dialect != "sqlite":
            return self.engine
        path = self.tenant_file(slug)
        return self._tenant_engines.get_or_build(slug, lambda: _sqlite_engine(path))

    def bind(self, slug: str) -> TenantBinding:
        """Bind the active tenant ``slug``; raises NotFound for an unknown or
        suspended tenant."""
        validate_slug(slug)
        with self.platform_connect() as conn:
            row = conn.execute(
                sa.select(tenants.c.id, tenants.c.name, tenants.c.status).where(tenants.c.slug == slug)
            ).first()
        if row is None or row.status != "active":
            raise NotFound(f"no tenant {slug!r}")
        return TenantBinding(
            slug=slug,
            tenant_id=row.id,
            name=row.name,
            schema=self.tenant_schema(slug),
            engine=self.tenant_engine(slug),
        )

    def binding_for(self, slug: str, tenant_id: int, name: str) -> TenantBinding:
        """A binding for a tenant whose directory row the caller has just read
        (the identity query checks it is active) or is creating."""
        return TenantBinding(slug, tenant_id, name, self.tenant_schema(slug), self.tenant_engine(slug))

    def forget_tables(self, metadata: sa.MetaData) -> None:
        """Drop the engine's compiled statements that name a table of
        ``metadata`` (the tables of a tenant's model the worker no longer
        keeps). SQLAlchemy keys its compiled cache by the Table objects
        themselves, so without this the cache (500 statements) would keep
        evicted models' tables alive: ~2 MiB per tenant touched, measured
        (docs/scaling.md)."""
        cache = self.engine._compiled_cache
        tables = {id(table) for table in metadata.tables.values()}
        if not cache or not tables:
            return
        for key in list(cache.keys()):
            if _names_a_table(key, tables):
                cache.pop(key, None)

    def dispose(self) -> None:
        self.engine.dispose()
        for engine in self._tenant_engines.values():
            engine.dispose()
