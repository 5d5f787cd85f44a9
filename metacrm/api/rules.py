"""Validation rules under ``/api/v1/meta/objects/{object}/validation-rules``
and the rule-language endpoints ``/api/v1/rules/check`` and
``/api/v1/rules/evaluate``.

Validation rules are definitions: reading is open to every member (as the
rest of ``/api/v1/meta``), writing needs a metadata admin and makes a
revision; the condition is type-checked before the change so its errors
carry line, column and the member (``condition``) they point at.

``check`` type-checks an expression for a use (``context``) and always
answers 200 with ``valid`` and either the type or diagnostics; ``evaluate``
computes an expression for one record the caller may read, from fields the
caller may see.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

import sqlalchemy as sa
from flask import Blueprint, jsonify

from metacrm.api.requests import json_body
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.store.sealing import open_row
from metacrm.platform.errors import NotFound, ValidationFailed
from metacrm.plugins import context
from metacrm.rules import RecordContext, RuleError, compile_python, validation_rules
from metacrm.rules.saving import USES, Use, typecheck, typecheck_default, user_globals
from metacrm.rules.validation_rules import KIND

blueprint = Blueprint("api_rules", __name__, url_prefix="/api/v1")


# -- validation rules ----------------------------------------------------------------------


def _require_object(name: str) -> None:
    validation_rules.require_object(context.model(), name)


def _rule(name: str, item: str) -> dict:
    return validation_rules.validation_rule(context.model(), name, item)


def _save_rule(name: str, body: dict, *, creating: bool) -> dict:
    """Check the document and its condition against the live model, then
    store it as a new revision (:mod:`metacrm.rules.validation_rules`)."""
    model = context.model()
    service = context.metadata_service()  # 403 unless a metadata admin; refreshes the model after the change
    return validation_rules.save_validation_rule(service, model, name, body, creating=creating)


@blueprint.get("/meta/objects/<name>/validation-rules")
def list_validation_rules(name):
    """List an object's validation rules."""
    _require_object(name)
    return jsonify({"data": [d.document for d in context.model().definitions.scoped(KIND, name)]})


@blueprint.post("/meta/objects/<name>/validation-rules")
def create_validation_rule(name):
    """Create a validation rule.

    409 if its api_name is taken."""
    return jsonify(_save_rule(name, json_body(), creating=True)), 201


@blueprint.get("/meta/objects/<name>/validation-rules/<item>")
def get_validation_rule(name, item):
    """One validation rule."""
    return jsonify(_rule(name, item))


@blueprint.put("/meta/objects/<name>/validation-rules/<item>")
def put_validation_rule(name, item):
    """Create or replace a validation rule."""
    body = json_body()
    if body.setdefault("api_name", item) != item:
        raise ValidationFailed("api_name must match the URL", details={"fields": {"api_name": ["must match the URL"]}})
    return jsonify(_save_rule(name, body, creating=False))


@blueprint.delete("/meta/objects/<name>/validation-rules/<item>")
def delete_validation_rule(name, item):
    """Delete a validation rule (a rollback can bring it back)."""
    validation_rules.delete_validation_rule(context.metadata_service(), name, item)
    return "", 204


# -- checking and evaluating expressions ----------------------------------------------------


def _request(body: dict, *names: str) -> None:
    errors = {n: ["is required"] for n in names if body.get(n) in (None, "")}
    errors.update({n: ["must be a string"] for n in names if n not in errors and not isinstance(body[n], str)})
    if errors:
        raise ValidationFailed("some members are missing or invalid", details={"fields": errors})


def _readable_object(name: str):
    """The object, if the caller may read its records; and the fields they see."""
    guard = context.guard()
    obj = context.model().object(name)
    if obj is None:
        raise NotFound(f"no object {name!r}")
    guard.require("read", obj)
    return obj, guard.readable_fields(obj)


def _hidden_reference(typed, object_name: str) -> RuleError | None:
    """The first field path the caller may not read, as a rule error (a
    hidden field is reported like an unknown one)."""
    guard = context.guard()
    model = context.model()
    for item in typed.walk():
        if item.kind not in ("field", "related"):
            continue
        names = (item.value,) if item.kind == "field" else item.value.names
        obj = model.object(object_name)
        for name in names:
            readable = guard.permits("read", obj) and (name in guard.readable_fields(obj) or name in SYSTEM_FIELDS)
            if not readable:
                return RuleError(f"unknown field {name!r} on {obj.api_name}", line=item.line, column=item.column)
            target = obj.fields[name].reference_target if name in obj.fields else None
            obj = model.object(target) if target else obj
    return None


