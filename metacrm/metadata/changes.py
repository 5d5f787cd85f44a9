"""The one path for every metadata change (after Twenty's migration runner).

``with MetadataService(...).change("summary") as tx:`` opens ONE transaction
on the tenant binding, locks the tenant's metadata head, and loads every
definition. Each ``tx`` method validates its input through its kind
(:mod:`metacrm.metadata.kinds`: JSON Schema, then the live model), runs its
DDL through :class:`~metacrm.metadata.ddl.SchemaEditor` and writes the
definition; :meth:`ChangeSet.put` and :meth:`ChangeSet.delete` do so for any
registered kind. On leaving the block a new revision (who, when, the
before/after of every touched definition) is written, the head is bumped and
an audit entry added — or, on any error, everything including the DDL rolls
back and metadata, schema and data are exactly as before.
"""

from __future__ import annotations

import copy
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from datetime import timedelta
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.ddl import SchemaEditor
from metacrm.metadata.definitions import Definition, DefinitionSet, scoped_key
from metacrm.metadata.fieldtypes.conversion import convert_value
from metacrm.metadata.kinds import KindRegistry, KindScope, kinds_for
from metacrm.metadata.physical import bare_table, compile_model
from metacrm.metadata.store import sealing
from metacrm.metadata.tables import meta_definitions, meta_head, meta_revisions
from metacrm.platform import audit
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import INT32_MAX, TenantBinding
from metacrm.platform.errors import Conflict, NotFound, ValidationFailed

IMMUTABLE = ("api_name",)


def load_definitions(conn: Connection) -> DefinitionSet:
    rows = conn.execute(sa.select(meta_definitions)).mappings()
    return DefinitionSet(
        {(r["kind"], r["key"]): Definition(r["kind"], r["key"], r["document"], as_utc(r["deleted_at"])) for r in rows}
    )


def current_revision(conn: Connection) -> int:
    return conn.execute(sa.select(meta_head.c.revision).where(meta_head.c.id == 1)).scalar_one()


def _state_of(item: Definition | None) -> dict | None:
    if item is None:
        return None
    return {"document": item.document, "deleted": item.deleted_at is not None}


