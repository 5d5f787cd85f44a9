"""Schema pieces every part of the OpenAPI document uses: small helpers
(references, JSON content, names), the error responses, the parameters
shared by many paths, and the fixed schemas of the metadata, token and
account endpoints (the definition kinds' schemas
made self-contained).

Depends on the metadata layer only.
"""

from __future__ import annotations

import copy
from typing import Any

from metacrm.metadata.fieldtypes.json_schema import record_id_schema
from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry
from metacrm.metadata.kinds import KindRegistry

API_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

ERROR_RESPONSES = {
    "400": ("BadRequest", "The request is malformed (not JSON, bad cursor, bad If-Match …)."),
    "401": ("Unauthenticated", "No valid bearer token or session."),
    "403": ("Forbidden", "Signed in, but not allowed to do this."),
    "404": ("NotFound", "No such object, field or record (or not visible to you)."),
    "409": ("Conflict", "Conflicts with stored data: stale version, unique value taken, restricted delete …"),
    "413": ("PayloadTooLarge", "The request body is larger than the configured limit."),
    "422": ("ValidationFailed", "Input failed validation; `details` names every failing field."),
    "429": ("TooManyRequests", "Too many failed sign-ins; retry after `Retry-After` seconds."),
}


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def not_empty(schema: dict) -> dict:
    """``schema`` without null (and, for strings and lists, without empty values)."""
    schema = dict(schema)
    kind = schema.get("type")
    if isinstance(kind, list):
        kinds = [k for k in kind if k != "null"]
        schema["type"] = kinds[0] if len(kinds) == 1 else kinds
    if "enum" in schema:
        schema["enum"] = [v for v in schema["enum"] if v is not None]
    if "anyOf" in schema:
        schema["anyOf"] = [s for s in schema["anyOf"] if s != {"type": "null"}]
    if schema.get("type") == "string" and "enum" not in schema:
        schema.setdefault("minLength", 1)
    if schema.get("type") == "array":
        schema.setdefault("minItems", 1)
    return schema


def json_content(schema: dict, example: Any = None) -> dict:
    media: dict[str, Any] = {"schema": schema}
    if example is not None:
        media["example"] = example
    return {"application/json": media}


def pascal(api_name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in api_name.split("_")) or "Object"


def inline_local_refs(schema: dict) -> dict:
    """A definition kind's schema made
    self-contained: its ``#/$defs/…`` references replaced by their targets,
    ``$schema``/``$id``/``$defs`` dropped (inside the OpenAPI document a
    ``#`` reference would point at the document's root)."""
    defs = schema.get("$defs", {})

    def walk(node: Any) -> Any:
        if isinstance(node, dict):
            target = node.get("$ref")
            if isinstance(target, str) and target.startswith("#/$defs/"):
                return walk(defs[target.removeprefix("#/$defs/")])
            return {k: walk(v) for k, v in node.items() if k not in ("$schema", "$id", "$defs")}
        if isinstance(node, list):
            return [walk(v) for v in node]
        return node

    return walk(copy.deepcopy(schema))


def with_properties(schema: dict, extra: dict, *, required: bool = True) -> dict:
    """A copy of ``schema`` with ``extra`` properties (and, with
    ``required=False``, no required members: a partial document)."""
    schema = copy.deepcopy(schema)
    schema["properties"] = {**schema.get("properties", {}), **extra}
    if not required:
        schema.pop("required", None)
    return schema


