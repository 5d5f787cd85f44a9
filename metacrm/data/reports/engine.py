"""The report engine: a report definition (kind ``report``) run in SQL for
the user whose record store it is given.

Entry point: :func:`run_report(store, definition, options) <run_report>`.

* the store's guard decides everything: the object must be readable, every
  field the report names (columns, groupings, aggregates, filter, sort) must
  be readable by this user, else a ValidationFailed (422) naming the field
  and nothing is counted; records are those of the guard's read scope
  (the same clause the lists use), never deleted ones;
* ``filter`` is a rule-language condition compiled by the ``where=``
  machinery (:func:`metacrm.plugins.where.where_clause`): same checks, same
  ``$User``;
* tabular reports are a page of the record store's query, as a list's,
  so lookups, audit of reads and encrypted fields behave as in a list;
  summary and matrix reports are GROUP BY queries (one per level of totals);
* dates group by day, week (Monday), month, quarter or year; datetimes in
  the time zone of the options (PostgreSQL converts with its time zone
  database, SQLite with the zone's current UTC offset: see docs/data.md);
  quarter and year are fiscal when the grouping says ``fiscal`` (the
  fiscal year is named by the calendar year it ends in, as Salesforce does).

The result is a plain dict (JSON as is): see :func:`run_report`.
"""

from __future__ import annotations

import datetime as dt
import json
import zoneinfo
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa

from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.store import RecordStore
from metacrm.platform.errors import ValidationFailed
from metacrm.plugins.where import where_clause
from metacrm.rules.errors import RuleError

TYPES = ("tabular", "summary", "matrix")
DATE_GROUPS = ("day", "week", "month", "quarter", "year")
AGGREGATES = ("count", "sum", "avg", "min", "max")
NUMERIC_TYPES = ("integer", "decimal", "currency", "percent")
# Types no report groups by: many values per record, long texts.
UNGROUPABLE = ("many_to_many", "multi_picklist", "tags", "long_text", "rich_text")
# System fields a report may name besides the object's own.
SYSTEM_FIELDS = {"id": "integer", "owner_id": "owner", "created_at": "datetime", "updated_at": "datetime"}
MAX_GROUPS = 1000
TABULAR_LIMIT = 200  # the record store's page limit


@dataclass(frozen=True)
class RunOptions:
    """How a run presents what it computes: the viewer's locale (picklist
    labels), the tenant's time zone (datetime grouping), its fiscal year's
    first month, and ``user_names(ids) -> {id: name}`` for owner groupings
    (default: the tenant's members' display names or e-mails)."""

    locale: str | None = None
    time_zone: str = "UTC"
    fiscal_year_start: int = 1
    user_names: Callable[[Iterable[int]], dict[int, str]] | None = None
    limit: int | None = None  # tabular: overrides the definition's limit


@dataclass
class _Grouping:
    field: str
    label: str
    kind: str  # picklist, lookup, owner, date, boolean, value
    date: str | None
    fiscal: bool
    expr: Any
    name_expr: Any = None  # a lookup's target name
    type_name: str = ""
    field_type: Any = None


@dataclass
class _Aggregate:
    key: str
    op: str
    field: str | None
    label: str
    expr: Any
    type_name: str = "integer"


@dataclass
class _Plan:
    obj: CompiledObject
    where: Any
    groupings: list[_Grouping] = field(default_factory=list)
    aggregates: list[_Aggregate] = field(default_factory=list)
    joins: list[tuple[Any, Any]] = field(default_factory=list)


