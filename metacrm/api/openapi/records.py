"""The records part of the OpenAPI document: for each object its schemas
(``<Object>`` as returned, ``<Object>Input`` for create, ``<Object>Update``
for a partial update, ``<Object>List`` for a page), the filter parameters
its fields and operators allow, and its paths under ``/api/v1/data/<object>``
(list, create, read, change, delete, restore, bulk, related lists).

A field's value schema is the field type's own answer
(:meth:`~metacrm.metadata.fieldtypes.base.FieldType.json_schema`, and
:meth:`~metacrm.metadata.fieldtypes.base.FieldType.filter_schema` for a
filter value); this module adds the field's label, help and read-only flag.

Depends on the metadata layer (compiled model, field types).
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

from metacrm.metadata.fieldtypes.base import FieldType
from metacrm.metadata.fieldtypes.json_schema import record_id_schema
from metacrm.metadata.fieldtypes.registry import FieldTypeRegistry
from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.reserved import SYSTEM_FIELDS
from metacrm.metadata.store import DEFAULT_LIMIT, MAX_BULK, MAX_LIMIT, SYSTEM_FIELD_TYPES

from .schemas import API_NAME_PATTERN, error_refs, json_content, not_empty, ref

# Query parameters of a list that are not field filters (metacrm.api.data).
LIST_PARAMETERS = ("q", "sort", "limit", "cursor", "offset", "fields", "count", "deleted")
# Types whose values point at records of ``options.target``: lookups hold one
# id in their column (the target's related lists show them); many-to-many
# fields hold links.
# Record paths call the record ``{id}`` (the shared ``recordId`` parameter)
# where the views' rules say ``<int:record_id>``.
RECORD_ID = "{id}"

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


def annotated(schema: dict, field_type: FieldType) -> dict:
    """A field's value schema with its label (title), help, type name and read-only flag."""
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
    "id": {**record_id_schema(), "readOnly": True},
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


