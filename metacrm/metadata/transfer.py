"""Export and import of a whole tenant (metadata, data and audit log) with
nothing lost, e.g. to move a tenant between instances or from the embedded
SQLite to PostgreSQL.

An export is one zip file (``"format": "metacrm-tenant"``, version 1):

* ``manifest.json``: format, version, slug, name, exported_at,
  metadata_revision, ``objects`` (api name → rows) and ``tables`` (table →
  rows, columns in physical order, and on PostgreSQL the id sequence's
  next value);
* ``definitions.json``: every ``meta_definitions`` row, recycle bin included;
* ``revisions.jsonl``: every ``meta_revisions`` row;
* ``counters.json``: the auto-number counters;
* ``data/<table>.jsonl``: every object table ``o_<object>`` (live and
  deleted objects, every physical column, so fields in the recycle bin keep
  their data) and every junction table ``m_...``. Files are named after the
  tables, not the objects: an object called ``m_x`` and a junction ``m_x``
  cannot collide;
* ``audit.jsonl``: every audit entry, with its id;
* ``tables/<table>.jsonl``: any other table a plugin keeps in the namespace.

Secrets never leave in clear: columns a plugin names through the
``tenant_secret_columns`` hook (webhook signing secrets) are written as
null, and the manifest's ``withheld_secrets`` says which, in how many rows,
and how an administrator sets them again. Import leaves them empty (rows
that cannot be without them are left out), reports the same in its progress
and in the ``tenant.imported`` audit entry.

A row is one JSON object, column → value. Strings, numbers, booleans and
null stand for themselves; any other value is an object with one key naming
its type: ``{"$decimal": "12.30"}``, ``{"$date": "2026-01-31"}``,
``{"$datetime": "2026-01-31T08:00:00+00:00"}`` (always UTC), ``{"$time": …}``,
``{"$bytes": <base64>}``, and ``{"$json": <value>}`` for JSON columns. A JSON
object in a value position is therefore always such a tag.

Export reads one snapshot (a REPEATABLE READ transaction on PostgreSQL, one
read transaction on SQLite), streams every table in primary-key order into
the zip (server-side cursors, one line at a time), and moves the finished
file into place, so a failed export leaves no partial file.

Import creates the tenant through
:func:`metacrm.platform.tenancy.create_tenant` with a ``populate`` step
instead of the plugins' seed rows, so the directory entry, the namespace and
every row commit together or not at all. Physical tables are built by
:class:`~metacrm.metadata.ddl.SchemaEditor` from the definitions (every
object and field, recycle bin included) and checked column by column against
the export. Rows keep their ids; PostgreSQL sequences continue after them;
the exported audit log keeps its ids and the import's own entry,
``tenant.imported``, comes after it.

Part of the metadata layer: nothing above it (access, rules, api, ui) may be
imported here; plugins' tables travel generically, as ``tables/<table>.jsonl``.
"""

from __future__ import annotations

import base64
import io
import json
import os
import re
import tempfile
import zipfile
import zlib
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time
from decimal import Decimal
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.changes import current_revision
from metacrm.metadata.ddl import SchemaEditor
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.kinds import KindRegistry
from metacrm.metadata.model import definition_kinds, field_types
from metacrm.metadata.physical import TABLE_PREFIX, table_name
from metacrm.metadata.tables import meta_definitions, meta_head
from metacrm.platform import audit, tenancy
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.database import TenantBinding, validate_slug
from metacrm.platform.errors import BadRequest, Conflict, MetacrmError, ValidationFailed
from metacrm.platform.instance import Instance

FORMAT = "metacrm-tenant"
FORMAT_VERSION = 1
MANIFEST = "manifest.json"
CHUNK = 1000  # rows per fetch while exporting and per executemany while importing

