"""Shared pieces of the metadata engine, record store and REST API tests.

* ``world`` is the suite's world cut down to tenant acme (its admin and a
  plain user): these tests need no second tenant, and creating one costs
  time in every test.
* ``tenant`` is a bare tenant (acme, no users) for tests that drive the
  metadata service and the record store directly, as the platform does.
* Helpers to open a change, build a store, insert many rows fast, read a
  column back, and take a snapshot of a tenant (definitions, revision,
  physical schema, data) to prove a failed change left nothing behind.

The API tests import the helpers from here (``tests.metadata.conftest``).
"""

from __future__ import annotations

from contextlib import contextmanager

import pytest
import sqlalchemy as sa

from metacrm.access.guard import SystemGuard
from metacrm.metadata.changes import MetadataService, current_revision, load_definitions
from metacrm.metadata.model import field_types, model_for
from metacrm.metadata.store import RecordStore
from metacrm.metadata.tables import autonumber_counters, meta_revisions
from metacrm.platform import audit, tenancy
from metacrm.platform import identity as identities
from metacrm.platform.clock import utcnow
from metacrm.platform.tables import audit_log
from tests.conftest import PASSWORD, World

ACTOR = audit.Actor(user_id=None, email="tester@acme.test")

PICK_VALUES = [
    {"value": "open", "label": "Open"},
    {"value": "won", "label": "Won"},
    {"value": "lost", "label": "Lost"},
]

# One field of every built-in type (the lookups point at "target").
EVERY_TYPE_FIELDS = [
    {"api_name": "f_text", "label": "Text", "type": "text"},
    {"api_name": "f_long", "label": "Long", "type": "long_text"},
    {"api_name": "f_rich", "label": "Rich", "type": "rich_text"},
    {"api_name": "f_email", "label": "Email", "type": "email"},
    {"api_name": "f_phone", "label": "Phone", "type": "phone"},
    {"api_name": "f_url", "label": "URL", "type": "url"},
    {"api_name": "f_int", "label": "Integer", "type": "integer"},
    {"api_name": "f_dec", "label": "Decimal", "type": "decimal", "options": {"precision": 12, "scale": 3}},
    {"api_name": "f_cur", "label": "Currency", "type": "currency", "options": {"currency": "EUR"}},
    {"api_name": "f_pct", "label": "Percent", "type": "percent"},
    {"api_name": "f_bool", "label": "Boolean", "type": "boolean"},
    {"api_name": "f_date", "label": "Date", "type": "date"},
    {"api_name": "f_dt", "label": "Date time", "type": "datetime"},
    {"api_name": "f_pick", "label": "Picklist", "type": "picklist", "options": {"values": PICK_VALUES}},
    {"api_name": "f_multi", "label": "Multi", "type": "multi_picklist", "options": {"values": PICK_VALUES}},
    {"api_name": "f_tags", "label": "Tags", "type": "tags"},
    {"api_name": "f_lookup", "label": "Lookup", "type": "lookup", "options": {"target": "target"}},
    {"api_name": "f_master", "label": "Master", "type": "master_detail", "options": {"target": "target"}},
    {"api_name": "f_many", "label": "Many", "type": "many_to_many", "options": {"target": "target"}},
    {"api_name": "f_auto", "label": "Number", "type": "auto_number", "options": {"format": "S-{0000}"}},
]


class AcmeWorld(World):
    """The suite's world with tenant acme only (admin@acme.test, user@acme.test)."""

    def __init__(self, instance, app):
        self.instance = instance
        self.app = app
        self.password = PASSWORD
        tenancy.create_tenant(instance, "acme", "Acme")
        identities.create_user(
            instance, tenant="acme", email="admin@acme.test", password=PASSWORD, is_admin=True, role="admin"
        )
        identities.create_user(instance, tenant="acme", email="user@acme.test", password=PASSWORD)


@pytest.fixture
def world(instance, app) -> World:
    return AcmeWorld(instance, app)


@pytest.fixture
def tenant(instance):
    """The bare tenant acme; returns its binding."""
    tenancy.create_tenant(instance, "acme", "Acme")
    return instance.db.bind("acme")


# -- acting directly -------------------------------------------------------------------


def service(instance, slug: str = "acme", actor: audit.Actor = ACTOR) -> MetadataService:
    return MetadataService(instance.db.bind(slug), field_types(instance), actor)


@contextmanager
def change(instance, summary: str = "test change", slug: str = "acme", actor: audit.Actor = ACTOR):
    with service(instance, slug, actor).change(summary) as tx:
        yield tx


def store(instance, slug: str = "acme", actor: audit.Actor = ACTOR) -> RecordStore:
    """A record store on the current model (build a new one after each change)."""
    binding = instance.db.bind(slug)
    return RecordStore(binding, model_for(instance, binding), SystemGuard(), actor, field_types(instance))


