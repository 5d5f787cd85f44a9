"""Running an import: rows of the file → records, through the record store.

Rows are read as a stream (:mod:`.reader`) and written in batches of
:data:`BATCH` through the store's bulk calls, so each record passes what a
form's save passes (field types, validation rules, defaults, automations,
the guard's rights and scopes, the audit log). A bulk call is all or
nothing; when one refuses some rows, those rows are recorded as failed and
the batch is sent again without them (row by row after a unique conflict),
so one bad row never costs its neighbours.

A dry run does the same work inside transactions that are rolled back.

Cells are parsed by their field's type (``parse_import``: numbers, dates
with slashes, booleans as yes/no/是/否, picklists by value or label) into
column values, which the store takes as they are (``typed``);
lookups and many-to-many cells (``;`` between names) are matched on the
target's name field, an external-id field or ``id``, within what the user
may read. Empty cells are left out: defaults apply on insert, and an update
leaves the field as it is.
"""

from __future__ import annotations

import csv
import datetime as dt
import gc
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from itertools import islice
from pathlib import Path
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from metacrm.data.duplicates.checks import describe, duplicate_mode, reset_mode
from metacrm.data.duplicates.matching import find_duplicates
from metacrm.data.imports.mapping import Target, check_key, check_mapping, key_column
from metacrm.data.imports.reader import TableFile, open_table
from metacrm.data.imports.tables import MAX_STORED_ERRORS
from metacrm.metadata.fieldtypes.base import SLOW, FieldType
from metacrm.metadata.values import error_messages, first_error, json_safe
from metacrm.platform.errors import Forbidden, MetacrmError, ValidationFailed

BATCH = 1000
LOOKUP_CACHE = 100_000  # resolved lookup texts kept between batches (per field)
MEMO_TEXTS = 1000  # parsed cell texts remembered per column
# Progress is stored at most this often (seconds): each store is a commit,
# and a progress bar polled every second or so needs no more. The caller
# stores the final figures when the run ends.
PROGRESS_EVERY = 0.5
# While an import runs, the collector's first generation waits for this many
# new objects instead of 700: each batch keeps some 30,000 objects alive until
# it is written, and with the default every few hundred rows started a
# collection, the older generations' included — a third of the import's own
# CPU time (docs/performance.md). Memory stays flat: the batches are freed.
GC_FIRST_GENERATION = 20_000

# What a row that the object's duplicate rules say likely duplicates an
# existing record does (issue 12, item 3): "allow" it (only block rules
# refuse it, in the save), "skip" it (reported, not written), "update" the
# best match with it instead of creating, or "flag" it (created, and the
# match noted in the result). Rows the import updates by its key are not checked.
DUPLICATE_ACTIONS = ("allow", "skip", "update", "flag")


@dataclass
class Item:
    """One row on its way: its number, cells, the record data and its errors."""

    number: int
    cells: list[str]
    data: dict[str, Any] = field(default_factory=dict)
    errors: list[tuple[str | None, str]] = field(default_factory=list)
    record_id: int | None = None
    skipped: bool = False  # a likely duplicate, left out ("skip")
    flag: str | None = None  # a likely duplicate, written and noted ("flag")


@dataclass
class Outcome:
    total: int = 0
    processed: int = 0
    created: int = 0
    updated: int = 0
    failed: int = 0
    skipped: int = 0
    flagged: int = 0
    errors: list[dict] = field(default_factory=list)

    def as_dict(self) -> dict:
        return {
            "total": self.total,
            "processed": self.processed,
            "created": self.created,
            "updated": self.updated,
            "failed": self.failed,
            "skipped": self.skipped,
            "flagged": self.flagged,
        }


