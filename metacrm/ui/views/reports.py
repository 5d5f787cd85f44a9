"""Reports on screen (docs/data.md#reports): ``/reports`` (the reports the
user may run, by folder), ``/reports/<name>`` (a result as a table, a
summary with subtotals or a matrix; each count links to the list of the
records behind it) and the report builder, ``/reports/new`` and
``/reports/<name>/edit``: object, type, columns, groupings, aggregates and
a filter checked as it is typed, a live preview (htmx) and save.

Everything runs through :mod:`metacrm.data.reports` with the user's record
store, exactly as ``/api/v1/reports`` does. Saving goes through the
definitions change pipeline (a revision and an audit entry): an admin
(manage metadata) saves shared reports, anyone else reports private to them.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from flask import redirect, render_template, request, url_for
from flask_babel import get_locale
from flask_babel import gettext as _
from werkzeug.datastructures import MultiDict

from metacrm.data.reports import records_query, run_report, service
from metacrm.data.reports.engine import AGGREGATES, DATE_GROUPS, NUMERIC_TYPES, UNGROUPABLE
from metacrm.platform.errors import Forbidden, MetacrmError, NotFound, ValidationFailed
from metacrm.platform.settings import settings_for
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context
from metacrm.plugins.where import where_clause
from metacrm.rules.errors import RuleError
from metacrm.ui.blueprint import blueprint
from metacrm.ui.formatting import currency, day, moment, number, percent
from metacrm.ui.i18n import catalog_name, label_of
from metacrm.ui.screens import nav_objects, readable_fields

TYPES = ("tabular", "summary", "matrix")
MAX_AGGREGATES = 3
PREVIEW_ROWS = 20


def run_options(**extra):
    """The viewer's run options: the tenant's time zone and fiscal year, the viewer's language."""
    identity = current_identity()
    settings = settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version)
    return service.options_for(settings, catalog_name(get_locale()), aggregate_label=aggregate_label, **extra)


def aggregate_label(op: str, field: str | None) -> str:
    """An aggregate's label in the viewer's language ("Sum of Amount", "金额总和")."""
    if field is None:
        return _("Record count")
    return _("%(op)s of %(field)s", op=op_labels()[op], field=field)


def _user_id() -> int:
    return current_identity().user_id


def _admin() -> bool:
    return context.guard().may_manage_metadata()


# -- the list ------------------------------------------------------------------------------------


@blueprint.get("/reports")
def reports():
    """The reports the user may run, by folder."""
    found = service.reports_for(context.store(), _user_id(), run_options().locale)
    folders: dict[str, list[dict]] = {}
    for report in found:
        folders.setdefault(report["folder"], []).append(report)
    objects = {obj.api_name: label_of(obj.definition, "plural_label", obj.label) for obj in nav_objects()}
    return render_template("reports/index.html", folders=folders, objects=objects, type_labels=type_labels())


def type_labels() -> dict[str, str]:
    return {"tabular": _("Tabular"), "summary": _("Summary"), "matrix": _("Matrix")}


# -- one report ---------------------------------------------------------------------------------


@blueprint.get("/reports/<name>")
def report_page(name):
    """A report's result, with its export links and, for who may change it, Edit."""
    document = service.find(context.model(), name, _user_id())
    error = None
    view = None
    try:
        view = result_view(run_report(context.store(), document, run_options()))
    except ValidationFailed as exc:
        error = exc.message
    editable = service.may_edit(document, _user_id(), admin=_admin())
    status = 200 if error is None else 422
    return (
        render_template(
            "reports/report.html",
            document=document,
            view=view,
            error=error,
            editable=editable,
            type_labels=type_labels(),
            label=service.labels(document, run_options().locale)[0],
        ),
        status,
    )


@blueprint.post("/reports/<name>/delete")
def report_delete(name):
    service.delete(context.instance(), current_tenant(), current_actor(), context.model(), name, admin=_admin())
    return redirect(url_for("ui.reports"), code=303)


# -- how a result is shown ------------------------------------------------------------------------


def _format(value: Any, type_name: str) -> str:
    if value is None or value == "":
        return ""
    if isinstance(value, dict):
        return str(value.get("name") or value.get("label") or value.get("id") or "")
    if isinstance(value, list):
        return ", ".join(_format(v, type_name) for v in value)
    if type_name == "currency":
        return currency(value)
    if type_name == "percent":
        return percent(value)
    if type_name in ("integer", "decimal", "count"):
        return number(value)
    if type_name == "boolean":
        return _("Yes") if value else _("No")
    if type_name == "date":
        return day(value)
    if type_name == "datetime":
        return moment(value)
    return str(value)


