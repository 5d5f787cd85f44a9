"""``/api/v1/reports``: the reports a user may run, running one (JSON, CSV
or XLSX), an ad-hoc run of a definition (the report builder's preview),
and saving or deleting one (docs/data.md#reports).

A run sees what the caller may see: their record scope and field access
(metacrm/data/reports/engine.py). Saving: an admin (manage metadata) saves
shared reports; anyone else saves reports private to them.
"""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from metacrm.api.requests import json_body
from metacrm.data.reports import export, service
from metacrm.data.reports.engine import run_report
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.settings import settings_for
from metacrm.platform.web import current_actor, current_identity, current_tenant
from metacrm.plugins import context

blueprint = Blueprint("api_reports", __name__, url_prefix="/api/v1/reports")
FORMATS = ("json", "csv", "xlsx")


def run_options(**extra):
    """The caller's run options: the tenant's time zone and fiscal year, the caller's locale."""
    identity = current_identity()
    settings = settings_for(context.instance(), identity.tenant_id, identity.tenant_settings_version)
    return service.options_for(settings, identity.locale or settings.get("default_locale"), **extra)


def _answer(result: dict):
    fmt = request.args.get("format", "json")
    if fmt not in FORMATS:
        raise ValidationFailed(
            f"format must be one of {', '.join(FORMATS)}", details={"fields": {"format": ["csv, xlsx or json"]}}
        )
    if fmt == "json":
        return jsonify(result)
    model = context.model()
    obj = model.object(result["object"])

    def choices(field: str, value: str) -> str:
        field_type = obj.fields.get(field)
        label_for = getattr(field_type, "label_for", None)
        return label_for(value, run_options().locale) if label_for else value

    rows = export.table(result, choices=choices)
    name = result.get("report") or "report"
    if fmt == "csv":
        body, mimetype = export.to_csv(rows), export.CSV_TYPE
    else:
        body, mimetype = export.to_xlsx(rows, result.get("label") or name), export.XLSX_TYPE
    return Response(body, mimetype=mimetype, headers={"Content-Disposition": f'attachment; filename="{name}.{fmt}"'})


@blueprint.get("")
def list_reports():
    """The reports the caller may run: ``{"data": [{api_name, label, description, folder, object, type, private}]}``."""
    store = context.store()
    return jsonify({"data": service.reports_for(store, current_identity().user_id, run_options().locale)})


@blueprint.get("/<name>")
def get_report(name):
    """A report's definition (404 for another user's private report)."""
    return jsonify(service.find(context.model(), name, current_identity().user_id))


@blueprint.get("/<name>/run")
def run_named_report(name):
    """Run a report as the caller; ``format=csv|xlsx`` downloads the result as a file.

    The result: ``groups`` (each with its ``keys``, its aggregate ``values``
    and ``where``, the rule text of the records behind it), ``subtotals``,
    ``column_totals`` (matrix), ``total``; tabular reports ``columns``,
    ``records`` and ``total``."""
    document = service.find(context.model(), name, current_identity().user_id)
    return _answer(run_report(context.store(), document, run_options()))


@blueprint.post("/run")
def run_adhoc_report():
    """Run a report definition sent in the body without saving it (the builder's preview); ``format`` as above."""
    body = json_body()
    document = {"api_name": "preview", "label": "Preview", **body}
    return _answer(run_report(context.store(), document, run_options()))


@blueprint.post("")
def create_report():
    """Save a new report: shared for an admin (manage metadata), private to the caller otherwise."""
    guard = context.guard()
    stored = service.save(
        context.instance(),
        current_tenant(),
        current_actor(),
        context.store(),
        json_body(),
        admin=guard.may_manage_metadata(),
        creating=True,
    )
    return jsonify(stored), 201


@blueprint.put("/<name>")
def put_report(name):
    """Change a report (its owner, or an admin for any)."""
    body = {**json_body(), "api_name": name}
    guard = context.guard()
    stored = service.save(
        context.instance(),
        current_tenant(),
        current_actor(),
        context.store(),
        body,
        admin=guard.may_manage_metadata(),
        creating=False,
    )
    return jsonify(stored)


@blueprint.delete("/<name>")
def delete_report(name):
    """Delete a report (its owner, or an admin for any)."""
    guard = context.guard()
    service.delete(
        context.instance(), current_tenant(), current_actor(), context.model(), name, admin=guard.may_manage_metadata()
    )
    return "", 204