class Importer:
    """One import of ``path`` into ``object_name`` by ``store``'s user."""

    def __init__(
        self,
        store,
        object_name: str,
        path: Path | str,
        file_name: str,
        mapping: dict,
        *,
        mode: str = "insert",
        key: str | None = None,
        dry_run: bool = False,
        failed_path: Path | str | None = None,
        duplicates: str = "allow",
    ):
        self.store = store
        self.obj = store.object(object_name)
        self.model = store.model
        self.guard = store.guard
        self.table: TableFile = open_table(path, file_name)
        self.mapping = mapping
        self.targets: list[Target] = check_mapping(mapping, self.table.headers, self.obj, self.model, self.guard)
        self.mode = mode
        self.key = check_key(key, mode, self.obj, self.guard, self.targets)
        self.key_column = key_column(self.key, mapping, self.targets) if self.key else None
        if self.key and self.key_column is None:
            raise ValidationFailed(
                "map a column to the key id", details={"fields": {"key": ["is not mapped from any column"]}}
            )
        self.duplicates = check_duplicates_action(duplicates)
        self.dry_run = dry_run
        self.failed_path = Path(failed_path) if failed_path else None
        self.index = {header: i for i, header in enumerate(self.table.headers)}
        self._lookups: dict[str, dict[str, list[int]]] = {}
        self._parsers = {t.field: cell_parser(self.obj.fields[t.field]) for t in self.targets}
        require_rights(self.guard, self.obj, mode)

    # -- the run -------------------------------------------------------------------------------

    def run(self, progress: Callable[[Outcome], None] | None = None) -> Outcome:
        """Import every row; ``progress(outcome)`` is called at the start and
        after a batch at most every :data:`PROGRESS_EVERY` seconds."""
        outcome = Outcome(total=self.table.count_rows())
        if progress:
            progress(outcome)
        writer = handle = None
        if self.failed_path is not None:
            self.failed_path.parent.mkdir(parents=True, exist_ok=True)
            handle = self.failed_path.open("w", encoding="utf-8-sig", newline="")
            writer = csv.writer(handle)
            writer.writerow([*self.table.headers, "error"])
        reported = time.monotonic()
        # Warn rules speak to a person at a form; an import decides itself
        # (``duplicates``), even when it runs inside the request that started it.
        mode = duplicate_mode(None)
        try:
            with _fewer_collections():
                for batch in _batches(self.table.rows(), BATCH):
                    items = [Item(number, cells) for number, cells in batch]
                    self._prepare(items)
                    if self.duplicates != "allow":
                        self._check_duplicates([i for i in items if not i.errors])
                    self._write([i for i in items if not (i.errors or i.skipped)], outcome)
                    for item in items:
                        outcome.processed += 1
                        if item.flag and not item.errors:
                            outcome.flagged += 1
                            if len(outcome.errors) < MAX_STORED_ERRORS:
                                note = {"row": item.number, "field": None, "reason": item.flag, "flag": True}
                                outcome.errors.append(note)
                        if item.errors:
                            outcome.skipped += item.skipped
                            outcome.failed += not item.skipped
                            for field_name, reason in item.errors:
                                if len(outcome.errors) < MAX_STORED_ERRORS:
                                    outcome.errors.append({"row": item.number, "field": field_name, "reason": reason})
                            if writer is not None:
                                cells = list(item.cells) + [""] * (len(self.table.headers) - len(item.cells))
                                writer.writerow([*cells[: len(self.table.headers)], error_text(item.errors)])
                    if progress and time.monotonic() - reported >= PROGRESS_EVERY:
                        progress(outcome)
                        reported = time.monotonic()
        finally:
            reset_mode(mode)
            if handle is not None:
                handle.close()
        return outcome

    # -- cells → record data --------------------------------------------------------------------

    def _cell(self, item: Item, column: str) -> str:
        position = self.index[column]
        return item.cells[position].strip() if position < len(item.cells) else ""

    def _prepare(self, items: list[Item]) -> None:
        fields = self.obj.fields
        # Per mapped column, worked out once: (position, field, parser or
        # None for a reference, whether it holds several links).
        columns = [
            (
                self.index[t.column],
                t.field,
                None if fields[t.field].is_reference else self._parsers[t.field],
                fields[t.field].stores_links,
            )
            for t in self.targets
        ]
        wanted: dict[str, set[str]] = {}
        for item in items:
            cells, data = item.cells, item.data
            width = len(cells)
            for position, name, parse, several in columns:
                text = cells[position].strip() if position < width else ""
                if not text:
                    continue
                if parse is None:
                    parts = [p.strip() for p in text.split(";") if p.strip()] if several else [text]
                    wanted.setdefault(name, set()).update(parts)
                    data[name] = parts
                    continue
                try:
                    data[name] = parse(text)
                except ValueError as exc:
                    item.errors.append((name, str(exc)))
                except ma.ValidationError as exc:
                    item.errors.extend((name, reason) for reason in error_messages(exc))
        for name, texts in wanted.items():
            self._resolve(name, texts)
        for item in items:
            for target in self.targets:
                field_type = fields[target.field]
                if not field_type.is_reference or target.field not in item.data:
                    continue
                found = self._lookups[target.field]
                ids = []
                for text in item.data[target.field]:
                    matches = found.get(text, [])
                    if not matches:
                        item.errors.append((target.field, f"no {field_type.reference_target} {text!r}"))
                    elif len(matches) > 1:
                        item.errors.append(
                            (target.field, f"{len(matches)} {field_type.reference_target} records match {text!r}")
                        )
                    else:
                        ids.append(matches[0])
                item.data[target.field] = ids if field_type.stores_links else (ids[0] if ids else None)
        if self.key:
            self._find_existing([i for i in items if not i.errors])

    def _resolve(self, name: str, texts: set[str]) -> None:
        """Match lookup texts to readable target records (``self._lookups[name]``)."""
        cache = self._lookups.setdefault(name, {})
        if len(cache) > LOOKUP_CACHE:
            cache.clear()
        missing = [t for t in texts if t not in cache]
        if not missing:
            return
        for text in missing:
            cache[text] = []
        target_spec = next(t for t in self.targets if t.field == name)
        target = self.model.object(self.obj.fields[name].reference_target)
        try:
            self.guard.require("read", target)
        except Forbidden:
            return
        table = target.table
        match = target_spec.match or "id"
        values: dict[Any, list[str]] = {}
        for text in missing:
            try:
                value = (
                    int(text) if match == "id" else target.fields[match].to_db(target.fields[match].parse_import(text))
                )
            except (ValueError, TypeError):
                continue
            if value is not None:
                values.setdefault(value, []).append(text)
        if not values:
            return
        column = table.c.id if match == "id" else table.c[match]
        where = [table.c.deleted_at.is_(None)]
        scope = self.guard.scope("read", target)
        if scope is not None:
            where.append(scope)
        with self.store.binding.connect() as conn:
            for chunk in _chunks(list(values), 500):
                rows = conn.execute(sa.select(table.c.id, column.label("v")).where(column.in_(chunk), *where))
                for row in rows:
                    for text in values.get(row.v, ()):
                        cache[text].append(row.id)
            # Texts in another case: matched ignoring case when the column is text.
            if match != "id" and isinstance(column.type, sa.String):
                unmatched = {t.casefold(): t for t in missing if not cache[t]}
                for chunk in _chunks(list(unmatched), 500):
                    rows = conn.execute(
                        sa.select(table.c.id, sa.func.lower(column).label("v")).where(
                            sa.func.lower(column).in_(chunk), *where
                        )
                    )
                    for row in rows:
                        text = unmatched.get(row.v)
                        if text is not None:
                            cache[text].append(row.id)

    def _find_existing(self, items: list[Item]) -> None:
        """Set ``record_id`` of the rows whose key names a record the user may update."""
        table = self.obj.table
        values: dict[Any, list[Item]] = {}
        for item in items:
            if self.key == "id":
                text = self._cell(item, self.key_column)
                try:
                    value = int(text)
                except ValueError:
                    if self.mode == "update" or text:
                        item.errors.append(("id", f"{text!r} is not a record id" if text else "is required"))
                    continue
            else:
                value = item.data.get(self.key)  # the column value (cell_parser)
                if value is None:
                    if self.mode == "update":
                        item.errors.append((self.key, "is required to find the record"))
                    continue
            values.setdefault(value, []).append(item)
        if not values:
            return
        column = table.c.id if self.key == "id" else table.c[self.key]
        where = [table.c.deleted_at.is_(None)]
        scope = self.guard.scope("update", self.obj)
        if scope is not None:
            where.append(scope)
        with self.store.binding.connect() as conn:
            for chunk in _chunks(list(values), 500):
                for row in conn.execute(sa.select(table.c.id, column.label("v")).where(column.in_(chunk), *where)):
                    for item in values.get(row.v, ()):
                        item.record_id = row.id
        if self.mode == "update":
            for group in values.values():
                for item in group:
                    if item.record_id is None:
                        item.errors.append((self.key, f"no {self.obj.api_name} with this {self.key}"))

    def _check_duplicates(self, items: list[Item]) -> None:
        """The rows that would create a record, against the object's duplicate
        rules (within the user's read scope): skip, redirect or flag them."""
        for item in items:
            if item.record_id is not None or self.mode == "update":
                continue
            matches = find_duplicates(self.store, self.obj.api_name, item.data)
            if not matches:
                continue
            best = matches[0]
            likely = f"likely duplicate of {describe(matches)}"
            if self.duplicates == "skip":
                item.skipped = True
                item.errors.append((best.fields[0] if best.fields else None, f"skipped: {likely}"))
            elif self.duplicates == "update":
                item.record_id = best.id
            else:
                item.flag = f"created; {likely}"

    # -- writing --------------------------------------------------------------------------------

    def _write(self, items: list[Item], outcome: Outcome) -> None:
        creates = [i for i in items if i.record_id is None and self.mode != "update"]
        updates = [i for i in items if i.record_id is not None]
        if self.dry_run:
            try:
                with self.store.binding.begin() as conn:
                    store = self.store.nested(conn, depth=0)
                    outcome.created += self._send(store, "create", creates, conn)
                    outcome.updated += self._send(store, "update", updates, conn)
                    raise _RollBack
            except _RollBack:
                pass
        else:
            outcome.created += self._send(self.store, "create", creates, None)
            outcome.updated += self._send(self.store, "update", updates, None)

    def _send(self, store, action: str, items: list[Item], conn, depth: int = 0) -> int:
        """Write ``items`` in one bulk call; on refused rows, record them and
        send the rest again. Returns how many were written."""
        if not items:
            return 0
        rows = [self._row(action, item) for item in items]
        try:
            self._call(store, action, rows, conn)
            return len(items)
        except ValidationFailed as exc:
            by_row = (exc.details or {}).get("rows") if isinstance(exc.details, dict) else None
            if not by_row or depth > 2:
                return self._one_by_one(store, action, items, conn)
            for index, problem in by_row.items():
                _record_errors(items[int(index)], problem.get("fields") or {}, exc.message)
            return self._send(store, action, [i for i in items if not i.errors], conn, depth + 1)
        except Forbidden:
            raise
        except MetacrmError:
            return self._one_by_one(store, action, items, conn)

    def _one_by_one(self, store, action: str, items: list[Item], conn) -> int:
        written = 0
        for item in items:
            try:
                self._call(store, action, [self._row(action, item)], conn, single=True)
                written += 1
            except Forbidden:
                raise
            except MetacrmError as exc:
                details = exc.details if isinstance(exc.details, dict) else {}
                rows = details.get("rows") or {}
                fields = details.get("fields") or next(iter(rows.values()), {}).get("fields") or {}
                _record_errors(item, fields, exc.message)
        return written

    def _row(self, action: str, item: Item) -> dict:
        if action == "update":
            data = {k: v for k, v in item.data.items() if k != "id"}
            return {**data, "id": item.record_id}
        return {k: v for k, v in item.data.items() if k != "id"}

    def _call(self, store, action: str, rows: list[dict], conn, *, single: bool = False) -> None:
        savepoint = conn.begin_nested() if conn is not None else None
        try:
            if action == "create":
                store.bulk_create(self.obj.api_name, rows, single=single, read_back=False, typed=True)
            else:
                store.bulk_update(self.obj.api_name, rows, single=single, read_back=False, typed=True)
        except BaseException:
            if savepoint is not None:
                savepoint.rollback()
            raise
        if savepoint is not None:
            savepoint.commit()


