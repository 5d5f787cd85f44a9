"""Date and time field types: date and datetime.

Dates are ISO 8601 (``2026-11-22``). Datetimes are ISO 8601 with an offset;
a value without one is read as UTC. They are stored in UTC (SQLite keeps no
offset, so everything written there is UTC) and returned as ISO strings with
an offset.
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from .base import SLOW, Widgets, checked
from .common import BuiltinFieldType, options_schema
from .json_schema import nullable

_RANGE_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "isnull")
UTC = dt.UTC
_ISO_DATE_RE = re.compile(r"^\d{4}-\d{2}-\d{2}\Z")  # the one date form every loader reads alike
_SLASH_DATE_RE = re.compile(r"^(\d{4})/(\d{1,2})/(\d{1,2})(.*)$")


def _slashes_to_iso(text: str) -> str:
    """``2026/11/22`` (import files) → ``2026-11-22``; other text unchanged."""
    match = _SLASH_DATE_RE.match(text.strip())
    if not match:
        return text
    year, month, day, rest = match.groups()
    return f"{year}-{int(month):02d}-{int(day):02d}{rest}"


class DateField(ma.fields.Date):
    default_error_messages = {"invalid": "not a valid date; use YYYY-MM-DD"}

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dt.datetime):
            raise self.make_error("invalid")
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


class DateType(BuiltinFieldType):
    name = "date"
    label = "Date"
    widget = "date"
    widgets = Widgets("widgets/date.html")
    operators = _RANGE_OPERATORS
    options_schema = options_schema({})

    def column_type(self) -> sa.types.TypeEngine:
        return sa.Date()

    def marshmallow_field(self) -> ma.fields.Field:
        return DateField(allow_none=True)

    def fast_load(self):
        validators = list(self.loader.validators)

        def load(value):
            if value is None:
                return None
            if type(value) is not str or not _ISO_DATE_RE.match(value):
                return SLOW
            try:
                day = dt.date.fromisoformat(value)
            except ValueError:
                return SLOW
            return checked(validators, day) if validators else day

        return load

    def from_db(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, dt.datetime):
            value = value.date()
        elif isinstance(value, str):
            value = dt.date.fromisoformat(value[:10])
        return value.isoformat()

    def parse_import(self, text: str) -> Any:
        """ISO dates, and ``YYYY/MM/DD``."""
        if text is None or str(text).strip() == "":
            return None
        return super().parse_import(_slashes_to_iso(str(text)))

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        return nullable(self.filter_schema())

    def filter_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date"}


class DateTimeField(ma.fields.AwareDateTime):
    default_error_messages = {"invalid": "not a valid date and time; use ISO 8601, e.g. 2026-11-22T09:30:00+08:00"}

    def __init__(self, **kwargs):
        super().__init__(format="iso", default_timezone=UTC, **kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, str):
            value = value.strip()
        return super()._deserialize(value, attr, data, **kwargs)


def to_utc(value: dt.datetime) -> dt.datetime:
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


class DateTimeType(BuiltinFieldType):
    name = "datetime"
    label = "Date and time"
    widget = "datetime"
    widgets = Widgets(
        "widgets/date.html",
        display="display_datetime",
        input="input_datetime",
        filter="filter_datetime",
        posts="local_datetime",
    )
    operators = _RANGE_OPERATORS
    options_schema = options_schema({})

    def column_type(self) -> sa.types.TypeEngine:
        return sa.DateTime(timezone=True)

    def marshmallow_field(self) -> ma.fields.Field:
        return DateTimeField(allow_none=True)

    def to_db(self, value: Any) -> Any:
        return None if value is None else to_utc(value)

    def from_db(self, value: Any) -> Any:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQL on SQLite
            value = dt.datetime.fromisoformat(value)
        return to_utc(value).isoformat()

    def parse_import(self, text: str) -> Any:
        """ISO date-times (``T`` or a space between date and time; no offset
        means UTC), and ``YYYY/MM/DD HH:MM``."""
        if text is None or str(text).strip() == "":
            return None
        return super().parse_import(_slashes_to_iso(str(text)))

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        return {
            **nullable(self.filter_schema()),
            "description": "ISO 8601; returned in UTC. Without an offset, a written value is read as UTC.",
        }

    def filter_schema(self) -> dict[str, Any]:
        return {"type": "string", "format": "date-time"}
