"""Writing records: create and partial update, one or in bulk (all or
nothing, errors per row). A write loads and checks the JSON values against
the field types and the guard's writable fields, runs the save pipeline's
steps (defaults, validation rules, automations), checks required fields and
references, assigns auto-numbers, writes link tables and the audit log in
the same transaction, and takes an optimistic lock on update."""

from __future__ import annotations

import datetime as dt
import time
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.ddl import ANALYZE_AFTER_ROWS, fresh_statistics
from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.metadata.tables import autonumber_counters
from metacrm.metadata.values import json_safe
from metacrm.platform import audit, bulk
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import BadRequest, Conflict, Forbidden, NotFound, ValidationFailed

from . import sealing
from .base import _record_id
from .loading import row_loader
from .query import Queries

MAX_BULK = 1000


class Writes(Queries):
    """``create``, ``bulk_create``, ``update``, ``bulk_update`` and the
    checks every save passes. Built on :class:`Queries`: a write reads back
    what it wrote."""

    def _loader(self, obj: CompiledObject, *, typed: bool = False):
        """``load(data, creating)`` → (column values, many-to-many values,
        errors by field) for this call: the object's compiled row loader
        (:mod:`.loading`) bound to what the guard lets the user read and write
        (``typed``: the values are column values already)."""
        return row_loader(self.model, obj).bind(self._visible(obj), self.guard.writable_fields(obj), typed=typed)

    def _load(self, obj: CompiledObject, data: Any, *, creating: bool) -> tuple[dict, dict, dict]:
        """JSON → (column values, many-to-many values, errors by field)."""
        return self._loader(obj)(data, creating)

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
            self._check_references(ctx.conn, ctx.obj, [s for s in saves if s.action != "delete"], errors)
        else:
            errors = {s.index: s.errors for s in saves if s.errors}
        _raise_row_errors(errors, single)

    def _check_references(self, conn: Connection, obj: CompiledObject, saves: list[PendingSave], errors: dict) -> None:
        """Every lookup and many-to-many id must name a live record of the
        target that the user may read: a record outside their read scope is
        refused exactly like one that does not exist, so a link is never an
        existence or name oracle. A link the record already has is kept
        without asking (editing a record never needs its links re-read)."""
        wanted: dict[str, set[int]] = {}
        new_links: list[tuple[PendingSave, str, int]] = []
        references = {name for name, field_type in obj.fields.items() if field_type.is_reference}
        if not references:
            return
        for save in saves:
            linked = self._current_links(conn, obj, save)
            pairs = [(n, v) for n, v in save.values.items() if n in references]
            pairs += [(n, v) for n, vs in save.many.items() if n in references for v in vs]
            for name, value in pairs:
                field_type = obj.fields[name]
                if value is None:
                    continue
                if value == (save.before or {}).get(name) or value in linked.get(name, ()):
                    continue
                wanted.setdefault(field_type.reference_target, set()).add(value)
                new_links.append((save, name, value))
        found: dict[str, set[int]] = {}
        for target_name, ids in wanted.items():
            found[target_name] = self._readable_ids(conn, target_name, ids)
        for save, name, value in new_links:
            target_name = obj.fields[name].reference_target
            if value not in found[target_name]:
                errors.setdefault(save.index, {}).setdefault(name, []).append(f"no {target_name} {value}")

    def _current_links(self, conn: Connection, obj: CompiledObject, save: PendingSave) -> dict[str, list[int]]:
        """The many-to-many links an updated record has now (none on create)."""
        if save.action != "update" or not save.many:
            return {}
        return self._links(conn, obj, save.record_id, list(save.many))

    def _readable_ids(self, conn: Connection, target_name: str, ids: set[int]) -> set[int]:
        """Which of ``ids`` are live records of ``target_name`` in the user's read scope."""
        target = self.model.object(target_name)
        if target is None:
            return set()
        try:
            self.guard.require("read", target)
        except Forbidden:
            return set()
        query = sa.select(target.table.c.id).where(target.table.c.id.in_(ids), target.table.c.deleted_at.is_(None))
        scope = self.guard.scope("read", target)
        if scope is not None:
            query = query.where(scope)
        return set(conn.execute(query).scalars())

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
        typed: bool = False,
    ) -> list[dict]:
        """Create records, all or none. Returns them as ``get`` would (only
        their ids beyond 50 records, or when ``read_back`` is false: callers
        such as automations that need no more save the reads). ``typed``:
        the rows hold column values, each already loaded by its field's
        ``column_loader`` (the import does so per cell); names are checked as
        always, values taken as they are. Never for values from a request."""
        obj = self.object(object_name)
        self.guard.require("create", obj)
        if not isinstance(rows, list) or not rows:
            raise ValidationFailed("send a non-empty list of records", details={"fields": {"records": ["empty"]}})
        if len(rows) > MAX_BULK:
            raise ValidationFailed(
                f"at most {MAX_BULK} records per call", details={"fields": {"records": ["too many"]}}
            )
        saves = []
        load = self._loader(obj, typed=typed)
        for index, data in enumerate(rows):
            values, many, row_errors = load(data, True)
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
                param = {
                    **save.values,
                    "owner_id": owner,
                    "created_at": now,
                    "created_by": self.actor.user_id,
                    "updated_at": now,
                    "updated_by": self.actor.user_id,
                    "version": 1,
                }
                for name, nums in numbers.items():
                    param[name] = nums[index]
                params.append(param)
            if any(field_type.encrypted for field_type in obj.fields.values()):
                params_stored = [sealing.seal_values(self.registry, obj.api_name, obj.fields, p) for p in params]
            else:
                params_stored = params
            ids = self._insert(conn, obj, params_stored)
            links: dict[str, list[dict]] = {}  # a new record has no links yet: nothing to delete first
            for record_id, save, param in zip(ids, saves, params, strict=True):
                save.record_id = record_id
                save.values = param
                for name, targets in save.many.items():
                    links.setdefault(name, []).extend(
                        {"source_id": record_id, "target_id": i} for i in dict.fromkeys(targets)
                    )
            for name, link_rows in links.items():
                bulk.insert_rows(conn, obj.junctions[name], link_rows)
            entries = []
            fields = obj.fields
            encrypted = {name for name, field_type in fields.items() if field_type.encrypted}
            for save in saves:
                # An encrypted field's value never reaches the log (sealing.hidden).
                changes = {
                    k: v if type(v) in _JSON_AS_IS and k not in encrypted else _audit_value(k, v, encrypted)
                    for k, v in save.values.items()
                    if k in fields
                }
                changes.update({k: list(dict.fromkeys(v)) for k, v in save.many.items() if v})
                entries.append((save.record_id, {"values": changes}))
            audit.record_many(conn, self.actor, "record.created", object=obj.api_name, items=entries)
            self._run_steps("after_write", ctx, saves)
            self._run_steps("after_commit", ctx, saves)
            if len(saves) >= ANALYZE_AFTER_ROWS:  # a bulk load: the planner's statistics may be stale now
                self._refresh_statistics(obj, len(saves))
        return self._read_back(object_name, ids, read_back)

    def _refresh_statistics(self, obj: CompiledObject, added: int) -> None:
        """After the commit, :func:`fresh_statistics` of ``obj``'s table. The
        rows its statistics knew are kept a minute in the model's memo: while
        ``added`` is under a tenth of them, ANALYZE would not run, so the check
        (a transaction and a catalog read) is skipped; an import's batches
        then pay for it once a minute, not once per thousand rows."""
        known = self.model.memo(("statistics_known_rows", obj.api_name), KnownRows)
        if not known.may_be_stale(added):
            return

        def refresh() -> None:
            known.remember(fresh_statistics(self.binding, [obj.api_name], added=added).get(obj.api_name))

        self._after_commit.append(refresh)

    def _insert(self, conn: Connection, obj: CompiledObject, params: list[dict]) -> list[int]:
        # Rows may set different columns; group them so each executemany is uniform.
        table = obj.table
        columns = sorted({key for p in params for key in p})
        try:
            if conn.dialect.name == "postgresql" and len(params) > 1:
                # Reserve the ids from the sequence, then one COPY of every
                # row (platform.bulk): far cheaper than RETURNING in order.
                sequence = sa.func.pg_get_serial_sequence(_qualified(table, self.binding.schema), "id")
                ids = (
                    conn.execute(
                        sa.select(sa.func.nextval(sequence)).select_from(sa.func.generate_series(1, len(params)))
                    )
                    .scalars()
                    .all()
                )
                rows = [[i, *map(p.get, columns)] for p, i in zip(params, ids, strict=True)]
                bulk.insert_values(conn, table, ["id", *columns], rows)
                return ids
            if conn.dialect.name == "sqlite" and len(params) > 1:
                # The write transaction holds SQLite's write lock (BEGIN
                # IMMEDIATE): the ids SQLite would give (max + 1, ...; the
                # column is a rowid, not AUTOINCREMENT) are ours, and one
                # executemany writes every row (RETURNING in order would
                # insert them one by one).
                last = conn.execute(sa.select(sa.func.coalesce(sa.func.max(table.c.id), 0))).scalar_one()
                if last + len(params) < 2**63 - 1:
                    ids = list(range(last + 1, last + 1 + len(params)))
                    rows = [{"id": i, **{c: p.get(c) for c in columns}} for p, i in zip(params, ids, strict=True)]
                    bulk.insert_rows(conn, table, rows)
                    return ids
            uniform = [{c: p.get(c) for c in columns} for p in params]
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
        self,
        object_name: str,
        rows: list[dict],
        *,
        single: bool = False,
        read_back: bool = True,
        typed: bool = False,
    ) -> list[dict]:
        """Partial updates; each row names its ``id`` and may carry ``version``
        (optimistic lock: a stale version is a 409 and nothing is written).
        ``typed`` as for :meth:`bulk_create`."""
        obj = self.object(object_name)
        self.guard.require("update", obj)
        if not isinstance(rows, list) or not rows:
            raise ValidationFailed("send a non-empty list of records", details={"fields": {"records": ["empty"]}})
        if len(rows) > MAX_BULK:
            raise ValidationFailed(
                f"at most {MAX_BULK} records per call", details={"fields": {"records": ["too many"]}}
            )
        saves, errors, versions = [], {}, []
        load = self._loader(obj, typed=typed)
        for index, data in enumerate(rows):
            values, many, row_errors = load(data, False)
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
            current = {
                row.id: sealing.open_row(self.registry, obj.api_name, obj.fields, dict(row._mapping))
                for row in conn.execute(query)
            }
            for index, record_id in enumerate(ids):
                if record_id not in current:
                    if single:
                        raise NotFound(f"no {object_name} {record_id}")
                    errors.setdefault(index, {})["id"] = [f"no {object_name} {record_id}"]
                elif versions[index] is not None and versions[index] != current[record_id]["version"]:
                    version = current[record_id]["version"]
                    raise Conflict(
                        f"{object_name} {record_id} was changed by someone else (version "
                        f"{version}, you sent {versions[index]}); reload and try again",
                        details={"id": record_id, "current_version": version, "row": index},
                    )
            _raise_row_errors(errors, single)
            for save in saves:
                save.before = current[save.record_id]
            ctx = SaveContext(conn, self, obj, "update", self.depth)
            self._prepare(ctx, saves, single)
            entries = []
            for save in saves:
                record_id, values, before = save.record_id, save.values, save.before
                changes = {
                    k: sealing.hidden(obj.fields, k, [json_safe(before[k]), json_safe(v)])
                    for k, v in values.items()
                    if before[k] != v
                }
                stored = sealing.seal_values(self.registry, obj.api_name, obj.fields, values)
                try:
                    result = conn.execute(
                        table.update()
                        .where(table.c.id == record_id, table.c.version == before["version"])
                        .values(**stored, updated_at=now, updated_by=self.actor.user_id, version=before["version"] + 1)
                    )
                except sa.exc.IntegrityError as exc:  # a unique value another record holds: 409, as on create
                    raise _integrity_conflict(obj, exc) from None
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


