"""Imports over the API.

``POST /api/v1/data/<object>/import`` (multipart: ``file``, and optional
``mapping`` as JSON text ``{"Column": "field", "Account": {"field":
"account", "match": "account_number"}}`` — auto-matched when left out —,
``mode`` insert | update | upsert, ``key``, ``dry_run``, ``save_mapping``,
``duplicates`` allow | skip | update | flag)
checks the file and mapping and queues the run: 202 with the run.
``GET /api/v1/imports/<id>`` tells its status, progress, counts and row
errors; ``GET /api/v1/imports/<id>/failed-rows`` downloads the refused rows
with an ``error`` column, as CSV to fix and import again.
"""

from __future__ import annotations

import json

from flask import Blueprint, jsonify, request, send_file

from metacrm.data.imports import service
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.web import current_tenant
from metacrm.plugins import context

blueprint = Blueprint("api_imports", __name__, url_prefix="/api/v1")


def _flag(value) -> bool:
    return str(value or "").strip().lower() in ("1", "true", "yes", "on")


def _mapping(text):
    if text in (None, ""):
        return None
    try:
        mapping = json.loads(text)
    except ValueError:
        raise ValidationFailed(
            "mapping must be a JSON object", details={"fields": {"mapping": ["is not valid JSON"]}}
        ) from None
    return mapping


@blueprint.url_value_preprocessor
def _upload_limit(endpoint, values):
    """An import's file may exceed the instance's request limit (it is streamed to disk)."""
    if endpoint == "api_imports.start":
        request.max_content_length = service.MAX_UPLOAD


@blueprint.post("/data/<name>/import")
def start(name):
    upload = request.files.get("file")
    if upload is None or not upload.filename:
        raise ValidationFailed("send the file as multipart field file", details={"fields": {"file": ["is required"]}})
    form = request.form
    record = service.start_import(
        context.instance(),
        current_tenant(),
        context.store(),
        name,
        upload.stream,
        upload.filename,
        mapping=_mapping(form.get("mapping")),
        mode=form.get("mode") or "insert",
        key=form.get("key") or None,
        dry_run=_flag(form.get("dry_run")),
        save_as=form.get("save_mapping") or None,
        duplicates=form.get("duplicates") or "allow",
    )
    store = context.store()
    current = service.get_import(current_tenant(), store, record["id"])
    return jsonify(service.public(current)), 202


@blueprint.get("/imports/<int:import_id>")
def show(import_id):
    record = service.get_import(current_tenant(), context.store(), import_id)
    return jsonify(service.public(record))


@blueprint.get("/imports/<int:import_id>/failed-rows")
def failed_rows(import_id):
    store = context.store()
    record = service.get_import(current_tenant(), store, import_id)
    path = service.failed_rows_path(current_tenant(), store, import_id)
    stem = record["file_name"].rsplit(".", 1)[0] or "import"
    return send_file(path, mimetype="text/csv", as_attachment=True, download_name=f"{stem}-failed-rows.csv", max_age=0)
