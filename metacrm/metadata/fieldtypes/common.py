"""Shared pieces of the built-in field types: the common base class
(defaults, type-change table), small marshmallow fields and helpers."""

from __future__ import annotations

from typing import Any, ClassVar

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.values import first_error
from metacrm.platform.errors import ValidationFailed

from .base import FieldType

# An identifier that may reach SQL (object and field api names; DESIGN.md §3).
API_NAME_PATTERN = r"^[a-z][a-z0-9_]{0,62}$"

# Record ids (and lookup columns) are BIGINT on PostgreSQL, INTEGER (64-bit
# anyway) on SQLite, where only INTEGER PRIMARY KEY autoincrements.
MAX_RECORD_ID = 2**63 - 1


def record_id_type() -> sa.types.TypeEngine:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


# The escape character used in every LIKE pattern we build (as SQLAlchemy's
# ``autoescape`` does).
LIKE_ESCAPE = "/"


def like_escape(text: str) -> str:
    """``text`` with LIKE wildcards (``%``, ``_``) and the escape character escaped."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")


def skip_none(validator):
    """Wraps a marshmallow validator so that it ignores None (fields may
    normalise empty input to None before validators run)."""

    def run(value):
        if value is not None:
            validator(value)

    return run


def reject_nul(value: str) -> None:
    if "\x00" in value:
        raise ma.ValidationError("must not contain NUL characters")


class CleanString(ma.fields.String):
    """A string that is (optionally) trimmed; empty or blank input loads as None."""

    def __init__(self, *, strip: bool = True, **kwargs):
        self.strip = strip
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        reject_nul(text)
        if not text.strip():
            return None
        return text.strip() if self.strip else text


class BuiltinFieldType(FieldType):
    """Base of the built-in types: default values and the type-change table."""

    # Target type name → short description of how a stored value converts.
    # :func:`metacrm.metadata.fieldtypes.conversion.convert_value` converts.
    CONVERTIBLE_TO: ClassVar[dict[str, str]] = {}

    def filter_field(self) -> ma.fields.Field:
        """The marshmallow field filter values go through: like
        :meth:`marshmallow_field` without limits that only make sense on
        write (a filter ``gt 5`` is fine on a field whose minimum is 10)."""
        return self.marshmallow_field()

    def coerce_filter_value(self, value: Any) -> Any:
        if isinstance(value, (dict, list)) and not self._accepts_structured_filter_value():
            raise self._filter_error("expected a single value")
        try:
            return self.filter_field().deserialize(value)
        except ma.ValidationError as exc:
            raise self._filter_error(first_error(exc)) from None

    def _accepts_structured_filter_value(self) -> bool:
        return False

    # -- defaults --------------------------------------------------------------

    def _load_default(self) -> Any:
        raw = self.definition.get("default")
        if raw is None:
            return None
        if self.read_only:
            raise ma.ValidationError(f"a {self.name} field is computed and cannot have a default")
        return self.marshmallow_field().deserialize(raw)

    def default_value(self) -> Any:
        """The definition's ``default`` loaded like an API value (None without one)."""
        try:
            return self._load_default()
        except ma.ValidationError as exc:
            message = first_error(exc)
            raise ValidationFailed(
                f"invalid default for {self.api_name}: {message}", details={"fields": {"default": [message]}}
            ) from None

    def validate_default(self) -> list[tuple[str, str]]:
        """``[("default", message)]`` when the definition's default is not a valid value."""
        try:
            self._load_default()
        except ma.ValidationError as exc:
            return [("default", first_error(exc))]
        return []


def options_schema(properties: dict[str, Any], required: list[str] | None = None, **extra: Any) -> dict[str, Any]:
    """A self-contained options schema (no ``$ref``) that refuses unknown keys."""
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False, "properties": properties}
    if required:
        schema["required"] = required
    schema.update(extra)
    return schema


def istartswith(column: ColumnElement, value: str) -> ColumnElement:
    return column.istartswith(value, autoescape=True)


def icontains(column: ColumnElement, value: str) -> ColumnElement:
    return column.icontains(value, autoescape=True)
