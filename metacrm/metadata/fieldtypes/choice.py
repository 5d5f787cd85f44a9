"""Choice field types: boolean, picklist, multi_picklist and tags.

Multi-picklists and tags keep their values in one string column in the
delimited form ``;a;b;`` (NULL when empty): the leading and trailing ``;``
make "has value b" the portable ``LIKE '%;b;%'``, which never matches
``;ab;``. Multi-picklist values are stored sorted, so the stored text of a
set is canonical and ``eq`` (same set) is a plain comparison; tags keep the
order they were given.
"""

from __future__ import annotations

import re
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.values import first_error

from .base import SLOW, Widgets, checked
from .common import BuiltinFieldType, like_escape, options_schema, reject_nul
from .json_schema import nullable

# -- boolean -------------------------------------------------------------------

_TRUE_TEXT = frozenset({"true", "1"})
_FALSE_TEXT = frozenset({"false", "0"})
_TRUE_IMPORT = _TRUE_TEXT | {"yes", "y", "是"}
_FALSE_IMPORT = _FALSE_TEXT | {"no", "n", "否"}


class BooleanField(ma.fields.Field):
    """JSON true/false, or the strings "true"/"false"/"1"/"0" (any case) that
    query strings carry. Numbers are refused (1 is not true)."""

    default_error_messages = {"invalid": "must be true or false"}

    def __init__(self, *, truthy=_TRUE_TEXT, falsy=_FALSE_TEXT, **kwargs):
        self.truthy, self.falsy = truthy, falsy
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if value is True or value is False:
            return value
        if isinstance(value, str):
            text = value.strip().lower()
            if text in self.truthy:
                return True
            if text in self.falsy:
                return False
        raise self.make_error("invalid")


# The cells of an import: one field for every cell (it only reads).
_IMPORT_BOOLEAN = BooleanField(truthy=_TRUE_IMPORT, falsy=_FALSE_IMPORT)


class BooleanType(BuiltinFieldType):
    name = "boolean"
    label = "Yes/No"
    widget = "checkbox"
    widgets = Widgets("widgets/boolean.html")
    operators = ("eq", "ne", "isnull")
    options_schema = options_schema({})

    def column_type(self) -> sa.types.TypeEngine:
        return sa.Boolean()

    def marshmallow_field(self) -> ma.fields.Field:
        return BooleanField(allow_none=True)

    def fast_load(self):
        def load(value):
            return value if value is None or value is True or value is False else SLOW

        return load

    def from_db(self, value: Any) -> Any:
        return None if value is None else bool(value)

    def parse_import(self, text: str) -> Any:
        """true/false, 1/0, yes/no, y/n, 是/否 (any case)."""
        if text is None or str(text).strip() == "":
            return None
        try:
            return _IMPORT_BOOLEAN.deserialize(str(text))
        except ma.ValidationError:
            raise ValueError("must be yes or no (or true/false, 1/0, 是/否)") from None

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        return nullable(self.filter_schema())

    def filter_schema(self) -> dict[str, Any]:
        return {"type": "boolean"}


# -- picklists -------------------------------------------------------------------

PICKLIST_VALUE_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_ .-]{0,79}$"
_PICKLIST_VALUE_RE = re.compile(PICKLIST_VALUE_PATTERN)
COLOR_PATTERN = r"^#([0-9A-Fa-f]{3}|[0-9A-Fa-f]{6})$"
_COLOR_RE = re.compile(COLOR_PATTERN)
LOCALE_PATTERN = r"^[a-z]{2,3}(_[A-Z]{2})?$"
FREE_VALUE_MAX = 80  # unrestricted picklist values
DELIMITED_MAX = 4000  # the column length of multi-picklists and tags

