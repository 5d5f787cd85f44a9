"""Exports of a list as CSV or XLSX, streamed page by page.

:func:`export_rows` walks the pages of :func:`metacrm.plugins.records.list_page`
(the same parameters as the list: filters, ``where=``, ``sort``, ``view``,
``fields``) by keyset cursor, so memory stays flat however long the list.
Columns are the fields the request names (or every field the guard lets the
user read); the record store refuses a hidden field in ``fields=`` as it
refuses an unknown one, so a hidden field never reaches a header or a cell.

Values are formatted for people: picklist labels, lookup names, dates as
``YYYY-MM-DD``; a CSV file is UTF-8 with a byte order mark (Excel reads it
as UTF-8), an XLSX file is written by openpyxl's write-only workbook.

The ``export`` right of the permission matrix applies (:func:`require_export`).
"""

from __future__ import annotations

import codecs
import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, BinaryIO

from metacrm.access.members import tenant_members
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.store import MAX_LIMIT, RecordStore
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins.records import ListRequest, list_page

FORMATS = ("csv", "xlsx")
MIME_TYPES = {
    "csv": "text/csv; charset=utf-8",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
}
PAGE_SIZE = MAX_LIMIT
# Beyond this many rows an export runs as a job (config EXPORT_JOB_THRESHOLD).
DEFAULT_JOB_THRESHOLD = 10_000
# An XLSX sheet holds at most this many rows (with the header).
XLSX_MAX_ROWS = 1_048_575


# The record columns every list may name in ``fields=`` besides the object's fields.
SYSTEM_COLUMNS = {
    "id": ("ID", "记录 ID"),
    "owner_id": ("Owner", "负责人"),
    "created_at": ("Created", "创建时间"),
    "updated_at": ("Last modified", "最后修改时间"),
    "created_by": ("Created by", "创建人"),
    "updated_by": ("Last modified by", "最后修改人"),
}
SYSTEM_DATETIMES = ("created_at", "updated_at")
# System columns holding a member's id: exported as the member's name (then
# e-mail), as the screens show them; an id no member has stays a number.
SYSTEM_USERS = ("owner_id", "created_by", "updated_by")


@dataclass(frozen=True)
class Column:
    api_name: str
    label: str
    field: FieldType | None  # None: a system column


class _SystemField:
    """A system column's stand-in for :func:`human_value`."""

    def __init__(self, api_name: str):
        self.definition = {"type": "datetime" if api_name in SYSTEM_DATETIMES else "integer"}


def check_format(value: str | None) -> str:
    fmt = (value or "csv").lower()
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be {' or '.join(FORMATS)}", details={"fields": {"format": [f"one of {', '.join(FORMATS)}"]}}
        )
    return fmt


def require_export(store: RecordStore, object_name: str) -> CompiledObject:
    """The object, when the store's user may read and export it (403 otherwise)."""
    obj = store.object(object_name)
    store.guard.require("read", obj)
    store.guard.require("export", obj)
    return obj


def label_for(definition: dict | None, locale: str | None, default: str) -> str:
    """A field's label in ``locale`` (its translation), else its label."""
    if not definition:
        return default
    translated = (definition.get("translations") or {}).get(locale or "")
    if isinstance(translated, dict) and translated.get("label"):
        return translated["label"]
    return definition.get("label") or default


def export_columns(store: RecordStore, object_name: str, request: ListRequest, locale: str | None) -> list[Column]:
    """The columns of an export: the fields the request names, else every
    field the user may read (in definition order). A field the user may not
    read is refused with a 422 as an unknown one (it never becomes a header)."""
    obj = store.object(object_name)
    readable = store.guard.readable_fields(obj)
    if request.fields:
        unknown = [
            name
            for name in request.fields
            if name not in SYSTEM_COLUMNS and (name not in readable or name not in obj.fields)
        ]
        if unknown:
            raise ValidationFailed(
                f"unknown fields: {', '.join(unknown)}", details={"fields": {f: ["no such field"] for f in unknown}}
            )
        names = list(dict.fromkeys(request.fields))
    else:
        names = [name for name in obj.fields if name in readable]
    columns = []
    for name in names:
        if name in SYSTEM_COLUMNS and name not in obj.fields:
            english, chinese = SYSTEM_COLUMNS[name]
            columns.append(Column(name, chinese if (locale or "").startswith("zh") else english, None))
            continue
        field = obj.fields[name]
        if not (field.has_column or field.computed or field.stores_links):
            continue
        columns.append(Column(name, label_for(field.definition, locale, name), field))
    return columns


def iter_records(store: RecordStore, object_name: str, request: ListRequest, columns: list[Column]) -> Iterator[dict]:
    """Every record of the list, one page (keyset) at a time."""
    page_request = replace(
        request,
        fields=[c.api_name for c in columns],
        limit=PAGE_SIZE,
        cursor=None,
        offset=None,
        count=False,
    )
    while True:
        page = list_page(store, object_name, page_request)
        yield from page.data
        if not page.next_cursor:
            return
        page_request = replace(page_request, cursor=page.next_cursor)