# Tables with a file of their own. meta_head travels as the manifest's
# metadata_revision; alembic_version belongs to the instance that migrates
# the namespace.
NAMED_MEMBERS = {
    "meta_definitions": "definitions.json",
    "meta_revisions": "revisions.jsonl",
    "autonumber_counters": "counters.json",
    "audit_log": "audit.jsonl",
}
NOT_EXPORTED = frozenset({"alembic_version", "meta_head"})
# Object tables and many-to-many junction tables: built from definitions.
DATA_TABLE_PREFIXES = (TABLE_PREFIX, "m_")
IDENTIFIER_RE = re.compile(r"^[a-z][a-z0-9_]{0,62}$")

Progress = Callable[[str], None]


def _quiet(_message: str) -> None:
    pass


def member_for(table: str) -> str:
    """The zip member holding the rows of ``table``."""
    if table in NAMED_MEMBERS:
        return NAMED_MEMBERS[table]
    if _is_data_table(table):
        return f"data/{table}.jsonl"
    return f"tables/{table}.jsonl"


def _is_data_table(table: str) -> bool:
    return table.startswith(DATA_TABLE_PREFIXES)


def _bind_field(registry, key: str, document: dict, label: str) -> FieldType:
    try:
        return registry.bind(document)
    except ValidationFailed:
        raise BadRequest(
            f"{label}: field {key} has the type {document.get('type')!r}, which no plugin installed here provides"
        ) from None


def _junction(field_type: FieldType, object_name: str) -> str | None:
    """The junction table of a field that keeps its values in one (many-to-many)."""
    return field_type.junction_table_name(object_name) if field_type.stores_links else None


# -- values --------------------------------------------------------------------------


def encode_value(value: Any, *, json_column: bool = False) -> Any:
    """A column value → its JSON form (see the module docstring)."""
    if value is None:
        return None
    if json_column:
        return {"$json": value}
    if isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, Decimal):
        return {"$decimal": str(value)}
    if isinstance(value, datetime):
        return {"$datetime": as_utc(value).astimezone(UTC).isoformat()}
    if isinstance(value, date):
        return {"$date": value.isoformat()}
    if isinstance(value, time):
        return {"$time": value.isoformat()}
    if isinstance(value, bytes | bytearray | memoryview):
        return {"$bytes": base64.b64encode(bytes(value)).decode("ascii")}
    raise TypeError(f"cannot export a value of type {type(value).__name__}")


def _datetime(text: str) -> datetime:
    value = datetime.fromisoformat(text)
    if value.tzinfo is None:
        raise ValueError(f"datetime {text!r} has no UTC offset")
    return value


_DECODERS: dict[str, Callable[[Any], Any]] = {
    "$decimal": Decimal,
    "$date": date.fromisoformat,
    "$datetime": _datetime,
    "$time": time.fromisoformat,
    "$bytes": lambda text: base64.b64decode(text, validate=True),
}


def decode_value(value: Any) -> Any:
    """The JSON form of a value → the column value; ValueError if malformed."""
    if not isinstance(value, dict):
        if isinstance(value, list):
            raise ValueError('a list is only allowed inside {"$json": …}')
        return value
    if len(value) != 1:
        raise ValueError(f"a value object must have exactly one type key, got {sorted(value)}")
    ((tag, payload),) = value.items()
    if tag == "$json":
        return payload
    decoder = _DECODERS.get(tag)
    if decoder is None:
        raise ValueError(f"unknown value type {tag!r}")
    if not isinstance(payload, str):
        raise ValueError(f"{tag} needs a string")
    return decoder(payload)


def _dumps(row: dict) -> str:
    return json.dumps(row, ensure_ascii=False, allow_nan=False, separators=(",", ":"))


def _reflect(conn: Connection, name: str, schema: str | None) -> sa.Table:
    """The table as it physically is (an explicit schema: the binding's
    schema_translate_map leaves it alone)."""
    return sa.Table(name, sa.MetaData(), schema=schema, autoload_with=conn, resolve_fks=False)