def _fail(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{path}: {message}", details={"fields": {path: [message]}})


def _labels(definition: dict, locale: str | None) -> tuple[str, str]:
    translated = (definition.get("translations") or {}).get(locale or "", {}) if locale else {}
    return translated.get("label") or definition.get("label") or definition.get("api_name", ""), translated.get(
        "description"
    ) or definition.get("description", "")


def field_label(obj: CompiledObject, name: str, locale: str | None = None) -> str:
    if name in obj.fields:
        document = obj.fields[name].definition
        translated = (document.get("translations") or {}).get(locale or "", {}) if locale else {}
        return translated.get("label") or document.get("label") or name
    return {"owner_id": "Owner", "created_at": "Created", "updated_at": "Last modified", "id": "ID"}.get(name, name)


def readable_names(store: RecordStore, obj: CompiledObject) -> set[str]:
    """The fields of ``obj`` this store's user may name in a report."""
    return (store.guard.readable_fields(obj) & set(obj.fields)) | set(SYSTEM_FIELDS)


def _type_name(obj: CompiledObject, name: str) -> str:
    if name in obj.fields:
        field_type = obj.fields[name]
        if field_type.computed:
            returned = (field_type.definition.get("options") or {}).get("return_type")
            return {"number": "decimal"}.get(returned, returned or field_type.name)
        return field_type.name
    return SYSTEM_FIELDS.get(name, "text")


def _require_field(store: RecordStore, obj: CompiledObject, name: Any, path: str) -> str:
    if not isinstance(name, str) or name not in readable_names(store, obj):
        # The same answer for a hidden field and an unknown one: no leak.
        raise _fail(path, f"no field {name!r} on {obj.api_name} that you can see")
    if name in obj.fields and obj.fields[name].encrypted:
        raise _fail(path, f"{name!r} is encrypted: reports cannot group, sum or sort on it")
    return name


def _column(store: RecordStore, obj: CompiledObject, name: str):
    field_type = obj.fields.get(name)
    if field_type is not None and field_type.computed:
        return field_type.select_expression(obj.table, store.model)
    return obj.table.c[name]


# -- the entry point -----------------------------------------------------------------------


def run_report(store: RecordStore, definition: dict, options: RunOptions | None = None) -> dict:
    """Run ``definition`` (a report document) as the store's user.

    Returns ``{"report", "label", "object", "type", "filter", ...}`` plus, by type:

    * tabular: ``columns`` ``[{key, label, type}]``, ``records`` (as a list
      page's ``data``: lookups ``{id, name}``), ``total``, ``truncated``;
    * summary and matrix: ``groupings`` ``[{field, label, date, type}]``,
      ``aggregates`` ``[{key, op, field, label, type}]``, ``groups``
      ``[{keys: [{value, label}], values: {key: number}, where}]`` (one key
      per grouping; ``where`` the rule text of the records behind it, for
      ``/o/<object>?where=``), ``subtotals`` (the same, one key: the first
      grouping's totals; matrix: the rows' totals), ``column_totals``
      (matrix: the columns' totals), ``total`` ``{key: number}``, and
      ``truncated`` (more than MAX_GROUPS groups).
    """
    options = options or RunOptions()
    kind = definition.get("type")
    if kind not in TYPES:
        raise _fail("type", f"must be one of {', '.join(TYPES)}")
    obj = store.object(str(definition.get("object")))
    store.guard.require("read", obj)
    label, description = _labels(definition, options.locale)
    result: dict[str, Any] = {
        "report": definition.get("api_name"),
        "label": label,
        "description": description,
        "object": obj.api_name,
        "type": kind,
        "filter": definition.get("filter") or None,
    }
    if kind == "tabular":
        result.update(_run_tabular(store, obj, definition, options))
    else:
        result.update(_run_grouped(store, obj, definition, options, matrix=kind == "matrix"))
    return result


# -- tabular -------------------------------------------------------------------------------


def _run_tabular(store: RecordStore, obj: CompiledObject, definition: dict, options: RunOptions) -> dict:
    default = [obj.name_field] if obj.name_field else list(readable_names(store, obj) & set(obj.fields))[:1]
    columns = definition.get("columns") or default
    columns = [_require_field(store, obj, name, f"columns[{i}]") for i, name in enumerate(columns)]
    sort = definition.get("sort") or None
    if sort:
        for part in sort.split(","):
            _require_field(store, obj, part.strip().lstrip("-"), "sort")
    clause = _check_filter(store, obj, definition.get("filter"))
    limit = min(options.limit or definition.get("limit") or 50, TABULAR_LIMIT)
    # As a list page with where= (metacrm.plugins.records.list_page) does it.
    page = store.query(
        obj.api_name,
        fields=[c for c in columns if c in obj.fields],
        sort=sort,
        limit=limit,
        count=True,
        extra_where=clause,
    )
    return {
        "columns": [
            {"key": c, "label": field_label(obj, c, options.locale), "type": _type_name(obj, c)} for c in columns
        ],
        "records": page.data,
        "total": page.total,
        "truncated": bool(page.next_cursor),
    }


def _check_filter(store: RecordStore, obj: CompiledObject, text: str | None):
    """The filter's SQL clause (None without one); 422 naming ``filter``."""
    if not text:
        return None
    try:
        return where_clause(
            store.model, obj.api_name, text, readable_names(store, obj) & set(obj.fields), store.guard.user_globals
        )
    except RuleError as exc:
        raise _fail("filter", str(exc)) from None
    except ValidationFailed as exc:
        reasons = (exc.details or {}).get("fields", {}).get("where") or [exc.message]
        raise ValidationFailed(f"filter: {'; '.join(reasons)}", details={"fields": {"filter": reasons}}) from None


# -- summary and matrix --------------------------------------------------------------------


def _run_grouped(store: RecordStore, obj: CompiledObject, definition: dict, options: RunOptions, *, matrix: bool):
    plan = _plan(store, obj, definition, options, matrix=matrix)
    sort = definition.get("sort") or None
    groups, truncated = _groups(store, plan, len(plan.groupings), sort, options)
    result: dict[str, Any] = {
        "groupings": [
            {"field": g.field, "label": g.label, "date": g.date, "fiscal": g.fiscal, "type": g.type_name}
            for g in plan.groupings
        ],
        "aggregates": [
            {"key": a.key, "op": a.op, "field": a.field, "label": a.label, "type": a.type_name} for a in plan.aggregates
        ],
        "groups": groups,
        "subtotals": [],
        "column_totals": [],
        "total": _groups(store, plan, 0, None, options)[0][0]["values"],
        "truncated": truncated,
    }
    if len(plan.groupings) == 2:
        result["subtotals"] = _groups(store, plan, 1, sort, options)[0]
    if matrix:
        result["column_totals"] = _groups(store, plan, 1, None, options, only=1)[0]
    _add_where(store, obj, definition.get("filter"), result, plan, options)
    return result


def _plan(store: RecordStore, obj: CompiledObject, definition: dict, options: RunOptions, *, matrix: bool) -> _Plan:
    groupings = definition.get("groupings") or []
    if matrix and len(groupings) != 2:
        raise _fail("groupings", "a matrix needs two groupings: rows, then columns")
    if not matrix and not 1 <= len(groupings) <= 2:
        raise _fail("groupings", "a summary groups by one or two fields")
    where = [store._scoped("read", obj)]
    clause = _check_filter(store, obj, definition.get("filter"))
    if clause is not None:
        where.append(clause)
    plan = _Plan(obj, sa.and_(*where))
    for i, grouping in enumerate(groupings):
        plan.groupings.append(_grouping(store, plan, grouping, i, options))
    aggregates = definition.get("aggregates") or [{"op": "count"}]
    keys: set[str] = set()
    for i, aggregate in enumerate(aggregates):
        built = _aggregate(store, obj, aggregate, i, options)
        if built.key in keys:
            raise _fail(f"aggregates[{i}]", f"{built.key} is named twice")
        keys.add(built.key)
        plan.aggregates.append(built)
    return plan


def _grouping(store: RecordStore, plan: _Plan, grouping: dict, i: int, options: RunOptions) -> _Grouping:
    obj = plan.obj
    path = f"groupings[{i}].field"
    name = _require_field(store, obj, grouping.get("field"), path)
    type_name = _type_name(obj, name)
    field_type = obj.fields.get(name)
    if type_name in UNGROUPABLE or (field_type is not None and not field_type.has_column and not field_type.computed):
        raise _fail(path, f"cannot group by {name!r}: a {type_name} field")
    label = field_label(obj, name, options.locale)
    date = grouping.get("date")
    fiscal = bool(grouping.get("fiscal"))
    column = _column(store, obj, name)
    if date is not None:
        if date not in DATE_GROUPS:
            raise _fail(f"groupings[{i}].date", f"must be one of {', '.join(DATE_GROUPS)}")
        if type_name not in ("date", "datetime"):
            raise _fail(f"groupings[{i}].date", f"{name!r} is not a date")
        dialect = store.binding.dialect
        expr = _date_key(
            column, type_name, date, dialect, options.time_zone, options.fiscal_year_start if fiscal else 1
        )
        return _Grouping(name, label, "date", date, fiscal, expr, type_name=type_name, field_type=field_type)
    if type_name in ("date", "datetime"):
        dialect = store.binding.dialect
        expr = _date_key(column, type_name, "day", dialect, options.time_zone, 1)
        return _Grouping(name, label, "date", "day", False, expr, type_name=type_name, field_type=field_type)
    if name == "owner_id":
        return _Grouping(name, label, "owner", None, False, column, type_name="owner")
    if field_type is not None and field_type.is_lookup:
        target = store.model.object(field_type.reference_target)
        name_expr = None
        if (
            target is not None
            and target.name_field
            and store.guard.permits("read", target)
            and target.name_field in store.guard.readable_fields(target)
        ):
            alias = target.table.alias(f"rg_{i}")
            plan.joins.append((alias, alias.c.id == column))
            name_expr = alias.c[target.name_field]
        return _Grouping(name, label, "lookup", None, False, column, name_expr, type_name, field_type)
    kind = "picklist" if type_name == "picklist" else "boolean" if type_name == "boolean" else "value"
    return _Grouping(name, label, kind, None, False, column, type_name=type_name, field_type=field_type)


def _aggregate(store: RecordStore, obj: CompiledObject, aggregate: dict, i: int, options: RunOptions) -> _Aggregate:
    op = aggregate.get("op")
    if op not in AGGREGATES:
        raise _fail(f"aggregates[{i}].op", f"must be one of {', '.join(AGGREGATES)}")
    if op == "count":
        if aggregate.get("field"):
            raise _fail(f"aggregates[{i}].field", "count counts records: it takes no field")
        return _Aggregate("count", "count", None, aggregate.get("label") or "Record count", sa.func.count())
    name = _require_field(store, obj, aggregate.get("field"), f"aggregates[{i}].field")
    type_name = _type_name(obj, name)
    if type_name not in NUMERIC_TYPES:
        raise _fail(
            f"aggregates[{i}].field", f"{op} needs a number, currency or percent field; {name!r} is {type_name}"
        )
    column = _column(store, obj, name)
    function = {"sum": sa.func.sum, "avg": sa.func.avg, "min": sa.func.min, "max": sa.func.max}[op]
    label = aggregate.get("label") or f"{op.capitalize()} of {field_label(obj, name, options.locale)}"
    return _Aggregate(f"{op}_{name}", op, name, label, function(column), type_name)


def _groups(
    store: RecordStore, plan: _Plan, depth: int, sort: str | None, options: RunOptions, *, only: int | None = None
) -> tuple[list[dict], bool]:
    """The groups of the first ``depth`` groupings (or of grouping ``only``
    alone); depth 0 is the grand total (one group, no keys)."""
    used = [plan.groupings[only]] if only is not None else plan.groupings[:depth]
    key_columns = []
    for j, grouping in enumerate(used):
        key_columns.append(grouping.expr.label(f"k{j}"))
        if grouping.name_expr is not None:
            key_columns.append(grouping.name_expr.label(f"n{j}"))
    values = [a.expr.label(f"a{k}") for k, a in enumerate(plan.aggregates)]
    source = plan.obj.table
    for alias, on in plan.joins:
        # Joined only when a used grouping reads the alias's name.
        if any(g.name_expr is not None and g.name_expr.table is alias for g in used):
            source = source.outerjoin(alias, on)
    query = sa.select(*key_columns, *values).select_from(source).where(plan.where)
    if key_columns:
        query = query.group_by(*[c.element for c in key_columns])
        query = query.order_by(*_order(plan, used, key_columns, values, sort)).limit(MAX_GROUPS + 1)
    with store._connect() as conn:
        rows = conn.execute(query).all()
    truncated = len(rows) > MAX_GROUPS
    rows = rows[:MAX_GROUPS]
    names = _owner_names(store, used, rows, options)
    out = []
    for row in rows:
        mapping = row._mapping
        keys = [_key(g, mapping[f"k{j}"], mapping.get(f"n{j}"), options, names, store) for j, g in enumerate(used)]
        out.append(
            {
                "keys": keys,
                "values": {a.key: _number(mapping[f"a{k}"], a) for k, a in enumerate(plan.aggregates)},
            }
        )
    return out, truncated


def _order(plan: _Plan, used: list[_Grouping], key_columns, values, sort: str | None) -> list:
    """Groups by their keys (nulls last), or first by ``sort``: an aggregate
    key or a grouping field, ``-`` for descending."""
    order = []
    if sort:
        descending = sort.startswith("-")
        name = sort.lstrip("-")
        target = None
        for k, aggregate in enumerate(plan.aggregates):
            if aggregate.key == name:
                target = values[k].element
        if target is None:
            for j, grouping in enumerate(used):
                if grouping.field == name and j == 0:
                    target = grouping.name_expr if grouping.name_expr is not None else grouping.expr
        if target is None and name not in {g.field for g in plan.groupings}:
            raise _fail(
                "sort",
                f"{name!r} is neither an aggregate ({', '.join(a.key for a in plan.aggregates)}) "
                "nor the first grouping",
            )
        if target is not None:
            # Within the first level of a two-level summary the first key stays the outer order.
            if len(used) > 1:
                order.append(used[0].expr.is_(None))
                order.append(used[0].expr)
            order.append(target.desc() if descending else target.asc())
    for grouping in used:
        shown = grouping.name_expr if grouping.name_expr is not None else grouping.expr
        order += [grouping.expr.is_(None), shown, grouping.expr]
    return order


def _number(value: Any, aggregate: _Aggregate) -> Any:
    if value is None:
        return None
    if aggregate.op == "count":
        return int(value)
    if aggregate.op == "avg" or isinstance(value, (Decimal, float)):
        number = float(value)
        return round(number, 6)
    return value


def _owner_names(store: RecordStore, used: list[_Grouping], rows, options: RunOptions) -> dict[int, str]:
    ids = {row._mapping[f"k{j}"] for j, g in enumerate(used) if g.kind == "owner" for row in rows}
    ids.discard(None)
    if not ids:
        return {}
    if options.user_names is not None:
        return options.user_names(ids)
    from metacrm.platform import identity

    users = identity.list_users(store.instance, store.binding.slug) if store.instance is not None else []
    return {u["id"]: u["display_name"] or u["email"] for u in users if u["id"] in ids}


def _key(grouping: _Grouping, value: Any, name: Any, options: RunOptions, owners: dict, store) -> dict:
    if value is None:
        return {"value": None, "label": None}
    if grouping.kind == "date":
        return _date_key_value(grouping, value, options)
    if grouping.kind == "picklist":
        return {"value": value, "label": grouping.field_type.label_for(value, options.locale)}
    if grouping.kind == "lookup":
        return {"value": value, "label": None if name is None else str(name)}
    if grouping.kind == "owner":
        return {"value": value, "label": owners.get(value, f"#{value}")}
    if grouping.kind == "boolean":
        return {"value": bool(value), "label": None}
    if isinstance(value, Decimal):
        value = float(value)
    return {"value": value, "label": None}


# -- dates ---------------------------------------------------------------------------------


def _utc_offset_minutes(time_zone: str) -> int:
    try:
        zone = zoneinfo.ZoneInfo(time_zone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        return 0
    offset = dt.datetime.now(zone).utcoffset()
    return int(offset.total_seconds() // 60) if offset else 0


def _local_date(column, type_name: str, dialect: str, time_zone: str):
    """The column as a local date (SQL)."""
    if type_name == "date":
        return sa.func.date(column) if dialect == "sqlite" else column
    if dialect == "postgresql":
        return sa.cast(sa.func.timezone(time_zone, column), sa.Date)
    minutes = _utc_offset_minutes(time_zone)
    return sa.func.date(column, f"{minutes:+d} minutes")


def _date_key(column, type_name: str, unit: str, dialect: str, time_zone: str, fiscal_start: int):
    """An SQL key of the date's period, the same on both databases: day and
    week the first day (a date), month ``year*100+month``, quarter
    ``fiscal_year*10+quarter``, year the (fiscal) year, as integers."""
    day = _local_date(column, type_name, dialect, time_zone)
    if unit == "day":
        return day
    if unit == "week":
        if dialect == "postgresql":
            return sa.cast(sa.func.date_trunc("week", day), sa.Date)
        # Monday: back by (weekday + 6) % 7 days (%w: 0 = Sunday).
        back = (sa.cast(sa.func.strftime("%w", day), sa.Integer) + 6) % 7
        return sa.func.date(day, sa.literal("-") + sa.cast(back, sa.String) + sa.literal(" days"))
    year = sa.cast(sa.extract("year", day), sa.Integer)
    month = sa.cast(sa.extract("month", day), sa.Integer)
    if unit == "month":
        return year * 100 + month
    if fiscal_start > 1:
        # Named by the calendar year it ends in: from fiscal_start on, the next year's.
        year = year + sa.case((month >= fiscal_start, 1), else_=0)
        index = (month + (12 - fiscal_start)) % 12  # 0 = the fiscal year's first month
    else:
        index = month - 1
    if unit == "quarter":
        return year * 10 + index // 3 + 1
    return year


def _period_start(unit: str, key: Any, fiscal_start: int) -> tuple[dt.date, dt.date]:
    """The first day of a period and the first day after it."""
    if unit in ("day", "week"):
        start = key if isinstance(key, dt.date) else dt.date.fromisoformat(str(key)[:10])
        return start, start + dt.timedelta(days=1 if unit == "day" else 7)
    key = int(key)
    if unit == "month":
        start = dt.date(key // 100, key % 100, 1)
        return start, _add_months(start, 1)
    if unit == "quarter":
        fiscal_year, quarter = divmod(key, 10)
    else:
        fiscal_year, quarter = key, 1
    first_year = fiscal_year - 1 if fiscal_start > 1 else fiscal_year
    start = _add_months(dt.date(first_year, fiscal_start, 1), (quarter - 1) * 3)
    return start, _add_months(start, 3 if unit == "quarter" else 12)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _date_key_value(grouping: _Grouping, value: Any, options: RunOptions) -> dict:
    fiscal = options.fiscal_year_start if grouping.fiscal else 1
    unit = grouping.date or "day"
    start, _end = _period_start(unit, value, fiscal)
    prefix = "FY" if fiscal > 1 else ""
    if unit in ("day", "week"):
        key, label = start.isoformat(), start.isoformat()
    elif unit == "month":
        key = label = f"{start.year:04d}-{start.month:02d}"
    elif unit == "quarter":
        year, quarter = divmod(int(value), 10)
        key, label = f"{prefix}{year}-Q{quarter}", f"{prefix}{year} Q{quarter}"
    else:
        key = label = f"{prefix}{int(value)}"
    return {
        "value": key,
        "label": label,
        "start": start.isoformat(),
        "raw": value if unit not in ("day", "week") else start.isoformat(),
    }


# -- the records behind a group ------------------------------------------------------------


def _quote(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


def _condition(grouping: _Grouping, key: dict, options: RunOptions) -> str | None:
    name = grouping.field
    value = key.get("value")
    if value is None:
        return f"ISBLANK({name})"
    if grouping.kind == "date":
        fiscal = options.fiscal_year_start if grouping.fiscal else 1
        start, end = _period_start(grouping.date or "day", key["raw"], fiscal)
        subject = name if grouping.type_name == "date" else f"DATEVALUE({name})"
        return (
            f"{subject} >= DATE({start.year}, {start.month}, {start.day}) and "
            f"{subject} < DATE({end.year}, {end.month}, {end.day})"
        )
    if grouping.kind == "boolean":
        return name if value else f"not {name}"
    if isinstance(value, str):
        return f"{name} = {_quote(value)}"
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return f"{name} = {value}"
    return None


def _add_where(
    store: RecordStore, obj: CompiledObject, base: str | None, result: dict, plan: _Plan, options: RunOptions
) -> None:
    """Each group's ``where`` (the rule text of its records: the report's
    filter and the group's keys; "" for none) and ``filters`` (list field
    filters, ``{"owner_id": 5}``: the owner is not a rule field), together
    :func:`records_query`; ``where`` None when the text does not check as a
    list filter of this user (then the screens show the count without a link)."""
    readable = store.guard.readable_fields(obj)
    checked: dict[str, bool] = {}

    def link_for(groupings: list[_Grouping], keys: list[dict]) -> tuple[str | None, dict]:
        parts = [f"({base})"] if base else []
        filters: dict[str, Any] = {}
        for grouping, key in zip(groupings, keys, strict=True):
            if grouping.kind == "owner" and key.get("value") is not None:
                filters[grouping.field] = key["value"]
                continue
            condition = _condition(grouping, key, options)
            if condition is None:
                return None, filters
            parts.append(condition)
        text = " and ".join(parts)
        if text and text not in checked:
            try:
                where_clause(store.model, obj.api_name, text, readable, store.guard.user_globals)
                checked[text] = True
            except (RuleError, ValidationFailed):
                checked[text] = False
        return (text if not text or checked[text] else None), filters

    for rows, groupings in (
        (result["groups"], None),
        (result["subtotals"], plan.groupings[:1]),
        (result["column_totals"], plan.groupings[1:2]),
    ):
        for group in rows:
            group["where"], group["filters"] = link_for(
                groupings or plan.groupings[: len(group["keys"])], group["keys"]
            )


def records_query(group: dict) -> dict[str, Any] | None:
    """The query arguments of the list of a group's records
    (``/o/<object>?<these>``), or None when there is no such list."""
    if group.get("where") is None:
        return None
    query: dict[str, Any] = dict(group.get("filters") or {})
    if group["where"]:
        query["where"] = group["where"]
    return query