class KnownRows:
    """The rows a table's planner statistics knew when last asked (a
    :meth:`Writes._refresh_statistics` memo); forgotten after a minute."""

    FOR_SECONDS = 60.0

    def __init__(self):
        self.rows: float | None = None
        self.at = 0.0

    def may_be_stale(self, added: int) -> bool:
        if self.rows is None or time.monotonic() - self.at > self.FOR_SECONDS:
            return True
        return added * 10 >= self.rows

    def remember(self, rows: float | None) -> None:
        self.rows, self.at = rows, time.monotonic()


# Values an audit entry holds as they are (json_safe would return them unchanged).
_JSON_AS_IS = frozenset({str, int, bool, type(None)})


def _audit_value(name: str, value: Any, encrypted: set[str]) -> Any:
    if name in encrypted and value is not None:
        return sealing.HIDDEN
    as_json = _AS_JSON.get(type(value))
    return json_safe(value) if as_json is None else as_json(value)


def _decimal_json(value: Decimal) -> int | str:
    return int(value) if value == value.to_integral_value() else str(value)


# json_safe's answer for the column values a write most often holds, without
# its chain of isinstance checks (a thousand rows of an import go through here).
_AS_JSON = {Decimal: _decimal_json, dt.date: dt.date.isoformat, dt.datetime: dt.datetime.isoformat}


def _qualified(table: sa.Table, schema: str | None) -> str:
    """``"schema"."table"`` for PostgreSQL functions that take a relation name."""
    return f'"{schema}"."{table.name}"' if schema else f'"{table.name}"'


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
