"""Dashboards (kind ``dashboard``): which ones a user sees, and what each
widget shows, computed through the report engine with the viewer's record
store — so every number is within the viewer's scope and field access.

A chart widget becomes ECharts options (JSON, drawn by ``static/js/charts.js``)
whose data points carry the URL of the records behind them
(``/o/<object>?where=…``, the report group's own condition). A metric is a
report's total, for the current month / quarter / year of a date field
against the previous one when the widget says ``compare``. A list widget
is a list view's first rows (the screens render it with the list service).
"""

from __future__ import annotations

import datetime as dt
import math
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

from metacrm.data.reports.engine import RunOptions, records_query, run_report
from metacrm.data.reports.service import visible_to
from metacrm.metadata.physical import CompiledModel
from metacrm.platform.errors import NotFound, ValidationFailed

PALETTE = ["#2563eb", "#16a34a", "#d97706", "#7c3aed", "#0d9488", "#dc2626", "#0284c7", "#db2777", "#475569"]


def translated(document: dict, key: str, locale: str | None) -> str:
    texts = (document.get("translations") or {}).get(locale or "", {}) if locale else {}
    return texts.get(key) or document.get(key) or ""


def documents(model: CompiledModel) -> list[dict]:
    return [d.document for d in model.definitions.live("dashboard")]


def visible(document: dict, roles: frozenset[str], *, admin: bool) -> bool:
    wanted = set(document.get("roles") or ())
    return admin or not wanted or bool(wanted & set(roles))


def dashboards_for(model: CompiledModel, guard) -> list[dict]:
    """The dashboards the user sees in the list, by ``order`` then label."""
    admin = guard.may("manage_metadata")
    found = [d for d in documents(model) if visible(d, guard.roles, admin=admin)]
    return sorted(found, key=lambda d: (d.get("order") is None, d.get("order") or 0, d["label"].casefold()))


def default_for(model: CompiledModel, guard) -> dict | None:
    """The first dashboard naming one of the user's roles in ``default_for``."""
    for document in dashboards_for(model, guard):
        if set(document.get("default_for") or ()) & set(guard.roles):
            return document
    return None


def find(model: CompiledModel, guard, name: str) -> dict:
    """The dashboard ``name`` if the user sees it; 404 otherwise."""
    definition = model.definitions.get("dashboard", name)
    admin = guard.may("manage_metadata")
    if definition is None or not visible(definition.document, guard.roles, admin=admin):
        raise NotFound(f"no dashboard {name!r}")
    return definition.document


def widgets(document: dict) -> list[dict]:
    """The widgets in grid order: ``order`` first, then as listed."""
    listed = list(enumerate(document["widgets"]))
    return [w for _i, w in sorted(listed, key=lambda p: (p[1].get("order") is None, p[1].get("order") or 0, p[0]))]


def widget_of(document: dict, name: str) -> dict:
    for widget in document["widgets"]:
        if widget["name"] == name:
            return widget
    raise NotFound(f"no widget {name!r} on dashboard {document['api_name']!r}")


def _report(store, name: str) -> dict:
    definition = store.model.definitions.get("report", name)
    if definition is None or not visible_to(definition.document, store.guard.user_id):
        raise NotFound(f"no report {name!r}")
    return definition.document


def records_url(object_name: str, where: str | None) -> str | None:
    """The list of the records behind a number (None when there is no condition to list them by)."""
    if where is None:
        return None
    return f"/o/{object_name}" + (f"?{urlencode({'where': where})}" if where else "")


def group_url(object_name: str, group: dict | None) -> str | None:
    """The list of the records behind a report group (its condition and owner filter)."""
    query = records_query(group) if group else None
    if query is None:
        return None
    return f"/o/{object_name}" + (f"?{urlencode(query)}" if query else "")


def _number(value: Any) -> float:
    if value is None:
        return 0.0
    if isinstance(value, Decimal):
        return float(value)
    return float(value)


def _value_key(widget: dict, report: dict, result: dict) -> str:
    keys = [a["key"] for a in result.get("aggregates") or []]
    wanted = widget.get("value") or (report.get("chart") or {}).get("value") or (keys[0] if keys else "count")
    if keys and wanted not in keys:
        raise ValidationFailed(
            f"value: the report {report['api_name']} has no aggregate {wanted!r} (it has {', '.join(keys)})",
            details={"fields": {"value": [f"one of {', '.join(keys)}"]}},
        )
    return wanted


@dataclass
class Labels:
    """The words the charts need, in the viewer's language."""

    blank: str = "(blank)"
    rate: str = "Conversion rate (%)"
    value: str = "Value"


def _key_label(key: dict, labels: Labels) -> str:
    label = key.get("label")
    return labels.blank if label is None else str(label)


# -- charts -----------------------------------------------------------------------------------


