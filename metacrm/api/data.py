"""``/api/v1/data``: records of every object through the one record store.

List filters are query parameters: ``?industry=technology`` (equality) or
``?annual_revenue[gte]=1000000`` (any operator the field type supports:
eq ne lt lte gt gte in contains startswith isnull). ``q`` searches,
``sort=-amount,name`` sorts, ``limit`` (≤ 200) caps the page, ``cursor``
continues a page, ``offset`` skips, ``fields`` selects, ``count=true`` adds the
total, ``deleted=true`` lists the recycle bin, and ``where=`` filters with a
rule-language condition (``where=amount > 1000 and ISPICKVAL(stage, "won")``);
``view=<api_name>`` applies that list view's ``filters``, ``filter`` and ``sort``.
"""

from __future__ import annotations

from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.platform.errors import ValidationFailed
from metacrm.platform.web import read_only
from metacrm.plugins import context
from metacrm.plugins.records import (
    ListRequest,
    etag,
    expected_version,
    field_names,
    flag,
    list_page,
    page_body,
    related_page,
)

blueprint = Blueprint("api_data", __name__, url_prefix="/api/v1/data")


def _with_etag(record: dict, status: int = 200):
    response = jsonify(record)
    response.status_code = status
    response.headers["ETag"] = etag(record)
    return response


@blueprint.get("/<name>")
@read_only
def list_records(name):
    """The list; ``where=<condition>`` filters with a rule-language
    expression, ``view=<list view>`` applies a list view's filters and sort."""
    page = list_page(context.store(), name, ListRequest.from_args(request.args))
    return jsonify(page_body(page))


@blueprint.post("/<name>")
def create_record(name):
    return _with_etag(context.store().create(name, json_body()), 201)


@blueprint.get("/<name>/<int:record_id>")
@read_only
def get_record(name, record_id):
    selected = field_names(request.args.get("fields"))
    return _with_etag(context.store().get(name, record_id, fields=selected, deleted=flag(request.args, "deleted")))


@blueprint.patch("/<name>/<int:record_id>")
def update_record(name, record_id):
    body = json_body()
    version = expected_version(request.headers.get("If-Match"), body)
    return _with_etag(context.store().update(name, record_id, body, expected_version=version))


@blueprint.delete("/<name>/<int:record_id>")
def delete_record(name, record_id):
    context.store().delete(name, record_id)
    return "", 204


@blueprint.post("/<name>/<int:record_id>/restore")
def restore_record(name, record_id):
    return _with_etag(context.store().restore(name, record_id))


@blueprint.get("/<name>/<int:record_id>/related/<field>")
@read_only
def related_records(name, record_id, field):
    page = related_page(context.store(), name, record_id, field, ListRequest.from_args(request.args))
    return jsonify(page_body(page))


@blueprint.post("/<name>/bulk")
def bulk(name):
    """``{"records": [...], "operation": "create" | "update"}``, all or nothing."""
    body = json_body()
    records = body.get("records")
    operation = body.get("operation", "create")
    if not isinstance(records, list):
        raise ValidationFailed("records must be a list", details={"fields": {"records": ["must be a list"]}})
    store = context.store()
    if operation == "create":
        created = store.bulk_create(name, records)
        return jsonify({"data": created, "count": len(created)}), 201
    if operation == "update":
        updated = store.bulk_update(name, records)
        return jsonify({"data": updated, "count": len(updated)})
    raise ValidationFailed(
        "operation must be create or update", details={"fields": {"operation": ["create or update"]}}
    )
