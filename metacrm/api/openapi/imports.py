"""The import endpoints in the OpenAPI document (``metacrm/api/imports.py``):
one upload path per object, the run's status and its failed rows."""

from __future__ import annotations

from typing import Any

from metacrm.metadata.physical import CompiledObject

from .schemas import error_refs, json_content

IMPORT_RUN = "ImportRun"


def import_run_schema() -> dict:
    error = {
        "type": "object",
        "required": ["row", "field", "reason"],
        "properties": {
            "row": {"type": "integer", "description": "The row in the file (the header is row 1)."},
            "field": {"type": ["string", "null"], "description": "The field's API name (null: the whole row)."},
            "reason": {"type": "string"},
        },
    }
    return {
        "type": "object",
        "required": ["id", "object", "status", "total", "processed", "created", "updated", "failed", "errors"],
        "properties": {
            "id": {"type": "integer"},
            "object": {"type": "string"},
            "file_name": {"type": "string"},
            "status": {"type": "string", "enum": ["draft", "queued", "running", "done", "failed"]},
            "message": {"type": ["string", "null"], "description": "Why a failed run failed as a whole."},
            "mode": {"type": "string", "enum": ["insert", "update", "upsert"]},
            "key": {"type": ["string", "null"]},
            "dry_run": {"type": "boolean"},
            "mapping": {"type": ["object", "null"], "description": "Column header → field (or {field, match})."},
            "total": {"type": "integer"},
            "processed": {"type": "integer"},
            "created": {"type": "integer", "description": "Written (in a dry run: would be)."},
            "updated": {"type": "integer"},
            "failed": {"type": "integer"},
            "progress": {"type": "integer", "minimum": 0, "maximum": 100},
            "errors": {"type": "array", "items": error, "description": "The first 1000 row errors."},
            "failed_rows": {"type": "boolean", "description": "Whether GET …/failed-rows has a file."},
            "created_at": {"type": ["string", "null"], "format": "date-time"},
            "finished_at": {"type": ["string", "null"], "format": "date-time"},
        },
    }


class ImportSections:
    """The part of :class:`~metacrm.api.openapi.document.DocumentBuilder` for imports."""

    paths: dict[str, Any]
    schemas: dict[str, Any]

    def _import_paths(self, objects: list[CompiledObject]) -> None:
        if "api_imports.start" not in self.view_rules:
            return
        self.schemas[IMPORT_RUN] = import_run_schema()
        run = json_content({"$ref": f"#/components/schemas/{IMPORT_RUN}"})
        form = {
            "type": "object",
            "required": ["file"],
            "properties": {
                "file": {"type": "string", "format": "binary", "description": "A .csv (any encoding) or .xlsx file."},
                "mapping": {
                    "type": "string",
                    "description": 'JSON: {"Column": "field", "Account": {"field": "account", "match": "code"}}; '
                    "left out: columns matched to fields by API name or label.",
                },
                "mode": {"type": "string", "enum": ["insert", "update", "upsert"], "default": "insert"},
                "key": {"type": "string", "description": "id or a unique field (update and upsert)."},
                "dry_run": {"type": "boolean", "default": False},
                "save_mapping": {"type": "string", "description": "Save the mapping under this name."},
            },
        }
        for obj in objects:
            self.paths[self._path("api_imports.start", name=obj.api_name)] = {
                "post": {
                    "tags": [obj.api_name],
                    "operationId": f"data.{obj.api_name}.import",
                    "summary": f"Import {obj.label} records from a CSV or XLSX file",
                    "description": "Checks the file, mapping and rights (the import right of the role), then "
                    "runs the import as a background job: poll GET /api/v1/imports/{id}.",
                    "requestBody": {"required": True, "content": {"multipart/form-data": {"schema": form}}},
                    "responses": {
                        "202": {"description": "The run, queued (or done when jobs run inline).", "content": run},
                        **error_refs("401", "403", "404", "422"),
                    },
                }
            }
        self.paths[self._path("api_imports.show")] = {
            "parameters": self._path_parameters("api_imports.show"),
            "get": {
                "tags": ["imports"],
                "operationId": "imports.show",
                "summary": "An import run: status, progress, counts and row errors",
                "responses": {"200": {"description": "The run.", "content": run}, **error_refs("401", "404")},
            },
        }
        self.paths[self._path("api_imports.failed_rows")] = {
            "parameters": self._path_parameters("api_imports.failed_rows"),
            "get": {
                "tags": ["imports"],
                "operationId": "imports.failed_rows",
                "summary": "The rows an import refused, as CSV with an error column",
                "responses": {
                    "200": {
                        "description": "CSV (UTF-8 with BOM).",
                        "content": {"text/csv": {"schema": {"type": "string"}}},
                    },
                    **error_refs("401", "404"),
                },
            },
        }
