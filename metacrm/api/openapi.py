"""``GET /api/v1/openapi.json``: the OpenAPI 3.1 document of the signed-in
tenant's API, generated from its live compiled model.

Each object of the tenant gets its record schemas (``<Object>`` as returned,
``<Object>Input`` for create, ``<Object>Update`` for partial update,
``<Object>List`` for a page) and concrete paths under ``/api/v1/data/<object>``
whose filter parameters name the object's own fields and operators. The
metadata, token and account endpoints are described once, with the JSON
Schemas of ``metacrm/metadata/schemas`` as their request bodies. Any other
``/api/`` route of the app (a plugin's blueprint, a part of the API this
module does not know in detail) is described from its URL rule and its
view's docstring, so every route the app serves is in the document.

The document depends on the metadata revision and nothing else of the
tenant's (plus its display name, in the title), so it is built once per
(tenant, revision) and kept in ``Instance.caches``; a change made by any
worker bumps the revision, and the next request rebuilds it. It describes
every field of the model: field-level security, once policies hide fields
from some users, only shortens the records those users get.

Depends on the metadata layer (compiled model, field types) and the
platform's web edge; nothing here writes.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
import inspect
import json
import re
from dataclasses import dataclass
from typing import Any

from flask import Blueprint, Flask, current_app
from werkzeug.exceptions import HTTPException
from werkzeug.routing import Map, Rule
from werkzeug.routing.exceptions import RoutingException

from metacrm.metadata.definitions import schema_for
from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.store import DEFAULT_LIMIT, MAX_BULK, MAX_LIMIT, SYSTEM_FIELD_TYPES
from metacrm.platform.web import PUBLIC_ATTR, current_tenant
from metacrm.plugins import context
from metacrm.rules.saving import USES

blueprint = Blueprint("api_openapi", __name__, url_prefix="/api/v1")

OPENAPI_VERSION = "3.1.0"
CACHE_KEY = "openapi"
API_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"
# Query parameters of a list that are not field filters (metacrm.api.data).
LIST_PARAMETERS = ("q", "sort", "limit", "cursor", "offset", "fields", "count", "deleted")
TEXT_TYPES = ("text", "long_text", "rich_text", "email", "phone", "url", "auto_number")
NUMBER_TYPES = ("decimal", "currency", "percent")
LOOKUP_TYPES = ("lookup", "master_detail")
DECIMAL_TEXT = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$"

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


@blueprint.get("/openapi.json")
def openapi_document():
    """The tenant's OpenAPI document, rebuilt only when the metadata revision moves."""
    model = context.model()
    tenant = current_tenant()
    cache: dict[str, tuple[tuple[int, str], str]] = context.instance().caches.setdefault(CACHE_KEY, {})
    key = (model.revision, tenant.name)
    cached = cache.get(tenant.slug)
    if cached is None or cached[0] != key:
        document = DocumentBuilder(
            model,
            tenant_name=tenant.name,
            registry=context.field_types(),
            cookie_name=current_app.config.get("SESSION_COOKIE_NAME") or "session",
            routes=api_routes(current_app),
        ).build()
        cached = (key, json.dumps(document, ensure_ascii=False, separators=(",", ":")))
        cache[tenant.slug] = cached
    response = current_app.response_class(cached[1], mimetype="application/json")
    response.headers["X-Metadata-Revision"] = str(model.revision)
    return response


@dataclass(frozen=True)
class Route:
    """One URL rule of the app, as the document needs it."""

    rule: str
    endpoint: str
    methods: frozenset[str]
    doc: str
    public: bool


def api_routes(app: Flask) -> list[Route]:
    """Every ``/api/`` rule of the app (plugins' blueprints included)."""
    routes = []
    for rule in app.url_map.iter_rules():
        if not rule.rule.startswith("/api/"):
            continue
        view = app.view_functions.get(rule.endpoint)
        routes.append(
            Route(
                rule.rule,
                rule.endpoint,
                frozenset((rule.methods or set()) - {"HEAD", "OPTIONS"}),
                (inspect.getdoc(view) or "") if view else "",
                bool(getattr(view, PUBLIC_ATTR, False)),
            )
        )
    return routes


# -- small schema helpers -------------------------------------------------------------------