def cell_parser(field_type) -> Callable[[str], Any]:
    """A cell's text → the column value the store writes (the store takes
    the import's rows ``typed``, so no value is loaded twice). Raises
    ValueError with the type's message for text it cannot read, or the
    field's ``ma.ValidationError`` for a value it refuses. Text the type's
    fast loader takes is loaded by it, exactly as the store would; other text
    goes through the type's ``parse_import`` (dates with slashes, yes/no,
    picklist labels…) and then the field's column loader, as when the import
    handed the store that JSON value."""
    fast, load = field_type.column_loaders[0], field_type.column_loader
    if type(field_type).parse_import is FieldType.parse_import:
        deserialize = field_type.loader.deserialize

        def slow(text: str) -> Any:
            try:
                value = json_safe(deserialize(text))
            except ma.ValidationError as exc:
                raise ValueError(first_error(exc)) from None
            return load(value)

    else:
        parse_import = field_type.parse_import

        def slow(text: str) -> Any:
            return load(json_safe(parse_import(text)))

    # Cells repeat (yes/no, picklist labels, small numbers): the column
    # value of a text is remembered, up to MEMO_TEXTS texts per column, when
    # it is immutable (rows must never share a list).
    memo: dict[str, Any] = {}

    def parse(text: str) -> Any:
        value = memo.get(text, _UNSEEN)
        if value is not _UNSEEN:
            return value
        value = SLOW if fast is None else fast(text)
        if value is SLOW:
            value = slow(text)
        if len(memo) < MEMO_TEXTS and type(value) in _IMMUTABLE:
            memo[text] = value
        return value

    return parse


