"""Creating, listing and upgrading tenant namespaces.

A tenant is created in one step as far as the database allows: on PostgreSQL
the schema, its tables, the plugins' seed rows and the directory row commit in
ONE transaction; on SQLite (a file per tenant) the directory row is written
first with status "creating" (it reserves the slug), the file is built, and
the row turns "active" last; if anything fails the file and the row are
removed again. Only active tenants can be bound.
"""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.platform import audit, migrations
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import TenantBinding, validate_slug
from metacrm.platform.errors import Conflict, ValidationFailed
from metacrm.platform.instance import Instance
from metacrm.platform.tables import api_tokens, memberships, tenant_settings, tenants

Progress = Callable[[str], None]
# Fills a new namespace in place of the plugins' seed rows: (binding, connection).
Populate = Callable[[TenantBinding, Connection], None]


def _quiet(_message: str) -> None:
    pass


def list_tenants(instance: Instance) -> list[dict]:
    with instance.db.platform_connect() as conn:
        rows = conn.execute(sa.select(tenants).order_by(tenants.c.slug)).mappings().all()
    return [dict(row, created_at=as_utc(row["created_at"])) for row in rows]


def tenant_exists(instance: Instance, slug: str) -> bool:
    with instance.db.platform_connect() as conn:
        return conn.execute(sa.select(tenants.c.id).where(tenants.c.slug == slug)).first() is not None


def _migrate_namespace(instance: Instance, binding: TenantBinding, conn) -> None:
    if binding.schema:
        conn.execute(sa.text(f'CREATE SCHEMA IF NOT EXISTS "{binding.schema}"'))
    migrations.upgrade_tenant(conn, binding.schema, instance.tenant_migration_locations())


def _fill_namespace(
    instance: Instance,
    binding: TenantBinding,
    conn: Connection,
    actor: audit.Actor,
    progress: Progress,
    populate: Populate | None,
) -> None:
    if populate is not None:
        populate(binding, conn)
        return
    progress("installing plugins")
    instance.hook.tenant_created(tenant=binding, connection=conn)
    audit.record(conn, actor, "tenant.created", details={"slug": binding.slug, "name": binding.name})


def create_tenant(
    instance: Instance,
    slug: str,
    name: str | None = None,
    *,
    actor: audit.Actor = audit.SYSTEM,
    progress: Progress = _quiet,
    populate: Populate | None = None,
) -> TenantBinding:
    """Create tenant ``slug`` with its namespace; raises Conflict if it exists.

    The new namespace gets the plugins' seed rows (``tenant_created``) and a
    "tenant.created" audit entry -- or, when ``populate`` is given, only what
    ``populate(binding, connection)`` writes inside the creating transaction
    (tenant import: everything, the audit log included, comes from the file)."""
    db = instance.db
    validate_slug(slug)
    name = name or slug
    if tenant_exists(instance, slug):
        raise Conflict(f"tenant {slug!r} already exists", details={"fields": {"slug": ["already exists"]}})

    if db.dialect == "postgresql":
        with db.platform_begin() as conn:
            tenant_id = conn.execute(
                tenants.insert().values(slug=slug, name=name, status="active", created_at=utcnow())
            ).inserted_primary_key[0]
            binding = db.binding_for(slug, tenant_id, name)
            tconn = conn.execution_options(schema_translate_map={None: binding.schema, "platform": db.platform_schema})
            progress(f"creating schema {binding.schema}")
            _migrate_namespace(instance, binding, tconn)
            _fill_namespace(instance, binding, tconn, actor, progress, populate)
        return binding

    # SQLite: the namespace is a file of its own.
    path = db.tenant_file(slug)
    if path.exists():
        raise Conflict(f"a namespace file for {slug!r} already exists at {path}")
    with db.platform_begin() as conn:
        tenant_id = conn.execute(
            tenants.insert().values(slug=slug, name=name, status="creating", created_at=utcnow())
        ).inserted_primary_key[0]
    binding = db.binding_for(slug, tenant_id, name)
    try:
        with binding.begin() as tconn:
            progress(f"creating {path}")
            _migrate_namespace(instance, binding, tconn)
            _fill_namespace(instance, binding, tconn, actor, progress, populate)
    except BaseException:
        binding.engine.dispose()
        db._tenant_engines.pop(slug, None)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)
        with db.platform_begin() as conn:
            conn.execute(tenants.delete().where(tenants.c.id == tenant_id))
        raise
    with db.platform_begin() as conn:
        conn.execute(tenants.update().where(tenants.c.id == tenant_id).values(status="active"))
    return binding


def drop_tenant(instance: Instance, slug: str) -> None:
    """Remove tenant ``slug`` for good: its namespace (schema or file), its
    directory row, memberships, API tokens and settings. Logins stay (their
    users may belong to other tenants). Irreversible: back it up first
    (``metacrm backup``). NotFound for an unknown tenant."""
    db = instance.db
    binding = db.bind(slug)
    with db.platform_begin() as conn:
        for table in (api_tokens, memberships, tenant_settings):
            conn.execute(table.delete().where(table.c.tenant_id == binding.tenant_id))
        conn.execute(tenants.delete().where(tenants.c.id == binding.tenant_id))
        if db.dialect == "postgresql":  # in the same transaction: the row and the schema go together
            conn.execute(sa.text(f"DROP SCHEMA {conn.dialect.identifier_preparer.quote(binding.schema)} CASCADE"))
    if db.dialect == "sqlite":
        binding.engine.dispose()
        db._tenant_engines.pop(slug, None)
        path = db.tenant_file(slug)
        for suffix in ("", "-wal", "-shm"):
            path.with_name(path.name + suffix).unlink(missing_ok=True)


def upgrade_tenants(instance: Instance, progress: Progress = _quiet) -> int:
    """Bring every active tenant namespace to the newest migrations."""
    count = 0
    for row in list_tenants(instance):
        if row["status"] != "active":
            continue
        binding = instance.db.bind(row["slug"])
        progress(f"upgrading tenant {binding.slug}")
        with binding.begin() as conn:
            _migrate_namespace(instance, binding, conn)
        count += 1
    return count


TENANT_NAME_MAX = 200


def rename_tenant(instance: Instance, slug: str, name: str, *, actor: audit.Actor = audit.SYSTEM) -> str:
    """Change the organisation's display name (its slug, the namespace's
    name, never changes); audited in the tenant. Returns the new name."""
    name = (name or "").strip()
    if not name or len(name) > TENANT_NAME_MAX:
        reason = f"a name of 1 to {TENANT_NAME_MAX} characters"
        raise ValidationFailed("invalid organisation name", details={"fields": {"name": [reason]}})
    binding = instance.db.bind(slug)
    if name == binding.name:
        return name
    with instance.db.platform_begin() as conn:
        conn.execute(tenants.update().where(tenants.c.slug == slug).values(name=name))
    with binding.begin() as tconn:
        audit.record(tconn, actor, "tenant.renamed", object="tenant", details={"from": binding.name, "to": name})
    return name