def ref(name: str) -> dict:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict) -> dict:
    """``schema`` that also accepts null (OpenAPI 3.1: a type list)."""
    schema = dict(schema)
    kind = schema.get("type")
    if isinstance(kind, str):
        schema["type"] = [kind, "null"]
    elif isinstance(kind, list) and "null" not in kind:
        schema["type"] = [*kind, "null"]
    elif kind is None:
        return {"anyOf": [schema, {"type": "null"}]}
    if "enum" in schema and None not in schema["enum"]:
        schema["enum"] = [*schema["enum"], None]
    return schema


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
    """A definition schema from ``metacrm/metadata/schemas`` made
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


# -- field values ---------------------------------------------------------------------------


def _id_schema() -> dict:
    return {"type": "integer", "format": "int64", "minimum": 1}


def _reference_output() -> dict:
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name"],
        "properties": {
            "id": _id_schema(),
            "name": {"type": ["string", "null"], "description": "The target record's name field."},
        },
    }


def _reference_input() -> dict:
    return {
        "anyOf": [
            _id_schema(),
            {"type": "object", "required": ["id"], "properties": {"id": _id_schema()}},
        ],
        "description": "A record id, or an object carrying one (what a read returned).",
    }


def _picklist_item(field_type: FieldType, *, output: bool) -> dict:
    restricted = getattr(field_type, "restricted", True)
    if not restricted:
        return {"type": "string", "maxLength": 80, "pattern": "^[^;]*$"}
    values = field_type.all_values() if output else field_type.active_values()  # type: ignore[attr-defined]
    return {"type": "string", "enum": list(values)}


def _fallback_schema(field_type: FieldType) -> dict:
    """A plugin's type: described by its column's Python type."""
    try:
        python_type = field_type.column_type().python_type
    except (NotImplementedError, TypeError, AttributeError):
        return {"description": f"a {field_type.name} value"}
    if python_type is bool:
        return {"type": ["boolean", "null"]}
    if python_type is int:
        return {"type": ["integer", "null"]}
    if python_type in (float, decimal.Decimal):
        return {"type": ["number", "null"]}
    if python_type is dt.datetime:
        return {"type": ["string", "null"], "format": "date-time"}
    if python_type is dt.date:
        return {"type": ["string", "null"], "format": "date"}
    if python_type is str:
        return {"type": ["string", "null"]}
    return {"description": f"a {field_type.name} value"}


def value_schema(field_type: FieldType, *, output: bool) -> dict:
    """The JSON Schema of one field's value: as records return it
    (``output``) or as a write accepts it."""
    name = field_type.name
    options = field_type.options
    if name in TEXT_TYPES:
        schema: dict[str, Any] = {"type": "string"}
        max_length = getattr(field_type, "max_length", None)
        if isinstance(max_length, int):
            schema["maxLength"] = max_length
        min_length = getattr(field_type, "min_length", 0)
        if not output and isinstance(min_length, int) and min_length:
            schema["minLength"] = min_length
        if name == "email":
            schema["format"] = "email"
        elif name == "url":
            schema["format"] = "uri"
        elif name == "rich_text":
            schema["contentMediaType"] = "text/html"
        elif name == "auto_number":
            schema["readOnly"] = True
        return nullable(schema)
    if name == "integer":
        schema = {"type": "integer", "format": "int64"}
        if not output:
            if options.get("min") is not None:
                schema["minimum"] = options["min"]
            if options.get("max") is not None:
                schema["maximum"] = options["max"]
        return nullable(schema)
    if name in NUMBER_TYPES:
        precision = getattr(field_type, "precision", None)
        scale = getattr(field_type, "scale", None)
        description = f"At most {precision} digits, {scale} after the decimal point (rounded half up)."
        if name == "currency":
            description += f" Amount in {getattr(field_type, 'currency', 'USD')}."
        if output:
            return {"type": ["number", "null"], "description": description}
        schema = {
            "type": ["number", "string", "null"],
            "pattern": DECIMAL_TEXT,
            "description": description + " A numeric string keeps every digit.",
        }
        if options.get("min") is not None:
            schema["minimum"] = options["min"]
        if options.get("max") is not None:
            schema["maximum"] = options["max"]
        return schema
    if name == "boolean":
        return {"type": ["boolean", "null"]}
    if name == "date":
        return {"type": ["string", "null"], "format": "date"}
    if name == "datetime":
        return {
            "type": ["string", "null"],
            "format": "date-time",
            "description": "ISO 8601; returned in UTC. Without an offset, a written value is read as UTC.",
        }
    if name == "picklist":
        return nullable(_picklist_item(field_type, output=output))
    if name == "multi_picklist":
        items = _picklist_item(field_type, output=output)
        if output:
            return {"type": "array", "items": items, "uniqueItems": True}
        return {"type": ["array", "null"], "items": items}
    if name == "tags":
        item = {"type": "string", "minLength": 1, "maxLength": 50, "pattern": "^[^;]*$"}
        if output:
            return {"type": "array", "items": item, "maxItems": 50}
        return {"type": ["array", "null"], "items": item, "maxItems": 50}
    if name in LOOKUP_TYPES:
        schema = _reference_output() if output else _reference_input()
        schema = nullable(schema) if output else {"anyOf": [*schema["anyOf"], {"type": "null"}]}
        schema["description"] = f"A {options.get('target')} record."
        return schema
    if name == "many_to_many":
        if output:
            return {"type": "array", "items": _reference_output()}
        return {"type": ["array", "null"], "items": _reference_input()}
    return _fallback_schema(field_type)


def field_value_schema(field_type: FieldType, *, output: bool) -> dict:
    """:func:`value_schema`, unless the type describes itself: a plugin's
    type may define ``json_schema(output=...)`` returning a JSON Schema."""
    own = getattr(field_type, "json_schema", None)
    if callable(own):
        return dict(own(output=output))
    # Computed types (formulas, roll-ups) have the values of a built-in type.
    return value_schema(getattr(field_type, "value_type", None) or field_type, output=output)


def _annotated(schema: dict, field_type: FieldType) -> dict:
    schema = dict(schema)
    definition = field_type.definition
    schema["title"] = definition.get("label") or field_type.api_name
    if definition.get("help"):
        help_text = definition["help"]
        schema["description"] = f"{help_text} {schema['description']}" if schema.get("description") else help_text
    schema["x-field-type"] = field_type.name
    if field_type.read_only:
        schema["readOnly"] = True
    return schema


SYSTEM_OUTPUT = {
    "id": {**_id_schema(), "readOnly": True},
    "owner_id": {"type": ["integer", "null"], "readOnly": True, "description": "The user who owns the record."},
    "version": {
        "type": "integer",
        "minimum": 1,
        "readOnly": True,
        "description": "Grows with every write; send it back (or If-Match) to update safely.",
    },
    "created_at": {"type": "string", "format": "date-time", "readOnly": True},
    "created_by": {"type": ["integer", "null"], "readOnly": True},
    "updated_at": {"type": "string", "format": "date-time", "readOnly": True},
    "updated_by": {"type": ["integer", "null"], "readOnly": True},
    "deleted_at": {
        "type": ["string", "null"],
        "format": "date-time",
        "readOnly": True,
        "description": "Present only on records in the recycle bin.",
    },
}
SYSTEM_REQUIRED = ["id", "owner_id", "version", "created_at", "created_by", "updated_at", "updated_by"]


# -- the document -----------------------------------------------------------------------------


class DocumentBuilder:
    """Builds the OpenAPI 3.1 document of one compiled model."""

    def __init__(
        self,
        model: CompiledModel,
        *,
        tenant_name: str,
        registry: FieldTypeRegistry,
        cookie_name: str,
        routes: list[Route] = (),
    ):
        self.model = model
        self.routes = list(routes)
        self.tenant_name = tenant_name
        self.registry = registry
        self.cookie_name = cookie_name
        self.schemas: dict[str, Any] = {}
        self.parameters: dict[str, Any] = {}
        self.filter_refs: dict[str, list[dict]] = {}
        self.paths: dict[str, Any] = {}
        self.names = self._component_names()

    # -- naming ----------------------------------------------------------------------

    def _component_names(self) -> dict[str, str]:
        """api name → component base name (``sales_order`` → ``SalesOrder``),
        unique together with its suffixed variants and the fixed schemas."""
        used = set(FIXED_SCHEMA_NAMES)
        names = {}
        for api_name in sorted(self.model.objects):
            base = pascal(api_name)
            variants = {base + suffix for suffix in ("", "Input", "Update", "List")}
            if variants & used:
                base = f"{pascal(api_name)}_{api_name}"
                variants = {base + suffix for suffix in ("", "Input", "Update", "List")}
            used |= variants
            names[api_name] = base
        return names

    # -- whole document -----------------------------------------------------------------

    def build(self) -> dict:
        self.schemas.update(self._fixed_schemas())
        self._auth_paths()
        self._meta_paths()
        self._rules_paths()
        self._automation_paths()
        tags = [
            {"name": "auth", "description": "Tokens, the current user, audit log and health."},
            {"name": "metadata", "description": "Objects, fields, layouts, list views and revisions."},
        ]
        for api_name in sorted(self.model.objects):
            obj = self.model.objects[api_name]
            self._object_schemas(obj)
            self._data_paths(obj)
            tags.append({"name": api_name, "description": f"Records of {obj.label}."})
        self._other_routes()
        return {
            "openapi": OPENAPI_VERSION,
            "jsonSchemaDialect": "https://spec.openapis.org/oas/3.1/dialect/base",
            "info": {
                "title": f"metacrm API — {self.tenant_name}",
                "version": f"rev-{self.model.revision}",
                "description": (
                    "The REST API of one tenant, generated from its metadata at revision "
                    f"{self.model.revision}. Every change to objects or fields makes a new revision, "
                    "and this document follows it. Errors are JSON "
                    '`{"error": {"code", "message", "details"}}`.'
                ),
            },
            "tags": tags,
            "security": [{"bearerAuth": []}, {"cookieAuth": []}],
            "paths": self.paths,
            "components": {
                "schemas": self.schemas,
                "responses": self._error_responses(),
                "parameters": {**self._shared_parameters(), **self.parameters},
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "An API token from POST /api/v1/auth/token (or the token screen).",
                    },
                    "cookieAuth": {
                        "type": "apiKey",
                        "in": "cookie",
                        "name": self.cookie_name,
                        "description": (
                            "The browser session set by signing in. Requests other than GET/HEAD/OPTIONS "
                            "must also send the page's CSRF token in the X-CSRFToken header."
                        ),
                    },
                },
            },
        }

    # -- shared components ------------------------------------------------------------------

    def _error_responses(self) -> dict:
        responses = {}
        for _status, (name, description) in ERROR_RESPONSES.items():
            response: dict[str, Any] = {"description": description, "content": json_content(ref("Error"))}
            if name == "TooManyRequests":
                response["headers"] = {
                    "Retry-After": {"description": "Seconds to wait.", "schema": {"type": "integer"}}
                }
            responses[name] = response
        return responses

    def _shared_parameters(self) -> dict:
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
                "schema": _id_schema(),
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

    def _fixed_schemas(self) -> dict:
        obj_def = inline_local_refs(schema_for("object"))
        field_def = inline_local_refs(schema_for("field"))
        field_def["properties"]["type"] = {
            "type": "string",
            "enum": self.registry.names(),
            "description": "The field type; see GET /api/v1/meta/field-types.",
        }
        layout_def = inline_local_refs(schema_for("layout"))
        list_view_def = inline_local_refs(schema_for("list_view"))
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
            "ObjectDetail": with_properties(
                obj_def,
                {
                    "deleted_at": deleted_at,
                    "fields": {"type": "array", "items": ref("FieldDefinition")},
                    "layouts": {"type": "array", "items": ref("Layout")},
                    "list_views": {"type": "array", "items": ref("ListView")},
                    "validation_rules": {"type": "array", "items": ref("ValidationRule")},
                    "automations": {"type": "array", "items": ref("Automation")},
                },
            ),
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

    # -- per object: schemas -----------------------------------------------------------------

    def _object_schemas(self, obj: CompiledObject) -> None:
        base = self.names[obj.api_name]
        output = {"id": SYSTEM_OUTPUT["id"]}
        for name, field_type in obj.fields.items():
            output[name] = _annotated(field_value_schema(field_type, output=True), field_type)
        output.update({name: SYSTEM_OUTPUT[name] for name in SYSTEM_FIELDS if name != "id"})
        self.schemas[base] = {
            "type": "object",
            "title": obj.label,
            "description": f"A {obj.api_name} record as the API returns it. With `fields=`, only those fields.",
            "additionalProperties": False,
            "required": SYSTEM_REQUIRED,
            "properties": output,
        }
        writable = {name: ft for name, ft in obj.fields.items() if not ft.read_only}
        inputs = {}
        for name, field_type in writable.items():
            schema = field_value_schema(field_type, output=False)
            # A required field refuses null and emptiness, on create and on update.
            inputs[name] = _annotated(not_empty(schema) if field_type.required else schema, field_type)
        for name, field_type in writable.items():
            default = field_type.definition.get("default")
            if default is not None:
                inputs[name]["default"] = default
        required = [
            name
            for name, field_type in writable.items()
            if field_type.required and field_type.definition.get("default") is None
        ]
        input_schema: dict[str, Any] = {
            "type": "object",
            "title": f"{obj.label} (new)",
            "description": "The values of a new record. Omitted fields take their default (or stay empty).",
            "additionalProperties": False,
            "properties": inputs,
        }
        if required:
            input_schema["required"] = required
        self.schemas[base + "Input"] = input_schema
        version = {
            "type": "integer",
            "minimum": 1,
            "description": "The version you read: a stale one is refused with 409 (optimistic locking).",
        }
        self.schemas[base + "Update"] = {
            "type": "object",
            "title": f"{obj.label} (changes)",
            "description": "A partial update: only the fields sent change; null empties a field.",
            "additionalProperties": False,
            "properties": {**copy.deepcopy(inputs), "version": version},
        }
        self.schemas[base + "List"] = {
            "type": "object",
            "required": ["data", "next_cursor"],
            "additionalProperties": False,
            "properties": {
                "data": {"type": "array", "items": ref(base)},
                "next_cursor": {
                    "type": ["string", "null"],
                    "description": "Pass as `cursor` for the next page; null on the last page.",
                },
                "total": {"type": "integer", "minimum": 0, "description": "Only with count=true."},
            },
        }

    # -- per object: parameters -------------------------------------------------------------

    def _filter_parameters(self, obj: CompiledObject) -> list[dict]:
        """References to the object's filter parameters, which live in
        ``components.parameters`` (a list and the related lists that show the
        object share them)."""
        if obj.api_name not in self.filter_refs:
            refs = []
            for parameter in self._filter_parameter_objects(obj):
                key = f"{self.names[obj.api_name]}.{parameter['name'].replace('[', '.').rstrip(']')}"
                self.parameters[key] = parameter
                refs.append({"$ref": f"#/components/parameters/{key}"})
            self.filter_refs[obj.api_name] = refs
        return self.filter_refs[obj.api_name]

    def _filter_parameter_objects(self, obj: CompiledObject) -> list[dict]:
        """``field`` (equality) and ``field[op]`` for every other operator of
        every field that filters, system columns included."""
        bound: list[tuple[str, FieldType, str]] = [
            (name, field_type, field_type.definition.get("label") or name) for name, field_type in obj.fields.items()
        ]
        for name, type_name in SYSTEM_FIELD_TYPES.items():
            if name in obj.fields:
                continue
            system = self.registry.bind({"api_name": name, "type": type_name})
            bound.append((name, system, name.replace("_", " ")))
        parameters = []
        for name, field_type, label in bound:
            parameter: dict[str, Any]
            operators = list(field_type.operators)
            if not operators:
                continue
            value = self._filter_value_schema(field_type)
            ops_text = ", ".join(operators)
            # A field named like a list parameter (``deleted``) filters for equality as ``name[eq]``.
            plain = name not in LIST_PARAMETERS
            if "eq" in operators:
                parameter = {
                    "name": name if plain else f"{name}[eq]",
                    "in": "query",
                    "description": f"{label} equals this value. Operators of this field: {ops_text} "
                    f"(as {name}[op]=value).",
                    "schema": value,
                }
                if field_type.name == "multi_picklist":
                    # eq on a multi-picklist is "exactly this set", comma-separated
                    parameter.update(schema={"type": "array", "items": value}, style="form", explode=False)
                parameters.append(parameter)
            for op in operators:
                if op == "eq":
                    continue
                parameter = {
                    "name": f"{name}[{op}]",
                    "in": "query",
                    "description": f"{label} {OPERATOR_TEXT[op]}.",
                }
                if op == "in" or (op == "contains" and field_type.name == "multi_picklist"):
                    parameter.update(schema={"type": "array", "items": value}, style="form", explode=False)
                elif op == "isnull":
                    parameter["schema"] = {"type": "boolean"}
                elif op in ("contains", "startswith") and field_type.name != "many_to_many":
                    parameter["schema"] = {"type": "string", "minLength": 1}
                else:
                    parameter["schema"] = value
                parameters.append(parameter)
        return parameters

    @staticmethod
    def _filter_value_schema(field_type: FieldType) -> dict:
        """A single filter value, as query-string text."""
        field_type = getattr(field_type, "value_type", None) or field_type
        name = field_type.name
        if name in ("integer",):
            return {"type": "integer"}
        if name in NUMBER_TYPES:
            return {"type": "number"}
        if name == "boolean":
            return {"type": "boolean"}
        if name == "date":
            return {"type": "string", "format": "date"}
        if name == "datetime":
            return {"type": "string", "format": "date-time"}
        if name in (*LOOKUP_TYPES, "many_to_many"):
            return _id_schema()
        if name in ("picklist", "multi_picklist") and getattr(field_type, "restricted", True):
            return {"type": "string", "enum": list(field_type.all_values())}  # type: ignore[attr-defined]
        return {"type": "string"}

    def _list_parameters(self, obj: CompiledObject, *, recycle_bin: bool = True) -> list[dict]:
        sortable = [
            n for n, ft in obj.fields.items() if ft.sortable and (ft.has_column or getattr(ft, "computed", False))
        ]
        sortable += [n for n in SYSTEM_FIELD_TYPES if n not in obj.fields]
        selectable = [*obj.fields, *SYSTEM_FIELDS]
        parameters: list[dict] = []
        if obj.search_fields:
            parameters.append(
                {
                    "name": "q",
                    "in": "query",
                    "description": f"Search (case-insensitive, anywhere in): {', '.join(obj.search_fields)}.",
                    "schema": {"type": "string", "maxLength": 200},
                }
            )
        parameters += [
            {
                "name": "sort",
                "in": "query",
                "description": "Comma-separated fields, `-` for descending, e.g. `-created_at,id`. "
                f"Sortable: {', '.join(sortable)}. Empty values sort last; id breaks ties.",
                "schema": {"type": "string", "pattern": r"^[-+]?[a-z][a-z0-9_]*(,[-+]?[a-z][a-z0-9_]*)*$"},
            },
            {
                "name": "limit",
                "in": "query",
                "description": "Page size.",
                "schema": {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT},
            },
            {
                "name": "cursor",
                "in": "query",
                "description": "The `next_cursor` of the previous page (keyset pagination; not with offset).",
                "schema": {"type": "string"},
            },
            {
                "name": "offset",
                "in": "query",
                "description": "Rows to skip (not with cursor).",
                "schema": {"type": "integer", "minimum": 0},
            },
            {
                "name": "fields",
                "in": "query",
                "description": "Only these fields (system fields are always returned).",
                "schema": {"type": "array", "items": {"type": "string", "enum": selectable}},
                "style": "form",
                "explode": False,
            },
            {
                "name": "count",
                "in": "query",
                "description": "true: add `total`, the number of matching records.",
                "schema": {"type": "boolean", "default": False},
            },
        ]
        if recycle_bin:
            parameters.append({"$ref": "#/components/parameters/deletedFlag"})
            parameters += [
                {
                    "name": "where",
                    "in": "query",
                    "description": "A rule-language condition on the object's fields (docs/rules.md).",
                    "schema": {"type": "string", "maxLength": 4000},
                },
                {
                    "name": "view",
                    "in": "query",
                    "description": "A list view's api name: its filters, filter and sort apply too.",
                    "schema": {"type": "string", "pattern": API_NAME_PATTERN},
                },
            ]
        return parameters + self._filter_parameters(obj)

    # -- per object: paths -------------------------------------------------------------------

    def _data_paths(self, obj: CompiledObject) -> None:
        api = obj.api_name
        base = self.names[api]
        prefix = f"/api/v1/data/{api}"
        tags = [api]
        record = json_content(ref(base))
        etag = {"ETag": {"description": 'The record\'s version, quoted: "3".', "schema": {"type": "string"}}}
        self.paths[prefix] = {
            "get": {
                "tags": tags,
                "operationId": f"data.{api}.list",
                "summary": f"List {obj.definition.get('plural_label') or obj.label}",
                "description": "Filters combine with AND. A repeated filter parameter adds another condition.",
                "parameters": self._list_parameters(obj),
                "responses": {
                    "200": {"description": "A page of records.", "content": json_content(ref(base + "List"))},
                    **_errors("400", "401", "403", "404", "422"),
                },
            },
            "post": {
                "tags": tags,
                "operationId": f"data.{api}.create",
                "summary": f"Create {obj.label}",
                "requestBody": {"required": True, "content": json_content(ref(base + "Input"))},
                "responses": {
                    "201": {"description": "Created.", "headers": etag, "content": record},
                    **_errors("400", "401", "403", "404", "409", "413", "422"),
                },
            },
        }
        id_param = [{"$ref": "#/components/parameters/recordId"}]
        fields_param = {
            "name": "fields",
            "in": "query",
            "description": "Only these fields (system fields are always returned).",
            "schema": {"type": "array", "items": {"type": "string", "enum": [*obj.fields, *SYSTEM_FIELDS]}},
            "style": "form",
            "explode": False,
        }
        self.paths[prefix + "/{id}"] = {
            "parameters": id_param,
            "get": {
                "tags": tags,
                "operationId": f"data.{api}.get",
                "summary": f"Read {obj.label}",
                "parameters": [
                    fields_param,
                    {**{"$ref": "#/components/parameters/deletedFlag"}},
                ],
                "responses": {
                    "200": {"description": "The record.", "headers": etag, "content": record},
                    **_errors("400", "401", "403", "404", "422"),
                },
            },
            "patch": {
                "tags": tags,
                "operationId": f"data.{api}.update",
                "summary": f"Change {obj.label}",
                "description": "Send `version` in the body or `If-Match` with the ETag you read: if someone "
                "changed the record since, the answer is 409 and nothing is written.",
                "parameters": [
                    {
                        "name": "If-Match",
                        "in": "header",
                        "description": 'The ETag of the version you read, e.g. "3".',
                        "schema": {"type": "string"},
                    }
                ],
                "requestBody": {"required": True, "content": json_content(ref(base + "Update"))},
                "responses": {
                    "200": {"description": "The changed record.", "headers": etag, "content": record},
                    **_errors("400", "401", "403", "404", "409", "413", "422"),
                },
            },
            "delete": {
                "tags": tags,
                "operationId": f"data.{api}.delete",
                "summary": f"Delete {obj.label} (into the recycle bin)",
                "description": "Lookups to it follow their on-delete rule: restrict (409), set_null, cascade.",
                "responses": {"204": {"description": "Deleted."}, **_errors("400", "401", "403", "404", "409")},
            },
        }
        self.paths[prefix + "/{id}/restore"] = {
            "parameters": id_param,
            "post": {
                "tags": tags,
                "operationId": f"data.{api}.restore",
                "summary": f"Restore {obj.label} from the recycle bin",
                "description": "Records its delete cascaded to come back too.",
                "responses": {
                    "200": {"description": "The restored record.", "headers": etag, "content": record},
                    **_errors("400", "401", "403", "404"),
                },
            },
        }
        update_row = copy.deepcopy(self.schemas[base + "Update"])
        update_row["properties"]["id"] = _id_schema()
        update_row["required"] = ["id"]
        brief = {
            "type": "object",
            "required": ["id"],
            "properties": {"id": _id_schema()},
            "description": "Only the id (when more than 50 records were written).",
        }
        bulk_result = {
            "type": "object",
            "required": ["data", "count"],
            "properties": {
                "data": {"type": "array", "items": {"anyOf": [ref(base), brief]}},
                "count": {"type": "integer"},
            },
        }
        self.paths[prefix + "/bulk"] = {
            "post": {
                "tags": tags,
                "operationId": f"data.{api}.bulk",
                "summary": f"Create or update up to {MAX_BULK} {obj.label} records at once",
                "description": "All or nothing: if any row fails, nothing is written and the 422 names the "
                'failing rows in `details.rows` ({"0": {"fields": {…}}}). A stale version in any row is a 409.',
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "oneOf": [
                                {
                                    "type": "object",
                                    "required": ["records"],
                                    "properties": {
                                        "operation": {"const": "create", "default": "create"},
                                        "records": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": MAX_BULK,
                                            "items": ref(base + "Input"),
                                        },
                                    },
                                },
                                {
                                    "type": "object",
                                    "required": ["records", "operation"],
                                    "properties": {
                                        "operation": {"const": "update"},
                                        "records": {
                                            "type": "array",
                                            "minItems": 1,
                                            "maxItems": MAX_BULK,
                                            "items": update_row,
                                        },
                                    },
                                },
                            ]
                        }
                    ),
                },
                "responses": {
                    "200": {"description": "Updated (operation update).", "content": json_content(bulk_result)},
                    "201": {"description": "Created (operation create).", "content": json_content(bulk_result)},
                    **_errors("400", "401", "403", "404", "409", "413", "422"),
                },
            }
        }
        for name, field_type in obj.fields.items():
            if field_type.name not in (*LOOKUP_TYPES, "many_to_many"):
                continue
            target = self.model.object(field_type.options.get("target"))
            if target is not None:
                summary = f"{target.label} records that {obj.label}.{name} points to"
                self._related_path(obj, name, target, summary)
        # Related lists: lookups of other objects (or this one) that point here.
        for child_name in sorted(self.model.objects):
            child = self.model.objects[child_name]
            for name, field_type in child.fields.items():
                if field_type.name in LOOKUP_TYPES and field_type.options.get("target") == api:
                    summary = f"{child.label} records whose {name} is this {obj.label}"
                    self._related_path(obj, f"{child_name}.{name}", child, summary)

    def _related_path(self, obj: CompiledObject, relation: str, target: CompiledObject, summary: str) -> None:
        self.paths[f"/api/v1/data/{obj.api_name}/{{id}}/related/{relation}"] = {
            "parameters": [{"$ref": "#/components/parameters/recordId"}],
            "get": {
                "tags": [obj.api_name],
                "operationId": f"data.{obj.api_name}.related.{relation}",
                "summary": summary,
                "parameters": self._list_parameters(target, recycle_bin=False),
                "responses": {
                    "200": {
                        "description": f"A page of {target.api_name} records.",
                        "content": json_content(ref(self.names[target.api_name] + "List")),
                    },
                    **_errors("400", "401", "403", "404", "422"),
                },
            },
        }

    # -- metadata endpoints ---------------------------------------------------------------

    def _meta_paths(self) -> None:
        meta = "/api/v1/meta"
        tags = ["metadata"]
        obj_param = [{"$ref": "#/components/parameters/objectName"}]
        field_params = [*obj_param, {"$ref": "#/components/parameters/fieldName"}]
        revision_header = {
            "X-Metadata-Revision": {"description": "The metadata revision now current.", "schema": {"type": "integer"}}
        }
        admin = "Tenant admins only (403 otherwise). Makes a new metadata revision."
        write_errors = _errors("400", "401", "403", "404", "409", "413", "422")

        def data_of(schema: dict) -> dict:
            return json_content({"type": "object", "required": ["data"], "properties": {"data": schema}})

        def op(operation_id, summary, responses, **extra) -> dict:
            return {"tags": tags, "operationId": operation_id, "summary": summary, **extra, "responses": responses}

        self.paths[f"{meta}/objects"] = {
            "get": op(
                "meta.listObjects",
                "List objects",
                {
                    "200": {
                        "description": "Objects (or, with deleted=true, those in the recycle bin).",
                        "headers": revision_header,
                        "content": data_of({"type": "array", "items": ref("ObjectSummary")}),
                    },
                    **_errors("401"),
                },
                parameters=[{"$ref": "#/components/parameters/deletedFlag"}],
            ),
            "post": op(
                "meta.createObject",
                "Create an object (its table), optionally with fields",
                {
                    "201": {
                        "description": "Created. Without a name field of your own, a required text field "
                        "`name` is added.",
                        "headers": revision_header,
                        "content": json_content(ref("ObjectDetail")),
                    },
                    **write_errors,
                },
                description=admin,
                requestBody={"required": True, "content": json_content(ref("ObjectCreate"))},
            ),
        }
        self.paths[f"{meta}/objects/{{name}}"] = {
            "parameters": obj_param,
            "get": op(
                "meta.getObject",
                "An object with its fields, layouts and list views",
                {
                    "200": {
                        "description": "The object.",
                        "headers": revision_header,
                        "content": json_content(ref("ObjectDetail")),
                    },
                    **_errors("401", "404"),
                },
                parameters=[{"$ref": "#/components/parameters/deletedFlag"}],
            ),
            "patch": op(
                "meta.updateObject",
                "Change an object's label, name field, search fields …",
                {
                    "200": {
                        "description": "The object.",
                        "headers": revision_header,
                        "content": json_content(ref("ObjectDetail")),
                    },
                    **write_errors,
                },
                description=admin + " `api_name` cannot change.",
                requestBody={"required": True, "content": json_content(ref("ObjectPatch"))},
            ),
            "delete": op(
                "meta.deleteObject",
                "Move an object to the recycle bin",
                {"204": {"description": "Deleted; table and data are kept until purged."}, **write_errors},
                description=admin + " Refused (409) while lookups of other objects point to it.",
            ),
        }
        self.paths[f"{meta}/objects/{{name}}/restore"] = {
            "parameters": obj_param,
            "post": op(
                "meta.restoreObject",
                "Bring an object back from the recycle bin",
                {
                    "200": {"description": "The object.", "content": json_content(ref("ObjectDetail"))},
                    **write_errors,
                },
                description=admin,
            ),
        }
        self.paths[f"{meta}/objects/{{name}}/fields"] = {
            "parameters": obj_param,
            "get": op(
                "meta.listFields",
                "List an object's fields",
                {
                    "200": {
                        "description": "Fields (or those in the recycle bin).",
                        "content": data_of({"type": "array", "items": ref("FieldDetail")}),
                    },
                    **_errors("401", "404"),
                },
                parameters=[{"$ref": "#/components/parameters/deletedFlag"}],
            ),
            "post": op(
                "meta.addField",
                "Add a field (a column)",
                {"201": {"description": "The field.", "content": json_content(ref("FieldDetail"))}, **write_errors},
                description=admin,
                requestBody={"required": True, "content": json_content(ref("FieldDefinition"))},
            ),
        }
        self.paths[f"{meta}/objects/{{name}}/fields/{{field}}"] = {
            "parameters": field_params,
            "get": op(
                "meta.getField",
                "A field",
                {
                    "200": {"description": "The field.", "content": json_content(ref("FieldDetail"))},
                    **_errors("401", "404"),
                },
            ),
            "patch": op(
                "meta.updateField",
                "Change a field: label, help, required, default, options, unique/indexed, type",
                {
                    "200": {
                        "description": "The field, or with dry_run=true the conversion preview.",
                        "content": json_content(
                            {
                                "anyOf": [
                                    ref("FieldDetail"),
                                    {
                                        "type": "object",
                                        "required": ["preview"],
                                        "properties": {"preview": ref("ConversionPreview")},
                                    },
                                ]
                            }
                        ),
                    },
                    **write_errors,
                },
                description=admin
                + " A type change converts stored values (only safe pairs; see field-types `converts_to`). "
                "Values that won't convert make it fail with 409 unless clear_unconvertible=true empties them.",
                parameters=[
                    {
                        "name": "dry_run",
                        "in": "query",
                        "description": "true: only preview a type change; nothing is written.",
                        "schema": {"type": "boolean", "default": False},
                    },
                    {
                        "name": "clear_unconvertible",
                        "in": "query",
                        "description": "true: empty the values that don't convert to the new type.",
                        "schema": {"type": "boolean", "default": False},
                    },
                ],
                requestBody={"required": True, "content": json_content(ref("FieldPatch"))},
            ),
            "delete": op(
                "meta.deleteField",
                "Move a field to the recycle bin",
                {"204": {"description": "Deleted; the column and its values are kept until purged."}, **write_errors},
                description=admin + " The object's name field cannot be deleted (409).",
            ),
        }
        self.paths[f"{meta}/objects/{{name}}/fields/{{field}}/restore"] = {
            "parameters": field_params,
            "post": op(
                "meta.restoreField",
                "Bring a field back from the recycle bin, with its values",
                {"200": {"description": "The field.", "content": json_content(ref("FieldDetail"))}, **write_errors},
                description=admin,
            ),
        }
        for collection, schema, word in (("layouts", "Layout", "layout"), ("list-views", "ListView", "list view")):
            key = "Layouts" if schema == "Layout" else "ListViews"
            self.paths[f"{meta}/objects/{{name}}/{collection}"] = {
                "parameters": obj_param,
                "get": op(
                    f"meta.list{key}",
                    f"List an object's {word}s",
                    {
                        "200": {
                            "description": f"The {word}s.",
                            "content": data_of({"type": "array", "items": ref(schema)}),
                        },
                        **_errors("401", "404"),
                    },
                ),
            }
            self.paths[f"{meta}/objects/{{name}}/{collection}/{{item}}"] = {
                "parameters": [*obj_param, {"$ref": "#/components/parameters/itemName"}],
                "get": op(
                    f"meta.get{schema}",
                    f"A {word}",
                    {
                        "200": {"description": f"The {word}.", "content": json_content(ref(schema))},
                        **_errors("401", "404"),
                    },
                ),
                "put": op(
                    f"meta.put{schema}",
                    f"Create or replace a {word}",
                    {"200": {"description": f"The {word}.", "content": json_content(ref(schema))}, **write_errors},
                    description=admin + " `api_name` may be omitted; if sent, it must match the URL.",
                    requestBody={
                        "required": True,
                        "content": json_content(with_properties(self.schemas[schema], {}, required=False)),
                    },
                ),
                "delete": op(
                    f"meta.delete{schema}",
                    f"Delete a {word}",
                    {"204": {"description": "Deleted (a rollback can bring it back)."}, **write_errors},
                    description=admin,
                ),
            }
        self.paths[f"{meta}/field-types"] = {
            "get": op(
                "meta.listFieldTypes",
                "Field types: operators, options schema, safe type changes",
                {
                    "200": {
                        "description": "Every registered field type.",
                        "content": data_of({"type": "array", "items": ref("FieldType")}),
                    },
                    **_errors("401"),
                },
            )
        }
        self.paths[f"{meta}/revisions"] = {
            "get": op(
                "meta.listRevisions",
                "Metadata revisions, newest first",
                {
                    "200": {
                        "description": "A page of revisions.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data", "next_cursor"],
                                "properties": {
                                    "data": {"type": "array", "items": ref("RevisionSummary")},
                                    "next_cursor": {
                                        "type": ["integer", "null"],
                                        "description": "Pass as `before` for the next page.",
                                    },
                                },
                            }
                        ),
                    },
                    **_errors("401"),
                },
                parameters=[
                    {
                        "name": "before",
                        "in": "query",
                        "description": "Only revisions older than this one.",
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                ],
            )
        }
        number = [{"$ref": "#/components/parameters/revisionNumber"}]
        self.paths[f"{meta}/revisions/{{number}}"] = {
            "parameters": number,
            "get": op(
                "meta.getRevision",
                "One revision with the before/after of every definition it touched",
                {
                    "200": {"description": "The revision.", "content": json_content(ref("Revision"))},
                    **_errors("401", "404"),
                },
            ),
        }
        self.paths[f"{meta}/revisions/{{number}}/rollback"] = {
            "parameters": number,
            "post": op(
                "meta.rollback",
                "Bring metadata back to how it was after a revision, as a new revision",
                {
                    "200": {
                        "description": "The new revision.",
                        "headers": revision_header,
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["revision", "rolled_back_to"],
                                "properties": {
                                    "revision": {"type": "integer"},
                                    "rolled_back_to": {"type": "integer"},
                                },
                            }
                        ),
                    },
                    **write_errors,
                },
                description=admin
                + " Data is kept: what the rollback removes goes to the recycle bin; what it brings back is "
                "restored from there. Purged items cannot come back (409).",
            ),
        }

    # -- routes described from the URL map ----------------------------------------------------

    def _rules_paths(self) -> None:
        """Validation rules and the rule-language endpoints (metacrm/api/rules.py)."""
        tags = ["rules"]
        rule = inline_local_refs(schema_for("validation_rule"))
        self.schemas["ValidationRule"] = rule
        obj_param = [{"$ref": "#/components/parameters/objectName"}]
        admin = "Tenant admins only (403 otherwise). Makes a new metadata revision."
        write_errors = _errors("400", "401", "403", "404", "409", "413", "422")
        body = {"required": True, "content": json_content(ref("ValidationRule"))}
        one = {"description": "The validation rule.", "content": json_content(ref("ValidationRule"))}

        def op(operation_id, summary, responses, **extra) -> dict:
            return {"tags": tags, "operationId": operation_id, "summary": summary, **extra, "responses": responses}

        base = "/api/v1/meta/objects/{name}/validation-rules"
        self.paths[base] = {
            "parameters": obj_param,
            "get": op(
                "rules.listValidationRules",
                "List an object's validation rules",
                {
                    "200": {
                        "description": "The validation rules.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": ref("ValidationRule")}},
                            }
                        ),
                    },
                    **_errors("401", "404"),
                },
            ),
            "post": op(
                "rules.createValidationRule",
                "Create a validation rule",
                {"201": one, **write_errors},
                description=admin + " The condition is type-checked: errors carry line and column (422); "
                "an api_name already used is a 409.",
                requestBody=body,
            ),
        }
        self.paths[base + "/{item}"] = {
            "parameters": [*obj_param, {"$ref": "#/components/parameters/itemName"}],
            "get": op("rules.getValidationRule", "A validation rule", {"200": one, **_errors("401", "404")}),
            "put": op(
                "rules.putValidationRule",
                "Create or replace a validation rule",
                {"200": one, **write_errors},
                description=admin + " `api_name` may be omitted; if sent, it must match the URL.",
                requestBody={
                    "required": True,
                    "content": json_content(with_properties(rule, {}, required=False)),
                },
            ),
            "delete": op(
                "rules.deleteValidationRule",
                "Delete a validation rule",
                {"204": {"description": "Deleted (a rollback can bring it back)."}, **write_errors},
                description=admin,
            ),
        }
        expression = {"type": "string", "minLength": 1, "maxLength": 4000}
        diagnostic = {
            "type": "object",
            "required": ["line", "column", "message", "suggestion", "snippet"],
            "properties": {
                "line": {"type": "integer"},
                "column": {"type": "integer"},
                "message": {"type": "string"},
                "suggestion": {"type": ["string", "null"]},
                "snippet": {"type": ["string", "null"]},
            },
        }
        self.paths["/api/v1/rules/check"] = {
            "post": op(
                "rules.check",
                "Type-check an expression for a use",
                {
                    "200": {
                        "description": "valid with the type and the field paths read, or the diagnostics.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["valid"],
                                "properties": {
                                    "valid": {"type": "boolean"},
                                    "type": {"type": "string"},
                                    "references": {"type": "array", "items": {"type": "string"}},
                                    "diagnostics": {"type": "array", "items": diagnostic},
                                },
                            }
                        ),
                    },
                    **_errors("400", "401", "403", "404", "422"),
                },
                requestBody={
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["object", "expression"],
                            "properties": {
                                "object": {"type": "string", "pattern": API_NAME_PATTERN},
                                "expression": expression,
                                "context": {
                                    "type": "string",
                                    "enum": list(USES),
                                    "default": "validation",
                                },
                                "field": {
                                    "type": "string",
                                    "description": "For context default: the field the value is for.",
                                },
                            },
                        }
                    ),
                },
            )
        }
        self.paths["/api/v1/rules/evaluate"] = {
            "post": op(
                "rules.evaluate",
                "The value of an expression for one record you may read",
                {
                    "200": {
                        "description": "The value and its rule type.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["value", "type"],
                                "properties": {"value": {}, "type": {"type": "string"}},
                            }
                        ),
                    },
                    **_errors("400", "401", "403", "404", "422"),
                },
                requestBody={
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["object", "expression", "record_id"],
                            "properties": {
                                "object": {"type": "string", "pattern": API_NAME_PATTERN},
                                "expression": expression,
                                "record_id": _id_schema(),
                            },
                        }
                    ),
                },
            )
        }

    def _other_routes(self) -> None:
        """API routes the sections above do not describe (a plugin's
        blueprint, a newer part of the API; the record endpoints while the
        tenant has no object) still appear: path and parameters from the URL
        rule, summary from the view's docstring."""
        if not self.routes:
            return
        url_map = Map([Rule(r.rule, endpoint=r.endpoint, methods=r.methods) for r in self.routes])
        adapter = url_map.bind("localhost")
        covered = set()
        for path, item in self.paths.items():
            concrete = re.sub(r"\{[^}]+\}", "1", path)
            for method in HTTP_METHODS:
                if method not in item:
                    continue
                try:
                    endpoint, _args = adapter.match(concrete, method=method.upper())
                except (HTTPException, RoutingException):
                    continue
                covered.add((endpoint, method))
        for route in sorted(self.routes, key=lambda r: r.rule):
            for method in sorted(m.lower() for m in route.methods):
                if (route.endpoint, method) in covered or method not in HTTP_METHODS:
                    continue
                path = RULE_VARIABLE.sub(lambda m: "{" + m[3] + "}", route.rule)
                item = self.paths.setdefault(path, {})
                variables = RULE_VARIABLE.findall(route.rule)
                if "parameters" not in item and variables:
                    item["parameters"] = [_path_parameter(*variable) for variable in variables]
                summary, _, description = route.doc.partition("\n\n")
                operation: dict[str, Any] = {
                    "tags": [route.endpoint.split(".", 1)[0].removeprefix("api_")],
                    "operationId": f"{route.endpoint}.{method}",
                    "summary": " ".join(summary.split()) or route.endpoint,
                    "responses": {
                        "default": {"description": "The endpoint's answer.", "content": json_content({})},
                        **_errors("401", "403", "404"),
                    },
                }
                if description.strip():
                    operation["description"] = description.strip()
                if method in ("post", "put", "patch"):
                    operation["requestBody"] = {"content": json_content({"type": "object"})}
                if route.public:
                    operation["security"] = []
                item[method] = operation

    # -- auth, account, audit, health ------------------------------------------------------

    def _automation_paths(self) -> None:
        """Automation rules, their dry run and run log, notifications (metacrm/api/automations.py)."""
        tags = ["automation"]
        api_name = {"type": "string", "pattern": API_NAME_PATTERN}
        automation = with_properties(
            inline_local_refs(schema_for("automation")),
            {"object": {**api_name, "description": "The object the rule belongs to."}},
            required=False,
        )
        self.schemas["Automation"] = {**automation, "required": ["object", "api_name", "rule"]}
        params = [
            {
                "name": "object",
                "in": "path",
                "required": True,
                "description": "API name of the object.",
                "schema": api_name,
            },
            {
                "name": "name",
                "in": "path",
                "required": True,
                "description": "API name of the rule.",
                "schema": api_name,
            },
        ]
        admin = "Metadata admins only (403 otherwise)."
        write_errors = _errors("400", "401", "403", "404", "409", "422")
        one = {"description": "The automation rule.", "content": json_content(ref("Automation"))}
        anything = {"type": "object", "additionalProperties": True}
        listing = {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": anything}, "next_before": {"type": ["integer", "null"]}},
        }

        def op(operation_id, summary, responses, **extra) -> dict:
            return {"tags": tags, "operationId": operation_id, "summary": summary, **extra, "responses": responses}

        def query(name: str, schema: dict, description: str) -> dict:
            return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

        base = "/api/v1/meta/automations"
        self.paths[base] = {
            "get": op(
                "automation.list",
                "List automation rules",
                {
                    "200": {
                        "description": "The rules.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": ref("Automation")}},
                            }
                        ),
                    },
                    **_errors("401", "403"),
                },
                description=admin,
                parameters=[query("object", api_name, "Only this object's rules.")],
            ),
            "post": op(
                "automation.create",
                "Create an automation rule",
                {"201": one, **write_errors},
                description=admin + " The statement is type-checked; errors carry line and column (422).",
                requestBody={"required": True, "content": json_content(ref("Automation"))},
            ),
        }
        self.paths[base + "/{object}/{name}"] = {
            "parameters": params,
            "get": op(
                "automation.get", "An automation rule", {"200": one, **_errors("401", "403", "404")}, description=admin
            ),
            "put": op(
                "automation.put",
                "Create or replace an automation rule",
                {"200": one, **write_errors},
                description=admin,
                requestBody={"required": True, "content": json_content(anything)},
            ),
            "delete": op(
                "automation.delete",
                "Delete an automation rule",
                {"204": {"description": "Deleted (a rollback can bring it back)."}, **write_errors},
                description=admin,
            ),
        }
        self.paths[base + "/{object}/{name}/dry-run"] = {
            "parameters": params,
            "post": op(
                "automation.dryRun",
                "What the rule would do to one record (nothing is written)",
                {
                    "200": {"description": "Trigger, condition and actions.", "content": json_content(anything)},
                    **write_errors,
                },
                description=admin,
                requestBody={
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["record_id"],
                            "properties": {"record_id": {"type": "integer", "minimum": 1}},
                        }
                    ),
                },
            ),
        }
        self.paths[base + "/{object}/{name}/webhook-secret"] = {
            "parameters": params,
            "post": op(
                "automation.rotateWebhookSecret",
                "A new webhook signing secret for the rule, shown once",
                {
                    "200": {"description": "The secret.", "content": json_content(anything)},
                    **_errors("401", "403", "404"),
                },
                description=admin,
            ),
        }
        integer = {"type": "integer"}
        self.paths["/api/v1/automation-runs"] = {
            "get": op(
                "automation.runs",
                "The automation run log, newest first",
                {"200": {"description": "Runs.", "content": json_content(listing)}, **_errors("401", "403", "422")},
                description=admin,
                parameters=[
                    query("rule", {"type": "string"}, "`<object>.<api_name>` of a rule."),
                    query("object", api_name, "Runs on this object's records."),
                    query("record", integer, "Runs on this record."),
                    query("result", {"enum": ["ok", "skipped", "error"]}, "Only this result."),
                    query("before", integer, "Runs older than this id (paging)."),
                    query("limit", integer, "At most this many (1-200, default 50)."),
                ],
            ),
        }
        self.paths["/api/v1/notifications"] = {
            "get": op(
                "automation.notifications",
                "The signed-in user's notifications, newest first",
                {
                    "200": {"description": "Notifications and the unread count.", "content": json_content(listing)},
                    **_errors("401", "422"),
                },
                parameters=[
                    query("unread", {"type": "boolean"}, "Only unread ones."),
                    query("before", integer, "Older than this id (paging)."),
                    query("limit", integer, "At most this many (1-200, default 50)."),
                ],
            ),
        }
        self.paths["/api/v1/notifications/{id}/read"] = {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "description": "The notification.", "schema": integer}
            ],
            "post": op(
                "automation.readNotification",
                "Mark a notification read",
                {
                    "200": {"description": "The notification.", "content": json_content(anything)},
                    **_errors("401", "404"),
                },
            ),
        }
        self.paths["/api/v1/notifications/read-all"] = {
            "post": op(
                "automation.readAllNotifications",
                "Mark all of the user's notifications read",
                {"200": {"description": "How many were marked.", "content": json_content(anything)}, **_errors("401")},
            ),
        }

    def _security_paths(self, tags: list[str]) -> None:
        """Password change, sign out everywhere, the tenant's password policy."""
        strings = {"type": "string", "minLength": 1}
        settings = {
            "type": "object",
            "properties": {
                "password_min_length": {"type": "integer", "minimum": 8, "maximum": 128},
                "password_refuse_common": {"type": "boolean"},
                "two_factor_roles": {"type": "array", "items": {"type": "string"}},
                "oidc_issuer": {"type": "string"},
                "oidc_client_id": {"type": "string"},
                "oidc_client_secret_set": {"type": "boolean"},
            },
        }
        settings_change = {
            "type": "object",
            "properties": {
                **{k: v for k, v in settings["properties"].items() if k != "oidc_client_secret_set"},
                "oidc_client_secret": {"type": "string", "description": "Write-only."},
            },
        }
        self.paths["/api/v1/auth/password"] = {
            "post": {
                "tags": tags,
                "operationId": "auth.changePassword",
                "summary": "Change your password; every session and token of yours ends",
                "requestBody": {
                    "required": True,
                    "content": json_content(
                        {
                            "type": "object",
                            "required": ["current_password", "new_password"],
                            "properties": {"current_password": strings, "new_password": strings},
                        }
                    ),
                },
                "responses": {"204": {"description": "Changed."}, **_errors("400", "401", "413", "422", "429")},
            }
        }
        self.paths["/api/v1/auth/sign-out-everywhere"] = {
            "post": {
                "tags": tags,
                "operationId": "auth.signOutEverywhere",
                "summary": "End every session and revoke every API token of yours, in every tenant",
                "responses": {
                    "200": {
                        "description": "How many tokens were revoked.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["tokens_revoked"],
                                "properties": {"tokens_revoked": {"type": "integer"}},
                            }
                        ),
                    },
                    **_errors("401"),
                },
            }
        }
        code_body = {
            "required": True,
            "content": json_content({"type": "object", "required": ["code"], "properties": {"code": strings}}),
        }
        self.paths["/api/v1/auth/2fa"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.twoFactorStatus",
                "summary": "Whether two-factor authentication is on, and required of you in this tenant",
                "responses": {
                    "200": {
                        "description": "The state.",
                        "content": json_content(
                            {
                                "type": "object",
                                "properties": {
                                    "enabled": {"type": "boolean"},
                                    "pending_confirmation": {"type": "boolean"},
                                    "recovery_codes_left": {"type": "integer"},
                                    "required": {"type": "boolean"},
                                },
                            }
                        ),
                    },
                    **_errors("401"),
                },
            }
        }
        self.paths["/api/v1/auth/2fa/enrol"] = {
            "post": {
                "tags": tags,
                "operationId": "auth.twoFactorEnrol",
                "summary": "A new TOTP secret for your authenticator app (in force once confirmed)",
                "responses": {
                    "201": {
                        "description": "The secret and its otpauth:// URI, shown once.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["secret", "otpauth_uri"],
                                "properties": {"secret": {"type": "string"}, "otpauth_uri": {"type": "string"}},
                            }
                        ),
                    },
                    **_errors("401", "409"),
                },
            }
        }
        self.paths["/api/v1/auth/2fa/confirm"] = {
            "post": {
                "tags": tags,
                "operationId": "auth.twoFactorConfirm",
                "summary": "Confirm enrolment with a first code; answers the recovery codes once",
                "requestBody": code_body,
                "responses": {
                    "200": {
                        "description": "Recovery codes.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["recovery_codes"],
                                "properties": {"recovery_codes": {"type": "array", "items": {"type": "string"}}},
                            }
                        ),
                    },
                    **_errors("400", "401", "404", "413", "422"),
                },
            }
        }
        self.paths["/api/v1/auth/2fa/disable"] = {
            "post": {
                "tags": tags,
                "operationId": "auth.twoFactorDisable",
                "summary": "Turn two-factor authentication off with a code (unless your role requires it)",
                "requestBody": code_body,
                "responses": {"204": {"description": "Off."}, **_errors("400", "401", "403", "413", "422")},
            }
        }
        self.paths["/api/v1/auth/settings"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.securitySettings",
                "summary": "The tenant's password policy",
                "responses": {"200": {"description": "Settings.", "content": json_content(settings)}, **_errors("401")},
            },
            "patch": {
                "tags": tags,
                "operationId": "auth.updateSecuritySettings",
                "summary": "Change the tenant's password policy (holders of manage_access)",
                "requestBody": {"required": True, "content": json_content(settings_change)},
                "responses": {
                    "200": {"description": "The settings now.", "content": json_content(settings)},
                    **_errors("400", "401", "403", "413", "422"),
                },
            },
        }

    def _auth_paths(self) -> None:
        tags = ["auth"]
        self.paths["/api/v1/auth/token"] = {
            "post": {
                "tags": tags,
                "operationId": "auth.exchangePassword",
                "summary": "Exchange e-mail, password and tenant for an API token",
                "security": [],
                "requestBody": {"required": True, "content": json_content(ref("TokenRequest"))},
                "responses": {
                    "201": {"description": "A new token.", "content": json_content(ref("Token"))},
                    **_errors("400", "401", "413", "422", "429"),
                },
            }
        }
        self.paths["/api/v1/me"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.me",
                "summary": "The signed-in user and tenant",
                "responses": {
                    "200": {"description": "Who you are.", "content": json_content(ref("Me"))},
                    **_errors("401"),
                },
            }
        }
        self.paths["/api/v1/auth/tokens"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.listTokens",
                "summary": "Your API tokens in this tenant (never their secret)",
                "responses": {
                    "200": {
                        "description": "Tokens.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data"],
                                "properties": {"data": {"type": "array", "items": ref("TokenInfo")}},
                            }
                        ),
                    },
                    **_errors("401"),
                },
            },
            "post": {
                "tags": tags,
                "operationId": "auth.createToken",
                "summary": "Create another API token for yourself",
                "requestBody": {
                    "required": True,
                    "content": json_content({"type": "object", "properties": {"name": {"type": "string"}}}),
                },
                "responses": {
                    "201": {"description": "A new token.", "content": json_content(ref("Token"))},
                    **_errors("400", "401", "413", "422"),
                },
            },
        }
        self.paths["/api/v1/auth/tokens/{token_id}"] = {
            "parameters": [{"name": "token_id", "in": "path", "required": True, "schema": {"type": "integer"}}],
            "delete": {
                "tags": tags,
                "operationId": "auth.revokeToken",
                "summary": "Revoke one of your tokens",
                "responses": {"204": {"description": "Revoked."}, **_errors("401", "404")},
            },
        }
        self._security_paths(tags)
        self.paths["/api/v1/audit"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.auditLog",
                "summary": "The tenant's audit log, newest first (tenant admins)",
                "parameters": [
                    {
                        "name": "action",
                        "in": "query",
                        "schema": {"type": "string"},
                        "examples": {"record": {"value": "record.updated"}},
                    },
                    {
                        "name": "before",
                        "in": "query",
                        "description": "Entries older than this id.",
                        "schema": {"type": "integer"},
                    },
                    {
                        "name": "limit",
                        "in": "query",
                        "schema": {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                    },
                ],
                "responses": {
                    "200": {
                        "description": "A page of entries.",
                        "content": json_content(
                            {
                                "type": "object",
                                "required": ["data", "next_cursor"],
                                "properties": {
                                    "data": {"type": "array", "items": ref("AuditEntry")},
                                    "next_cursor": {"type": ["integer", "null"]},
                                },
                            }
                        ),
                    },
                    **_errors("401", "403"),
                },
            }
        }
        self.paths["/api/v1/health"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.health",
                "summary": "200 when the platform database answers (for load balancers)",
                "security": [],
                "responses": {
                    "200": {
                        "description": "Healthy.",
                        "content": json_content(
                            {"type": "object", "properties": {"status": {"const": "ok"}}, "required": ["status"]}
                        ),
                    }
                },
            }
        }
        self.paths["/api/v1/openapi.json"] = {
            "get": {
                "tags": tags,
                "operationId": "auth.openapi",
                "summary": "This document, for the signed-in tenant at its current metadata revision",
                "responses": {
                    "200": {"description": "An OpenAPI 3.1 document.", "content": json_content({"type": "object"})},
                    **_errors("401"),
                },
            }
        }


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