_PICKLIST_OPTIONS = options_schema(
    {
        "values": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "description": "The choices, in display order.",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["value"],
                "properties": {
                    "value": {
                        "type": "string",
                        "pattern": PICKLIST_VALUE_PATTERN,
                        "description": "Stored value: letters, digits, _ space . - (no ;).",
                    },
                    "label": {"type": "string", "minLength": 1, "maxLength": 255},
                    "color": {"type": "string", "pattern": COLOR_PATTERN},
                    "active": {
                        "type": "boolean",
                        "default": True,
                        "description": "Inactive values stay in stored data but are no longer accepted.",
                    },
                    "translations": {
                        "type": "object",
                        "propertyNames": {"pattern": LOCALE_PATTERN},
                        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": 255},
                    },
                },
            },
        },
        "restricted": {
            "type": "boolean",
            "default": True,
            "description": "Accept only the listed values (false: any value up to 80 characters, no ;).",
        },
    },
    required=["values"],
)


def _list_for_message(values: list[str], limit: int = 20) -> str:
    shown = ", ".join(values[:limit])
    return shown + (f", … ({len(values) - limit} more)" if len(values) > limit else "")


class ChoiceField(ma.fields.String):
    """One picklist value: one of ``allowed`` (exact spelling), or — when
    ``allowed`` is None — any text up to 80 characters without ``;``."""

    default_error_messages = {"invalid": "must be text"}

    def __init__(self, *, allowed: list[str] | None, **kwargs):
        self.allowed = allowed
        self.allowed_set = frozenset(allowed) if allowed is not None else None
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        reject_nul(text)
        text = text.strip()
        if not text:
            return None
        if self.allowed_set is not None:
            if text not in self.allowed_set:
                raise ma.ValidationError(
                    f"{text!r} is not an allowed value; use one of: {_list_for_message(self.allowed)}"
                )
        elif ";" in text or len(text) > FREE_VALUE_MAX:
            raise ma.ValidationError(f"a value must have at most {FREE_VALUE_MAX} characters and no ';'")
        return text