def _serial_sequence(conn: Connection, table: sa.Table) -> tuple[sa.Column, str] | None:
    """PostgreSQL: the id column and the sequence feeding it, if any."""
    pk = list(table.primary_key.columns)
    if conn.dialect.name != "postgresql" or len(pk) != 1 or not isinstance(pk[0].type, sa.Integer):
        return None
    qualified = conn.dialect.identifier_preparer.format_table(table)
    sequence = conn.execute(sa.select(sa.func.pg_get_serial_sequence(qualified, pk[0].name))).scalar()
    return (pk[0], sequence) if sequence else None


# -- export --------------------------------------------------------------------------


def secret_columns(instance: Instance) -> dict[str, dict]:
    """table → {"columns": [...], "restore": "..."}: the secrets plugins name
    (the ``tenant_secret_columns`` hook)."""
    found: dict[str, dict] = {}
    for entries in instance.hook.tenant_secret_columns():
        for entry in entries or ():
            known = found.setdefault(entry["table"], {"columns": [], "restore": entry.get("restore", "")})
            known["columns"] = sorted({*known["columns"], *entry["columns"]})
    return found


def export_tenant(
    instance: Instance,
    slug: str,
    path: str | os.PathLike,
    progress: Progress | None = None,
    *,
    actor: audit.Actor = audit.SYSTEM,
) -> dict:
    """Write tenant ``slug`` to the zip file ``path`` (replaced if it exists);
    returns the manifest. The export itself is recorded in the tenant's audit
    log ("tenant.exported", after the snapshot, so not inside the file)."""
    progress = progress or _quiet
    binding = instance.db.bind(slug)
    path = Path(path)
    try:
        # mkstemp: readable by the owner only, the file holds every record.
        fd, temp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".partial", dir=path.parent)
    except OSError as exc:
        raise BadRequest(f"cannot write {path}: {exc.strerror}") from None
    temp = Path(temp_name)
    try:
        with (
            os.fdopen(fd, "wb") as raw,
            zipfile.ZipFile(raw, "w", compression=zipfile.ZIP_DEFLATED) as archive,
            binding.connect() as conn,
        ):
            if binding.dialect == "postgresql":
                conn.execution_options(isolation_level="REPEATABLE READ", postgresql_readonly=True)
            secrets = secret_columns(instance)
            manifest = _Exporter(binding, conn, archive, field_types(instance), progress, secrets).run()
        os.replace(temp, path)
    except BaseException:
        temp.unlink(missing_ok=True)
        raise
    with binding.begin() as conn:
        audit.record(
            conn,
            actor,
            "tenant.exported",
            details={
                "file": path.name,
                "metadata_revision": manifest["metadata_revision"],
                "objects": manifest["objects"],
            },
        )
    progress(f"wrote {path}")
    return manifest