def _key_text(key: dict) -> str:
    if key.get("value") is None:
        return _("(blank)")
    if key.get("label") is not None:
        return str(key["label"])
    if isinstance(key["value"], bool):
        return _("Yes") if key["value"] else _("No")
    return str(key["value"])


def _link(object_name: str, group: dict) -> str | None:
    query = records_query(group)
    if query is None:
        return None
    return f"/o/{object_name}" + (f"?{urlencode(query)}" if query else "")


def result_view(result: dict) -> dict:
    """What the templates show of a result: its cells as text, counts with their links."""
    model = context.model()
    obj = model.object(result["object"])
    locale = run_options().locale
    view: dict[str, Any] = {"result": result, "object": obj.api_name, "date_labels": date_labels()}
    system = {"owner_id": _("Owner"), "created_at": _("Created"), "updated_at": _("Last modified")}
    for part in result.get("groupings", []) + result.get("columns", []):
        name = part.get("field") or part.get("key")
        if name in system:
            part["label"] = system[name]
    if result["type"] == "tabular":
        picklists = {c["key"]: obj.fields.get(c["key"]) for c in result["columns"] if c["type"] == "picklist"}
        rows = []
        for record in result["records"]:
            cells = []
            for column in result["columns"]:
                value = record.get(column["key"])
                if column["key"] in picklists and isinstance(value, str):
                    value = picklists[column["key"]].label_for(value, locale)
                cells.append(_format(value, column["type"]))
            rows.append({"id": record["id"], "cells": cells})
        view.update(columns=result["columns"], rows=rows)
        return view
    aggregates = result["aggregates"]

    def values(group: dict) -> list[dict]:
        shown = []
        for aggregate in aggregates:
            value = group["values"].get(aggregate["key"])
            kind = "count" if aggregate["op"] == "count" else aggregate["type"]
            shown.append(
                {"text": _format(value, "decimal" if aggregate["op"] == "avg" and kind == "integer" else kind)}
            )
        link = _link(obj.api_name, group)
        if link and shown:
            shown[0]["link"] = link  # the first value (the count, usually) opens the records
        return shown

    groups = [
        {"keys": [_key_text(k) for k in g["keys"]], "raw": g["keys"], "values": values(g)} for g in result["groups"]
    ]
    view["total"] = values({"values": result["total"], "where": None})
    if result["type"] == "summary":
        if len(result["groupings"]) == 2:
            # Each first-level group, its second-level groups, then its subtotal.
            sections = []
            for subtotal in result["subtotals"]:
                first = subtotal["keys"][0]["value"]
                inner = [g for g in groups if g["raw"][0]["value"] == first]
                sections.append({"key": _key_text(subtotal["keys"][0]), "groups": inner, "values": values(subtotal)})
            view["sections"] = sections
        else:
            view["sections"] = None
        view["groups"] = groups
        return view
    # Matrix: rows by the first grouping, columns by the second.
    columns = [
        {"key": g["keys"][0]["value"], "text": _key_text(g["keys"][0]), "values": values(g)}
        for g in result["column_totals"]
    ]
    cells = {(g["raw"][0]["value"], g["raw"][1]["value"]): g["values"] for g in groups}
    rows = [
        {
            "text": _key_text(s["keys"][0]),
            "cells": [cells.get((s["keys"][0]["value"], c["key"])) for c in columns],
            "values": values(s),
        }
        for s in result["subtotals"]
    ]
    view.update(matrix_columns=columns, matrix_rows=rows)
    return view


# -- the builder ---------------------------------------------------------------------------------


@blueprint.get("/reports/new")
def report_new():
    """The builder, empty (``?object=`` picks the object)."""
    objects = _objects()
    chosen = request.args.get("object") or (objects[0][0] if objects else None)
    document = {"object": chosen, "type": request.args.get("type") or "summary", "aggregates": [{"op": "count"}]}
    return _builder(document, creating=True)


@blueprint.post("/reports/new")
def report_create():
    return _save(creating=True)


@blueprint.get("/reports/<name>/edit")
def report_edit(name):
    document = service.find(context.model(), name, _user_id())
    if not service.may_edit(document, _user_id(), admin=_admin()):
        raise Forbidden(_("Only its owner or an administrator may change this report."))
    if request.args.get("object"):
        document = {**document, "object": request.args["object"]}
    return _builder(document, creating=False)


