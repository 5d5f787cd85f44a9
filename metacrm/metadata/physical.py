"""From definitions to SQLAlchemy tables: the compiled model of a tenant.

Object ``account`` is the table ``o_account``: the system columns of
DESIGN.md §3 plus one column per stored field (named after the field).
A field whose type ``stores_links`` (many-to-many) is a junction table
``m_<object>_<field>`` (its field type defines it). Fields in the
recycle bin keep their column, but the compiled model leaves them out, so
nothing reads or writes them until they are restored.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from metacrm.metadata.definitions import DefinitionSet
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.platform.caches import Memo

TABLE_PREFIX = "o_"
MAX_IDENTIFIER = 63


def table_name(object_api_name: str) -> str:
    return TABLE_PREFIX + object_api_name


def identifier(prefix: str, *parts: str) -> str:
    """A deterministic name within PostgreSQL's 63-character limit."""
    name = prefix + "_".join(parts)
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(name.encode()).hexdigest()[:8]
    return name[: MAX_IDENTIFIER - 9] + "_" + digest


def id_type() -> sa.types.TypeEngine:
    # BIGINT on PostgreSQL; INTEGER on SQLite, where only INTEGER PRIMARY KEY autoincrements.
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def system_columns() -> list[sa.Column]:
    tz = sa.DateTime(timezone=True)
    return [
        sa.Column("id", id_type(), primary_key=True, autoincrement=True),
        sa.Column("owner_id", sa.Integer, nullable=True),
        sa.Column("created_at", tz, nullable=False),
        sa.Column("created_by", sa.Integer, nullable=True),
        sa.Column("updated_at", tz, nullable=False),
        sa.Column("updated_by", sa.Integer, nullable=True),
        sa.Column("version", sa.Integer, nullable=False, server_default="1"),
        sa.Column("deleted_at", tz, nullable=True),
    ]


LIVE_ROWS = "deleted_at IS NULL"
BINNED_ROWS = "deleted_at IS NOT NULL"


def system_indexes(object_api_name: str) -> list[tuple[str, list[str], str]]:
    """(index name, columns, partial-index condition). Lists read live rows:
    their indexes hold live rows only (no index on ``deleted_at`` alone,
    which matches every live row and misleads SQLite's planner); the recycle
    bin has its own small index."""
    table = table_name(object_api_name)
    return [
        (identifier("ix_", table, "owner_id"), ["owner_id"], LIVE_ROWS),
        (identifier("ix_", table, "created_at"), ["created_at"], LIVE_ROWS),
        (identifier("ix_", table, "binned"), ["deleted_at"], BINNED_ROWS),
    ]


def field_indexes(object_api_name: str, field_type: FieldType) -> list[tuple[str, list[str], bool]]:
    """(index name, columns, unique) for the field's options; numbered
    values are unique, and lookups are indexed (joins and on-delete rules
    look them up)."""
    if not field_type.has_column:
        return []
    table = table_name(object_api_name)
    definition = field_type.definition
    if field_type.encrypted:  # the blind index answers equality (and uniqueness); always indexed
        column = field_type.blind_index_column
        if definition.get("unique"):
            return [(identifier("ux_", table, field_type.api_name), [column], True)]
        return [(identifier("ix_", table, field_type.api_name), [column], False)]
    if definition.get("unique") or field_type.numbers_itself:
        return [(identifier("ux_", table, field_type.api_name), [field_type.api_name], True)]
    if definition.get("indexed") or field_type.is_lookup:
        return [(identifier("ix_", table, field_type.api_name), [field_type.api_name], False)]
    return []


def bare_table(object_api_name: str, *column_names: str) -> sa.Table:
    """A Table of just the named columns, for DDL-time reads and updates.
    (A lightweight ``sa.table()`` would not be moved into the tenant's schema
    by ``schema_translate_map``; a real Table is.)"""
    return sa.Table(
        table_name(object_api_name),
        sa.MetaData(),
        sa.Column("id", id_type()),
        *[sa.Column(name) for name in column_names if name != "id"],
    )


@dataclass
class CompiledObject:
    api_name: str
    definition: dict
    fields: dict[str, FieldType]
    table: sa.Table
    junctions: dict[str, sa.Table] = field(default_factory=dict)

    @property
    def label(self) -> str:
        return self.definition.get("label", self.api_name)

    @property
    def name_field(self) -> str | None:
        name = self.definition.get("name_field")
        return name if name in self.fields else None

    @property
    def search_fields(self) -> list[str]:
        return [f for f in self.definition.get("search_fields") or [] if f in self.fields]


@dataclass
class CompiledModel:
    """Everything a request needs about a tenant's metadata at one revision."""

    revision: int
    definitions: DefinitionSet
    objects: dict[str, CompiledObject]
    sa_metadata: sa.MetaData
    # The field-type registry the model was compiled with; through its
    # plugin manager the rule language finds the plugins' functions.
    registry: Any = None
    # What the upper layers derive from this revision (compiled rules,
    # checked filters...), dropped with the model.
    memo: Memo = field(default_factory=Memo, repr=False, compare=False)

    def object(self, api_name: str) -> CompiledObject | None:
        return self.objects.get(api_name)


def compile_model(revision: int, definitions: DefinitionSet, registry) -> CompiledModel:
    sa_metadata = sa.MetaData()
    objects: dict[str, CompiledObject] = {}
    # Group the live fields by object in one pass (asking per object would
    # scan every definition once per object).
    fields_of: dict[str, list[dict]] = {}
    for definition in definitions.live("field"):
        fields_of.setdefault(definition.key.split(".", 1)[0], []).append(definition.document)
    for document in definitions.objects():
        api_name = document["api_name"]
        fields = {f["api_name"]: registry.bind(f) for f in fields_of.get(api_name, [])}
        columns = [c for ft in fields.values() for c in ft.columns()]
        table = sa.Table(table_name(api_name), sa_metadata, *system_columns(), *columns)
        junctions = {name: ft.junction_table(api_name, sa_metadata) for name, ft in fields.items() if ft.stores_links}
        objects[api_name] = CompiledObject(api_name, document, fields, table, junctions)
    model = CompiledModel(revision, definitions, objects, sa_metadata, registry)
    for obj in objects.values():
        for field_type in obj.fields.values():
            field_type.bind_model(model, obj.api_name)
    return model
