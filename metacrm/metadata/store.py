"""The record store: one generic repository for every object.

Create, get, partial update, soft delete (recycle bin), restore and purge;
bulk create/update (all-or-nothing, errors per row); queries with field
selection, filters, search, sort, keyset and offset pagination, and related
records. Every call is checked by the guard it was built with, every change
is written to the audit log with old and new values in the same transaction,
and every value reaches SQL as a bound parameter.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.guard import Guard
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.saving import MAX_DEPTH, PendingSave, SaveContext
from metacrm.metadata.tables import autonumber_counters
from metacrm.platform import audit
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import TenantBinding
from metacrm.platform.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed

MAX_BULK = 1000
MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# How system columns are typed for filters and sorting.
SYSTEM_FIELD_TYPES = {
    "id": "integer",
    "owner_id": "integer",
    "created_by": "integer",
    "updated_by": "integer",
    "version": "integer",
    "created_at": "datetime",
    "updated_at": "datetime",
    "deleted_at": "datetime",
}


@dataclass
class Page:
    data: list[dict]
    next_cursor: str | None
    total: int | None = None


class RecordStore:
    """``steps`` is the save pipeline (:mod:`metacrm.metadata.saving`); build
    stores with :func:`metacrm.metadata.model.record_store` to get the
    instance's steps. A store made by :meth:`nested` works inside another
    store's transaction."""

    def __init__(
        self,
        binding: TenantBinding,
        model: CompiledModel,
        guard: Guard,
        actor: audit.Actor,
        registry,
        *,
        steps: tuple = (),
        instance=None,
    ):
        self.binding = binding
        self.model = model
        self.guard = guard
        self.actor = actor
        self.registry = registry
        self.steps = steps
        self.instance = instance  # the Instance, for steps that need its jobs or plugins (None in bare tools)
        self.depth = 0
        self._conn: Connection | None = None  # set on nested stores
        self._after_commit: list | None = None  # callbacks of the outermost transaction

    def nested(self, conn: Connection, *, guard: Guard | None = None, depth: int | None = None) -> RecordStore:
        """A store writing in ``conn`` (an open transaction of this tenant),
        ``depth`` levels below a user's call; its after-commit work runs when
        the outermost transaction commits."""
        depth = self.depth + 1 if depth is None else depth
        if depth > MAX_DEPTH:
            raise Conflict(f"saves caused by saves nest more than {MAX_DEPTH} deep; an automation loops")
        inner = RecordStore(
            self.binding,
            self.model,
            guard or self.guard,
            self.actor,
            self.registry,
            steps=self.steps,
            instance=self.instance,
        )
        inner.depth = depth
        inner._conn = conn
        inner._after_commit = self._after_commit if self._after_commit is not None else []
        return inner

    @contextmanager
    def _connect(self) -> Iterator[Connection]:
        if self._conn is not None:
            yield self._conn
        else:
            with self.binding.connect() as conn:
                yield conn

    @contextmanager
    def _begin(self) -> Iterator[Connection]:
        """The write transaction (the caller's, for a nested store); after a
        successful commit the queued after-commit callbacks run."""
        if self._conn is not None:
            yield self._conn
            return
        self._after_commit = []
        try:
            with self.binding.begin() as conn:
                yield conn
            callbacks, self._after_commit = self._after_commit, None
            for callback in callbacks:
                callback()
        finally:
            self._after_commit = None

    def _run_steps(self, phase: str, ctx: SaveContext, saves: list[PendingSave]) -> None:
        for step in self.steps:
            method = getattr(step, phase, None)
            if method is None:
                continue
            if phase == "after_commit":
                self._after_commit.append(lambda method=method: method(ctx, saves))
            else:
                method(ctx, saves)

    # -- helpers -------------------------------------------------------------------

    def object(self, api_name: str) -> CompiledObject:
        obj = self.model.object(api_name)
        if obj is None:
            raise NotFound(f"no object {api_name!r}")
        return obj

    def _field_type(self, obj: CompiledObject, name: str):
        if name in obj.fields:
            return obj.fields[name]
        if name in SYSTEM_FIELD_TYPES:
            return self.registry.bind({"api_name": name, "type": SYSTEM_FIELD_TYPES[name]})
        return None

    def _visible(self, obj: CompiledObject) -> set[str]:
        return self.guard.readable_fields(obj) & set(obj.fields)

    def _scoped(self, action: str, obj: CompiledObject, *, deleted: bool = False):
        table = obj.table
        where = [table.c.deleted_at.is_not(None) if deleted else table.c.deleted_at.is_(None)]
        scope = self.guard.scope(action, obj)
        if scope is not None:
            where.append(scope)
        return sa.and_(*where)

    # -- reading ---------------------------------------------------------------------

    def _select(self, obj: CompiledObject, fields: list[str]):
        """SELECT of system columns, the given fields, and the names of looked-up records."""
        table = obj.table
        columns = [table.c[name] for name in SYSTEM_FIELDS]
        from_clause = table
        for name in fields:
            field_type = obj.fields[name]
            if field_type.computed:
                columns.append(self._column(obj, name).label(name))
                continue
            if not field_type.has_column:
                continue
            columns.append(table.c[name])
            if field_type.is_lookup:
                target = self.model.object(field_type.reference_target)
                if target is None or not target.name_field:
                    continue
                alias = target.table.alias(f"lk_{name}")
                from_clause = from_clause.outerjoin(alias, alias.c.id == table.c[name])
                columns.append(alias.c[target.name_field].label(f"__name__{name}"))
        return sa.select(*columns).select_from(from_clause)

    def _dump(self, obj: CompiledObject, row, fields: list[str], many: dict[str, dict[int, list]]) -> dict:
        mapping = row._mapping
        record: dict[str, Any] = {"id": mapping["id"]}
        for name in fields:
            field_type = obj.fields[name]
            if field_type.stores_links:
                record[name] = field_type.dump_links(many.get(name, {}).get(mapping["id"], []))
                continue
            value = field_type.from_db(mapping[name])
            if field_type.is_lookup and value is not None:
                name_value = mapping.get(f"__name__{name}")
                value = {"id": value, "name": None if name_value is None else str(name_value)}
            record[name] = value
        record["owner_id"] = mapping["owner_id"]
        record["version"] = mapping["version"]
        for name in ("created_at", "updated_at", "deleted_at"):
            value = as_utc(mapping[name])
            if name != "deleted_at" or value is not None:
                record[name] = value.isoformat() if value else None
        record["created_by"] = mapping["created_by"]
        record["updated_by"] = mapping["updated_by"]
        return record

    def _many(
        self, conn: Connection, obj: CompiledObject, fields: list[str], ids: list[int]
    ) -> dict[str, dict[int, list]]:
        """The live linked records' ``(id, name)`` of a page of records, per
        link field and record: one query per field, never per row."""
        result: dict[str, dict[int, list]] = {}
        for name in fields:
            field_type = obj.fields[name]
            if not field_type.stores_links or not ids:
                continue
            junction = obj.junctions[name]
            target = self.model.object(field_type.reference_target)
            values: dict[int, list] = {}
            if target is not None:
                name_column = target.table.c[target.name_field] if target.name_field else sa.null()
                rows = conn.execute(
                    sa.select(junction.c.source_id, target.table.c.id, name_column)
                    .join(target.table, target.table.c.id == junction.c.target_id)
                    .where(junction.c.source_id.in_(ids), target.table.c.deleted_at.is_(None))
                    .order_by(junction.c.source_id, target.table.c.id)
                ).all()
                for source_id, target_id, target_name in rows:
                    values.setdefault(source_id, []).append((target_id, target_name))
            result[name] = values
        return result

    def _resolve_fields(self, obj: CompiledObject, fields: list[str] | None) -> list[str]:
        visible = self._visible(obj)
        if fields is None:
            return [name for name in obj.fields if name in visible]
        unknown = [f for f in fields if f not in visible and f not in SYSTEM_FIELDS]
        if unknown:
            raise ValidationFailed(
                f"unknown fields: {', '.join(unknown)}", details={"fields": {f: ["no such field"] for f in unknown}}
            )
        return [f for f in fields if f in obj.fields]

    def get(
        self,
        object_name: str,
        record_id: Any,
        *,
        fields: list[str] | None = None,
        action: str = "read",
        deleted: bool = False,
    ) -> dict:
        obj = self.object(object_name)
        self.guard.require(action, obj)
        record_id = _record_id(record_id)
        names = self._resolve_fields(obj, fields)
        query = self._select(obj, names).where(self._scoped(action, obj, deleted=deleted), obj.table.c.id == record_id)
        with self._connect() as conn:
            row = conn.execute(query).first()
            if row is None:
                # Existence must not leak: a record outside the user's scope is "not found" too.
                raise NotFound(f"no {object_name} {record_id}")
            many = self._many(conn, obj, names, [record_id])
        return self._dump(obj, row, names, many)

    def query(
        self,
        object_name: str,
        *,
        fields: list[str] | None = None,
        filters: list[tuple[str, str, Any]] = (),
        q: str | None = None,
        sort: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        offset: int | None = None,
        deleted: bool = False,
        count: bool = False,
        extra_where: Any = None,
    ) -> Page:
        obj = self.object(object_name)
        self.guard.require("read", obj)
        names = self._resolve_fields(obj, fields)
        limit = _limit(limit)
        table = obj.table
        where = [self._scoped("read", obj, deleted=deleted)]
        where += [self._filter(obj, name, op, value) for name, op, value in filters]
        if extra_where is not None:
            where.append(extra_where)
        if q:
            where.append(self._search(obj, q))
        keys = self._sort_keys(obj, sort)
        query = self._select(obj, names).where(*where)
        # The sort values of each row, for the next page's cursor.
        query = query.add_columns(*[column.label(f"__key{i}") for i, (column, _d, _f) in enumerate(keys)])
        if cursor:
            if offset:
                raise BadRequest("use either cursor or offset, not both")
            query = query.where(self._after(keys, _decode_cursor(cursor, len(keys))))
        query = query.order_by(*[_order(column, desc) for column, desc, _ft in keys]).limit(limit + 1)
        if offset:
            query = query.offset(offset)
        with self._connect() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > limit
            rows = rows[:limit]
            many = self._many(conn, obj, names, [r._mapping["id"] for r in rows])
            total = (
                conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar() if count else None
            )
        data = [self._dump(obj, row, names, many) for row in rows]
        next_cursor = None
        if more and rows:
            last = rows[-1]._mapping
            next_cursor = _encode_cursor([last[f"__key{i}"] for i in range(len(keys))])
        return Page(data, next_cursor, total)

    def related(self, object_name: str, record_id: Any, field_name: str, **query) -> Page:
        """Records related to one record. ``field_name`` is a lookup or
        many-to-many field of ``object_name`` (the records it points to), or
        ``<object>.<field>`` naming a lookup of another object that points
        here (the record's related list, e.g. ``contact.account``)."""
        obj = self.object(object_name)
        if "." in field_name:
            child_name, child_field = field_name.split(".", 1)
            child = self.object(child_name)
            field_type = child.fields.get(child_field)
            if field_type is None or not field_type.is_lookup or field_type.reference_target != obj.api_name:
                raise NotFound(f"{child_name}.{child_field} is no lookup to {object_name}")
            record = self.get(object_name, record_id, fields=[])
            return self.query(child_name, extra_where=child.table.c[child_field] == record["id"], **query)
        field_type = obj.fields.get(field_name)
        if field_type is None or not field_type.is_reference:
            raise NotFound(f"{object_name} has no relation {field_name!r}")
        record = self.get(object_name, record_id, fields=[field_name])
        target = self.object(field_type.reference_target)
        if field_type.stores_links:
            junction = obj.junctions[field_name]
            ids = sa.select(junction.c.target_id).where(junction.c.source_id == record["id"])
        else:
            value = record.get(field_name)
            ids = [value["id"]] if value else []
        return self.query(target.api_name, extra_where=target.table.c.id.in_(ids), **query)

    def _filter(self, obj: CompiledObject, name: str, op: str, value: Any):
        field_type = self._field_type(obj, name)
        if field_type is None or (name in obj.fields and name not in self._visible(obj)):
            raise ValidationFailed(
                f"cannot filter on {name!r}: no such field", details={"fields": {name: ["no such field"]}}
            )
        if field_type.stores_links:
            return field_type.junction_filter(obj.table.c.id, obj.junctions[name], op, value)
        return field_type.filter(self._column(obj, name), op, value)

    def _column(self, obj: CompiledObject, name: str):
        """The column of a field, or the SQL expression of a computed field."""
        field_type = obj.fields.get(name)
        if field_type is not None and field_type.computed:
            return field_type.select_expression(obj.table, self.model)
        return obj.table.c[name]

    def _search(self, obj: CompiledObject, q: str):
        fields = [f for f in obj.search_fields if f in self._visible(obj)]
        if not fields:
            raise BadRequest(f"{obj.api_name} has no search fields; set search_fields on the object")
        q = q.strip()[:200]
        return sa.or_(*[obj.table.c[f].ilike(f"%{_escape_like(q)}%", escape="\\") for f in fields])

    def _sort_keys(self, obj: CompiledObject, sort: str | None) -> list[tuple]:
        keys = []
        for part in (sort or "").split(","):
            part = part.strip()
            if not part:
                continue
            desc = part.startswith("-")
            name = part.lstrip("-+")
            field_type = self._field_type(obj, name)
            if field_type is None or (name in obj.fields and name not in self._visible(obj)):
                raise ValidationFailed(
                    f"cannot sort on {name!r}: no such field", details={"fields": {name: ["no such field"]}}
                )
            if not field_type.sortable or not (field_type.has_column or field_type.computed):
                raise ValidationFailed(f"cannot sort on {name!r}", details={"fields": {name: ["is not sortable"]}})
            if name != "id":
                keys.append((self._column(obj, name), desc, field_type))
        keys.append((obj.table.c.id, False, None))  # the tie-breaker
        return keys

    def _after(self, keys: list[tuple], values: list[Any]):
        """Keyset condition: rows strictly after ``values`` in (keys…, id)
        order. NULL sorts as the largest value: last ascending, first
        descending (PostgreSQL's own order, so a plain index serves both)."""
        clauses = []
        equal_so_far: list[Any] = []
        for (column, desc, field_type), value in zip(keys, values, strict=True):
            if field_type is not None and value is not None:
                # Stored text comes back verbatim (loading it as input would
                # trim it, or turn "" into NULL); other values are parsed.
                if not (isinstance(value, str) and isinstance(column.type, sa.String)):
                    value = field_type.to_db(field_type.coerce_filter_value(value))
                # A bound parameter: SQLAlchemy refuses "column < True" with a bare boolean.
                value = sa.literal(value, column.type)
            if field_type is None:  # the id tie-breaker
                after = column > value
            elif value is None:
                after = column.is_not(None) if desc else sa.false()
            elif desc:
                after = column < value
            else:
                after = sa.or_(column > value, column.is_(None))
            clauses.append(sa.and_(*equal_so_far, after))
            equal_so_far.append(column.is_(None) if value is None else column == value)
        return sa.or_(*clauses)

    # -- writing ----------------------------------------------------------------------

    def _load(self, obj: CompiledObject, data: Any, *, creating: bool) -> tuple[dict, dict, dict]:
        """JSON → (column values, many-to-many values, errors by field)."""
        if not isinstance(data, dict):
            return {}, {}, {"$": ["a record must be a JSON object"]}
        errors: dict[str, list[str]] = {}
        values: dict[str, Any] = {}
        many: dict[str, list[int]] = {}
        writable = self.guard.writable_fields(obj)
        visible = self._visible(obj)
        for name, raw in data.items():
            if name in ("id", "version"):
                continue  # identify the record; not values
            if name in SYSTEM_FIELDS:
                errors[name] = ["is a system field and cannot be written"]
                continue
            field_type = obj.fields.get(name)
            if field_type is None or name not in visible:
                errors[name] = ["unknown field"]
                continue
            if field_type.read_only:
                errors[name] = ["is read-only"]
                continue
            if name not in writable:
                raise Forbidden(f"you may not write {name}", details={"fields": {name: ["not writable for you"]}})
            try:
                loaded = field_type.loader.deserialize(raw)
            except ma.ValidationError as exc:
                errors[name] = _messages(exc)
                continue
            if field_type.stores_links:
                many[name] = field_type.load_links(loaded)
            else:
                values[name] = field_type.to_db(loaded)
        if creating:
            for name, field_type in obj.fields.items():
                if name not in data and field_type.has_column and not field_type.read_only:
                    default = field_type.definition.get("default")
                    if default is not None:
                        values[name] = field_type.to_db(field_type.default_value())
        return values, many, errors

    def _check_required(self, obj: CompiledObject, save: PendingSave) -> None:
        """After the pipeline's before-write steps (which may fill defaults)."""
        if "$" in save.errors:  # not a record at all
            return
        creating = save.is_new
        for name, field_type in obj.fields.items():
            if not field_type.required or field_type.read_only or name in save.errors:
                continue
            values, many = save.values, save.many
            missing = (creating and values.get(name) is None and name not in many) or (
                name in values and values[name] is None
            )
            if field_type.stores_links:
                missing = (creating and not many.get(name)) or (name in many and not many[name])
            if missing:
                save.error(name, "is required")

    def _prepare(self, ctx: SaveContext, saves: list[PendingSave], single: bool) -> None:
        """Pipeline steps before the write, then required fields and
        references; raises every row's errors at once."""
        self._run_steps("before_write", ctx, saves)
        for save in saves:
            if save.action != "delete":
                self._check_required(ctx.obj, save)
        if any(save.action != "delete" for save in saves):
            errors = {s.index: s.errors for s in saves if s.errors}
            self._check_references(ctx.conn, ctx.obj, [(s.values, s.many) for s in saves], errors)
        else:
            errors = {s.index: s.errors for s in saves if s.errors}
        _raise_row_errors(errors, single)

    def _check_references(
        self, conn: Connection, obj: CompiledObject, rows: list[tuple[dict, dict]], errors: dict[int, dict]
    ) -> None:
        """Every lookup and many-to-many id must name a live record of the target."""
        wanted: dict[str, set[int]] = {}
        for values, many in rows:
            for name, value in [*values.items(), *((n, v) for n, vs in many.items() for v in vs)]:
                field_type = obj.fields.get(name)
                if field_type is not None and field_type.is_reference and value is not None:
                    wanted.setdefault(field_type.reference_target, set()).add(value)
        found: dict[str, set[int]] = {}
        for target_name, ids in wanted.items():
            target = self.model.object(target_name)
            if target is None:
                found[target_name] = set()
                continue
            found[target_name] = set(
                conn.execute(
                    sa.select(target.table.c.id).where(target.table.c.id.in_(ids), target.table.c.deleted_at.is_(None))
                ).scalars()
            )
        for index, (values, many) in enumerate(rows):
            for name, value in [*values.items(), *((n, v) for n, vs in many.items() for v in vs)]:
                field_type = obj.fields.get(name)
                is_reference = field_type is not None and field_type.is_reference
                if is_reference and value is not None and value not in found.get(field_type.reference_target, set()):
                    errors.setdefault(index, {}).setdefault(name, []).append(
                        f"no {field_type.reference_target} {value}"
                    )

    def _next_numbers(self, conn: Connection, obj: CompiledObject, count: int) -> dict[str, list[str]]:
        """Reserve ``count`` auto-numbers per auto-number field. The counter row
        stays locked until the transaction ends, so numbers are gap-free."""
        numbers = {}
        for name, field_type in obj.fields.items():
            if not field_type.numbers_itself:
                continue
            counter = autonumber_counters
            last = conn.execute(
                counter.update()
                .where(counter.c.object == obj.api_name, counter.c.field == name)
                .values(next_value=counter.c.next_value + count)
                .returning(counter.c.next_value)
            ).scalar_one()
            numbers[name] = [field_type.render(n) for n in range(last - count, last)]
        return numbers

    def create(self, object_name: str, data: dict, *, owner_id: int | None = None, read_back: bool = True) -> dict:
        return self.bulk_create(object_name, [data], owner_ids=[owner_id], single=True, read_back=read_back)[0]

    def bulk_create(
        self,
        object_name: str,
        rows: list[dict],
        *,
        owner_ids: list[int | None] | None = None,
        single: bool = False,
        read_back: bool = True,
    ) -> list[dict]:
        """Create records, all or none. Returns them as ``get`` would (only
        their ids beyond 50 records, or when ``read_back`` is false: callers
        such as automations that need no more save the reads)."""
        obj = self.object(object_name)
        self.guard.require("create", obj)
        if not isinstance(rows, list) or not rows:
            raise ValidationFailed("send a non-empty list of records", details={"fields": {"records": ["empty"]}})
        if len(rows) > MAX_BULK:
            raise ValidationFailed(
                f"at most {MAX_BULK} records per call", details={"fields": {"records": ["too many"]}}
            )
        saves = []
        for index, data in enumerate(rows):
            values, many, row_errors = self._load(obj, data, creating=True)
            given = frozenset(data) if isinstance(data, dict) else frozenset()
            saves.append(PendingSave(index, "create", values, given=given, many=many, errors=row_errors))
        now = utcnow()
        with self._begin() as conn:
            ctx = SaveContext(conn, self, obj, "create", self.depth)
            self._prepare(ctx, saves, single)
            numbers = self._next_numbers(conn, obj, len(saves))
            params = []
            for index, save in enumerate(saves):
                owner = (owner_ids[index] if owner_ids and index < len(owner_ids) else None) or self.actor.user_id
                if "owner_id" in save.values:  # assigned by a step (assignment rules)
                    owner = save.values.pop("owner_id")
                params.append(
                    {
                        **save.values,
                        **{n: nums[index] for n, nums in numbers.items()},
                        "owner_id": owner,
                        "created_at": now,
                        "created_by": self.actor.user_id,
                        "updated_at": now,
                        "updated_by": self.actor.user_id,
                        "version": 1,
                    }
                )
            ids = self._insert(conn, obj, params)
            for record_id, save, param in zip(ids, saves, params, strict=True):
                save.record_id = record_id
                save.values = param
                self._write_many(conn, obj, record_id, save.many)
            entries = []
            for save in saves:
                changes = {k: _jsonable(v) for k, v in save.values.items() if k in obj.fields}
                changes.update({k: list(dict.fromkeys(v)) for k, v in save.many.items() if v})
                entries.append((save.record_id, {"values": changes}))
            audit.record_many(conn, self.actor, "record.created", object=obj.api_name, items=entries)
            self._run_steps("after_write", ctx, saves)
            self._run_steps("after_commit", ctx, saves)
        return self._read_back(object_name, ids, read_back)

    def _insert(self, conn: Connection, obj: CompiledObject, params: list[dict]) -> list[int]:
        # Rows may set different columns; group them so each executemany is uniform.
        table = obj.table
        columns = sorted({key for p in params for key in p})
        uniform = [{c: p.get(c) for c in columns} for p in params]
        try:
            if conn.dialect.name == "postgresql" and len(uniform) > 1:
                # Reserve the ids from the sequence, then a plain executemany
                # (pipelined by psycopg): far cheaper than RETURNING in order.
                sequence = sa.func.pg_get_serial_sequence(_qualified(table, self.binding.schema), "id")
                ids = (
                    conn.execute(
                        sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, len(uniform)))
                    )
                    .scalars()
                    .all()
                )
                conn.execute(table.insert(), [{**row, "id": i} for row, i in zip(uniform, ids, strict=True)])
                return ids
            result = conn.execute(table.insert().returning(table.c.id, sort_by_parameter_order=True), uniform)
        except sa.exc.IntegrityError as exc:
            raise _integrity_conflict(obj, exc) from None
        return list(result.scalars())

    def _links(self, conn: Connection, obj: CompiledObject, record_id: int, names: list[str]) -> dict[str, list[int]]:
        """The ids a record's many-to-many fields link to now."""
        linked = {}
        for name in names:
            junction = obj.junctions[name]
            linked[name] = list(
                conn.execute(sa.select(junction.c.target_id).where(junction.c.source_id == record_id)).scalars()
            )
        return linked

    def _write_many(self, conn: Connection, obj: CompiledObject, record_id: int, many: dict[str, list[int]]) -> None:
        for name, ids in many.items():
            junction = obj.junctions[name]
            conn.execute(junction.delete().where(junction.c.source_id == record_id))
            if ids:
                conn.execute(junction.insert(), [{"source_id": record_id, "target_id": i} for i in dict.fromkeys(ids)])

    def _read_back(self, object_name: str, ids: list[int], read_back: bool) -> list[dict]:
        if read_back and len(ids) <= 50:
            return [self.get(object_name, record_id) for record_id in ids]
        return [{"id": i} for i in ids]

    def update(
        self,
        object_name: str,
        record_id: Any,
        data: dict,
        *,
        expected_version: int | None = None,
        read_back: bool = True,
    ) -> dict:
        row = dict(data) if isinstance(data, dict) else data
        if isinstance(row, dict):
            row["id"] = record_id
            if expected_version is not None:
                row["version"] = expected_version
        return self.bulk_update(object_name, [row], single=True, read_back=read_back)[0]

    def bulk_update(
        self, object_name: str, rows: list[dict], *, single: bool = False, read_back: bool = True
    ) -> list[dict]:
        """Partial updates; each row names its ``id`` and may carry ``version``
        (optimistic lock: a stale version is a 409 and nothing is written)."""
        obj = self.object(object_name)
        self.guard.require("update", obj)
        if not isinstance(rows, list) or not rows:
            raise ValidationFailed("send a non-empty list of records", details={"fields": {"records": ["empty"]}})
        if len(rows) > MAX_BULK:
            raise ValidationFailed(
                f"at most {MAX_BULK} records per call", details={"fields": {"records": ["too many"]}}
            )
        saves, errors, versions = [], {}, []
        for index, data in enumerate(rows):
            values, many, row_errors = self._load(obj, data, creating=False)
            given = frozenset(data) if isinstance(data, dict) else frozenset()
            save = PendingSave(index, "update", values, given=given, many=many, errors=row_errors)
            saves.append(save)
            try:
                save.record_id = _record_id(data.get("id") if isinstance(data, dict) else None)
                version = data.get("version") if isinstance(data, dict) else None
                if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
                    raise ValueError
                versions.append(version)
            except (ValueError, BadRequest):
                errors[index] = {**row_errors, "id": ["each record needs its id (and version, if any, an integer)"]}
                versions.append(None)
        if errors:  # rows that name no record: report them with every other row's errors
            _raise_row_errors({**{s.index: s.errors for s in saves if s.errors}, **errors}, single)
        ids = [save.record_id for save in saves]
        now = utcnow()
        table = obj.table
        with self._begin() as conn:
            names = [n for n in obj.fields if obj.fields[n].has_column]
            query = sa.select(*[table.c[n] for n in (*SYSTEM_FIELDS, *names)]).where(
                self._scoped("update", obj), table.c.id.in_(ids)
            )
            if conn.dialect.name == "postgresql":
                query = query.with_for_update(of=table)
            current = {row.id: row for row in conn.execute(query)}
            for index, record_id in enumerate(ids):
                if record_id not in current:
                    if single:
                        raise NotFound(f"no {object_name} {record_id}")
                    errors.setdefault(index, {})["id"] = [f"no {object_name} {record_id}"]
                elif versions[index] is not None and versions[index] != current[record_id].version:
                    raise Conflict(
                        f"{object_name} {record_id} was changed by someone else (version "
                        f"{current[record_id].version}, you sent {versions[index]}); reload and try again",
                        details={"id": record_id, "current_version": current[record_id].version, "row": index},
                    )
            _raise_row_errors(errors, single)
            for save in saves:
                save.before = dict(current[save.record_id]._mapping)
            ctx = SaveContext(conn, self, obj, "update", self.depth)
            self._prepare(ctx, saves, single)
            entries = []
            for save in saves:
                record_id, values, before = save.record_id, save.values, save.before
                changes = {k: [_jsonable(before[k]), _jsonable(v)] for k, v in values.items() if before[k] != v}
                result = conn.execute(
                    table.update()
                    .where(table.c.id == record_id, table.c.version == before["version"])
                    .values(**values, updated_at=now, updated_by=self.actor.user_id, version=before["version"] + 1)
                )
                if result.rowcount != 1:
                    raise Conflict(f"{object_name} {record_id} was changed concurrently; reload and try again")
                if save.many:
                    linked = self._links(conn, obj, record_id, list(save.many))
                    self._write_many(conn, obj, record_id, save.many)
                    for name, ids_now in save.many.items():
                        old, new = sorted(linked[name]), sorted(dict.fromkeys(ids_now))
                        if old != new:
                            changes[name] = [old, new]
                entries.append((record_id, {"changes": changes}))
            audit.record_many(conn, self.actor, "record.updated", object=obj.api_name, items=entries)
            self._run_steps("after_write", ctx, saves)
            self._run_steps("after_commit", ctx, saves)
        return self._read_back(object_name, ids, read_back)

    # -- delete, restore, purge ----------------------------------------------------------

    def _referrers(self, target: str):
        """(object, lookup field, on-delete rule) of every relation pointing at ``target``."""
        for other in self.model.objects.values():
            for field_type in other.fields.values():
                if field_type.is_lookup and field_type.reference_target == target:
                    yield other, field_type.api_name, field_type.on_delete

    def delete(self, object_name: str, record_id: Any) -> None:
        """Soft delete into the recycle bin, applying each lookup's on-delete rule."""
        obj = self.object(object_name)
        self.guard.require("delete", obj)
        record_id = _record_id(record_id)
        now = utcnow()
        with self._begin() as conn:
            found = conn.execute(
                sa.select(obj.table).where(self._scoped("delete", obj), obj.table.c.id == record_id)
            ).first()
            if found is None:
                raise NotFound(f"no {object_name} {record_id}")
            saves = [PendingSave(0, "delete", {}, before=dict(found._mapping), record_id=record_id)]
            ctx = SaveContext(conn, self, obj, "delete", self.depth)
            self._prepare(ctx, saves, single=True)
            effects: dict[str, Any] = {}
            self._soft_delete(conn, obj, [record_id], now, effects)
            audit.record(
                conn, self.actor, "record.deleted", object=obj.api_name, record_id=record_id, details=effects or None
            )
            self._run_steps("after_write", ctx, saves)
            self._run_steps("after_commit", ctx, saves)

    def _soft_delete(self, conn: Connection, obj: CompiledObject, ids: list[int], now, effects: dict, depth=0) -> None:
        if depth > 10:
            raise Conflict("cascading deletes nest too deeply")
        # Into the bin first: a cascade that comes back round (a record that is
        # its own parent, a cycle of lookups) then finds nothing left to delete.
        conn.execute(
            obj.table.update()
            .where(obj.table.c.id.in_(ids))
            .values(deleted_at=now, updated_at=now, updated_by=self.actor.user_id, version=obj.table.c.version + 1)
        )
        for other, field_name, on_delete in self._referrers(obj.api_name):
            column = other.table.c[field_name]
            live = sa.and_(column.in_(ids), other.table.c.deleted_at.is_(None))
            if on_delete == "restrict":
                blocking = conn.execute(sa.select(sa.func.count()).select_from(other.table).where(live)).scalar()
                if blocking:
                    raise Conflict(
                        f"{blocking} {other.api_name} record(s) still refer to it through {field_name}",
                        details={"restricted_by": f"{other.api_name}.{field_name}", "count": blocking},
                    )
            elif on_delete == "set_null":
                result = conn.execute(
                    other.table.update()
                    .where(live)
                    .values(
                        {
                            field_name: None,
                            "updated_at": now,
                            "updated_by": self.actor.user_id,
                            "version": other.table.c.version + 1,
                        }
                    )
                )
                if result.rowcount:
                    effects.setdefault("cleared", {})[f"{other.api_name}.{field_name}"] = result.rowcount
            else:
                children = conn.execute(sa.select(other.table.c.id).where(live)).scalars().all()
                if children:
                    effects.setdefault("cascaded", {}).setdefault(other.api_name, []).extend(children)
                    self._soft_delete(conn, other, children, now, effects, depth + 1)

    def restore(self, object_name: str, record_id: Any) -> dict:
        """Back from the recycle bin, with the records its delete cascaded to."""
        obj = self.object(object_name)
        self.guard.require("delete", obj)
        record_id = _record_id(record_id)
        with self._begin() as conn:
            deleted_at = conn.execute(
                sa.select(obj.table.c.deleted_at).where(
                    self._scoped("delete", obj, deleted=True), obj.table.c.id == record_id
                )
            ).scalar()
            if deleted_at is None:
                raise NotFound(f"no {object_name} {record_id} in the recycle bin")
            self._undelete(conn, obj, [record_id], deleted_at)
            audit.record(conn, self.actor, "record.restored", object=obj.api_name, record_id=record_id)
        return self.get(object_name, record_id)

    def _undelete(self, conn: Connection, obj: CompiledObject, ids: list[int], deleted_at, depth=0) -> None:
        conn.execute(
            obj.table.update()
            .where(obj.table.c.id.in_(ids))
            .values(
                deleted_at=None, updated_at=utcnow(), updated_by=self.actor.user_id, version=obj.table.c.version + 1
            )
        )
        if depth > 10:
            return
        for other, field_name, on_delete in self._referrers(obj.api_name):
            if on_delete != "cascade":
                continue
            children = (
                conn.execute(
                    sa.select(other.table.c.id).where(
                        other.table.c[field_name].in_(ids), other.table.c.deleted_at == deleted_at
                    )
                )
                .scalars()
                .all()
            )
            if children:
                self._undelete(conn, other, children, deleted_at, depth + 1)

    def purge(self, object_name: str, record_ids: list[int] | None = None, *, older_than=None) -> int:
        """Delete records from the recycle bin for good (by id, or all deleted
        before ``older_than``). Returns how many were purged."""
        obj = self.object(object_name)
        self.guard.require("delete", obj)
        where = [self._scoped("delete", obj, deleted=True)]
        if record_ids is not None:
            where.append(obj.table.c.id.in_([_record_id(i) for i in record_ids]))
        if older_than is not None:
            where.append(obj.table.c.deleted_at < older_than)
        with self._begin() as conn:
            ids = conn.execute(sa.select(obj.table.c.id).where(*where)).scalars().all()
            if ids:
                self._hard_delete(conn, obj, ids)
                audit.record(
                    conn,
                    self.actor,
                    "record.purged",
                    object=obj.api_name,
                    details={"ids": ids[:1000], "count": len(ids)},
                )
        return len(ids)

    def _hard_delete(self, conn: Connection, obj: CompiledObject, ids: list[int], depth=0) -> None:
        for other, field_name, on_delete in self._referrers(obj.api_name):
            column = other.table.c[field_name]
            if on_delete == "cascade" and depth < 10:
                children = conn.execute(sa.select(other.table.c.id).where(column.in_(ids))).scalars().all()
                if children:
                    self._hard_delete(conn, other, children, depth + 1)
            else:
                conn.execute(other.table.update().where(column.in_(ids)).values({field_name: None}))
        for other in self.model.objects.values():
            for name, junction in other.junctions.items():
                if other.fields[name].reference_target == obj.api_name:
                    conn.execute(junction.delete().where(junction.c.target_id.in_(ids)))
        for junction in obj.junctions.values():
            conn.execute(junction.delete().where(junction.c.source_id.in_(ids)))
        conn.execute(obj.table.delete().where(obj.table.c.id.in_(ids)))