def chart_options(store, widget: dict, options: RunOptions, labels: Labels | None = None) -> dict:
    """The ECharts options of a chart widget, run as the store's user."""
    labels = labels or Labels()
    if widget.get("steps"):
        return _funnel_steps(store, widget, options, labels)
    report = _report(store, widget["report"])
    result = run_report(store, report, options)
    if result["type"] == "tabular":
        raise ValidationFailed(
            f"report: {report['api_name']} is tabular; a chart needs a summary or matrix report",
            details={"fields": {"report": ["a summary or matrix report"]}},
        )
    kind = widget.get("chart") or (report.get("chart") or {}).get("type") or "bar"
    value = _value_key(widget, report, result)
    obj = result["object"]
    if kind == "gauge":
        return _gauge(widget, _number(result["total"].get(value)), records_url(obj, result.get("filter") or ""))
    levels = len(result["groupings"])
    firsts = result["subtotals"] if levels == 2 else result["groups"]
    points = [
        {
            "name": _key_label(g["keys"][0], labels),
            "value": _number(g["values"].get(value)),
            "url": group_url(obj, g),
        }
        for g in firsts
    ]
    if widget.get("limit"):
        points = points[: widget["limit"]]
    if kind in ("pie", "funnel"):
        return _pie_or_funnel(kind, points)
    if levels == 1:
        series = [{"name": _aggregate_label(result, value), "data": points}]
    else:
        names = [p["name"] for p in points]
        columns: dict[str, dict[str, dict]] = {}
        for g in result["groups"]:
            row, column = _key_label(g["keys"][0], labels), _key_label(g["keys"][1], labels)
            if row in names:
                columns.setdefault(column, {})[row] = {
                    "value": _number(g["values"].get(value)),
                    "url": group_url(obj, g),
                }
        series = [
            {
                "name": column,
                "data": [cells.get(row, {"value": 0}) for row in names],
                "stack": "total" if kind == "bar" else None,
            }
            for column, cells in columns.items()
        ]
    rate_of = widget.get("rate_of") or (report.get("chart") or {}).get("rate_of")
    options_out = _cartesian(kind, [p["name"] for p in points], series, horizontal=bool(widget.get("horizontal")))
    if rate_of and levels == 2:
        _add_rate(options_out, result, value, rate_of, [p["name"] for p in points], labels)
    return options_out


def _aggregate_label(result: dict, key: str) -> str:
    return next((a["label"] for a in result.get("aggregates") or [] if a["key"] == key), key)


def _cartesian(kind: str, categories: list[str], series: list[dict], *, horizontal: bool) -> dict:
    category_axis = {"type": "category", "data": categories, "axisLabel": {"hideOverlap": True}}
    value_axis = {"type": "value"}
    if horizontal:
        category_axis["inverse"] = True  # the first (biggest) at the top
    drawn = []
    for i, s in enumerate(series):
        item = {"name": s["name"], "type": "line" if kind == "line" else "bar", "data": s["data"]}
        if s.get("stack"):
            item["stack"] = s["stack"]
        item["itemStyle"] = {"color": PALETTE[i % len(PALETTE)]}
        if kind != "line":
            item["barMaxWidth"] = 56
        if kind == "line":
            item["smooth"] = False
            item["symbolSize"] = 8
        drawn.append(item)
    return {
        "tooltip": {"trigger": "axis"},
        "legend": {"top": 0, "type": "scroll"} if len(series) > 1 else {"show": False},
        "grid": {"left": 8, "right": 16, "bottom": 8, "top": 36 if len(series) > 1 else 12, "containLabel": True},
        "xAxis": value_axis if horizontal else category_axis,
        "yAxis": category_axis if horizontal else value_axis,
        "series": drawn,
    }


def _add_rate(options: dict, result: dict, value: str, rate_of: str, rows: list[str], labels: Labels) -> None:
    """A line of each row's share of the ``rate_of`` column (e.g. converted leads), in percent, on a second axis."""
    totals = {_key_label(g["keys"][0], labels): _number(g["values"].get(value)) for g in result["subtotals"]}
    hits: dict[str, float] = {}
    for g in result["groups"]:
        if g["keys"][1].get("value") == rate_of:
            hits[_key_label(g["keys"][0], labels)] = _number(g["values"].get(value))
    rates = [round(100 * hits.get(row, 0) / totals[row], 1) if totals.get(row) else 0 for row in rows]
    options["yAxis"] = [options["yAxis"], {"type": "value", "max": 100, "axisLabel": {"formatter": "{value}%"}}]
    options["series"].append(
        {"name": labels.rate, "type": "line", "yAxisIndex": 1, "data": rates, "itemStyle": {"color": "#dc2626"}}
    )
    options["legend"] = {"top": 0, "type": "scroll"}
    options["grid"]["top"] = 36


def _pie_or_funnel(kind: str, points: list[dict]) -> dict:
    data = [{**p, "itemStyle": {"color": PALETTE[i % len(PALETTE)]}} for i, p in enumerate(points)]
    series: dict[str, Any] = {"type": kind, "data": data}
    if kind == "pie":
        series.update(radius=["35%", "70%"], avoidLabelOverlap=True)
    else:
        series.update(sort="descending", gap=2, left="10%", width="80%", label={"position": "inside"})
    return {"tooltip": {"trigger": "item"}, "legend": {"show": False}, "series": [series]}