class PicklistType(BuiltinFieldType):
    """One value from a list. ``options.values`` entries:
    ``{value, label?, color?, active? (default true), translations?}``."""

    name = "picklist"
    label = "Picklist"
    widget = "select"
    widgets = Widgets("widgets/picklist.html")
    operators = ("eq", "ne", "in", "isnull")
    options_schema = _PICKLIST_OPTIONS
    CONVERTIBLE_TO = {"multi_picklist": "each value becomes a one-value set"}

    # -- the value set -------------------------------------------------------------

    def value_entries(self) -> list[dict[str, Any]]:
        entries = self.options.get("values") or []
        return [e for e in entries if isinstance(e, dict) and isinstance(e.get("value"), str)]

    def all_values(self) -> list[str]:
        """Every defined value, active or not, in display order."""
        return [e["value"] for e in self.value_entries()]

    def active_values(self) -> list[str]:
        return [e["value"] for e in self.value_entries() if e.get("active", True) is not False]

    @property
    def restricted(self) -> bool:
        return self.options.get("restricted", True) is not False

    def label_for(self, value: str, locale: str | None = None) -> str:
        """The display label of ``value`` (translated when ``locale`` has one); the value itself if unknown."""
        for entry in self.value_entries():
            if entry["value"] == value:
                translations = entry.get("translations") or {}
                if locale and locale in translations:
                    return translations[locale]
                return entry.get("label") or value
        return value

    def choices(self, locale: str | None = None, include_inactive: bool = False) -> list[dict[str, Any]]:
        """``[{value, label, color}]`` for a select widget."""
        return [
            {"value": e["value"], "label": self.label_for(e["value"], locale), "color": e.get("color")}
            for e in self.value_entries()
            if include_inactive or e.get("active", True) is not False
        ]

    def match_import_value(self, text: str) -> str:
        """An import cell → an active value: the exact value, else a value,
        label or translated label equal to it ignoring case."""
        text = text.strip()
        active = self.active_values()
        if text in active:
            return text
        folded = text.casefold()
        for entry in self.value_entries():
            if entry["value"] not in active:
                continue
            names = [entry["value"], entry.get("label") or "", *(entry.get("translations") or {}).values()]
            if any(name.casefold() == folded for name in names if name):
                return entry["value"]
        if not self.restricted:
            return self._choice_field(None).deserialize(text)
        raise ValueError(f"{text!r} is not an allowed value; use one of: {_list_for_message(active)}")

    def _choice_field(self, allowed: list[str] | None) -> ChoiceField:
        return ChoiceField(allowed=allowed, allow_none=True)

    # -- the contract ------------------------------------------------------------

    def column_type(self) -> sa.types.TypeEngine:
        return sa.String(FREE_VALUE_MAX)

    def marshmallow_field(self) -> ma.fields.Field:
        return self._choice_field(self.active_values() if self.restricted else None)

    def fast_load(self):
        loader = self.loader
        if not isinstance(loader, ChoiceField):
            return None  # multi-picklists load lists
        allowed, validators = loader.allowed_set, list(loader.validators)

        def load(value):
            if value is None:
                return None
            if type(value) is not str or "\x00" in value:
                return SLOW
            text = value.strip()
            if not text:
                return None
            if allowed is not None:
                if text not in allowed:
                    return SLOW
            elif ";" in text or len(text) > FREE_VALUE_MAX:
                return SLOW
            return checked(validators, text) if validators else text

        return load

    def filter_field(self) -> ma.fields.Field:
        # Filters may name inactive values: old records still hold them.
        return self._choice_field(self.all_values() if self.restricted else None)

    def parse_import(self, text: str) -> Any:
        if text is None or str(text).strip() == "":
            return None
        try:
            return self.match_import_value(str(text))
        except ma.ValidationError as exc:
            raise ValueError(first_error(exc)) from None

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        errors: list[tuple[str, str]] = []
        entries = self.options.get("values")
        if not isinstance(entries, list) or not entries:
            return [("options.values", "must list at least one value")]
        seen: dict[str, int] = {}
        for i, entry in enumerate(entries):
            path = f"options.values[{i}]"
            if not isinstance(entry, dict):
                errors.append((path, "must be an object with a value"))
                continue
            value = entry.get("value")
            if not isinstance(value, str) or not _PICKLIST_VALUE_RE.match(value):
                errors.append(
                    (
                        f"{path}.value",
                        "must be 1-80 letters, digits, _ space . or - (starting with a letter, digit or _)",
                    )
                )
            elif value != value.rstrip():
                errors.append((f"{path}.value", "must not end with a space"))
            else:
                key = value.casefold()
                if key in seen:
                    message = (
                        f"{value!r} duplicates options.values[{seen[key]}].value (values must differ in more than case)"
                    )
                    errors.append((f"{path}.value", message))
                else:
                    seen[key] = i
            color = entry.get("color")
            if color is not None and (not isinstance(color, str) or not _COLOR_RE.match(color)):
                errors.append((f"{path}.color", "must be a colour like #rgb or #rrggbb"))
        if self.restricted and entries and not self.active_values():
            errors.append(("options.values", "at least one value must be active"))
        return errors

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        return nullable(self._json_item(output=output))

    def filter_schema(self) -> dict[str, Any]:
        # Filters may name inactive values: old records still hold them.
        return {"type": "string", "enum": self.all_values()} if self.restricted else {"type": "string"}

    def _json_item(self, *, output: bool) -> dict[str, Any]:
        """One value: of the list (stored data may hold an inactive one, a
        write may not), or any short text without ``;`` when unrestricted."""
        if not self.restricted:
            return {"type": "string", "maxLength": FREE_VALUE_MAX, "pattern": "^[^;]*$"}
        return {"type": "string", "enum": self.all_values() if output else self.active_values()}


# -- delimited multi-value storage -------------------------------------------------


def pack(values: list[str] | None) -> str | None:
    """``["a", "b"]`` → ``";a;b;"``; empty → None."""
    if not values:
        return None
    return ";" + ";".join(values) + ";"