class ChangeSet:
    """The open transaction of one metadata change. Methods mirror the API."""

    def __init__(
        self,
        conn: Connection,
        binding: TenantBinding,
        registry,
        state: DefinitionSet,
        revision: int,
        kinds: KindRegistry,
    ):
        self._conn = conn
        self.binding = binding
        self.registry = registry
        self.kinds = kinds
        self.state = state
        self.revision = revision  # the revision being written
        # New objects' tables are created whole, when flushed (a package install creates dozens).
        self.editor = SchemaEditor(conn, binding.schema, defer=True)
        self.entries: list[dict] = []
        self.notes: list[str] = []
        # Definition rows written since the last flush: (kind, key) -> whether
        # its row is in the table (as of the last flush), and the row to be
        # (None: none). They follow in a few statements (see :meth:`flush`).
        self._unwritten: dict[tuple[str, str], tuple[bool, dict | None]] = {}

    @property
    def conn(self) -> Connection:
        """The change's connection, with every table and definition written so
        far in the database: whoever reads or writes through it sees them as
        if each had been written at once."""
        self.flush()
        return self._conn

    def flush(self) -> None:
        """Create the deferred tables (:meth:`SchemaEditor.flush`), and bring
        ``meta_definitions`` in line with ``state`` for the definitions written
        since the last flush: one DELETE, one multi-row INSERT and one UPDATE
        (executemany) instead of a statement per write."""
        self.editor.flush()
        if not self._unwritten:
            return
        unwritten, self._unwritten = self._unwritten, {}
        table = meta_definitions
        gone, new, changed = [], [], []
        for (kind, key), (stored, values) in unwritten.items():
            if values is None:
                if stored:
                    gone.append({"_kind": kind, "_key": key})
                continue
            if stored:
                changed.append({"_kind": kind, "_key": key, **values})
            else:
                new.append({"kind": kind, "key": key, **values})
        where = sa.and_(table.c.kind == sa.bindparam("_kind"), table.c.key == sa.bindparam("_key"))
        if gone:
            self._conn.execute(table.delete().where(where), gone)
        if new:
            self._conn.execute(table.insert(), new)
        if changed:
            self._conn.execute(table.update().where(where), changed)

    # -- bookkeeping -------------------------------------------------------------

    def _write(self, kind: str, key: str, document: dict | None, *, deleted: bool = False) -> None:
        """Put (or with document=None, remove) one definition and remember its before/after."""
        before = self.state.items.get((kind, key))
        before_state = copy.deepcopy(_state_of(before))
        stored = self._unwritten.get((kind, key), (before is not None, None))[0]
        if document is None:
            self.state.items.pop((kind, key), None)
            after = None
            self._unwritten[(kind, key)] = (stored, None)
        else:
            deleted_at = (
                (before.deleted_at if before and before.deleted_at and deleted else utcnow()) if deleted else None
            )
            after = Definition(kind, key, copy.deepcopy(document), deleted_at)
            self.state.items[(kind, key)] = after
            row = {"document": copy.deepcopy(document), "deleted_at": deleted_at, "revision": self.revision}
            self._unwritten[(kind, key)] = (stored, row)
        self.entries.append({"kind": kind, "key": key, "before": before_state, "after": _state_of(after)})

    def _object(self, api_name: str) -> dict:
        document = self.state.object(api_name)
        if document is None:
            raise NotFound(f"no object {api_name!r}")
        return document

    def _field(self, object_api_name: str, api_name: str, *, include_deleted: bool = False) -> Definition:
        item = self.state.get("field", scoped_key(object_api_name, api_name), include_deleted=include_deleted)
        if item is None:
            raise NotFound(f"no field {api_name!r} on {object_api_name}")
        return item

    def _validate(self, kind: str, object_api_name: str | None, document, *, creating: bool = False) -> None:
        scope = KindScope(self.state, object_api_name, self.registry, creating)
        self.kinds.get(kind).validate(document, scope)

    def write_definition(self, kind: str, key: str, document: dict) -> None:
        """Store a record of a kind the platform keeps for itself (one with no
        schema: a package record, the access policy mirror)."""
        if self.kinds.get(kind).written_by_admins:
            raise ValueError(f"{kind} definitions are checked and written by put()")
        self._write(kind, key, document)

    def remove_definition(self, kind: str, key: str) -> None:
        """Remove a record of a kind the platform keeps for itself (a package
        record, when its plugin is uninstalled)."""
        if self.kinds.get(kind).written_by_admins:
            raise ValueError(f"{kind} definitions are removed by delete()")
        self._write(kind, key, None)

    # -- objects -------------------------------------------------------------------

    def create_object(self, document: dict, fields: list[dict] | None = None) -> dict:
        self._validate("object", None, document, creating=True)
        document = copy.deepcopy(document)
        api_name = document["api_name"]
        document.setdefault("plural_label", document["label"])
        self.editor.create_object(api_name)
        name_field = document.get("name_field", "name")
        fields = list(fields or [])
        implicit = 0  # errors name the caller's index, not counting an implicit name field
        if name_field == "name" and not any(f.get("api_name") == "name" for f in fields if isinstance(f, dict)):
            fields.insert(0, {"api_name": "name", "label": "Name", "type": "text", "required": True, "indexed": True})
            implicit = 1
        document["name_field"] = None
        document.setdefault("search_fields", [])
        self._write("object", api_name, document)
        for i, field in enumerate(fields):
            try:
                self.add_field(api_name, field)
            except ValidationFailed as exc:
                raise _prefixed(exc, f"fields[{i - implicit}]") from None
        if name_field:
            document = {**document, "name_field": name_field}
            if not document["search_fields"] and name_field in {f["api_name"] for f in self.state.fields(api_name)}:
                document["search_fields"] = [name_field]
            self._validate("object", None, document)
            self._write("object", api_name, document)
        return self.state.object(api_name)

    def update_object(self, api_name: str, patch: dict) -> dict:
        current = self._object(api_name)
        _refuse_immutable(current, patch)
        document = {**current, **patch}
        self._validate("object", None, document)
        self._write("object", api_name, document)
        return document

    def delete_object(self, api_name: str, *, along_with: Collection[str] = ()) -> None:
        """Into the recycle bin: the table and its data stay until purged.
        Refused while live objects other than those in ``along_with`` (going
        to the bin in the same change) have fields pointing at it."""
        current = self._object(api_name)
        referrers = [
            f"{o['api_name']}.{f['api_name']}"
            for o in self.state.objects()
            if o["api_name"] != api_name and o["api_name"] not in along_with
            for f in self.state.fields(o["api_name"])
            if (f.get("options") or {}).get("target") == api_name
        ]
        if referrers:
            raise Conflict(
                f"{api_name} is referenced by {', '.join(referrers)}: delete those fields first",
                details={"referenced_by": referrers},
            )
        self._write("object", api_name, current, deleted=True)

    def restore_object(self, api_name: str) -> dict:
        item = self.state.get("object", api_name, include_deleted=True)
        if item is None or item.live:
            raise NotFound(f"no object {api_name!r} in the recycle bin")
        self._write("object", api_name, item.document)
        return item.document

    def purge_object(self, api_name: str) -> None:
        """Drop the table and every definition of the object, for good."""
        item = self.state.get("object", api_name, include_deleted=True)
        if item is None or item.live:
            raise Conflict(f"only an object in the recycle bin can be purged; delete {api_name} first")
        fields = [self.registry.bind(d.document) for d in self.state.scoped("field", api_name, include_deleted=True)]
        self.editor.drop_object(api_name, fields)
        for kind in self.kinds.object_scoped():
            for definition in self.state.scoped(kind.name, api_name, include_deleted=True):
                self._write(kind.name, definition.key, None)
        self._write("object", api_name, None)

    # -- fields ----------------------------------------------------------------------

    def add_field(self, object_api_name: str, document: dict) -> dict:
        self._validate("field", object_api_name, document, creating=True)
        document = normalized_field(document)
        field_type = self.registry.bind(document)
        self.editor.add_field(object_api_name, field_type)
        self._write("field", scoped_key(object_api_name, document["api_name"]), document)
        return document

    def update_field(
        self, object_api_name: str, api_name: str, patch: dict, *, clear_unconvertible: bool = False
    ) -> dict:
        current = self._field(object_api_name, api_name).document
        _refuse_immutable(current, patch)
        document = normalized_field({**current, **patch})
        self._validate("field", object_api_name, document)
        old, new = self.registry.bind(current), self.registry.bind(document)
        if old.name != new.name and (old.encrypted or new.encrypted):
            message = "change the type and the encryption of a field in separate steps (turn encrypted off first)"
            raise ValidationFailed(f"{api_name}: {message}", details={"fields": {"encrypted": [message]}})
        if old.name != new.name:
            self._convert(object_api_name, old, new, clear_unconvertible)
        elif old.encrypted != new.encrypted:
            # Stored values are sealed (or opened) here, in the change's transaction.
            self.editor.change_encryption(
                object_api_name,
                old,
                new,
                lambda: sealing.rewrite_encryption(self.conn, self.registry, object_api_name, old, new),
            )
        elif new.encrypted:
            self._check_encrypted_length(object_api_name, new)
            self.editor.change_indexes(object_api_name, old, new)
        else:
            self._check_option_change(object_api_name, old, new)
            self.editor.change_indexes(object_api_name, old, new)
        self._write("field", scoped_key(object_api_name, api_name), document)
        return document

    def preview_field_change(self, object_api_name: str, api_name: str, patch: dict, *, samples: int = 0) -> dict:
        """What :meth:`update_field` would do to the stored values, changing
        nothing; the new definition is checked as the change would check it.
        ``samples``: list up to that many record ids with each value that
        won't convert (``records``)."""
        current = self._field(object_api_name, api_name).document
        _refuse_immutable(current, patch)
        document = normalized_field({**current, **patch})
        self._validate("field", object_api_name, document)
        old, new = self.registry.bind(current), self.registry.bind(document)
        if old.name == new.name:
            return {"from": old.name, "to": new.name}
        return self.preview_conversion(object_api_name, old, new, samples=samples)

    def delete_field(self, object_api_name: str, api_name: str) -> None:
        item = self._field(object_api_name, api_name)
        obj = self._object(object_api_name)
        if obj.get("name_field") == api_name:
            raise Conflict(f"{api_name} is the name field of {object_api_name}; choose another name field first")
        users = [
            f"layout {d.key}"
            for d in self.state.scoped("layout", object_api_name)
            if any(api_name in s["fields"] for s in d.document["sections"])
        ]
        if users:
            self.notes.append(f"{api_name} stays listed in {', '.join(users)} but is hidden while deleted")
        if api_name in (obj.get("search_fields") or []):
            self._write(
                "object", object_api_name, {**obj, "search_fields": [f for f in obj["search_fields"] if f != api_name]}
            )
        self._write("field", item.key, item.document, deleted=True)

    def restore_field(self, object_api_name: str, api_name: str) -> dict:
        item = self._field(object_api_name, api_name, include_deleted=True)
        if item.live:
            raise NotFound(f"no field {api_name!r} of {object_api_name} in the recycle bin")
        self._object(object_api_name)
        self._write("field", item.key, item.document)
        return item.document

    def purge_field(self, object_api_name: str, api_name: str) -> None:
        item = self._field(object_api_name, api_name, include_deleted=True)
        if item.live:
            raise Conflict(f"only a field in the recycle bin can be purged; delete {api_name} first")
        self.editor.drop_field(object_api_name, self.registry.bind(item.document))
        self._write("field", item.key, None)

    # -- any kind ----------------------------------------------------------------------------

    def put(self, kind: str, object_api_name: str | None, document: dict) -> dict:
        """Create or replace one definition of ``kind`` (``object_api_name``
        is None for a tenant-wide kind): checked against the kind's schema
        and the live definitions, then written the kind's way."""
        definition_kind = self.kinds.get(kind)
        if not definition_kind.written_by_admins:
            raise ValueError(f"{kind} definitions are kept by the platform (write_definition)")
        if definition_kind.put is not None:
            return definition_kind.put(self, object_api_name, document)
        if definition_kind.object_scoped:
            self._object(object_api_name)
        self._validate(kind, object_api_name, document)
        self._write(kind, definition_kind.key(object_api_name, document["api_name"]), document)
        return document

    def delete(self, kind: str, object_api_name: str | None, api_name: str) -> None:
        """Remove one definition of a kind stored as is (objects and fields
        go to the recycle bin instead: :meth:`delete_object`, :meth:`delete_field`)."""
        definition_kind = self.kinds.get(kind)
        if not definition_kind.stored_as_is:
            raise ValueError(f"{kind} definitions are not deleted by delete()")
        key = definition_kind.key(object_api_name, api_name)
        if self.state.get(kind, key) is None:
            on = f" on {object_api_name}" if definition_kind.object_scoped else ""
            raise NotFound(f"no {definition_kind.label} {api_name!r}{on}")
        self._write(kind, key, None)

    # The names the API, packages' callers and tests use for one kind.

    def put_layout(self, object_api_name: str, document: dict) -> dict:
        return self.put("layout", object_api_name, document)

    def put_list_view(self, object_api_name: str, document: dict) -> dict:
        return self.put("list_view", object_api_name, document)

    def put_validation_rule(self, object_api_name: str, document: dict) -> dict:
        return self.put("validation_rule", object_api_name, document)

    def put_automation(self, object_api_name: str, document: dict) -> dict:
        return self.put("automation", object_api_name, document)

    delete_scoped = delete

    # -- type changes ---------------------------------------------------------------------

    def preview_conversion(self, object_api_name: str, old, new, *, samples: int = 0) -> dict:
        """How many stored values convert, and which distinct values won't
        (with up to ``samples`` ids of records holding each, when asked)."""
        if new.name not in getattr(type(old), "CONVERTIBLE_TO", {}):
            allowed = ", ".join(sorted(getattr(type(old), "CONVERTIBLE_TO", {}))) or "none"
            raise ValidationFailed(
                f"changing {old.api_name} from {old.name} to {new.name} could lose data and is not supported "
                f"(safe changes from {old.name}: {allowed})",
                details={"fields": {"type": [f"cannot change {old.name} to {new.name}; allowed: {allowed}"]}},
            )
        table = bare_table(object_api_name, old.api_name)
        column = table.c[old.api_name]
        rows = self.conn.execute(sa.select(column, sa.func.count()).where(column.is_not(None)).group_by(column)).all()
        bad = []
        converted = 0
        for value, count in rows:
            ok, _ = self._convert_one(old, new, value)
            if ok:
                converted += count
            else:
                bad.append({"value": value, "count": count})
        unconvertible = sorted(bad, key=lambda b: -b["count"])[:50]
        if samples:
            for entry in unconvertible:
                ids = sa.select(table.c.id).where(column == entry["value"]).order_by(table.c.id).limit(samples)
                entry["records"] = list(self.conn.execute(ids).scalars())
        return {
            "from": old.name,
            "to": new.name,
            "convertible": converted,
            "unconvertible": unconvertible,
            "unconvertible_count": sum(b["count"] for b in bad),
        }

    def _check_numbers_fit(self, table, column, old, new_type: sa.Numeric) -> None:
        """A smaller precision or scale must not overflow or round stored values."""
        scale = new_type.scale or 0
        limit = Decimal(10) ** (new_type.precision - scale)
        too_big = self.conn.execute(
            sa.select(sa.func.count()).select_from(table).where(sa.func.abs(column) >= limit)
        ).scalar()
        if too_big:
            raise _numbers_message(
                old.api_name,
                f"{too_big} stored value(s) need more than "
                f"{new_type.precision - scale} digits before the decimal point",
            )
        rounded = self.conn.execute(
            sa.select(sa.func.count())
            .select_from(table)
            .where(column.is_not(None), sa.func.round(column, scale) != column)
        ).scalar()
        if rounded:
            raise _numbers_message(
                old.api_name, f"{rounded} stored value(s) have more than {scale} decimal places and would be rounded"
            )

    @staticmethod
    def _convert_one(old, new, value) -> tuple[bool, object]:
        ok, converted = convert_value(old, new, value)
        length = getattr(new.column_type(), "length", None)
        if ok and length and isinstance(converted, str) and len(converted) > length:
            return False, None
        return ok, converted

    def _convert(self, object_api_name: str, old, new, clear_unconvertible: bool) -> None:
        preview = self.preview_conversion(object_api_name, old, new)
        if preview["unconvertible_count"] and not clear_unconvertible:
            raise Conflict(
                f"{preview['unconvertible_count']} stored value(s) of {old.api_name} do not convert to {new.name}; "
                "fix them first, or repeat with clear_unconvertible to empty them",
                details={"preview": preview},
            )
        table = bare_table(object_api_name, old.api_name)
        column = table.c[old.api_name]
        stored = self.conn.execute(sa.select(column, sa.func.count()).where(column.is_not(None)).group_by(column)).all()
        if new.definition.get("unique"):
            # Values that differ now may convert to the same one ("Won", "won" → "won").
            kept: dict[object, int] = {}
            for value, count in stored:
                ok, converted = self._convert_one(old, new, value)
                if ok and converted is not None:
                    kept[converted] = kept.get(converted, 0) + count
            repeats = ", ".join(repr(v) for v, n in kept.items() if n > 1)
            if repeats:
                raise Conflict(
                    f"{old.api_name} is unique, but after the change values would repeat: {repeats}",
                    details={"fields": {"unique": [f"converted values repeat: {repeats}"]}},
                )
        both_text = old.column_type().python_type is str and new.column_type().python_type is str
        # Converted text may be longer than the old column allows (picklist
        # "v" → multi-picklist ";v;"): widen the column before rewriting;
        # narrow it only after the values fit.
        old_length = getattr(old.column_type(), "length", None)
        new_length = getattr(new.column_type(), "length", None)
        widen_first = both_text and (new_length is None or (old_length is not None and new_length >= old_length))
        if widen_first:
            self.editor.alter_type(object_api_name, old, new)
        rewrites: dict[object, list] = {}
        for value, _count in stored:
            ok, converted = self._convert_one(old, new, value)
            if not ok:
                converted = None
            elif not both_text or converted == value:
                continue  # numeric changes are done by the column type change below
            rewrites.setdefault(converted, []).append(value)
        # One UPDATE per new value (not per old one): a column with many distinct
        # values has no index to make thousands of UPDATEs cheap.
        for converted, sources in rewrites.items():
            for start in range(0, len(sources), 1000):
                self.conn.execute(
                    table.update().where(column.in_(sources[start : start + 1000])).values({old.api_name: converted})
                )
        if not widen_first:
            self.editor.alter_type(object_api_name, old, new, using=None if both_text else _using(old, new))

    def _check_encrypted_length(self, object_api_name: str, new) -> None:
        """A shorter max_length must still fit the stored values; only their clear text can tell."""
        limit = getattr(new.column_type(), "length", None)
        if limit is None:
            return
        longest = sealing.longest_value(self.conn, self.registry, object_api_name, new)
        if longest > limit:
            raise Conflict(
                f"{new.api_name} holds values of {longest} characters; max_length {limit} is too short",
                details={"fields": {"options.max_length": [f"stored values have up to {longest} characters"]}},
            )

    def _check_option_change(self, object_api_name: str, old, new) -> None:
        """Option changes that could break stored data are checked against it."""
        if not (old.has_column and new.has_column):  # a link table (many-to-many): no column to check
            return
        table = bare_table(object_api_name, old.api_name)
        column = table.c[old.api_name]
        if old.name in ("picklist", "multi_picklist"):
            kept = {v["value"] for v in new.options.get("values", [])}
            removed = [v["value"] for v in old.options.get("values", []) if v["value"] not in kept]
            for value in removed:
                stored = column == value if old.name == "picklist" else column.contains(f";{value};", autoescape=True)
                if self.conn.execute(sa.select(sa.func.count()).select_from(table).where(stored)).scalar():
                    raise Conflict(
                        f"picklist value {value!r} of {old.api_name} is still used; "
                        "mark it inactive instead of removing it",
                        details={"fields": {"options.values": [f"{value!r} is in use: set active to false"]}},
                    )
        old_type, new_type = old.column_type(), new.column_type()
        if type(old_type) is not type(new_type) or repr(old_type) == repr(new_type):
            return
        if isinstance(new_type, sa.Numeric) and new_type.precision is not None:
            self._check_numbers_fit(table, column, old, new_type)
        if getattr(new_type, "length", None) and (getattr(old_type, "length", None) or 0) > new_type.length:
            longest = self.conn.execute(sa.select(sa.func.max(sa.func.length(column)))).scalar() or 0
            if longest > new_type.length:
                raise Conflict(
                    f"{old.api_name} holds values of {longest} characters; max_length {new_type.length} is too short",
                    details={"fields": {"options.max_length": [f"stored values have up to {longest} characters"]}},
                )
        self.editor.alter_type(object_api_name, old, new)


