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

import re

import sqlalchemy as sa
from flask import Blueprint, jsonify, request

from metacrm.api.requests import json_body
from metacrm.api.where import where_clause
from metacrm.metadata.definitions import scoped_key
from metacrm.platform.errors import BadRequest, NotFound, ValidationFailed
from metacrm.platform.web import current_identity
from metacrm.plugins import context

blueprint = Blueprint("api_data", __name__, url_prefix="/api/v1/data")

RESERVED_PARAMS = {"q", "sort", "limit", "cursor", "offset", "fields", "count", "deleted", "where", "view"}
FILTER_PARAM = re.compile(r"^([a-z][a-z0-9_]{0,62})(?:\[([a-z]+)\])?$")


def _flag(name: str) -> bool:
    return request.args.get(name, "").lower() in ("1", "true", "yes")


def _list_params() -> dict:
    filters = []
    for key, values in request.args.lists():
        if key in RESERVED_PARAMS:
            continue
        match = FILTER_PARAM.match(key)
        if not match:
            raise ValidationFailed(
                f"unknown query parameter {key!r}",
                details={"fields": {key: ["not a field filter like name or amount[gte]"]}},
            )
        for value in values:
            filters.append((match[1], match[2] or "eq", value))
    fields = request.args.get("fields")
    return {
        "filters": filters,
        "fields": [f.strip() for f in fields.split(",") if f.strip()] if fields else None,
        "q": request.args.get("q") or None,
        "sort": request.args.get("sort") or None,
        "limit": request.args.get("limit"),
        "cursor": request.args.get("cursor") or None,
        "offset": _offset(),
        "count": _flag("count"),
        "deleted": _flag("deleted"),
    }


def _offset() -> int | None:
    raw = request.args.get("offset")
    if raw is None:
        return None
    if not raw.isdigit():
        raise ValidationFailed("offset must be a whole number", details={"fields": {"offset": ["whole number"]}})
    return int(raw)


def _page(page) -> dict:
    body = {"data": page.data, "next_cursor": page.next_cursor}
    if page.total is not None:
        body["total"] = page.total
    return body


def _with_etag(record: dict, status: int = 200):
    response = jsonify(record)
    response.status_code = status
    response.headers["ETag"] = f'"{record["version"]}"'
    return response


def _expected_version(body: dict) -> int | None:
    header = request.headers.get("If-Match")
    if header:
        raw = header.strip().removeprefix("W/").strip('"')
        if not raw.isdigit():
            raise BadRequest("If-Match must be the record's version, as in its ETag")
        return int(raw)
    version = body.pop("version", None)
    if version is not None and (not isinstance(version, int) or isinstance(version, bool)):
        raise ValidationFailed("version must be an integer", details={"fields": {"version": ["must be an integer"]}})
    return version


def _apply_view(store, name: str, view: str, params: dict) -> list[str]:
    """A list view's ``filters`` and ``sort`` joined with the request's own
    parameters (the request's ``sort`` wins); returns its ``filter`` condition."""
    definition = store.model.definitions.get("list_view", scoped_key(name, view))
    if definition is None:
        raise NotFound(f"no list view {view!r} on {name}")
    document = definition.document
    for field, value in (document.get("filters") or {}).items():
        params["filters"].append((field, "in", value) if isinstance(value, list) else (field, "eq", value))
    params["sort"] = params["sort"] or document.get("sort") or None
    return [document["filter"]] if document.get("filter") else []


@blueprint.get("/<name>")
def list_records(name):
    """The list; ``where=<condition>`` filters with a rule-language
    expression, ``view=<list view>`` applies a list view's filters and sort."""
    store = context.store()
    params = _list_params()
    conditions = _apply_view(store, name, request.args["view"], params) if request.args.get("view") else []
    if request.args.get("where"):
        conditions.append(request.args["where"])
    if conditions:
        readable = context.guard().readable_fields(store.object(name))
        clauses = [where_clause(store.model, name, text, readable, current_identity()) for text in conditions]
        params["extra_where"] = sa.and_(*clauses)
    return jsonify(_page(store.query(name, **params)))


@blueprint.post("/<name>")
def create_record(name):
    return _with_etag(context.store().create(name, json_body()), 201)


@blueprint.get("/<name>/<int:record_id>")
def get_record(name, record_id):
    fields = request.args.get("fields")
    selected = [f.strip() for f in fields.split(",") if f.strip()] if fields else None
    return _with_etag(context.store().get(name, record_id, fields=selected, deleted=_flag("deleted")))


@blueprint.patch("/<name>/<int:record_id>")
def update_record(name, record_id):
    body = json_body()
    version = _expected_version(body)
    return _with_etag(context.store().update(name, record_id, body, expected_version=version))


@blueprint.delete("/<name>/<int:record_id>")
def delete_record(name, record_id):
    context.store().delete(name, record_id)
    return "", 204


@blueprint.post("/<name>/<int:record_id>/restore")
def restore_record(name, record_id):
    return _with_etag(context.store().restore(name, record_id))


@blueprint.get("/<name>/<int:record_id>/related/<field>")
def related_records(name, record_id, field):
    params = _list_params()
    params.pop("deleted")
    return jsonify(_page(context.store().related(name, record_id, field, **params)))


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