def create_object(instance, api_name: str, fields: list[dict] | None = None, slug: str = "acme", **document):
    with change(instance, f"create {api_name}", slug) as tx:
        return tx.create_object({"api_name": api_name, "label": api_name.title(), **document}, fields or [])


def create_every_type_object(instance, slug: str = "acme") -> None:
    """Objects ``target`` (name only) and ``sample`` (a field of every type)."""
    create_object(instance, "target", slug=slug)
    create_object(instance, "sample", EVERY_TYPE_FIELDS, slug=slug)


def insert_rows(instance, object_name: str, rows: list[dict], slug: str = "acme", chunk: int = 1000) -> None:
    """Rows of column values straight into the object's table, a chunk per
    executemany; every row must name the same columns."""
    binding = instance.db.bind(slug)
    table = model_for(instance, binding).object(object_name).table
    now = utcnow()
    system = {"created_at": now, "updated_at": now, "version": 1}
    with binding.begin() as conn:
        for start in range(0, len(rows), chunk):
            conn.execute(table.insert(), [{**system, **row} for row in rows[start : start + chunk]])


def column_values(instance, object_name: str, field: str, slug: str = "acme", *, raw: bool = False) -> dict:
    """``{id: value}`` of one field over every row (deleted ones too), as the
    API would show it (or as stored, with ``raw``)."""
    binding = instance.db.bind(slug)
    obj = model_for(instance, binding).object(object_name)
    field_type = obj.fields[field]
    with binding.connect() as conn:
        rows = conn.execute(sa.select(obj.table.c.id, obj.table.c[field]).order_by(obj.table.c.id)).all()
    return {row[0]: row[1] if raw else field_type.from_db(row[1]) for row in rows}


def stored_column(instance, table_name: str, column: str, slug: str = "acme") -> dict:
    """``{id: value}`` of a physical column, whatever the metadata says about it."""
    binding = instance.db.bind(slug)
    table = sa.Table(table_name, sa.MetaData(), sa.Column("id", sa.Integer), sa.Column(column))
    with binding.connect() as conn:
        return dict(conn.execute(sa.select(table.c.id, table.c[column]).order_by(table.c.id)).all())


def physical_columns(instance, table_name: str, slug: str = "acme") -> dict[str, str]:
    binding = instance.db.bind(slug)
    with binding.connect() as conn:
        inspector = sa.inspect(conn)
        if table_name not in inspector.get_table_names(schema=binding.schema):
            return {}
        return {c["name"]: str(c["type"]) for c in inspector.get_columns(table_name, schema=binding.schema)}


def snapshot(instance, slug: str = "acme") -> dict:
    """Everything a metadata change may touch: head revision, definitions,
    revisions, audit entries, auto-number counters, and of every object and
    junction table its columns, indexes, foreign keys and rows."""
    binding = instance.db.bind(slug)
    with binding.connect() as conn:
        definitions = {key: (d.document, d.deleted_at is not None) for key, d in load_definitions(conn).items.items()}
        state = {
            "revision": current_revision(conn),
            "definitions": definitions,
            "revisions": conn.execute(sa.select(sa.func.count()).select_from(meta_revisions)).scalar(),
            "audit": conn.execute(sa.select(sa.func.count()).select_from(audit_log)).scalar(),
            "counters": sorted(tuple(r) for r in conn.execute(sa.select(autonumber_counters)).all()),
            "tables": {},
        }
        inspector = sa.inspect(conn)
        for name in sorted(inspector.get_table_names(schema=binding.schema)):
            if not name.startswith(("o_", "m_")):
                continue
            columns = [(c["name"], str(c["type"])) for c in inspector.get_columns(name, schema=binding.schema)]
            indexes = sorted(
                (i["name"], tuple(i["column_names"]), bool(i["unique"]))
                for i in inspector.get_indexes(name, schema=binding.schema)
            )
            foreign_keys = sorted(
                (fk["name"] or "", tuple(fk["constrained_columns"]), fk["referred_table"])
                for fk in inspector.get_foreign_keys(name, schema=binding.schema)
            )
            table = sa.Table(name, sa.MetaData(), *[sa.Column(c) for c, _t in columns])
            rows = conn.execute(sa.select(table).order_by(*table.c)).all()
            state["tables"][name] = {
                "columns": columns,
                "indexes": indexes,
                "foreign_keys": foreign_keys,
                "rows": [tuple(r) for r in rows],
            }
    return state


def audit_entries(instance, action: str, slug: str = "acme") -> list[dict]:
    with instance.db.bind(slug).connect() as conn:
        return audit.entries(conn, action=action, limit=1000)
