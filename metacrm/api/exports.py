"""``GET /api/v1/data/<object>/export``: a list as a CSV or XLSX file.

Takes the list's parameters (field filters, ``q``, ``where``, ``sort``,
``view``, ``fields``) and ``format=csv|xlsx``. Needs the ``export`` right
on the object (403 without it); exports only what the caller may read.
A list longer than ``EXPORT_JOB_THRESHOLD`` rows is exported by a job: the
answer is 202 with the export's token and status URL, and the caller gets a
notification when the file is ready at ``/api/v1/exports/<token>/file``.
"""

from __future__ import annotations

import tempfile
from dataclasses import replace

from flask import Blueprint, Response, jsonify, request, send_file, stream_with_context

from metacrm.data.exports import files, service
from metacrm.platform.clock import utcnow
from metacrm.platform.web import current_identity, current_tenant
from metacrm.plugins import context
from metacrm.plugins.records import ListRequest, capped_total

blueprint = Blueprint("api_exports", __name__, url_prefix="/api/v1")

NOT_LIST_PARAMETERS = ("format", "limit", "cursor", "offset", "count")


def list_arguments(args) -> list[tuple[str, str]]:
    """The list's own parameters among the query arguments."""
    return [(key, value) for key, values in args.lists() if key not in NOT_LIST_PARAMETERS for value in values]


def _disposition(name: str) -> str:
    return f'attachment; filename="{name}"'


@blueprint.get("/data/<name>/export")
def export_records(name):
    """Export a list as CSV (UTF-8 with BOM) or XLSX: ``format=csv|xlsx`` and the list's parameters."""
    fmt = service.check_format(request.args.get("format"))
    store = context.store()
    obj = service.require_export(store, name)
    arguments = list_arguments(request.args)
    list_request = ListRequest.from_args(arguments)
    locale = getattr(current_identity(), "locale", None)
    threshold = files.job_threshold(context.instance())
    beyond = capped_total(store, name, replace(list_request, fields=None), threshold)[1]
    if beyond:
        identity = current_identity()
        service.export_columns(store, name, list_request, locale)  # a bad column is a 422 now, not in the job
        token = files.start(
            context.instance(), current_tenant().slug, identity.user_id, name, arguments, fmt, locale, obj.label
        )
        body = files.status(context.instance(), current_tenant().slug, identity.user_id, token)
        return jsonify({"token": token, **_public(body), "status_url": f"/api/v1/exports/{token}"}), 202
    filename = service.file_name(obj, fmt, utcnow().date())
    if fmt == "xlsx":
        columns, rows = service.export_rows(store, name, list_request, locale, typed=True)
        spooled = tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024)  # noqa: SIM115 (send_file closes it)
        service.write_xlsx(columns, rows, spooled, obj.label)
        spooled.seek(0)
        return send_file(spooled, mimetype=service.MIME_TYPES["xlsx"], as_attachment=True, download_name=filename)
    columns, rows = service.export_rows(store, name, list_request, locale)
    return Response(
        stream_with_context(service.csv_chunks(columns, rows)),
        mimetype=service.MIME_TYPES["csv"],
        headers={"Content-Disposition": _disposition(filename)},
    )


def _public(meta: dict) -> dict:
    return {k: meta.get(k) for k in ("object", "format", "status", "rows", "created_at", "expires_at", "error")}


@blueprint.get("/exports/<token>")
def export_status(token):
    """An export job's status (pending, ready, failed): its owner only."""
    meta = files.status(context.instance(), current_tenant().slug, current_identity().user_id, token)
    body = {"token": token, **_public(meta)}
    if meta.get("status") == "ready":
        body["download_url"] = f"/api/v1/exports/{token}/file"
    return jsonify(body)


@blueprint.get("/exports/<token>/file")
def export_file(token):
    """Download a finished export: its owner only, until it expires."""
    found = files.open_download(context.instance(), current_tenant().slug, current_identity().user_id, token)
    return send_file(
        found.path,
        mimetype=service.MIME_TYPES[found.meta["format"]],
        as_attachment=True,
        download_name=found.download_name,
    )