OPERATOR_TEXT = {
    "eq": "equals the value",
    "ne": "differs from the value (or is empty)",
    "lt": "is less than the value",
    "lte": "is at most the value",
    "gt": "is greater than the value",
    "gte": "is at least the value",
    "in": "is one of the comma-separated values",
    "contains": "contains the value (text: case-insensitive; multi-value fields: has all the listed values)",
    "startswith": "starts with the value (case-insensitive)",
    "isnull": "is empty (true) or not (false)",
}


HTTP_METHODS = ("get", "post", "put", "patch", "delete")
# <name>, <int:id>, <any(a, 'b-c'):kind> in a Werkzeug rule: (converter, its arguments, variable)
RULE_VARIABLE = re.compile(r"<(?:([A-Za-z_]\w*)(?:\(([^)]*)\))?:)?([A-Za-z_]\w*)>")


def _path_parameter(converter: str, arguments: str, name: str) -> dict:
    schema: dict[str, Any] = {"type": "string"}
    if converter == "int":
        schema = {"type": "integer"}
    elif converter == "float":
        schema = {"type": "number"}
    elif converter == "any":
        schema = {"type": "string", "enum": sorted(a.strip().strip("'\"") for a in arguments.split(","))}
    return {"name": name, "in": "path", "required": True, "schema": schema}


def _errors(*statuses: str) -> dict:
    return {status: {"$ref": f"#/components/responses/{ERROR_RESPONSES[status][0]}"} for status in statuses}
