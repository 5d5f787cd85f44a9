"""The field-type contract: one class per type owns everything that differs
between types — physical columns, the marshmallow field that validates and
converts API values, the filter operators and their SQL, the default UI
widget, and the import parser.

A field type instance is bound to one field definition (the JSON document an
admin wrote). The registry (:mod:`metacrm.metadata.fieldtypes.registry`)
maps type names to classes; plugins add classes through the
``register_field_types`` hook.
"""

from __future__ import annotations

import functools
from typing import Any, ClassVar

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.platform.errors import ValidationFailed

from .json_schema import python_type_schema

# Every operator a filter may name; each type supports a subset.
ALL_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startswith", "isnull")


class FilterError(ValidationFailed):
    """A filter names an operator the field does not support or a value of the wrong type."""


class FieldType:
    """Base class; subclasses set the class attributes and override what differs."""

    name: ClassVar[str]  # the API type name, e.g. "picklist"
    label: ClassVar[str]  # human name for the field editor
    widget: ClassVar[str] = "text"  # default UI widget
    options_schema: ClassVar[dict] = {"type": "object", "additionalProperties": False, "properties": {}}
    operators: ClassVar[tuple[str, ...]] = ("eq", "ne", "in", "isnull")
    sortable: ClassVar[bool] = True
    searchable: ClassVar[bool] = False  # may appear in an object's search_fields (q=)
    # False for types without a column in the object's table (many-to-many).
    has_column: ClassVar[bool] = True
    # Types whose value is computed by the platform; never accepted on write.
    read_only: ClassVar[bool] = False
    # Types computed in SQL when read (formulas, roll-ups): no column; the
    # store selects, filters and sorts on :meth:`select_expression` instead.
    computed: ClassVar[bool] = False

    def __init__(self, definition: dict[str, Any]):
        self.definition = definition
        self.api_name: str = definition["api_name"]
        self.options: dict[str, Any] = definition.get("options") or {}
        self.required: bool = bool(definition.get("required"))

    # -- storage -----------------------------------------------------------

    def column_type(self) -> sa.types.TypeEngine:
        raise NotImplementedError

    def columns(self) -> list[sa.Column]:
        """Physical columns in the object's table. Always nullable: ``required``
        is enforced on write, so changing it never rewrites stored data."""
        if not self.has_column:
            return []
        return [sa.Column(self.api_name, self.column_type(), nullable=True)]

    def select_expression(self, table: sa.Table, model: Any) -> ColumnElement:
        """For ``computed`` types: the SQL expression of the value over the
        object's ``table`` (``model`` is the compiled model, for relations)."""
        raise NotImplementedError

    def bind_model(self, model: Any, object_api_name: str) -> None:
        """Called once the compiled model holding this field is built
        (``object_api_name``: the field's object). Types whose value depends
        on other fields (roll-ups) look them up here. Must not raise: broken
        references are reported by the ``check_definitions`` hook."""

    def to_db(self, value: Any) -> Any:
        """Python value (as loaded by :meth:`marshmallow_field`) → column value."""
        return value

    def from_db(self, value: Any) -> Any:
        """Column value → JSON-ready value for API output."""
        return value

    # -- validation and conversion of API values ------------------------------

    @functools.cached_property
    def loader(self) -> ma.fields.Field:
        """The marshmallow field, built once per compiled field (it only reads)."""
        return self.marshmallow_field()

    def marshmallow_field(self) -> ma.fields.Field:
        """Validates and deserializes a JSON value (``load``) for this field.
        ``allow_none`` is true: the record store checks ``required`` itself."""
        raise NotImplementedError

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        """Checks beyond the options JSON Schema that need the live model
        (``model_lookup(object_api_name)`` returns the object definition or
        None). Returns ``[(json_path, message)]``."""
        return []

    def default_value(self) -> Any:
        return self.definition.get("default")

    # -- queries -------------------------------------------------------------

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        """The SQL condition for ``column <op> value``; raises FilterError
        naming the field for an unsupported operator or a malformed value.
        ``value`` arrives as JSON (or a query-string string) and is converted
        with :meth:`coerce_filter_value`; values are always bound parameters."""
        if op not in self.operators:
            raise self._filter_error(f"operator {op!r} is not supported; use one of {', '.join(self.operators)}")
        if op == "isnull":
            return column.is_(None) if _truthy(value) else column.is_not(None)
        if op == "in":
            values = value if isinstance(value, list) else str(value).split(",")
            return column.in_([self.to_db(self.coerce_filter_value(v)) for v in values])
        coerced = self.to_db(self.coerce_filter_value(value))
        if op == "eq":
            return column.is_(None) if coerced is None else column == coerced
        if op == "ne":
            return column.is_not(None) if coerced is None else sa.or_(column != coerced, column.is_(None))
        if op in ("lt", "lte", "gt", "gte"):
            comparisons = {"lt": column < coerced, "lte": column <= coerced, "gt": column > coerced}
            return comparisons.get(op, column >= coerced)
        if op == "contains":
            return column.contains(coerced, autoescape=True)
        if op == "startswith":
            return column.startswith(coerced, autoescape=True)
        raise self._filter_error(f"operator {op!r} is not supported")

    def coerce_filter_value(self, value: Any) -> Any:
        """A filter value (JSON or query-string text) → Python value."""
        try:
            return self.marshmallow_field().deserialize(value)
        except ma.ValidationError as exc:
            raise self._filter_error(_first_message(exc)) from None

    def _filter_error(self, message: str) -> FilterError:
        return FilterError(f"bad filter on {self.api_name}: {message}", details={"fields": {self.api_name: [message]}})

    # -- import ----------------------------------------------------------------

    def parse_import(self, text: str) -> Any:
        """A spreadsheet/CSV cell → Python value; raises ValueError with a
        message a user can act on. Empty text is None."""
        if text is None or str(text).strip() == "":
            return None
        try:
            return self.marshmallow_field().deserialize(str(text).strip())
        except ma.ValidationError as exc:
            raise ValueError(_first_message(exc)) from None

    # -- JSON Schema (the OpenAPI document) ---------------------------------------

    # How a filter's query value reads: these operators take a comma-separated
    # list of filter values, these others any non-empty text (a part of a value).
    filter_list_operators: ClassVar[tuple[str, ...]] = ("in",)
    filter_text_operators: ClassVar[tuple[str, ...]] = ("contains", "startswith")

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        """The JSON Schema of one value of the field: as records return it
        (``output``) or as a write accepts it. This default describes the
        column's Python type; the built-in types describe more."""
        try:
            python_type = self.column_type().python_type
        except (NotImplementedError, TypeError, AttributeError):
            python_type = None
        return python_type_schema(python_type) or {"description": f"a {self.name} value"}

    def filter_schema(self) -> dict[str, Any]:
        """The JSON Schema of one filter value as query-string text
        (``field=value``, an item of ``field[in]=a,b``)."""
        return {"type": "string"}


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in {"1", "true", "yes"}


def _first_message(exc: ma.ValidationError) -> str:
    messages = exc.messages
    while isinstance(messages, (list, dict)):
        messages = next(iter(messages.values())) if isinstance(messages, dict) else messages[0]
    return str(messages)