def _numbers_message(api_name: str, what: str) -> Conflict:
    return Conflict(f"{api_name}: {what}; change or clear those values first", details={"fields": {"options": [what]}})


def _using(old, new) -> str:
    """PostgreSQL USING clause for an in-place type change."""
    type_sql = new.column_type().compile(dialect=_pg_dialect())
    return f'CAST("{old.api_name}" AS {type_sql})'


def _pg_dialect():
    from sqlalchemy.dialects import postgresql

    return postgresql.dialect()


def _refuse_immutable(current: dict, patch: dict) -> None:
    for key in IMMUTABLE:
        if key in patch and patch[key] != current[key]:
            raise ValidationFailed(f"{key} cannot be changed", details={"fields": {key: ["is immutable"]}})


def normalized_field(document: dict) -> dict:
    """A field definition with every optional member at its default, as stored."""
    document = copy.deepcopy(document)
    document.setdefault("required", False)
    document.setdefault("unique", False)
    document.setdefault("indexed", False)
    document.setdefault("default", None)
    document.setdefault("help", "")
    document.setdefault("options", {})
    return document


def _prefixed(exc: ValidationFailed, prefix: str) -> ValidationFailed:
    details = exc.details or {}
    errors = [{"path": f"{prefix}.{e['path']}", "message": e["message"]} for e in details.get("errors", [])]
    fields = {f"{prefix}.{k}": v for k, v in details.get("fields", {}).items()}
    return ValidationFailed(exc.message, details={"errors": errors, "fields": fields})