class RecordSections:
    """The per-object part of :class:`~metacrm.api.openapi.document.DocumentBuilder`."""

    model: CompiledModel
    registry: FieldTypeRegistry
    names: dict[str, str]
    schemas: dict[str, Any]
    parameters: dict[str, Any]
    filter_refs: dict[str, list[dict]]
    paths: dict[str, Any]
    _path: Callable[..., str]  # RouteSections: a view's path, from its URL rule
    view: dict[str, tuple[frozenset[str], frozenset[str]]] | None  # what the caller may see; None: all

    # -- what the caller may see ---------------------------------------------------------------

    def _objects(self) -> list[str]:
        """The objects the document describes: those the caller may read."""
        return sorted(name for name in self.model.objects if self.view is None or name in self.view)

    def _fields(self, obj: CompiledObject) -> dict[str, FieldType]:
        """The fields of ``obj`` the caller may read."""
        if self.view is None:
            return dict(obj.fields)
        readable = self.view.get(obj.api_name, (frozenset(), frozenset()))[0]
        return {name: ft for name, ft in obj.fields.items() if name in readable}

    def _writable(self, obj: CompiledObject) -> dict[str, FieldType]:
        """The fields of ``obj`` the caller may write (never read-only types)."""
        writable = None if self.view is None else self.view.get(obj.api_name, (frozenset(), frozenset()))[1]
        return {n: ft for n, ft in obj.fields.items() if not ft.read_only and (writable is None or n in writable)}

    # -- per object: schemas -----------------------------------------------------------------

    def _object_schemas(self, obj: CompiledObject) -> None:
        base = self.names[obj.api_name]
        output = {"id": SYSTEM_OUTPUT["id"]}
        for name, field_type in self._fields(obj).items():
            output[name] = annotated(field_type.json_schema(output=True), field_type)
        output.update({name: SYSTEM_OUTPUT[name] for name in SYSTEM_FIELDS if name != "id"})
        self.schemas[base] = {
            "type": "object",
            "title": obj.label,
            "description": f"A {obj.api_name} record as the API returns it. With `fields=`, only those fields.",
            "additionalProperties": False,
            "required": SYSTEM_REQUIRED,
            "properties": output,
        }
        writable = self._writable(obj)
        inputs = {}
        for name, field_type in writable.items():
            schema = field_type.json_schema(output=False)
            # A required field refuses null and emptiness, on create and on update.
            inputs[name] = annotated(not_empty(schema) if field_type.required else schema, field_type)
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
            (name, field_type, field_type.definition.get("label") or name)
            for name, field_type in self._fields(obj).items()
        ]
        for name, type_name in SYSTEM_FIELD_TYPES.items():
            if name in obj.fields:
                continue
            system = self.registry.bind({"api_name": name, "type": type_name})
            bound.append((name, system, name.replace("_", " ")))
        parameters = []
        for name, field_type, label in bound:
            operators = list(field_type.operators)
            if not operators:
                continue
            value = field_type.filter_schema()
            if "eq" in operators:
                # A field named like a list parameter (``deleted``) filters for equality as ``name[eq]``.
                parameter = {
                    "name": name if name not in LIST_PARAMETERS else f"{name}[eq]",
                    "in": "query",
                    "description": f"{label} equals this value. Operators of this field: {', '.join(operators)} "
                    f"(as {name}[op]=value).",
                }
                parameters.append({**parameter, **_query_value(field_type, "eq", value)})
            for op in operators:
                if op != "eq":
                    parameter = {"name": f"{name}[{op}]", "in": "query", "description": f"{label} {OPERATOR_TEXT[op]}."}
                    parameters.append({**parameter, **_query_value(field_type, op, value)})
        return parameters

    def _list_parameters(self, obj: CompiledObject, *, recycle_bin: bool = True) -> list[dict]:
        fields = self._fields(obj)
        sortable = [n for n, ft in fields.items() if ft.sortable and (ft.has_column or getattr(ft, "computed", False))]
        sortable += [n for n in SYSTEM_FIELD_TYPES if n not in obj.fields]
        selectable = [*fields, *SYSTEM_FIELDS]
        searchable = [f for f in obj.search_fields if f in fields]
        parameters: list[dict] = []
        if searchable:
            parameters.append(
                {
                    "name": "q",
                    "in": "query",
                    "description": f"Search (case-insensitive, anywhere in): {', '.join(searchable)}.",
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
        parameters.append(
            {
                "name": "where",
                "in": "query",
                "description": "A rule-language condition on the object's fields (docs/rules.md).",
                "schema": {"type": "string", "maxLength": 4000},
            }
        )
        if recycle_bin:
            parameters.append({"$ref": "#/components/parameters/deletedFlag"})
            parameters += [
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
        tags = [api]
        record = json_content(ref(base))
        etag = {"ETag": {"description": 'The record\'s version, quoted: "3".', "schema": {"type": "string"}}}
        self.paths[self._path("api_data.list_records", name=api)] = {
            "get": {
                "tags": tags,
                "operationId": f"data.{api}.list",
                "summary": f"List {obj.definition.get('plural_label') or obj.label}",
                "description": "Filters combine with AND. A repeated filter parameter adds another condition.",
                "parameters": self._list_parameters(obj),
                "responses": {
                    "200": {"description": "A page of records.", "content": json_content(ref(base + "List"))},
                    **error_refs("400", "401", "403", "404", "422"),
                },
            },
            "post": {
                "tags": tags,
                "operationId": f"data.{api}.create",
                "summary": f"Create {obj.label}",
                "requestBody": {"required": True, "content": json_content(ref(base + "Input"))},
                "responses": {
                    "201": {"description": "Created.", "headers": etag, "content": record},
                    **error_refs("400", "401", "403", "404", "409", "413", "422"),
                },
            },
        }
        id_param = [{"$ref": "#/components/parameters/recordId"}]
        fields_param = {
            "name": "fields",
            "in": "query",
            "description": "Only these fields (system fields are always returned).",
            "schema": {"type": "array", "items": {"type": "string", "enum": [*self._fields(obj), *SYSTEM_FIELDS]}},
            "style": "form",
            "explode": False,
        }
        self.paths[self._path("api_data.get_record", name=api, record_id=RECORD_ID)] = {
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
                    **error_refs("400", "401", "403", "404", "422"),
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
                    **error_refs("400", "401", "403", "404", "409", "413", "422"),
                },
            },
            "delete": {
                "tags": tags,
                "operationId": f"data.{api}.delete",
                "summary": f"Delete {obj.label} (into the recycle bin)",
                "description": "Lookups to it follow their on-delete rule: restrict (409), set_null, cascade.",
                "responses": {"204": {"description": "Deleted."}, **error_refs("400", "401", "403", "404", "409")},
            },
        }
        self.paths[self._path("api_data.restore_record", name=api, record_id=RECORD_ID)] = {
            "parameters": id_param,
            "post": {
                "tags": tags,
                "operationId": f"data.{api}.restore",
                "summary": f"Restore {obj.label} from the recycle bin",
                "description": "Records its delete cascaded to come back too.",
                "responses": {
                    "200": {"description": "The restored record.", "headers": etag, "content": record},
                    **error_refs("400", "401", "403", "404"),
                },
            },
        }
        update_row = copy.deepcopy(self.schemas[base + "Update"])
        update_row["properties"]["id"] = record_id_schema()
        update_row["required"] = ["id"]
        brief = {
            "type": "object",
            "required": ["id"],
            "properties": {"id": record_id_schema()},
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
        self.paths[self._path("api_data.bulk", name=api)] = {
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
                    **error_refs("400", "401", "403", "404", "409", "413", "422"),
                },
            }
        }
        shown = self._objects()
        for name, field_type in self._fields(obj).items():
            if not field_type.is_reference:
                continue
            target = self.model.object(field_type.reference_target)
            if target is not None and target.api_name in shown:
                summary = f"{target.label} records that {obj.label}.{name} points to"
                self._related_path(obj, name, target, summary)
        # Related lists: lookups of other objects (or this one) that point here.
        for child_name in shown:
            child = self.model.objects[child_name]
            for name, field_type in self._fields(child).items():
                if field_type.is_lookup and field_type.reference_target == api:
                    summary = f"{child.label} records whose {name} is this {obj.label}"
                    self._related_path(obj, f"{child_name}.{name}", child, summary)

    def _related_path(self, obj: CompiledObject, relation: str, target: CompiledObject, summary: str) -> None:
        self.paths[self._path("api_data.related_records", name=obj.api_name, record_id=RECORD_ID, field=relation)] = {
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
                    **error_refs("400", "401", "403", "404", "422"),
                },
            },
        }


def _query_value(field_type: FieldType, op: str, value: dict) -> dict:
    """How the query value of ``field[op]`` reads (``value``: one filter
    value's schema): its ``schema``, and ``style``/``explode`` for a list."""
    if op in field_type.filter_list_operators:
        return {"schema": {"type": "array", "items": value}, "style": "form", "explode": False}
    if op == "isnull":
        return {"schema": {"type": "boolean"}}
    if op in field_type.filter_text_operators:
        return {"schema": {"type": "string", "minLength": 1}}
    return {"schema": value}
