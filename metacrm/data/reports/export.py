"""A report's result as a table of cells, and that table as CSV or XLSX.

A small writer of the reports' own (the list exports have theirs in
:mod:`metacrm.data.exports`); a result is at most a page of records or
MAX_GROUPS groups, so it is written in memory. Tabular: one row per
record, lookups by name and picklists by label; summary and matrix: one row
per group (the grouping keys, then the aggregates), then the subtotals'
and the grand total's rows.
"""

from __future__ import annotations

import csv
import io
from typing import Any

CSV_TYPE = "text/csv; charset=utf-8"
XLSX_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def _cell(value: Any) -> Any:
    if isinstance(value, dict):
        return value.get("name") if "name" in value else value.get("label", value.get("value"))
    if isinstance(value, list):
        return "; ".join(str(_cell(v)) for v in value)
    return value


def _key_text(key: dict) -> Any:
    if key.get("value") is None:
        return ""
    return key["label"] if key.get("label") is not None else key["value"]


def table(result: dict, *, labels: dict[str, str] | None = None, choices=None) -> list[list[Any]]:
    """The header row and the rows of ``result``; ``choices(field, value)``
    gives a picklist value's label (tabular), ``labels`` the words "Subtotal"
    and "Total" in the viewer's language."""
    labels = {"subtotal": "Subtotal", "total": "Total", **(labels or {})}
    if result["type"] == "tabular":
        header = [c["label"] for c in result["columns"]]
        rows = []
        for record in result["records"]:
            row = []
            for column in result["columns"]:
                value = record.get(column["key"])
                if choices is not None and column["type"] == "picklist" and isinstance(value, str):
                    value = choices(column["key"], value)
                row.append(_cell(value))
            rows.append(row)
        return [header, *rows]
    header = [g["label"] for g in result["groupings"]] + [a["label"] for a in result["aggregates"]]
    keys = [a["key"] for a in result["aggregates"]]
    width = len(result["groupings"])
    rows = [[_key_text(k) for k in g["keys"]] + [g["values"].get(k) for k in keys] for g in result["groups"]]
    for group in result.get("subtotals") or []:
        first = [f"{_key_text(group['keys'][0])} ({labels['subtotal']})"]
        rows.append(first + [""] * (width - 1) + [group["values"].get(k) for k in keys])
    rows.append([labels["total"]] + [""] * (width - 1) + [result["total"].get(k) for k in keys])
    return [header, *rows]


def to_csv(rows: list[list[Any]]) -> bytes:
    """UTF-8 with a byte-order mark, so Excel opens Chinese text right."""
    out = io.StringIO()
    writer = csv.writer(out)
    for row in rows:
        writer.writerow(["" if v is None else _safe(v) for v in row])
    return ("\ufeff" + out.getvalue()).encode("utf-8")


def _safe(value: Any) -> Any:
    """Text a spreadsheet would run as a formula gets a leading quote (CSV injection)."""
    if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
        return "'" + value
    return value


def to_xlsx(rows: list[list[Any]], title: str) -> bytes:
    from openpyxl import Workbook

    workbook = Workbook(write_only=True)
    name = (title or "Report").translate(str.maketrans("", "", "[]:*?/\\"))[:31]
    sheet = workbook.create_sheet(title=name or "Report")
    for row in rows:
        sheet.append(["" if v is None else _safe(v) for v in row])
    out = io.BytesIO()
    workbook.save(out)
    return out.getvalue()