@blueprint.post("/reports/<name>/edit")
def report_update(name):
    return _save(creating=False, name=name)


@blueprint.post("/reports/preview")
def report_preview():
    """The builder's live preview: the form's report run as the user (htmx)."""
    try:
        document = document_from_form(request.form)
        document.update(api_name=document.get("api_name") or "preview", label=document.get("label") or "Preview")
        view = result_view(run_report(context.store(), document, run_options(limit=PREVIEW_ROWS)))
    except ValidationFailed as exc:
        if request.form.get("type") in ("summary", "matrix") and not request.form.get("group1_field"):
            return render_template(
                "reports/_preview.html", view=None, errors={}, error=_("Choose a field to group by.")
            )
        return render_template("reports/_preview.html", view=None, errors=_form_errors(exc), error=exc.message)
    except MetacrmError as exc:
        return render_template("reports/_preview.html", view=None, errors={}, error=exc.message)
    return render_template("reports/_preview.html", view=view, errors={}, error=None)


@blueprint.post("/reports/filter-check")
def report_filter_check():
    """The rule compiler's verdict on the filter as it is typed (the list's where= check)."""
    object_name = request.form.get("object", "")
    obj = context.model().object(object_name)
    text = request.form.get("filter", "").strip()
    error = None
    if obj is None:
        raise NotFound(f"no object {object_name!r}")
    if text:
        guard = context.guard()
        try:
            where_clause(context.model(), obj.api_name, text, guard.readable_fields(obj), guard.user_globals)
        except RuleError as exc:
            error = {
                "line": exc.line,
                "column": exc.column,
                "reason": exc.reason,
                "snippet": (exc.details or {}).get("snippet", ""),
            }
        except ValidationFailed as exc:
            error = {"line": None, "column": None, "reason": exc.message, "snippet": ""}
    return render_template("lists/where_check.html", text=text, error=error)


def _objects() -> list[tuple[str, str]]:
    guard = context.guard()
    return [
        (obj.api_name, label_of(obj.definition, "label", obj.label))
        for obj in nav_objects()
        if guard.permits("read", obj)
    ]


def _fields(object_name: str | None) -> dict[str, list[tuple[str, str, str]]]:
    """The fields the builder offers, as (api name, label, type): columns
    (every readable field), groupings and numbers."""
    obj = context.model().object(object_name) if object_name else None
    if obj is None:
        return {"columns": [], "groupings": [], "numbers": [], "dates": []}
    fields = [
        (f.api_name, label_of(f.definition, "label", f.definition.get("label") or f.api_name), _type(f))
        for f in readable_fields(obj)
    ]
    owner = ("owner_id", _("Owner"), "owner")
    created = ("created_at", _("Created"), "datetime")
    groupable = [f for f in fields if f[2] not in UNGROUPABLE and f[2] != "formula"] + [owner, created]
    return {
        "columns": fields,
        "groupings": groupable,
        "numbers": [f for f in fields if f[2] in NUMERIC_TYPES],
        "dates": [f[0] for f in groupable if f[2] in ("date", "datetime")],
    }


def _type(field_type) -> str:
    if field_type.computed:
        returned = (field_type.definition.get("options") or {}).get("return_type")
        return {"number": "decimal"}.get(returned, returned or field_type.name)
    return field_type.name


def _builder(document: dict, *, creating: bool, errors: dict | None = None, status: int = 200):
    objects = _objects()
    if document.get("object") not in {o[0] for o in objects} and objects:
        document = {**document, "object": objects[0][0]}
    fields = _fields(document.get("object"))
    groupings = list(document.get("groupings") or []) + [{}, {}]
    aggregates = list(document.get("aggregates") or []) + [{}] * MAX_AGGREGATES
    return (
        render_template(
            "reports/builder.html",
            document=document,
            creating=creating,
            objects=objects,
            fields=fields,
            grouping_options=[(f[0], f[1]) for f in fields["groupings"]],
            number_options=[(f[0], f[1]) for f in fields["numbers"]],
            date_options=list(date_labels().items()),
            op_options=list(op_labels().items()),
            groupings=groupings[:2],
            aggregates=aggregates[:MAX_AGGREGATES],
            types=TYPES,
            type_labels=type_labels(),
            date_groups=DATE_GROUPS,
            date_labels=date_labels(),
            ops=AGGREGATES,
            op_labels=op_labels(),
            errors=errors or {},
            admin=_admin(),
        ),
        status,
    )