class _Exporter:
    def __init__(
        self,
        binding: TenantBinding,
        conn: Connection,
        archive: zipfile.ZipFile,
        registry,
        progress: Progress,
        secrets: dict[str, dict] | None = None,
    ):
        self.secrets = secrets or {}
        self.withheld: dict[str, dict] = {}
        self.binding = binding
        self.registry = registry
        self.conn = conn
        self.archive = archive
        self.progress = progress

    def run(self) -> dict:
        conn, schema = self.conn, self.binding.schema
        revision = current_revision(conn)  # the first read: the snapshot starts here
        rows = conn.execute(sa.select(meta_definitions.c.kind, meta_definitions.c.key, meta_definitions.c.document))
        objects: list[str] = []
        junctions: set[str] = set()
        for kind, key, document in rows:
            if kind == "object":
                objects.append(key)
            elif kind == "field":
                field_type = _bind_field(self.registry, key, document, f"tenant {self.binding.slug}")
                junction = _junction(field_type, key.split(".", 1)[0])
                if junction:
                    junctions.add(junction)
        objects.sort()
        expected = {table_name(name) for name in objects} | junctions
        namespace = set(sa.inspect(conn).get_table_names(schema=schema))
        present = namespace - NOT_EXPORTED
        missing = sorted(expected - present)
        stray = sorted(name for name in present - expected if _is_data_table(name))
        if missing or stray:
            raise Conflict(
                f"tenant {self.binding.slug} cannot be exported whole: definitions and tables disagree"
                + (f"; no table for {', '.join(missing)}" if missing else "")
                + (f"; no definition for {', '.join(stray)}" if stray else ""),
                details={"missing_tables": missing, "tables_without_definition": stray},
            )
        others = sorted(name for name in present if not _is_data_table(name) and name not in NAMED_MEMBERS)
        order = [
            "meta_definitions",
            "meta_revisions",
            "autonumber_counters",
            *[table_name(name) for name in objects],
            *sorted(junctions),
            *others,
            "audit_log",
        ]
        tables = {name: self._dump(name) for name in order}
        versions = (
            conn.execute(sa.select(_reflect(conn, "alembic_version", schema).c.version_num)).scalars().all()
            if "alembic_version" in namespace
            else []
        )
        manifest = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "slug": self.binding.slug,
            "name": self.binding.name,
            "exported_at": utcnow().isoformat(),
            "metadata_revision": revision,
            "objects": {name: tables[table_name(name)]["rows"] for name in objects},
            "tables": tables,
            "dialect": self.binding.dialect,
            "schema_versions": sorted(versions),
            "withheld_secrets": self.withheld,
        }
        self.archive.writestr(MANIFEST, json.dumps(manifest, ensure_ascii=False, indent=2) + "\n")
        return manifest

    def _dump(self, name: str) -> dict:
        """Stream the rows of table ``name`` into its member; returns its manifest entry."""
        conn = self.conn
        table = _reflect(conn, name, self.binding.schema)
        names = [column.name for column in table.columns]
        json_columns = [isinstance(column.type, sa.JSON) for column in table.columns]
        query = sa.select(table).order_by(*(table.primary_key.columns or table.columns))
        member = member_for(name)
        as_array = member.endswith(".json")
        count = 0
        # Secret columns are written as null (see the module's docstring).
        secret = {c for c in self.secrets.get(name, {}).get("columns", ()) if c in names}
        with io.TextIOWrapper(self.archive.open(member, "w", force_zip64=True), encoding="utf-8", newline="\n") as out:
            out.write("[" if as_array else "")
            for row in conn.execute(query.execution_options(yield_per=CHUNK)):
                try:
                    line = _dumps(
                        {
                            column: None if column in secret else encode_value(value, json_column=is_json)
                            for column, value, is_json in zip(names, row, json_columns, strict=True)
                        }
                    )
                except (TypeError, ValueError) as exc:
                    raise MetacrmError(f"cannot export {name} row {count + 1}: {exc}") from None
                if as_array:
                    out.write(("\n" if count == 0 else ",\n") + line)
                else:
                    out.write(line + "\n")
                count += 1
            out.write("\n]\n" if as_array else "")
        entry: dict[str, Any] = {"rows": count, "columns": names}
        if secret:
            restore = self.secrets[name].get("restore", "")
            self.withheld[name] = {"columns": sorted(secret), "rows": count, "restore": restore}
        serial = _serial_sequence(conn, table)
        if serial:
            last = conn.execute(
                sa.text("SELECT pg_sequence_last_value(CAST(:sequence AS regclass))"), {"sequence": serial[1]}
            ).scalar()
            entry["next_id"] = None if last is None else last + 1
        self.progress(f"exported {name}: {count} row(s)")
        return entry


# -- reading an export -----------------------------------------------------------------