def unpack(stored: str | None) -> list[str]:
    """``";a;b;"`` → ``["a", "b"]``; None → ``[]``."""
    if not stored:
        return []
    return [part for part in stored.split(";") if part]


def _filter_values(value: Any) -> list[Any]:
    """A filter value for multi-value fields: a JSON list or comma-separated text."""
    if isinstance(value, list):
        return value
    if isinstance(value, str):
        return [part for part in value.split(",") if part.strip()]
    return [value]


class _DelimitedListField(ma.fields.Field):
    """A JSON list of strings, each loaded by ``item``; duplicates dropped
    (``key`` decides what counts as a duplicate); empty list → None."""

    default_error_messages = {"invalid": "must be a list of values"}

    def __init__(self, *, item: ma.fields.Field, max_items: int | None = None, key=lambda v: v, **kwargs):
        self.item = item
        self.max_items = max_items
        self.key = key
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            raise self.make_error("invalid")
        result, seen = [], set()
        for i, raw in enumerate(value):
            if raw is None:
                raise ma.ValidationError({i: ["must not be null"]})
            try:
                item = self.item.deserialize(raw)
            except ma.ValidationError as exc:
                raise ma.ValidationError({i: exc.messages}) from None
            if item is None:
                raise ma.ValidationError({i: ["must not be empty"]})
            if self.key(item) not in seen:
                seen.add(self.key(item))
                result.append(item)
        if self.max_items is not None and len(result) > self.max_items:
            raise ma.ValidationError(f"at most {self.max_items} values are allowed")
        if not result:
            return None
        if len(pack(result)) > DELIMITED_MAX:
            raise ma.ValidationError(f"the values together must have fewer than {DELIMITED_MAX} characters")
        return result


class _DelimitedType(BuiltinFieldType):
    sortable = False

    def column_type(self) -> sa.types.TypeEngine:
        return sa.String(DELIMITED_MAX)

    def to_db(self, value: Any) -> Any:
        return pack(value)

    def from_db(self, value: Any) -> Any:
        return unpack(value)

    def _accepts_structured_filter_value(self) -> bool:
        return True

    def _item_filter_field(self) -> ma.fields.Field:
        raise NotImplementedError

    def _filter_items(self, value: Any) -> list[str]:
        items = []
        for raw in _filter_values(value):
            if isinstance(raw, (dict, list)):
                raise self._filter_error("expected a value or a list of values")
            try:
                item = self._item_filter_field().deserialize(raw)
            except ma.ValidationError as exc:
                raise self._filter_error(first_error(exc)) from None
            if item is not None:
                items.append(item)
        return items

    def _has(self, column: ColumnElement, item: str) -> ColumnElement:
        return column.like("%;" + like_escape(item) + ";%", escape="/")

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        if op == "contains" and op in self.operators:
            items = self._filter_items(value)
            if not items:
                raise self._filter_error("operator 'contains' needs a value")
            return sa.and_(*(self._has(column, item) for item in items))
        return super().filter(column, op, value)