def date_labels() -> dict[str, str]:
    return {
        "day": _("Day"),
        "week": _("Week"),
        "month": _("Month"),
        "quarter": _("Quarter"),
        "year": _("Year"),
    }


def op_labels() -> dict[str, str]:
    return {
        "count": _("Record count"),
        "sum": _("Sum"),
        "avg": _("Average"),
        "min": _("Minimum"),
        "max": _("Maximum"),
    }


def document_from_form(form: MultiDict) -> dict:
    """The report definition a builder form describes."""
    kind = form.get("type", "summary")
    document: dict[str, Any] = {
        "api_name": form.get("api_name", "").strip(),
        "label": form.get("label", "").strip(),
        "object": form.get("object", ""),
        "type": kind,
    }
    for optional in ("description", "folder", "filter", "sort"):
        if form.get(optional, "").strip():
            document[optional] = form[optional].strip()
    if form.get("limit", "").strip():
        if not form["limit"].strip().isdigit():
            raise ValidationFailed(
                "limit: a whole number", details={"fields": {"limit": [_("A whole number, 1 to 1000")]}}
            )
        document["limit"] = int(form["limit"])
    if kind == "tabular":
        document["columns"] = [c for c in form.getlist("columns") if c]
        return document
    groupings = []
    for i in (1, 2):
        field = form.get(f"group{i}_field", "")
        if not field:
            continue
        grouping: dict[str, Any] = {"field": field}
        if form.get(f"group{i}_date"):
            grouping["date"] = form[f"group{i}_date"]
            if form.get("fiscal") == "1" and grouping["date"] in ("quarter", "year"):
                grouping["fiscal"] = True
        groupings.append(grouping)
    document["groupings"] = groupings
    aggregates = []
    for i in range(1, MAX_AGGREGATES + 1):
        op = form.get(f"agg{i}_op", "")
        if not op:
            continue
        aggregate = {"op": op}
        if op != "count" and form.get(f"agg{i}_field"):
            aggregate["field"] = form[f"agg{i}_field"]
        aggregates.append(aggregate)
    document["aggregates"] = aggregates or [{"op": "count"}]
    return document


_PATH = re.compile(r"^(groupings|aggregates|columns)\[(\d+)\](?:\.(\w+))?$")


def _form_name(path: str) -> str:
    """A definition path ("groupings[0].date") as the builder's form member ("group1_date")."""
    match = _PATH.match(path)
    if not match:
        return path.split(".")[0].split("[")[0]
    kind, index, member = match[1], int(match[2]) + 1, match[3]
    if kind == "columns":
        return "columns"
    if kind == "groupings":
        return f"group{index}_{member or 'field'}"
    return f"agg{index}_{member or 'op'}"


def _form_errors(exc: ValidationFailed) -> dict[str, list[str]]:
    fields = (exc.details or {}).get("fields") or {}
    errors: dict[str, list[str]] = {}
    for path, reasons in fields.items():
        errors.setdefault(_form_name(path), []).extend(reasons if isinstance(reasons, list) else [str(reasons)])
    if not errors:
        errors["_form"] = [exc.message]
    return errors


def _save(*, creating: bool, name: str | None = None):
    form = request.form
    try:
        document = document_from_form(form)
    except ValidationFailed as exc:
        return _builder(
            {"object": form.get("object"), "type": form.get("type")},
            creating=creating,
            errors=_form_errors(exc),
            status=422,
        )
    if not creating:
        existing = service.find(context.model(), name, _user_id())
        document["api_name"] = name
        if existing.get("translations"):
            document["translations"] = existing["translations"]
        if existing.get("chart"):
            document["chart"] = existing["chart"]
    elif not re.fullmatch(r"[a-z][a-z0-9_]{0,62}", document["api_name"] or ""):
        errors = {"api_name": [_("Lowercase letters, digits and underscores, starting with a letter")]}
        return _builder(document, creating=creating, errors=errors, status=422)
    if not document["label"]:
        return _builder(document, creating=creating, errors={"label": [_("Required")]}, status=422)
    try:
        stored = service.save(
            context.instance(),
            current_tenant(),
            current_actor(),
            context.store(),
            document,
            admin=_admin(),
            creating=creating,
        )
    except ValidationFailed as exc:
        return _builder(document, creating=creating, errors=_form_errors(exc), status=422)
    return redirect(url_for("ui.report_page", name=stored["api_name"]), code=303)