def _gauge(widget: dict, value: float, url: str | None) -> dict:
    top = widget.get("max") or (10 ** math.ceil(math.log10(value * 2)) / 2 if value > 0 else 100)
    while widget.get("max") is None and top < value:
        top *= 2
    return {
        "series": [
            {
                "type": "gauge",
                "min": 0,
                "max": top,
                "progress": {"show": True},
                "detail": {"valueAnimation": False, "fontSize": 20},
                "data": [{"value": value, "url": url}],
            }
        ]
    }


def _funnel_steps(store, widget: dict, options: RunOptions, labels: Labels) -> dict:
    """A funnel of report totals (leads → opportunities → won): a step's value
    is its report's total, or one group's value of its first grouping."""
    points = []
    for step in widget["steps"]:
        report = _report(store, step["report"])
        result = run_report(store, report, options)
        value = _value_key(step, report, result)
        label = translated(step, "label", options.locale) or report["label"]
        if "group" in step:
            firsts = result["subtotals"] if len(result.get("groupings") or []) == 2 else result.get("groups") or []
            group = next((g for g in firsts if g["keys"][0].get("value") == step["group"]), None)
            number = _number(group["values"].get(value)) if group else 0.0
            url = group_url(result["object"], group)
        else:
            number = _number((result.get("total") or {}).get(value))
            url = records_url(result["object"], result.get("filter") or "")
        points.append({"name": label, "value": number, "url": url})
    options_out = _pie_or_funnel("funnel", points)
    options_out["series"][0]["sort"] = "none"
    return options_out


# -- metrics ----------------------------------------------------------------------------------


@dataclass
class Metric:
    value: float
    previous: float | None
    url: str | None
    value_type: str  # the aggregate's type: count, currency…
    period: tuple[dt.date, dt.date] | None = None

    @property
    def change(self) -> float | None:
        """Percent change from the previous period; None without one, or from zero."""
        if self.previous is None or not self.previous:
            return None
        return round(100 * (self.value - self.previous) / abs(self.previous), 1)


def period_range(unit: str, today: dt.date, fiscal_year_start: int = 1, back: int = 0) -> tuple[dt.date, dt.date]:
    """[start, end) of the month / (fiscal) quarter / (fiscal) year containing
    today, ``back`` periods earlier."""
    if unit == "month":
        months, first = 1, dt.date(today.year, today.month, 1)
    else:
        months = 3 if unit == "quarter" else 12
        offset = (today.month - fiscal_year_start) % months
        first = _add_months(dt.date(today.year, today.month, 1), -offset)
    start = _add_months(first, -months * back)
    return start, _add_months(start, months)


def _add_months(day: dt.date, months: int) -> dt.date:
    index = day.year * 12 + day.month - 1 + months
    return dt.date(index // 12, index % 12 + 1, 1)


def _between(field: str, type_name: str, start: dt.date, end: dt.date) -> str:
    subject = f"DATEVALUE({field})" if type_name == "datetime" else field
    return (
        f"{subject} >= DATE({start.year}, {start.month}, {start.day}) and "
        f"{subject} < DATE({end.year}, {end.month}, {end.day})"
    )


def metric(store, widget: dict, options: RunOptions, *, today: dt.date | None = None) -> Metric:
    """A metric widget's value (and the previous period's), as the store's user."""
    report = _report(store, widget["report"])
    compare = widget.get("compare")
    base = report.get("filter")
    if not compare:
        result = run_report(store, report, options)
        value = _value_key(widget, report, result)
        return Metric(
            _number(result["total"].get(value)), None, records_url(result["object"], base or ""), _type(result, value)
        )
    obj = store.object(report["object"])
    field = compare["field"]
    type_name = "datetime" if field in ("created_at", "updated_at") else obj.fields[field].name
    today = today or dt.date.today()
    fiscal = options.fiscal_year_start
    numbers = []
    for back in (0, 1):
        start, end = period_range(compare["period"], today, fiscal, back)
        condition = _between(field, type_name, start, end)
        where = f"({base}) and {condition}" if base else condition
        result = run_report(store, {**report, "filter": where}, options)
        value = _value_key(widget, report, result)
        numbers.append((_number(result["total"].get(value)), where, start, end, _type(result, value)))
    (current, where, start, end, kind), (previous, *_rest) = numbers
    return Metric(current, previous, records_url(report["object"], where), kind, (start, end))


def _type(result: dict, key: str) -> str:
    return next((a.get("type") or "" for a in result.get("aggregates") or [] if a["key"] == key), "")


__all__ = [
    "Labels",
    "Metric",
    "chart_options",
    "dashboards_for",
    "default_for",
    "find",
    "metric",
    "widget_of",
    "widgets",
]