def human_value(field: FieldType, value: Any, locale: str | None, *, typed: bool = False) -> Any:
    """A value as a person reads it: a picklist's label, a lookup's name,
    linked records' names, a date ``YYYY-MM-DD``; ``typed`` keeps numbers,
    dates and booleans as such (XLSX cells)."""
    if value is None:
        return None
    if isinstance(value, dict) and "id" in value:
        return value.get("name") or str(value["id"])
    if isinstance(value, list):
        parts = []
        for item in value:
            if isinstance(item, dict):
                parts.append(str(item.get("name") or item.get("id")))
            elif hasattr(field, "label_for"):
                parts.append(field.label_for(item, locale))
            else:
                parts.append(str(item))
        return "; ".join(parts)
    kind = (getattr(field, "definition", None) or {}).get("type")
    if isinstance(value, str) and kind in ("date", "datetime"):
        try:
            value = date.fromisoformat(value) if kind == "date" else datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(value, str) and hasattr(field, "label_for"):
        return field.label_for(value, locale)
    if isinstance(value, bool):
        return value if typed else ("Yes" if value else "No")
    if isinstance(value, Decimal | int | float):
        return value if typed else str(value)
    if isinstance(value, datetime):
        value = value.astimezone(UTC) if value.tzinfo else value
        return value.replace(tzinfo=None) if typed else value.strftime("%Y-%m-%d %H:%M UTC")
    if isinstance(value, date):
        return value if typed else value.isoformat()
    if isinstance(value, dict | list):
        return str(value)
    return value


def export_rows(
    store: RecordStore, object_name: str, request: ListRequest, locale: str | None = None, *, typed: bool = False
) -> tuple[list[Column], Iterator[list[Any]]]:
    """The header columns and the rows (lazily) of an export."""
    require_export(store, object_name)
    columns = export_columns(store, object_name, request, locale)
    # Run the first query now, so a bad filter is a 422 before any byte is sent.
    records = iter_records(store, object_name, request, columns)
    first = next(records, None)

    people = _member_names(store) if any(c.api_name in SYSTEM_USERS and c.field is None for c in columns) else {}

    def cell(column: Column, record: dict) -> Any:
        value = record.get(column.api_name)
        if column.field is None and column.api_name in SYSTEM_USERS and value in people:
            return people[value]
        return human_value(column.field or _SystemField(column.api_name), value, locale, typed=typed)

    def rows() -> Iterator[list[Any]]:
        if first is None:
            return
        for record in _chain(first, records):
            yield [cell(c, record) for c in columns]

    return columns, rows()


def _member_names(store: RecordStore) -> dict[int, str]:
    """The tenant's members by id: their display name, else their e-mail."""
    if store.instance is None:
        return {}
    members = tenant_members(store.instance, store.binding)
    return {member_id: m["display_name"] or m["email"] for member_id, m in members.items()}


def _chain(first: dict, rest: Iterator[dict]) -> Iterator[dict]:
    yield first
    yield from rest


def _csv_cell(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    # A cell starting like a formula is shown as text by spreadsheets (CSV injection).
    if text[:1] in ("=", "+", "-", "@") and not _is_number(text):
        return "'" + text
    return text


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def csv_chunks(columns: list[Column], rows: Iterator[list[Any]], *, rows_per_chunk: int = 500) -> Iterator[bytes]:
    """The CSV file as byte chunks: a BOM, the header, then the rows."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow([c.label for c in columns])
    yield codecs.BOM_UTF8 + buffer.getvalue().encode("utf-8")
    buffer.seek(0)
    buffer.truncate()
    for count, row in enumerate(rows, 1):
        writer.writerow([_csv_cell(v) for v in row])
        if count % rows_per_chunk == 0:
            yield buffer.getvalue().encode("utf-8")
            buffer.seek(0)
            buffer.truncate()
    if buffer.tell():
        yield buffer.getvalue().encode("utf-8")


def write_xlsx(columns: list[Column], rows: Iterator[list[Any]], target: str | Path | BinaryIO, title: str) -> int:
    """Write an XLSX file with openpyxl's write-only workbook (rows go to a
    temporary file as they come); how many rows it holds."""
    from openpyxl import Workbook
    from openpyxl.cell import WriteOnlyCell
    from openpyxl.styles import Font

    workbook = Workbook(write_only=True)
    sheet = workbook.create_sheet(title=_sheet_title(title))
    header = []
    for column in columns:
        cell = WriteOnlyCell(sheet, value=column.label)
        cell.font = Font(bold=True)
        header.append(cell)
    sheet.append(header)
    count = 0
    for row in rows:
        if count >= XLSX_MAX_ROWS:
            break
        sheet.append([_xlsx_value(v) for v in row])
        count += 1
    workbook.save(target)
    return count


def _xlsx_value(value: Any) -> Any:
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, str) and value[:1] == "=":
        return "'" + value
    return value


def _sheet_title(title: str) -> str:
    cleaned = "".join(ch for ch in title if ch not in "[]:*?/\\")[:31]
    return cleaned or "Export"


def file_name(obj: CompiledObject, fmt: str, today: date) -> str:
    return f"{obj.api_name}-{today.isoformat()}.{fmt}"


def write_file(
    store: RecordStore,
    object_name: str,
    request: ListRequest,
    fmt: str,
    target: Path,
    locale: str | None = None,
    *,
    title: str | None = None,
) -> int:
    """Write a whole export to ``target``; how many rows it holds."""
    columns, rows = export_rows(store, object_name, request, locale, typed=fmt == "xlsx")
    counted = _Counter(rows)
    if fmt == "xlsx":
        return write_xlsx(columns, counted, target, title or object_name)
    with open(target, "wb") as out:
        for chunk in csv_chunks(columns, counted):
            out.write(chunk)
    return counted.count


class _Counter:
    def __init__(self, rows: Iterator[list[Any]]):
        self.rows = rows
        self.count = 0

    def __iter__(self):
        return self

    def __next__(self):
        row = next(self.rows)
        self.count += 1
        return row