class MetadataService:
    """Opens metadata changes for one tenant, acting as one actor."""

    def __init__(
        self, binding: TenantBinding, registry, actor: audit.Actor, *, checks=None, kinds: KindRegistry | None = None
    ):
        self.binding = binding
        self.registry = registry
        self.actor = actor
        # The kinds of the instance whose field types these are, unless given.
        self.kinds = kinds if kinds is not None else kinds_for(getattr(registry, "plugin_manager", None))
        # checks(definitions, model) -> [(kind, key, path, message)]: the
        # check_definitions hooks (formulas, rules that read the changed fields).
        self.checks = checks

    @contextmanager
    def change(self, summary: str) -> Iterator[ChangeSet]:
        with self.binding.begin() as conn:
            head = sa.select(meta_head.c.revision).where(meta_head.c.id == 1)
            if conn.dialect.name == "postgresql":
                head = head.with_for_update()
            revision = conn.execute(head).scalar_one() + 1
            tx = ChangeSet(conn, self.binding, self.registry, load_definitions(conn), revision, self.kinds)
            yield tx
            tx.flush()
            if not tx.entries:
                return
            if self.checks is not None:
                _raise_problems(self.checks(tx.state, compile_model(revision, tx.state, self.registry)))
            conn.execute(
                meta_revisions.insert().values(
                    revision=revision,
                    at=utcnow(),
                    actor_id=self.actor.user_id,
                    actor_email=self.actor.email,
                    summary=summary[:500],
                    changes=tx.entries,
                )
            )
            conn.execute(meta_head.update().where(meta_head.c.id == 1).values(revision=revision))
            audit.record(
                conn,
                self.actor,
                "metadata.changed",
                details={
                    "revision": revision,
                    "summary": summary[:500],
                    "definitions": [f"{e['kind']}:{e['key']}" for e in tx.entries],
                },
            )

    # -- revisions ---------------------------------------------------------------------

    def revisions(self, *, limit: int = 100, before: int | None = None) -> list[dict]:
        query = (
            sa.select(
                meta_revisions.c.revision, meta_revisions.c.at, meta_revisions.c.actor_email, meta_revisions.c.summary
            )
            .order_by(meta_revisions.c.revision.desc())
            .limit(limit)
        )
        if before:
            query = query.where(meta_revisions.c.revision < before)
        with self.binding.connect() as conn:
            return [{**row, "at": as_utc(row["at"]).isoformat()} for row in conn.execute(query).mappings()]

    def revision(self, number: int) -> dict:
        if number > INT32_MAX:  # beyond the 32-bit column: PostgreSQL would refuse the parameter
            raise NotFound(f"no revision {number}")
        with self.binding.connect() as conn:
            row = conn.execute(sa.select(meta_revisions).where(meta_revisions.c.revision == number)).mappings().first()
        if row is None:
            raise NotFound(f"no revision {number}")
        return {**row, "at": as_utc(row["at"]).isoformat()}

    def rollback(self, number: int) -> int:
        """Bring metadata back to how it was after revision ``number``, as a
        new revision. Data is kept: what the rollback removes goes to the
        recycle bin; what it brings back is restored from there."""
        with self.change(f"roll back to revision {number}") as tx:
            latest = tx.revision - 1
            if not 0 <= number < latest:
                raise ValidationFailed(
                    f"revision {number} is not earlier than the current revision {latest}",
                    details={"fields": {"revision": [f"must be between 0 and {latest - 1}"]}},
                )
            _apply_target(tx, _rollback_target(tx.conn, tx.state, number))
            return tx.revision

    def rollback_preview(self, number: int) -> list[dict]:
        """What :meth:`rollback` to ``number`` would change, changing nothing:
        one ``{"kind", "key", "before", "after"}`` per definition whose live
        document would differ (``before`` now, ``after`` once rolled back;
        None where it is absent or in the recycle bin)."""
        with self.binding.connect() as conn:
            latest = current_revision(conn)
            if not 0 <= number < latest:
                raise ValidationFailed(
                    f"revision {number} is not earlier than the current revision {latest}",
                    details={"fields": {"revision": [f"must be between 0 and {latest - 1}"]}},
                )
            current = load_definitions(conn)
            target = _rollback_target(conn, current, number)
        changes = []
        for kind, key in sorted(set(current.items) | set(target.items)):
            if kind not in self.kinds or not self.kinds.get(kind).written_by_admins:
                continue
            have, want = current.get(kind, key), target.get(kind, key)
            before, after = (have.document if have else None), (want.document if want else None)
            if before != after:
                changes.append({"kind": kind, "key": key, "before": before, "after": after})
        return changes