class MultiPicklistType(_DelimitedType, PicklistType):
    """Several values from a list; the API value is a JSON list. Same options
    as picklist. Filters: ``contains`` (has the value; a list or
    comma-separated values means has all of them), ``eq`` (exactly that
    set), ``isnull``."""

    name = "multi_picklist"
    label = "Multi-select picklist"
    widget = "multiselect"
    widgets = Widgets(
        "widgets/picklist.html", display="display_multi", input="input_multi", filter="filter_multi", posts="many"
    )
    operators = ("contains", "eq", "isnull")
    options_schema = _PICKLIST_OPTIONS
    CONVERTIBLE_TO = {"tags": "each value becomes a tag; refused if a value is longer than 50 characters"}

    def marshmallow_field(self) -> ma.fields.Field:
        return _DelimitedListField(item=super().marshmallow_field(), allow_none=True)

    def filter_field(self) -> ma.fields.Field:
        return _DelimitedListField(item=PicklistType.filter_field(self), allow_none=True)

    def _item_filter_field(self) -> ma.fields.Field:
        return PicklistType.filter_field(self)

    def to_db(self, value: Any) -> Any:
        return pack(sorted(set(value))) if value else None

    def from_db(self, value: Any) -> Any:
        values = unpack(value)
        order = {v: i for i, v in enumerate(self.all_values())}
        return sorted(values, key=lambda v: (order.get(v, len(order)), v))

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        if op == "eq":
            stored = self.to_db(self._filter_items(value) if value is not None else None)
            return column.is_(None) if stored is None else column == stored
        return super().filter(column, op, value)

    def parse_import(self, text: str) -> Any:
        """Values (or labels) separated by ``;`` (or by ``,`` when there is no ``;``)."""
        if text is None or str(text).strip() == "":
            return None
        text = str(text)
        parts = [p for p in re.split(";" if ";" in text else ",", text) if p.strip()]
        try:
            return self.marshmallow_field().deserialize([self.match_import_value(p) for p in parts])
        except ma.ValidationError as exc:
            raise ValueError(first_error(exc)) from None

    # -- JSON Schema -----------------------------------------------------------------

    # eq means "exactly this set", contains "has all of them": both take a list.
    filter_list_operators = ("eq", "in", "contains")

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        items = self._json_item(output=output)
        if output:
            return {"type": "array", "items": items, "uniqueItems": True}
        return {"type": ["array", "null"], "items": items}


TAG_MAX_LENGTH = 50
TAGS_MAX = 50


class TagField(ma.fields.String):
    default_error_messages = {"invalid": "a tag must be text"}

    def _deserialize(self, value, attr, data, **kwargs):
        text = super()._deserialize(value, attr, data, **kwargs)
        reject_nul(text)
        text = text.strip()
        if not text:
            return None
        if ";" in text:
            raise ma.ValidationError("a tag must not contain ';'")
        if len(text) > TAG_MAX_LENGTH:
            raise ma.ValidationError(f"a tag may have at most {TAG_MAX_LENGTH} characters")
        return text


class TagsType(_DelimitedType):
    """Free-form labels: each 1-50 characters without ``;``, trimmed,
    de-duplicated ignoring case (the first spelling wins), at most 50.
    ``contains`` ignores case."""

    name = "tags"
    label = "Tags"
    widget = "tags"
    widgets = Widgets("widgets/tags.html", posts="lines")
    searchable = True
    operators = ("contains", "isnull")
    options_schema = options_schema({})

    def marshmallow_field(self) -> ma.fields.Field:
        return _DelimitedListField(item=TagField(), max_items=TAGS_MAX, key=str.casefold, allow_none=True)

    def _item_filter_field(self) -> ma.fields.Field:
        return TagField(allow_none=True)

    def filter_field(self) -> ma.fields.Field:
        return _DelimitedListField(item=TagField(), key=str.casefold, allow_none=True)

    def _has(self, column: ColumnElement, item: str) -> ColumnElement:
        pattern = "%;" + like_escape(item) + ";%"
        return sa.func.lower(column).like(sa.func.lower(sa.literal(pattern, sa.String())), escape="/")

    def _filter_items(self, value: Any) -> list[str]:
        # A tag may contain commas: a text filter value is one tag.
        return super()._filter_items(value if isinstance(value, list) else [value])

    def parse_import(self, text: str) -> Any:
        """Tags separated by ``;`` (or by ``,`` when there is no ``;``)."""
        if text is None or str(text).strip() == "":
            return None
        text = str(text)
        parts = [p for p in text.split(";" if ";" in text else ",") if p.strip()]
        try:
            return self.marshmallow_field().deserialize(parts)
        except ma.ValidationError as exc:
            raise ValueError(first_error(exc)) from None

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        tag = {"type": "string", "minLength": 1, "maxLength": TAG_MAX_LENGTH, "pattern": "^[^;]*$"}
        # Records return [] for no tags; a write may send null.
        return {"type": "array" if output else ["array", "null"], "items": tag, "maxItems": TAGS_MAX}