_UNSEEN = object()
_IMMUTABLE = frozenset({str, int, bool, Decimal, dt.date, dt.datetime, dt.time, type(None)})


_collector_lock = threading.Lock()
_collector_users = 0
_collector_thresholds: tuple[int, ...] = ()


@contextmanager
def _fewer_collections() -> Iterator[None]:
    """Raise the collector's first threshold to :data:`GC_FIRST_GENERATION`
    for the block; the thresholds are the process's, so imports running at
    once in threads share one raise and the last to end restores them."""
    global _collector_users, _collector_thresholds
    with _collector_lock:
        if _collector_users == 0:
            _collector_thresholds = gc.get_threshold()
            gc.set_threshold(max(GC_FIRST_GENERATION, _collector_thresholds[0]), *_collector_thresholds[1:])
        _collector_users += 1
    try:
        yield
    finally:
        with _collector_lock:
            _collector_users -= 1
            if _collector_users == 0:
                gc.set_threshold(*_collector_thresholds)


class _RollBack(Exception):
    """Ends a dry run's transaction without committing it."""


def check_duplicates_action(value: str | None) -> str:
    """What to do with likely duplicates: one of :data:`DUPLICATE_ACTIONS` (default "allow")."""
    value = value or "allow"
    if value not in DUPLICATE_ACTIONS:
        raise ValidationFailed(
            f"duplicates must be one of {', '.join(DUPLICATE_ACTIONS)}",
            details={"fields": {"duplicates": [f"must be one of {', '.join(DUPLICATE_ACTIONS)}"]}},
        )
    return value


def require_rights(guard, obj, mode: str) -> None:
    """The import right, and create and/or update as the mode needs."""
    guard.require("import", obj)
    if mode in ("insert", "upsert"):
        guard.require("create", obj)
    if mode in ("update", "upsert"):
        guard.require("update", obj)


def error_text(errors: list[tuple[str | None, str]]) -> str:
    return "; ".join(f"{f}: {r}" if f else r for f, r in errors)


def _record_errors(item: Item, fields: dict, message: str) -> None:
    if fields:
        for name, reasons in fields.items():
            for reason in reasons if isinstance(reasons, list) else [reasons]:
                item.errors.append((None if name in ("$", "records") else name, str(reason)))
    else:
        item.errors.append((None, message))


def _batches(rows: Iterator, size: int) -> Iterator[list]:
    while True:
        batch = list(islice(rows, size))
        if not batch:
            return
        yield batch


def _chunks(values: list, size: int) -> Iterator[list]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
