"""Reading records: get one, query a page (field selection, filters,
search, sort, keyset or offset pagination, a total), and related records
(what a lookup or link field points to, or a related list). Lookups come
back with the target's name, link fields with their live linked records,
read in one query per field and page."""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.values import json_safe
from metacrm.platform import audit
from metacrm.platform.clock import as_utc
from metacrm.platform.database import request_check_to_fold
from metacrm.platform.errors import BadRequest, NotFound, ValidationFailed

from . import sealing
from .base import StoreCore, _record_id

MAX_LIMIT = 200
DEFAULT_LIMIT = 50
# From this offset on, a page is found by its ids first (only the id and the
# sort keys walk through the sort and the skipped rows), and its rows are read
# after, by primary key: the deferred join. Measured by bench/list_page.py.
DEFERRED_OFFSET = 1000
# The system columns every record carries (the API's required fields);
# deleted_at only when reading the recycle bin.
RECORD_COLUMNS = tuple(name for name in SYSTEM_FIELDS if name != "deleted_at")
# What a page's dump does with a field's column value (Queries._dumper).
AS_STORED, CONVERTED, LINKS, OPENED = "as stored", "converted", "links", "opened"


@dataclass
class Page:
    data: list[dict]
    next_cursor: str | None
    total: int | None = None