def _diagnostic(exc: RuleError) -> dict:
    details = exc.details or {}
    return {
        "line": exc.line,
        "column": exc.column,
        "message": exc.reason,
        "suggestion": details.get("suggestion"),
        "snippet": details.get("snippet"),
    }


@blueprint.post("/rules/check")
def check_expression():
    """Type-check an expression for a use.

    ``{"object", "expression", "context"}`` with ``context`` one of
    validation, default (with ``field``), layout, filter, formula,
    automation, scope. Always 200: ``{"valid": true, "type", "references"}``
    or ``{"valid": false, "diagnostics": [{"line", "column", "message",
    "suggestion", "snippet"}]}``."""
    body = json_body()
    _request(body, "object", "expression")
    use_name = body.get("context") or "validation"
    use: Use | None = USES.get(use_name) if isinstance(use_name, str) else None
    if use is None:
        raise ValidationFailed(
            f"context must be one of {', '.join(USES)}", details={"fields": {"context": [f"one of {', '.join(USES)}"]}}
        )
    object_name = body["object"]
    admin = context.guard().may_manage_metadata()
    if not admin:
        _readable_object(object_name)
    model = context.model()
    if model.object(object_name) is None:
        raise NotFound(f"no object {object_name!r}")
    try:
        if use_name == "default" and body.get("field") is not None:
            field_type = model.object(object_name).fields.get(body["field"])
            if field_type is None:
                raise ValidationFailed(
                    f"no field {body['field']!r} on {object_name}", details={"fields": {"field": ["no such field"]}}
                )
            typed = typecheck_default(model, object_name, field_type, body["expression"])
        else:
            typed = typecheck(model, object_name, body["expression"], use)
        hidden = None if admin else _hidden_reference(typed, object_name)
        if hidden is not None:
            raise hidden.with_source(body["expression"])
    except RuleError as exc:
        return jsonify({"valid": False, "diagnostics": [_diagnostic(exc)]})
    return jsonify(
        {
            "valid": True,
            "type": typed.type.name,
            "references": sorted(".".join(path) for path in typed.references()),
        }
    )


def _json(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    return value


@blueprint.post("/rules/evaluate")
def evaluate_expression():
    """The value of an expression for one record you may read.

    ``{"object", "expression", "record_id"}``: the caller must be able to
    read the record, and the expression may read only fields they see
    (lookups: records they may read; others read as null). 200
    ``{"value", "type"}``; a bad expression is a 422 with line and column."""
    body = json_body()
    _request(body, "object", "expression")
    object_name = body["object"]
    store = context.store()
    obj, _readable = _readable_object(object_name)
    record = store.get(object_name, body.get("record_id"), fields=[])  # 404 outside the caller's scope
    typed = typecheck(store.model, object_name, body["expression"], Use("an expression", expect=None))
    hidden = _hidden_reference(typed, object_name)
    if hidden is not None:
        raise hidden.with_source(body["expression"])
    with store.binding.connect() as conn:
        row = conn.execute(sa.select(obj.table).where(obj.table.c.id == record["id"])).first()
        values = open_row(store.registry, obj.api_name, obj.fields, dict(row._mapping))

    def related(path: tuple[str, ...]) -> Any:
        current_obj, current = obj, values
        for name in path[:-1]:
            target_name = current_obj.fields[name].reference_target
            if current.get(name) is None:
                return None
            try:
                store.get(target_name, current[name], fields=[])  # the caller's scope applies
            except NotFound:
                return None
            current_obj = store.model.object(target_name)
            with store.binding.connect() as conn:
                row = conn.execute(sa.select(current_obj.table).where(current_obj.table.c.id == current[name])).first()
            current = open_row(store.registry, current_obj.api_name, current_obj.fields, dict(row._mapping))
        return current.get(path[-1])

    evaluate = compile_python(typed)
    value = evaluate(RecordContext(values, related=related, user=user_globals(store)))
    return jsonify({"value": _json(value), "type": typed.type.name})