class ExportFile:
    """An opened export: the validated manifest and a row reader per table."""

    def __init__(self, path: Path):
        self.label = path.name
        try:
            self.archive = zipfile.ZipFile(path)
        except FileNotFoundError:
            raise BadRequest(f"no file {path}") from None
        except (zipfile.BadZipFile, OSError) as exc:
            raise BadRequest(f"{self.label} is not a metacrm tenant export (not a readable zip file: {exc})") from None
        try:
            self.manifest = self._read_manifest()
        except BaseException:
            self.archive.close()
            raise

    def __enter__(self) -> ExportFile:
        return self

    def __exit__(self, *_exc) -> None:
        self.archive.close()

    def _bad(self, reason: str) -> BadRequest:
        return BadRequest(f"{self.label} is not a metacrm tenant export ({reason})")

    def _read_manifest(self) -> dict:
        try:
            with self.archive.open(MANIFEST) as raw:
                manifest = json.load(io.TextIOWrapper(raw, encoding="utf-8"))
        except KeyError:
            raise self._bad(f"no {MANIFEST}") from None
        except (ValueError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise self._bad(f"unreadable {MANIFEST}: {exc}") from None
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise self._bad(f'{MANIFEST} does not say "format": "{FORMAT}"')
        version = manifest.get("format_version")
        if not isinstance(version, int) or isinstance(version, bool) or version < 1:
            raise self._bad("format_version is missing")
        if version > FORMAT_VERSION:
            raise BadRequest(
                f"{self.label} was written in format version {version} by a newer metacrm; "
                f"this one reads version {FORMAT_VERSION}"
            )
        problems = []
        for key, kind in (("slug", str), ("name", str), ("metadata_revision", int), ("objects", dict)):
            if not isinstance(manifest.get(key), kind):
                problems.append(f"{key} must be a {kind.__name__}")
        tables = manifest.get("tables")
        if not isinstance(tables, dict):
            problems.append("tables must be an object")
            tables = {}
        withheld = manifest.get("withheld_secrets", {})
        if not isinstance(withheld, dict) or not all(
            isinstance(entry, dict)
            and isinstance(entry.get("columns"), list)
            and all(isinstance(c, str) for c in entry["columns"])
            and isinstance(entry.get("rows"), int)
            and isinstance(entry.get("restore", ""), str)
            for entry in withheld.values()
        ):
            problems.append('withheld_secrets must map tables to {"columns": [...], "rows": n, "restore": "..."}')
        names = set(self.archive.namelist())
        for name, entry in tables.items():
            if not IDENTIFIER_RE.match(name) or name in NOT_EXPORTED:
                problems.append(f"table name {name!r} is not allowed")
                continue
            if not (
                isinstance(entry, dict)
                and isinstance(entry.get("rows"), int)
                and entry["rows"] >= 0
                and isinstance(entry.get("columns"), list)
                and entry["columns"]
                and all(isinstance(c, str) and IDENTIFIER_RE.match(c) for c in entry["columns"])
                and isinstance(entry.get("next_id"), int | None)
            ):
                problems.append(f"tables.{name} needs rows, columns (and optionally next_id)")
            elif member_for(name) not in names:
                problems.append(f"{member_for(name)} is missing")
        for name in NAMED_MEMBERS:
            if name not in tables:
                problems.append(f"tables.{name} is missing")
        for name in manifest.get("objects") or {}:
            if table_name(str(name)) not in tables:
                problems.append(f"object {name} has no table")
        if problems:
            raise self._bad("; ".join(problems))
        return manifest

    def rows(self, table: str) -> Iterator[dict]:
        """The decoded rows of ``table``, checked against the manifest's
        columns and row count; BadRequest names the member and line of a bad one."""
        entry = self.manifest["tables"][table]
        columns = set(entry["columns"])
        member = member_for(table)
        count = 0
        try:
            with self.archive.open(member) as raw:
                text = io.TextIOWrapper(raw, encoding="utf-8")
                if member.endswith(".json"):
                    items = json.load(text)
                    if not isinstance(items, list):
                        raise ValueError("expected a JSON array of rows")
                    lines: Iterator = iter(items)
                else:
                    lines = (json.loads(line) for line in text if line.strip())
                for item in lines:
                    count += 1
                    if not isinstance(item, dict) or set(item) != columns:
                        got = sorted(item) if isinstance(item, dict) else type(item).__name__
                        raise ValueError(f"expected the columns {sorted(columns)}, got {got}")
                    yield {column: decode_value(value) for column, value in item.items()}
        except (ValueError, ArithmeticError, zipfile.BadZipFile, zlib.error, EOFError) as exc:
            raise BadRequest(f"{self.label}: {member}, row {count}: {exc}") from None
        if count != entry["rows"]:
            raise BadRequest(f"{self.label}: {member} holds {count} row(s), the manifest says {entry['rows']}")


# -- import ------------------------------------------------------------------------------


def import_tenant(
    instance: Instance,
    path: str | os.PathLike,
    slug: str | None = None,
    progress: Progress | None = None,
    *,
    actor: audit.Actor = audit.SYSTEM,
) -> TenantBinding:
    """Create a tenant from the export ``path`` under ``slug`` (default: the
    exported slug). Raises Conflict if that tenant exists and BadRequest for a
    file that is not a complete export; either way no tenant is left behind."""
    progress = progress or _quiet
    with ExportFile(Path(path)) as export:
        manifest = export.manifest
        slug = validate_slug(slug or manifest["slug"])
        if tenancy.tenant_exists(instance, slug):
            raise Conflict(
                f"tenant {slug!r} already exists; import under another slug", details={"fields": {"slug": ["exists"]}}
            )
        importer = _Importer(export, field_types(instance), definition_kinds(instance), actor, progress)
        try:
            return tenancy.create_tenant(
                instance, slug, manifest["name"], actor=actor, progress=progress, populate=importer.populate
            )
        except sa.exc.StatementError as exc:
            # Rows the database refuses (a duplicate key, a value of the wrong
            # type) mean a damaged file; a lost connection is not the file's fault.
            if isinstance(exc, sa.exc.DBAPIError) and not isinstance(exc, sa.exc.IntegrityError | sa.exc.DataError):
                raise
            raise BadRequest(
                f"{export.label} cannot be imported (nothing was created): {importer.step}: {exc.orig}"
            ) from None


class _Importer:
    def __init__(self, export: ExportFile, registry, kinds: KindRegistry, actor: audit.Actor, progress: Progress):
        self.export = export
        self.manifest = export.manifest
        self.actor = actor
        self.progress = progress
        self.step = "reading definitions"
        self.to_set_again: dict[str, dict] = {}  # withheld secrets found in the export
        # Checked before anything is created: definitions, their kinds, field types, tables.
        self.objects, self.fields = self._plan(list(export.rows("meta_definitions")), registry, kinds)

    def _plan(
        self, definitions: list[dict], registry, kinds: KindRegistry
    ) -> tuple[list[str], dict[str, list[FieldType]]]:
        """Objects and, per object, its field types in physical column order."""
        tables = self.manifest["tables"]
        for i, d in enumerate(definitions):
            if not (
                isinstance(d.get("kind"), str) and isinstance(d.get("key"), str) and isinstance(d.get("document"), dict)
            ):
                raise BadRequest(f"{self.export.label}: definition {i + 1} needs a kind, a key and a document")
        objects = sorted(d["key"] for d in definitions if d["kind"] == "object")
        if set(objects) != set(self.manifest["objects"]):
            raise BadRequest(f"{self.export.label}: the manifest's objects differ from the object definitions")
        for definition in definitions:
            kind, key = definition["kind"], definition["key"]
            if kind not in kinds:
                raise BadRequest(
                    f"{self.export.label}: definition {key} is a {kind!r}, a kind no plugin installed here provides"
                )
            if kinds.get(kind).object_scoped and key.split(".", 1)[0] not in objects:
                raise BadRequest(f"{self.export.label}: {kinds.get(kind).label} {key} belongs to no object")
        fields: dict[str, list[FieldType]] = {name: [] for name in objects}
        junctions = set()
        for definition in definitions:
            if definition["kind"] != "field":
                continue
            key, document = definition["key"], definition["document"]
            object_name = key.split(".", 1)[0]
            field_type = _bind_field(registry, key, document, self.export.label)
            fields[object_name].append(field_type)
            junction = _junction(field_type, object_name)
            if junction:
                junctions.add(junction)
        data_tables = {name for name in tables if _is_data_table(name)}
        expected = {table_name(name) for name in objects} | junctions
        if data_tables != expected:
            raise BadRequest(
                f"{self.export.label}: data tables and definitions disagree "
                f"(without definition: {sorted(data_tables - expected)}; "
                f"without data: {sorted(expected - data_tables)})"
            )
        for name, types in fields.items():
            columns = tables[table_name(name)]["columns"]
            position = {column: i for i, column in enumerate(columns)}

            def place(field_type: FieldType, position=position) -> int:
                names = [column.name for column in field_type.columns()]
                return min((position[n] for n in names if n in position), default=len(position))

            types.sort(key=place)
        return objects, fields

    # -- inside the creating transaction --------------------------------------------------

    def populate(self, binding: TenantBinding, conn: Connection) -> None:
        schema = binding.schema
        self.step = "creating object tables"
        self.progress(f"creating {len(self.objects)} object table(s)")
        editor = SchemaEditor(conn, schema)
        for name in self.objects:
            editor.create_object(name)
        for name in self.objects:
            for field_type in self.fields[name]:
                editor.add_field(name, field_type)

        present = set(sa.inspect(conn).get_table_names(schema=schema))
        tables: dict[str, sa.Table] = {}
        for name, entry in self.manifest["tables"].items():
            if name not in present:
                raise BadRequest(
                    f"{self.export.label}: table {name} has no counterpart here (a plugin missing on this instance?)"
                )
            tables[name] = _reflect(conn, name, schema)
            self._check_columns(name, entry["columns"], [column.name for column in tables[name].columns])

        conn.execute(meta_head.update().where(meta_head.c.id == 1).values(revision=self.manifest["metadata_revision"]))
        order, deferred = _load_order(conn, schema, tables)
        self.step = "clearing seed rows"
        for name in reversed(order):  # rows the DDL or migrations seeded make way for the export's
            if name != "audit_log":  # append-only, and empty: populate replaces "tenant.created"
                conn.execute(tables[name].delete())
        for name in order:
            self.step = f"loading {member_for(name)}"
            self._load(conn, name, tables[name], deferred.get(name, []))
        for name, columns in deferred.items():
            self.step = f"linking {member_for(name)}"
            self._link(conn, name, tables[name], columns)
        self.step = "continuing id sequences"
        for name, table in tables.items():
            serial = _serial_sequence(conn, table)
            if serial:
                column, sequence = serial
                highest = conn.execute(sa.select(sa.func.max(column))).scalar() or 0
                value = max(highest + 1, self.manifest["tables"][name].get("next_id") or 1)
                conn.execute(
                    sa.text("SELECT setval(CAST(:sequence AS regclass), :value, false)"),
                    {"sequence": sequence, "value": value},
                )
        audit.record(
            conn,
            self.actor,
            "tenant.imported",
            details={
                "file": self.export.label,
                "source_slug": self.manifest["slug"],
                "exported_at": self.manifest.get("exported_at"),
                "metadata_revision": self.manifest["metadata_revision"],
                "objects": self.manifest["objects"],
                "secrets_to_set_again": self.to_set_again,
            },
        )
        for name, entry in self.to_set_again.items():
            self.progress(
                f"secrets not in the export: {name} ({', '.join(entry['columns'])}, {entry['rows']} row(s)); "
                f"set them again: {entry['restore']}"
            )

    def _check_columns(self, name: str, exported: list[str], here: list[str]) -> None:
        extra = [c for c in exported if c not in here]
        # Object and junction tables are rebuilt from the definitions, so they
        # must match exactly; a plugin's table may have grown columns since.
        missing = [c for c in here if c not in exported] if _is_data_table(name) else []
        if extra or missing:
            raise BadRequest(
                f"{self.export.label}: the columns of {name} differ from what its definitions create "
                f"(not covered by a definition: {extra or 'none'}; missing from the export: {missing or 'none'})"
            )

    def _load(self, conn: Connection, name: str, table: sa.Table, deferred: list[str]) -> None:
        cleared = dict.fromkeys(deferred)
        batch: list[dict] = []
        count = 0
        withheld = (self.manifest.get("withheld_secrets") or {}).get(name)
        # A row whose withheld secret may not be empty is left out: its owner makes a new one.
        skip = withheld is not None and any(
            not table.c[c].nullable for c in withheld.get("columns", ()) if c in table.c
        )
        if withheld is not None and withheld.get("rows"):
            self.to_set_again[name] = withheld
        for row in self.export.rows(name):
            if skip:
                continue
            batch.append({**row, **cleared} if cleared else row)
            if len(batch) >= CHUNK:
                conn.execute(table.insert(), batch)
                count += len(batch)
                batch = []
        if batch:
            conn.execute(table.insert(), batch)
            count += len(batch)
        self.progress(f"imported {name}: {count} row(s)")

    def _link(self, conn: Connection, name: str, table: sa.Table, columns: list[str]) -> None:
        """Second pass for references that could not be inserted with their
        row (a table referring to itself, or tables referring to each other)."""
        keys = list(table.primary_key.columns)
        statement = (
            table.update()
            .where(*(key == sa.bindparam(f"k_{key.name}") for key in keys))
            .values({column: sa.bindparam(f"v_{column}") for column in columns})
        )
        batch: list[dict] = []
        for row in self.export.rows(name):
            if all(row[column] is None for column in columns):
                continue
            batch.append({**{f"k_{key.name}": row[key.name] for key in keys}, **{f"v_{c}": row[c] for c in columns}})
            if len(batch) >= CHUNK:
                conn.execute(statement, batch)
                batch = []
        if batch:
            conn.execute(statement, batch)


def _load_order(conn: Connection, schema: str | None, tables: dict[str, sa.Table]) -> tuple[list[str], dict]:
    """An insert order in which every foreign key points at a table already
    loaded; the columns of keys that can't (cycles, self-references) are
    loaded empty first and filled in afterwards. (Only PostgreSQL declares
    foreign keys; on SQLite everything loads in one pass.)"""
    inspector = sa.inspect(conn)
    references = {
        name: [
            (fk["referred_table"], fk["constrained_columns"])
            for fk in inspector.get_foreign_keys(name, schema=schema)
            if fk["referred_table"] in tables
        ]
        for name in tables
    }
    order: list[str] = []
    deferred: dict[str, list[str]] = {}
    remaining = sorted(tables)

    def late(name: str) -> list[str]:
        done = set(order)
        return [column for target, columns in references[name] if target not in done for column in columns]

    def can_wait(name: str) -> bool:
        table = tables[name]
        return all(table.c[column].nullable and not table.c[column].primary_key for column in late(name))

    while remaining:
        done = set(order)
        name = next((n for n in remaining if all(t in done or t == n for t, _ in references[n])), None)
        if name is None:  # a cycle: break it where the fewest columns have to wait
            candidates = [n for n in remaining if can_wait(n)]
            if not candidates:
                raise BadRequest(f"the references between {', '.join(remaining)} form a cycle that cannot be loaded")
            name = min(candidates, key=lambda n: len(late(n)))
        waiting = late(name)
        if waiting:
            if not can_wait(name):
                raise BadRequest(f"table {name} refers to itself through a column that cannot wait")
            deferred[name] = waiting
        order.append(name)
        remaining.remove(name)
    return order, deferred
