"""The definitions part of the OpenAPI document: the metadata endpoints
(objects, fields, layouts, list views, field types, revisions and
rollback), validation rules and the rule-language endpoints, automation
rules with their run log, and notifications. Request and response bodies
are the definition kinds' own schemas (the kind registry,
:mod:`metacrm.metadata.kinds`). The summaries of the
rules and automation operations are their views' docstrings.

Depends on the metadata layer and the rule uses of ``metacrm.rules``.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from metacrm.metadata.fieldtypes.json_schema import record_id_schema
from metacrm.rules.saving import USES

from .schemas import API_NAME_PATTERN, error_refs, inline_local_refs, json_content, ref, with_properties


class DefinitionSections:
    """The metadata, rules and automation paths of
    :class:`~metacrm.api.openapi.document.DocumentBuilder`."""

    schemas: dict[str, Any]
    paths: dict[str, Any]
    _path: Callable[..., str]  # RouteSections: a view's path, from its URL rule
    _summary: Callable[[str], str]  # RouteSections: an operation's summary, from its view's docstring

    def _meta_paths(self) -> None:
        tags = ["metadata"]
        obj_param = [{"$ref": "#/components/parameters/objectName"}]
        field_params = [*obj_param, {"$ref": "#/components/parameters/fieldName"}]
        revision_header = {
            "X-Metadata-Revision": {"description": "The metadata revision now current.", "schema": {"type": "integer"}}
        }
        admin = "Tenant admins only (403 otherwise). Makes a new metadata revision."
        write_errors = error_refs("400", "401", "403", "404", "409", "413", "422")

        def data_of(schema: dict) -> dict:
            return json_content({"type": "object", "required": ["data"], "properties": {"data": schema}})

        def op(operation_id, summary, responses, **extra) -> dict:
            return {"tags": tags, "operationId": operation_id, "summary": summary, **extra, "responses": responses}

        self.paths[self._path("api_meta.list_objects")] = {
            "get": op(
                "meta.listObjects",
                "List objects",
                {
                    "200": {
                        "description": "Objects (or, with deleted=true, those in the recycle bin).",
                        "headers": revision_header,
                        "content": data_of({"type": "array", "items": ref("ObjectSummary")}),
                    },
                    **error_refs("401"),
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
        self.paths[self._path("api_meta.get_object")] = {
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
                    **error_refs("401", "404"),
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
        self.paths[self._path("api_meta.restore_object")] = {
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
        self.paths[self._path("api_meta.list_fields")] = {
            "parameters": obj_param,
            "get": op(
                "meta.listFields",
                "List an object's fields",
                {
                    "200": {
                        "description": "Fields (or those in the recycle bin).",
                        "content": data_of({"type": "array", "items": ref("FieldDetail")}),
                    },
                    **error_refs("401", "404"),
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
        self.paths[self._path("api_meta.get_field")] = {
            "parameters": field_params,
            "get": op(
                "meta.getField",
                "A field",
                {
                    "200": {"description": "The field.", "content": json_content(ref("FieldDetail"))},
                    **error_refs("401", "404"),
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
        self.paths[self._path("api_meta.restore_field")] = {
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
            self.paths[self._path("api_meta.list_scoped", collection=collection)] = {
                "parameters": obj_param,
                "get": op(
                    f"meta.list{key}",
                    f"List an object's {word}s",
                    {
                        "200": {
                            "description": f"The {word}s.",
                            "content": data_of({"type": "array", "items": ref(schema)}),
                        },
                        **error_refs("401", "404"),
                    },
                ),
            }
            self.paths[self._path("api_meta.get_scoped", collection=collection)] = {
                "parameters": [*obj_param, {"$ref": "#/components/parameters/itemName"}],
                "get": op(
                    f"meta.get{schema}",
                    f"A {word}",
                    {
                        "200": {"description": f"The {word}.", "content": json_content(ref(schema))},
                        **error_refs("401", "404"),
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
        self.paths[self._path("api_meta.list_field_types")] = {
            "get": op(
                "meta.listFieldTypes",
                "Field types: operators, options schema, safe type changes",
                {
                    "200": {
                        "description": "Every registered field type.",
                        "content": data_of({"type": "array", "items": ref("FieldType")}),
                    },
                    **error_refs("401"),
                },
            )
        }
        self.paths[self._path("api_meta.list_revisions")] = {
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
                    **error_refs("401"),
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
        self.paths[self._path("api_meta.get_revision")] = {
            "parameters": number,
            "get": op(
                "meta.getRevision",
                "One revision with the before/after of every definition it touched",
                {
                    "200": {"description": "The revision.", "content": json_content(ref("Revision"))},
                    **error_refs("401", "404"),
                },
            ),
        }
        self.paths[self._path("api_meta.rollback")] = {
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

    def _rules_paths(self) -> None:
        """Validation rules and the rule-language endpoints (metacrm/api/rules.py)."""
        tags = ["rules"]
        rule = inline_local_refs(self.kinds.get("validation_rule").schema)
        self.schemas["ValidationRule"] = rule
        obj_param = [{"$ref": "#/components/parameters/objectName"}]
        admin = "Tenant admins only (403 otherwise). Makes a new metadata revision."
        write_errors = error_refs("400", "401", "403", "404", "409", "413", "422")
        body = {"required": True, "content": json_content(ref("ValidationRule"))}
        one = {"description": "The validation rule.", "content": json_content(ref("ValidationRule"))}

        def op(operation_id, endpoint, responses, **extra) -> dict:
            summary = self._summary(endpoint)
            return {"tags": tags, "operationId": operation_id, "summary": summary, **extra, "responses": responses}

        self.paths[self._path("api_rules.list_validation_rules")] = {
            "parameters": obj_param,
            "get": op(
                "rules.listValidationRules",
                "api_rules.list_validation_rules",
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
                    **error_refs("401", "404"),
                },
            ),
            "post": op(
                "rules.createValidationRule",
                "api_rules.create_validation_rule",
                {"201": one, **write_errors},
                description=admin + " The condition is type-checked: errors carry line and column (422); "
                "an api_name already used is a 409.",
                requestBody=body,
            ),
        }
        self.paths[self._path("api_rules.get_validation_rule")] = {
            "parameters": [*obj_param, {"$ref": "#/components/parameters/itemName"}],
            "get": op(
                "rules.getValidationRule", "api_rules.get_validation_rule", {"200": one, **error_refs("401", "404")}
            ),
            "put": op(
                "rules.putValidationRule",
                "api_rules.put_validation_rule",
                {"200": one, **write_errors},
                description=admin + " `api_name` may be omitted; if sent, it must match the URL.",
                requestBody={
                    "required": True,
                    "content": json_content(with_properties(rule, {}, required=False)),
                },
            ),
            "delete": op(
                "rules.deleteValidationRule",
                "api_rules.delete_validation_rule",
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
        self.paths[self._path("api_rules.check_expression")] = {
            "post": op(
                "rules.check",
                "api_rules.check_expression",
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
                    **error_refs("400", "401", "403", "404", "422"),
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
        self.paths[self._path("api_rules.evaluate_expression")] = {
            "post": op(
                "rules.evaluate",
                "api_rules.evaluate_expression",
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
                    **error_refs("400", "401", "403", "404", "422"),
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
                                "record_id": record_id_schema(),
                            },
                        }
                    ),
                },
            )
        }

    def _automation_paths(self) -> None:
        """Automation rules, their dry run and run log, notifications (metacrm/api/automations.py)."""
        tags = ["automation"]
        api_name = {"type": "string", "pattern": API_NAME_PATTERN}
        automation = with_properties(
            inline_local_refs(self.kinds.get("automation").schema),
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
        write_errors = error_refs("400", "401", "403", "404", "409", "422")
        one = {"description": "The automation rule.", "content": json_content(ref("Automation"))}
        anything = {"type": "object", "additionalProperties": True}
        listing = {
            "type": "object",
            "required": ["data"],
            "properties": {"data": {"type": "array", "items": anything}, "next_before": {"type": ["integer", "null"]}},
        }

        def op(operation_id, endpoint, responses, **extra) -> dict:
            summary = self._summary(endpoint)
            return {"tags": tags, "operationId": operation_id, "summary": summary, **extra, "responses": responses}

        def query(name: str, schema: dict, description: str) -> dict:
            return {"name": name, "in": "query", "required": False, "description": description, "schema": schema}

        self.paths[self._path("api_automations.list_automations")] = {
            "get": op(
                "automation.list",
                "api_automations.list_automations",
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
                    **error_refs("401", "403"),
                },
                description=admin,
                parameters=[query("object", api_name, "Only this object's rules.")],
            ),
            "post": op(
                "automation.create",
                "api_automations.create_automation",
                {"201": one, **write_errors},
                description=admin + " The statement is type-checked; errors carry line and column (422).",
                requestBody={"required": True, "content": json_content(ref("Automation"))},
            ),
        }
        self.paths[self._path("api_automations.get_automation", object_name="{object}")] = {
            "parameters": params,
            "get": op(
                "automation.get",
                "api_automations.get_automation",
                {"200": one, **error_refs("401", "403", "404")},
                description=admin,
            ),
            "put": op(
                "automation.put",
                "api_automations.put_automation",
                {"200": one, **write_errors},
                description=admin,
                requestBody={"required": True, "content": json_content(anything)},
            ),
            "delete": op(
                "automation.delete",
                "api_automations.delete_automation",
                {"204": {"description": "Deleted (a rollback can bring it back)."}, **write_errors},
                description=admin,
            ),
        }
        self.paths[self._path("api_automations.dry_run_automation", object_name="{object}")] = {
            "parameters": params,
            "post": op(
                "automation.dryRun",
                "api_automations.dry_run_automation",
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
        self.paths[self._path("api_automations.rotate_webhook_secret", object_name="{object}")] = {
            "parameters": params,
            "post": op(
                "automation.rotateWebhookSecret",
                "api_automations.rotate_webhook_secret",
                {
                    "200": {"description": "The secret.", "content": json_content(anything)},
                    **error_refs("401", "403", "404"),
                },
                description=admin,
            ),
        }
        integer = {"type": "integer"}
        self.paths[self._path("api_automations.list_runs")] = {
            "get": op(
                "automation.runs",
                "api_automations.list_runs",
                {"200": {"description": "Runs.", "content": json_content(listing)}, **error_refs("401", "403", "422")},
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
        self.paths[self._path("api_automations.list_notifications")] = {
            "get": op(
                "automation.notifications",
                "api_automations.list_notifications",
                {
                    "200": {"description": "Notifications and the unread count.", "content": json_content(listing)},
                    **error_refs("401", "422"),
                },
                parameters=[
                    query("unread", {"type": "boolean"}, "Only unread ones."),
                    query("before", integer, "Older than this id (paging)."),
                    query("limit", integer, "At most this many (1-200, default 50)."),
                ],
            ),
        }
        self.paths[self._path("api_automations.read_notification", note_id="{id}")] = {
            "parameters": [
                {"name": "id", "in": "path", "required": True, "description": "The notification.", "schema": integer}
            ],
            "post": op(
                "automation.readNotification",
                "api_automations.read_notification",
                {
                    "200": {"description": "The notification.", "content": json_content(anything)},
                    **error_refs("401", "404"),
                },
            ),
        }
        self.paths[self._path("api_automations.read_all_notifications")] = {
            "post": op(
                "automation.readAllNotifications",
                "api_automations.read_all_notifications",
                {
                    "200": {"description": "How many were marked.", "content": json_content(anything)},
                    **error_refs("401"),
                },
            ),
        }