def _rollback_target(conn: Connection, state: DefinitionSet, number: int) -> DefinitionSet:
    """The definitions as they were after revision ``number``: ``state`` with
    every later revision's changes undone, newest first."""
    target = state.copy()
    rows = conn.execute(
        sa.select(meta_revisions.c.revision, meta_revisions.c.changes)
        .where(meta_revisions.c.revision > number)
        .order_by(meta_revisions.c.revision.desc())
    ).all()
    for _rev, changes in rows:
        for entry in reversed(changes):
            before = entry["before"]
            if before is None:
                target.items.pop((entry["kind"], entry["key"]), None)
            else:
                target.items[(entry["kind"], entry["key"])] = Definition(
                    entry["kind"], entry["key"], before["document"], utcnow() if before["deleted"] else None
                )
    return target


def _raise_problems(problems: list[tuple[str, str, str, str]]) -> None:
    """Problems the check_definitions hooks found, as one 422 naming each path."""
    if not problems:
        return
    errors = [
        {"path": f"{kind}:{key}.{path}" if path else f"{kind}:{key}", "message": message}
        for kind, key, path, message in problems
    ]
    fields: dict[str, list[str]] = {}
    for error in errors:
        fields.setdefault(error["path"], []).append(error["message"])
    raise ValidationFailed(
        "the change would break: " + "; ".join(f"{e['path']}: {e['message']}" for e in errors[:3]),
        details={"errors": errors, "fields": fields},
    )