class Queries(StoreCore):
    """``get``, ``query`` and ``related``; the SELECT, filter, search, sort
    and keyset pieces they are made of."""

    def _select(self, obj: CompiledObject, fields: list[str], *, deleted: bool = False):
        """SELECT of the record's system columns, the given fields (and
        nothing else) and the names of looked-up records."""
        table = obj.table
        columns = [table.c[name] for name in RECORD_COLUMNS]
        if deleted:
            columns.append(table.c.deleted_at)
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
        return self._dumper(obj, fields, many)(row)

    def _dumper(self, obj: CompiledObject, fields: list[str], many: dict[str, dict[int, list]]):
        """The function that turns one row of a page into its record: what
        each field needs (its value as stored, ``from_db``, links, decryption,
        a lookup's name) is decided once per page, not once per value."""
        plan = []
        for name in fields:
            field_type = obj.fields[name]
            if field_type.stores_links:
                plan.append((name, LINKS, field_type, many.get(name, {})))
            elif field_type.encrypted or field_type.is_lookup:
                plan.append((name, OPENED, field_type, None))
            elif type(field_type).from_db is FieldType.from_db:
                plan.append((name, AS_STORED, None, None))
            else:
                plan.append((name, CONVERTED, field_type.from_db, None))
        registry, api_name = self.registry, obj.api_name

        def dump(row) -> dict:
            mapping = row._mapping
            record: dict[str, Any] = {"id": mapping["id"]}
            for name, kind, handler, links in plan:
                if kind is AS_STORED:
                    record[name] = mapping[name]
                elif kind is CONVERTED:
                    record[name] = handler(mapping[name])
                elif kind is LINKS:
                    record[name] = handler.dump_links(links.get(mapping["id"], []))
                else:
                    value = handler.from_db(sealing.open_value(registry, api_name, handler, mapping[name]))
                    if handler.is_lookup and value is not None:
                        name_value = mapping.get(f"__name__{name}")
                        value = {"id": value, "name": None if name_value is None else str(name_value)}
                    record[name] = value
            record["owner_id"] = mapping["owner_id"]
            record["version"] = mapping["version"]
            created, updated = mapping["created_at"], mapping["updated_at"]
            record["created_at"] = as_utc(created).isoformat() if created else None
            record["updated_at"] = as_utc(updated).isoformat() if updated else None
            if "deleted_at" in mapping and mapping["deleted_at"] is not None:
                record["deleted_at"] = as_utc(mapping["deleted_at"]).isoformat()
            record["created_by"] = mapping["created_by"]
            record["updated_by"] = mapping["updated_by"]
            return record

        return dump

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
        return list(dict.fromkeys(f for f in fields if f in obj.fields))  # a field named twice is read once

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
        scope = self.guard.scope(action, obj)
        if scope is None and fields is None:
            # Every record the action reaches: one statement per field set and
            # model revision, built, keyed and compiled once (issue 16, item 2).
            key = ("by_id", obj.api_name, tuple(names), deleted)
            query = self.model.memo(key, lambda: self._by_id(obj, names, deleted, None))
        else:
            query = self._by_id(obj, names, deleted, scope)
        params = {"record_id": record_id}
        # The request's deferred token check, if any, rides with this read (platform.web.read_only).
        with request_check_to_fold() as check, self._connect() as conn:
            rows = check.fold_into(conn, query, params) if check is not None else conn.execute(query, params).all()
            row = rows[0] if rows else None
            if row is None:
                # Existence must not leak: a record outside the user's scope is "not found" too.
                raise NotFound(f"no {object_name} {record_id}")
            many = self._many(conn, obj, names, [record_id])
        record = self._dump(obj, row, names, many)
        self._audit_reads(obj, names, [record_id])
        return record

    def _by_id(self, obj: CompiledObject, names: list[str], deleted: bool, scope) -> sa.Select:
        """One record's SELECT, its id the parameter ``record_id``."""
        table = obj.table
        where = [self._live(obj, deleted), table.c.id == sa.bindparam("record_id", type_=sa.BigInteger)]
        if scope is not None:
            where.append(scope)
        return self._select(obj, names, deleted=deleted).where(*where)

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
        if cursor and offset:
            raise BadRequest("use either cursor or offset, not both")
        after = self._after(keys, _decode_cursor(cursor, len(keys))) if cursor else None
        query = self._page_query(obj, names, deleted, where, keys, after, limit, offset)
        with self._connect() as conn:
            rows = conn.execute(query).all()
            more = len(rows) > limit
            rows = rows[:limit]
            many = self._many(conn, obj, names, [r._mapping["id"] for r in rows])
            total = (
                conn.execute(sa.select(sa.func.count()).select_from(table).where(*where)).scalar() if count else None
            )
        dump = self._dumper(obj, names, many)
        data = [dump(row) for row in rows]
        self._audit_reads(obj, names, [record["id"] for record in data])
        next_cursor = None
        if more and rows:
            last = rows[-1]._mapping
            next_cursor = _encode_cursor([last[label] for label in _key_labels(query, keys)])
        return Page(data, next_cursor, total)

    def _page_query(self, obj, names, deleted, where, keys, after, limit, offset):
        """One page's SELECT. Each sort key travels once: a selected column is
        its own cursor value, anything else (a computed field) is added
        under ``__key<i>``. From DEFERRED_OFFSET on, the deferred join."""
        table = obj.table
        order = [_order(column, desc) for column, desc, _ft in keys]
        conditions = [*where, after] if after is not None else where
        if offset and offset >= DEFERRED_OFFSET:
            ids = (
                sa.select(table.c.id)
                .where(*conditions)
                .order_by(*order)
                .limit(limit + 1)
                .offset(offset)
                .subquery("page")
            )
            query = self._select(obj, names, deleted=deleted).join(ids, ids.c.id == table.c.id)
            return _with_keys(query, keys).order_by(*order)
        query = _with_keys(self._select(obj, names, deleted=deleted).where(*conditions), keys)
        query = query.order_by(*order).limit(limit + 1)
        return query.offset(offset) if offset else query

    def related(self, object_name: str, record_id: Any, field_name: str, **query) -> Page:
        """Records related to one record. ``field_name`` is a lookup or
        many-to-many field of ``object_name`` (the records it points to), or
        ``<object>.<field>`` naming a lookup of another object that points
        here (the record's related list, e.g. ``contact.account``).
        ``extra_where`` narrows the related records further."""
        narrow = query.pop("extra_where", None)
        obj = self.object(object_name)
        if "." in field_name:
            child_name, child_field = field_name.split(".", 1)
            child = self.object(child_name)
            field_type = child.fields.get(child_field)
            if field_type is None or not field_type.is_lookup or field_type.reference_target != obj.api_name:
                raise NotFound(f"{child_name}.{child_field} is no lookup to {object_name}")
            record = self.get(object_name, record_id, fields=[])
            return self.query(
                child_name, extra_where=_both(child.table.c[child_field] == record["id"], narrow), **query
            )
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
        return self.query(target.api_name, extra_where=_both(target.table.c.id.in_(ids), narrow), **query)

    def _filter(self, obj: CompiledObject, name: str, op: str, value: Any):
        field_type = self._field_type(obj, name)
        if field_type is None or (name in obj.fields and name not in self._visible(obj)):
            raise ValidationFailed(
                f"cannot filter on {name!r}: no such field", details={"fields": {name: ["no such field"]}}
            )
        if field_type.stores_links:
            return field_type.junction_filter(obj.table.c.id, obj.junctions[name], op, value)
        if field_type.encrypted:
            return sealing.exact_match(self.registry, obj.api_name, field_type, obj.table.c[name], op, value)
        return field_type.filter(self._column(obj, name), op, value)

    def _audit_reads(self, obj: CompiledObject, names: list[str], ids: list[int]) -> None:
        """One ``record.read`` entry per record read with fields marked
        ``audit_reads`` (who, when, which fields), written in one statement."""
        audited = [name for name in names if obj.fields[name].audit_reads]
        if not audited or not ids:
            return
        with self._begin() as conn:
            audit.record_many(
                conn, self.actor, "record.read", object=obj.api_name, items=[(i, {"fields": audited}) for i in ids]
            )

    def _column(self, obj: CompiledObject, name: str):
        """The column of a field, or the SQL expression of a computed field."""
        field_type = obj.fields.get(name)
        if field_type is not None and field_type.computed:
            return field_type.select_expression(obj.table, self.model)
        column = obj.table.c[name]
        if field_type is None and type(column.type) is sa.Integer:
            # A 32-bit system column (owner_id, version…) filtered or paged by
            # any 64-bit number: compared as BIGINT, so PostgreSQL answers "no
            # match" instead of "integer out of range". No CAST: indexes still serve.
            return sa.type_coerce(column, sa.BigInteger())
        return column

    def _search(self, obj: CompiledObject, q: str):
        # An encrypted field without exact matches (rich text) cannot be searched at all.
        fields = [
            f
            for f in obj.search_fields
            if f in self._visible(obj) and (not obj.fields[f].encrypted or "eq" in obj.fields[f].operators)
        ]
        if not fields:
            raise BadRequest(f"{obj.api_name} has no search fields; set search_fields on the object")
        q = q.strip()[:200]
        # An encrypted field matches only as a whole value, through its blind index.
        return sa.or_(
            *[
                sealing.exact_match(self.registry, obj.api_name, obj.fields[f], obj.table.c[f], "eq", q)
                if obj.fields[f].encrypted
                else obj.table.c[f].ilike(f"%{_escape_like(q)}%", escape="\\")
                for f in fields
            ]
        )

    def _sort_keys(self, obj: CompiledObject, sort: str | None) -> list[tuple]:
        keys = []
        id_desc = False
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
            if field_type.encrypted:
                raise ValidationFailed(
                    f"cannot sort on {name!r}: it is encrypted", details={"fields": {name: ["is encrypted"]}}
                )
            if not field_type.sortable or not (field_type.has_column or field_type.computed):
                raise ValidationFailed(f"cannot sort on {name!r}", details={"fields": {name: ["is not sortable"]}})
            if name == "id":  # unique: nothing after it can order further
                id_desc = desc
                break
            keys.append((self._column(obj, name), desc, field_type))
        keys.append((obj.table.c.id, id_desc, None))  # the tie-breaker, or the sort itself
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
                after = column < value if desc else column > value
            elif value is None:
                after = column.is_not(None) if desc else sa.false()
            elif desc:
                after = column < value
            else:
                after = sa.or_(column > value, column.is_(None))
            clauses.append(sa.and_(*equal_so_far, after))
            equal_so_far.append(column.is_(None) if value is None else column == value)
        return sa.or_(*clauses)


