"""The definition kind ``report`` (tenant-wide, package file ``reports.yaml``)."""

from __future__ import annotations

from metacrm.metadata.definitions import DefinitionErrors, schema_for
from metacrm.metadata.kinds import DefinitionKind, KindScope

from .engine import AGGREGATES, NUMERIC_TYPES, SYSTEM_FIELDS, UNGROUPABLE


def check_report(errors: DefinitionErrors, document: dict, scope: KindScope) -> None:
    """The object and the fields the report names exist, groupings and
    aggregates fit the type. Whether a viewer may see them is decided when
    the report runs (its guard); the filter is checked then too."""
    object_name = document["object"]
    if scope.state.object(object_name) is None:
        errors.add("object", f"no object {object_name!r}")
        return
    fields = {f["api_name"]: f for f in scope.state.fields(object_name)}

    def known(name: str, path: str) -> dict | None:
        if name in SYSTEM_FIELDS:
            return {"type": SYSTEM_FIELDS[name]}
        if name not in fields:
            errors.add(path, f"no field {name!r} on {object_name}")
            return None
        return fields[name]

    kind = document["type"]
    for i, name in enumerate(document.get("columns") or []):
        known(name, f"columns[{i}]")
    groupings = document.get("groupings") or []
    if kind == "matrix" and len(groupings) != 2:
        errors.add("groupings", "a matrix needs two groupings: rows, then columns")
    if kind == "summary" and not groupings:
        errors.add("groupings", "a summary groups by one or two fields")
    if kind == "tabular" and groupings:
        errors.add("groupings", "a tabular report has columns, not groupings")
    for i, grouping in enumerate(groupings):
        found = known(grouping["field"], f"groupings[{i}].field")
        if found is None:
            continue
        if found.get("type") in UNGROUPABLE:
            errors.add(f"groupings[{i}].field", f"cannot group by a {found.get('type')} field")
        if grouping.get("date") and found.get("type") not in ("date", "datetime"):
            errors.add(f"groupings[{i}].date", f"{grouping['field']!r} is not a date")
    for i, aggregate in enumerate(document.get("aggregates") or []):
        op = aggregate["op"]
        if op not in AGGREGATES:
            continue
        if op == "count":
            if aggregate.get("field"):
                errors.add(f"aggregates[{i}].field", "count counts records: it takes no field")
            continue
        if not aggregate.get("field"):
            errors.add(f"aggregates[{i}].field", f"{op} needs a field")
            continue
        found = known(aggregate["field"], f"aggregates[{i}].field")
        if found is not None and found.get("type") not in NUMERIC_TYPES and found.get("type") != "formula":
            errors.add(f"aggregates[{i}].field", f"{op} needs a number, currency or percent field")


REPORT = DefinitionKind(
    "report",
    "report",
    schema=schema_for("report", "metacrm.data.reports"),
    check=check_report,
    collection="reports",
    document_label="report definition",
)
KINDS = (REPORT,)