# -- small pieces -----------------------------------------------------------------------


def _record_id(value: Any) -> int:
    if isinstance(value, bool):
        raise BadRequest(f"{value!r} is not a record id")
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise BadRequest(f"{value!r} is not a record id") from None
    if number < 1 or number > 2**63 - 1:
        raise BadRequest(f"{value!r} is not a record id")
    return number


def _limit(limit: Any) -> int:
    if limit is None:
        return DEFAULT_LIMIT
    try:
        value = int(limit)
    except (TypeError, ValueError):
        raise ValidationFailed(
            "limit must be an integer", details={"fields": {"limit": ["must be an integer"]}}
        ) from None
    if not 1 <= value <= MAX_LIMIT:
        raise ValidationFailed(
            f"limit must be between 1 and {MAX_LIMIT}", details={"fields": {"limit": [f"between 1 and {MAX_LIMIT}"]}}
        )
    return value


def _qualified(table: sa.Table, schema: str | None) -> str:
    """``"schema"."table"`` for PostgreSQL functions that take a relation name."""
    return f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'


def _order(column, desc: bool):
    if column.key == "id":
        return column.asc()
    return column.desc().nulls_first() if desc else column.asc().nulls_last()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _jsonable(value: Any) -> Any:
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return value


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([_jsonable(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError):
        raise BadRequest("the cursor is malformed; start again from the first page") from None
    if not isinstance(values, list) or len(values) != size or not isinstance(values[-1], int):
        raise BadRequest("the cursor does not fit this sort; start again from the first page")
    return values


def _messages(exc: ma.ValidationError) -> list[str]:
    messages = exc.messages
    if isinstance(messages, dict):
        return [f"{k}: {m}" for k, ms in messages.items() for m in (ms if isinstance(ms, list) else [ms])]
    return [str(m) for m in messages] if isinstance(messages, list) else [str(messages)]


def _raise_row_errors(errors: dict[int, dict], single: bool) -> None:
    if not errors:
        return
    if single:
        fields = next(iter(errors.values()))
        raise ValidationFailed(
            "the record is not valid: " + "; ".join(f"{k} {v[0]}" for k, v in fields.items()),
            details={"fields": fields},
        )
    raise ValidationFailed(
        f"{len(errors)} record(s) are not valid; nothing was written",
        details={"rows": {str(i): {"fields": e} for i, e in sorted(errors.items())}},
    )


def _integrity_conflict(obj: CompiledObject, exc: sa.exc.IntegrityError) -> Conflict:
    text = str(exc.orig).lower()
    unique = [f for f, ft in obj.fields.items() if (ft.definition.get("unique") or ft.numbers_itself) and f in text]
    if unique:
        return Conflict(
            f"another {obj.api_name} already has this {unique[0]}", details={"fields": {unique[0]: ["must be unique"]}}
        )
    return Conflict(f"the {obj.api_name} conflicts with stored data", details={"reason": "integrity"})
