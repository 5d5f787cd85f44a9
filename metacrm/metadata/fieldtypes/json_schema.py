"""JSON Schema pieces the field types describe their values with
(:meth:`FieldType.json_schema`, :meth:`FieldType.filter_schema`); the API's
OpenAPI document uses the record id schema too. Each function returns a new
dict, so a caller may change what it gets.

Depends on nothing but the standard library.
"""

from __future__ import annotations

import copy
import datetime as dt
import decimal
from typing import Any

# A number written as text (decimals keep every digit that way).
DECIMAL_TEXT = r"^\s*[+-]?(\d+(\.\d*)?|\.\d+)\s*$"

# A column's Python type → the JSON Schema of its values (null included):
# how a plugin's type is described unless it describes itself.
_PYTHON_TYPE_SCHEMAS: dict[type, dict[str, Any]] = {
    bool: {"type": ["boolean", "null"]},
    int: {"type": ["integer", "null"]},
    float: {"type": ["number", "null"]},
    decimal.Decimal: {"type": ["number", "null"]},
    dt.datetime: {"type": ["string", "null"], "format": "date-time"},
    dt.date: {"type": ["string", "null"], "format": "date"},
    str: {"type": ["string", "null"]},
}


def python_type_schema(python_type: Any) -> dict[str, Any] | None:
    """The schema of a column holding ``python_type`` values; None for a type it does not know."""
    schema = _PYTHON_TYPE_SCHEMAS.get(python_type)
    return copy.deepcopy(schema) if schema is not None else None


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
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


def record_id_schema() -> dict[str, Any]:
    """A record id."""
    return {"type": "integer", "format": "int64", "minimum": 1}


def reference_output_schema() -> dict[str, Any]:
    """A reference as records return it: the target's id and name."""
    return {
        "type": "object",
        "additionalProperties": False,
        "required": ["id", "name"],
        "properties": {
            "id": record_id_schema(),
            "name": {"type": ["string", "null"], "description": "The target record's name field."},
        },
    }


def reference_input_schema() -> dict[str, Any]:
    """A reference as a write accepts it: an id, or what a read returned."""
    return {
        "anyOf": [
            record_id_schema(),
            {"type": "object", "required": ["id"], "properties": {"id": record_id_schema()}},
        ],
        "description": "A record id, or an object carrying one (what a read returned).",
    }


def value_range(options: dict[str, Any]) -> dict[str, Any]:
    """``minimum``/``maximum`` from a number field's ``min``/``max`` options (those set)."""
    keywords = {"minimum": options.get("min"), "maximum": options.get("max")}
    return {key: value for key, value in keywords.items() if value is not None}