def _apply_target(tx: ChangeSet, target: DefinitionSet) -> None:
    current = tx.state

    def live(state: DefinitionSet, kind: str, key: str) -> dict | None:
        item = state.get(kind, key)
        return item.document if item else None

    def exists(state: DefinitionSet, kind: str, key: str) -> bool:
        return state.get(kind, key, include_deleted=True) is not None

    keys = sorted(set(current.items) | set(target.items))
    # Fields of an object that is not live in the target stay as they are:
    # they are hidden with their object (and come back with it).
    fields = [
        (key, *key.split(".", 1)) for kind, key in keys if kind == "field" and live(target, "object", key.split(".")[0])
    ]
    # 1. objects that must come back
    for kind, key in keys:
        if kind == "object" and live(target, kind, key) and not live(current, kind, key):
            if not exists(current, kind, key):
                raise Conflict(f"object {key} was purged after that revision; it cannot be brought back")
            tx.restore_object(key)
    # 2. fields to restore or update
    for key, obj, name in fields:
        want, have = live(target, "field", key), live(current, "field", key)
        if want and not have:
            if not exists(current, "field", key):
                raise Conflict(f"field {key} was purged after that revision; it cannot be brought back")
            tx.restore_field(obj, name)
            have = live(current, "field", key)
        if want and have and want != have:
            patch = {k: v for k, v in want.items() if k != "api_name"}
            # Flags newer than the target's document are absent from it: absent means off.
            patch.update({flag: False for flag in ("encrypted", "audit_reads") if flag in have and flag not in want})
            tx.update_field(obj, name, patch)
    # 3. object documents (their name and search fields are back by now)
    for kind, key in keys:
        want, have = live(target, kind, key), live(current, kind, key)
        if kind == "object" and want and have and want != have:
            tx.update_object(key, {k: v for k, v in want.items() if k != "api_name"})
    # 4. fields to remove (after 3: one of them may have been the name field)
    for key, obj, name in fields:
        if live(current, "field", key) and not live(target, "field", key):
            tx.delete_field(obj, name)
    # 5. definitions stored as is: layouts, list views, validation rules, automations…
    for kind, key in keys:
        if kind not in tx.kinds or not tx.kinds.get(kind).stored_as_is:
            continue
        want, have = live(target, kind, key), live(current, kind, key)
        if want != have:
            obj, name = key.split(".", 1) if tx.kinds.get(kind).object_scoped else (None, key)
            if want and (obj is None or live(current, "object", obj)):
                tx.put(kind, obj, want)
            elif have:
                tx.delete(kind, obj, name)
    # 6. objects that must go (those pointing at each other go together)
    leaving = [
        key for kind, key in keys if kind == "object" and live(current, kind, key) and not live(target, kind, key)
    ]
    for key in leaving:
        tx.delete_object(key, along_with=leaving)


def purge_expired(binding: TenantBinding, registry, actor: audit.Actor, retention_days: int) -> list[str]:
    """Purge fields and objects that have been in the recycle bin longer than
    the retention period. Returns what was purged."""
    cutoff = utcnow() - timedelta(days=retention_days)
    purged: list[str] = []
    with MetadataService(binding, registry, actor).change(f"purge recycle bin older than {retention_days} days") as tx:
        for (kind, key), item in list(tx.state.items.items()):
            if item.deleted_at is None or item.deleted_at > cutoff:
                continue
            if kind == "field" and (tx.state.get("object", key.split(".")[0])):
                tx.purge_field(*key.split(".", 1))
                purged.append(f"field {key}")
            elif kind == "object":
                tx.purge_object(key)
                purged.append(f"object {key}")
    return purged


def definitions_at(conn: Connection) -> tuple[int, DefinitionSet]:
    """The head revision and all definitions, read in one go (for the model cache)."""
    return current_revision(conn), load_definitions(conn)