def error_refs(*statuses: str) -> dict:
    """References to the error responses of ``statuses``, for an operation's ``responses``."""
    return {status: {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"} for status in statuses}


FIXED_SCHEMA_NAMES = (
    "Error",
    "ObjectDefinition",
    "ObjectPatch",
    "ObjectCreate",
    "ObjectSummary",
    "ObjectDetail",
    "FieldDefinition",
    "FieldPatch",
    "FieldDetail",
    "Layout",
    "ListView",
    "FieldType",
    "ConversionPreview",
    "RevisionSummary",
    "Revision",
    "TokenRequest",
    "Token",
    "TokenInfo",
    "Me",
    "AuditEntry",
)


def error_responses() -> dict:
    """``components.responses``: one response per error status."""
    responses = {}
    for _status, (name, description) in ERROR_RESPONSES.items():
        response: dict[str, Any] = {"description": description, "content": json_content(ref("Error"))}
        if name == "TooManyRequests":
            response["headers"] = {"Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}}
        responses[name] = response
    return responses


def shared_parameters() -> dict:
    """``components.parameters`` that every tenant's document has."""
    api_name = {"type": "string", "pattern": API_NAME_PATTERN}
    return {
        "objectName": {
            "name": "name",
            "in": "path",
            "required": True,
            "description": "API name of the object.",
            "schema": api_name,
        },
        "fieldName": {
            "name": "field",
            "in": "path",
            "required": True,
            "description": "API name of the field.",
            "schema": api_name,
        },
        "itemName": {
            "name": "item",
            "in": "path",
            "required": True,
            "description": "API name of the layout or list view.",
            "schema": api_name,
        },
        "recordId": {
            "name": "id",
            "in": "path",
            "required": True,
            "description": "The record's id.",
            "schema": record_id_schema(),
        },
        "revisionNumber": {
            "name": "number",
            "in": "path",
            "required": True,
            "schema": {"type": "integer", "minimum": 0},
        },
        "deletedFlag": {
            "name": "deleted",
            "in": "query",
            "description": "true: the recycle bin instead of live items.",
            "schema": {"type": "boolean", "default": False},
        },
    }


def _detail_collections(kinds: KindRegistry) -> dict:
    """An object's payload lists the definitions of every object-scoped kind
    (a plugin's too: duplicate rules), each under its collection name."""
    named = {
        "fields": ref("FieldDefinition"),
        "layouts": ref("Layout"),
        "list_views": ref("ListView"),
        "validation_rules": ref("ValidationRule"),
        "automations": ref("Automation"),
    }
    collections = {name: {"type": "array", "items": item} for name, item in named.items()}
    for kind in kinds.object_scoped():
        if kind.collection not in collections:
            items = inline_local_refs(kind.schema) if kind.schema is not None else {"type": "object"}
            collections[kind.collection] = {"type": "array", "items": items}
    return collections


def fixed_schemas(registry: FieldTypeRegistry, kinds: KindRegistry) -> dict:
    """The schemas of the metadata, token and account endpoints (named in
    :data:`FIXED_SCHEMA_NAMES`); definition schemas are the kinds' own."""
    obj_def = inline_local_refs(kinds.get("object").schema)
    field_def = inline_local_refs(kinds.get("field").schema)
    field_def["properties"]["type"] = {
        "type": "string",
        "enum": registry.names(),
        "description": "The field type; see GET /api/v1/meta/field-types.",
    }
    layout_def = inline_local_refs(kinds.get("layout").schema)
    list_view_def = inline_local_refs(kinds.get("list_view").schema)
    deleted_at = {"type": ["string", "null"], "format": "date-time", "description": "Set while in the recycle bin."}
    return {
        "Error": {
            "type": "object",
            "required": ["error"],
            "properties": {
                "error": {
                    "type": "object",
                    "required": ["code", "message", "details"],
                    "properties": {
                        "code": {"type": "string", "examples": ["validation_failed"]},
                        "message": {"type": "string"},
                        "details": {
                            "description": (
                                'null, or e.g. {"fields": {"email": ["not a valid e-mail address"]}}; '
                                'bulk writes: {"rows": {"0": {"fields": {…}}}}'
                            ),
                        },
                    },
                }
            },
        },
        "ObjectDefinition": obj_def,
        "ObjectPatch": with_properties(obj_def, {}, required=False),
        "ObjectCreate": with_properties(
            obj_def,
            {"fields": {"type": "array", "items": ref("FieldDefinition"), "description": "Fields to add at once."}},
        ),
        "ObjectSummary": with_properties(
            obj_def, {"deleted_at": deleted_at, "field_count": {"type": "integer", "minimum": 0}}
        ),
        "ObjectDetail": with_properties(obj_def, {"deleted_at": deleted_at, **_detail_collections(kinds)}),
        "FieldDefinition": field_def,
        "FieldPatch": with_properties(field_def, {}, required=False),
        "FieldDetail": with_properties(field_def, {"deleted_at": deleted_at}),
        "Layout": layout_def,
        "ListView": list_view_def,
        "FieldType": {
            "type": "object",
            "required": ["type", "label", "widget", "operators", "sortable", "options_schema", "converts_to"],
            "properties": {
                "type": {"type": "string"},
                "label": {"type": "string"},
                "widget": {"type": "string"},
                "operators": {"type": "array", "items": {"type": "string"}},
                "sortable": {"type": "boolean"},
                "options_schema": {"type": "object", "description": "JSON Schema of the field's options."},
                "converts_to": {"type": "array", "items": {"type": "string"}},
            },
        },
        "ConversionPreview": {
            "type": "object",
            "required": ["from", "to"],
            "properties": {
                "from": {"type": "string"},
                "to": {"type": "string"},
                "convertible": {"type": "integer"},
                "unconvertible": {
                    "type": "array",
                    "items": {"type": "object", "properties": {"value": {}, "count": {"type": "integer"}}},
                },
                "unconvertible_count": {"type": "integer"},
            },
        },
        "RevisionSummary": {
            "type": "object",
            "required": ["revision", "at", "actor_email", "summary"],
            "properties": {
                "revision": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "actor_email": {"type": ["string", "null"]},
                "summary": {"type": "string"},
            },
        },
        "Revision": {
            "type": "object",
            "required": ["revision", "at", "summary", "changes"],
            "properties": {
                "revision": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "actor_id": {"type": ["integer", "null"]},
                "actor_email": {"type": ["string", "null"]},
                "summary": {"type": "string"},
                "changes": {
                    "type": "array",
                    "description": "The before/after of every definition the revision touched.",
                    "items": {
                        "type": "object",
                        "required": ["kind", "key", "before", "after"],
                        "properties": {
                            "kind": {"type": "string"},
                            "key": {"type": "string"},
                            "before": {"type": ["object", "null"]},
                            "after": {"type": ["object", "null"]},
                        },
                    },
                },
            },
        },
        "TokenRequest": {
            "type": "object",
            "required": ["email", "password", "tenant"],
            "properties": {
                "email": {"type": "string"},
                "password": {"type": "string", "format": "password"},
                "tenant": {"type": "string", "description": "The tenant (organisation) slug."},
                "name": {"type": "string", "description": "A name to tell tokens apart.", "default": "api"},
                "otp": {
                    "type": "string",
                    "description": "With two-factor authentication: the app's code or a recovery code.",
                },
            },
        },
        "Token": {
            "type": "object",
            "required": ["token", "id"],
            "properties": {
                "token": {"type": "string", "description": "Shown once; send as `Authorization: Bearer …`."},
                "id": {"type": "integer"},
                "tenant": {"type": "string"},
            },
        },
        "TokenInfo": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "name": {"type": "string"},
                "prefix": {"type": "string"},
                "created_at": {"type": ["string", "null"], "format": "date-time"},
                "last_used_at": {"type": ["string", "null"], "format": "date-time"},
                "revoked_at": {"type": ["string", "null"], "format": "date-time"},
            },
        },
        "Me": {
            "type": "object",
            "required": ["user", "tenant", "tenants"],
            "properties": {
                "user": {
                    "type": "object",
                    "properties": {
                        "id": {"type": "integer"},
                        "email": {"type": "string"},
                        "display_name": {"type": ["string", "null"]},
                        "is_admin": {"type": "boolean"},
                        "role": {"type": ["string", "null"]},
                    },
                },
                "tenant": {
                    "type": "object",
                    "properties": {"slug": {"type": "string"}, "name": {"type": "string"}},
                },
                "tenants": {"type": "array", "items": {"type": "string"}},
            },
        },
        "AuditEntry": {
            "type": "object",
            "properties": {
                "id": {"type": "integer"},
                "at": {"type": "string", "format": "date-time"},
                "actor_id": {"type": ["integer", "null"]},
                "actor_email": {"type": ["string", "null"]},
                "action": {"type": "string"},
                "object": {"type": ["string", "null"]},
                "record_id": {"type": ["string", "null"]},
                "details": {},
                "ip": {"type": ["string", "null"]},
                "request_id": {"type": ["string", "null"]},
            },
        },
    }