def _with_keys(query, keys: list[tuple]):
    """``query`` with the sort keys it does not select yet, labelled ``__key<i>``."""
    selected = set(query.selected_columns)
    missing = [column.label(f"__key{i}") for i, (column, _d, _f) in enumerate(keys) if column not in selected]
    return query.add_columns(*missing) if missing else query


def _key_labels(query, keys: list[tuple]) -> list[str]:
    """Where each sort key's value is in a row of ``query``."""
    by_column = {column: column.key for column in query.selected_columns}
    return [by_column.get(column, f"__key{i}") for i, (column, _d, _f) in enumerate(keys)]


def _both(clause, narrow):
    return clause if narrow is None else sa.and_(clause, narrow)


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


def _order(column, desc: bool):
    if column.key == "id":  # never null
        return column.desc() if desc else column.asc()
    return column.desc().nulls_first() if desc else column.asc().nulls_last()


def _escape_like(text: str) -> str:
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def _encode_cursor(values: list[Any]) -> str:
    raw = json.dumps([json_safe(v) for v in values], separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _decode_cursor(cursor: str, size: int) -> list[Any]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        values = json.loads(raw)
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError):
        raise BadRequest("the cursor is malformed; start again from the first page") from None
    scalar = (str, int, float, bool, type(None))
    if (
        not isinstance(values, list)
        or len(values) != size
        or not all(isinstance(v, scalar) for v in values)
        or not isinstance(values[-1], int)
    ):
        raise BadRequest("the cursor does not fit this sort; start again from the first page")
    return values
