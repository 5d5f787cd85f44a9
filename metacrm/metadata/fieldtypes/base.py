"""The field-type contract: one class per type owns everything that differs
between types — physical columns, the marshmallow field that validates and
converts API values, the filter operators and their SQL, whether its values
reference records (in a column or in a link table) or are numbered by the
platform, the Jinja macros that display, edit and filter it, and the import
parser. The record store, the DDL and the compiled model ask these answers
and never switch on a type's name, so a plugin type can be relation-like.

A field type instance is bound to one field definition (the JSON document an
admin wrote). The registry (:mod:`metacrm.metadata.fieldtypes.registry`)
maps type names to classes; plugins add classes through the
``register_field_types`` hook.
"""

from __future__ import annotations

import functools
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.values import first_error
from metacrm.platform.crypto import BLIND_INDEX_LENGTH
from metacrm.platform.errors import ValidationFailed

from .json_schema import python_type_schema

# What a :meth:`FieldType.fast_load` shortcut returns for a value it leaves to the loader.
SLOW = object()


def checked(validators: list, value: Any) -> Any:
    """``value`` if every marshmallow validator accepts it, else :data:`SLOW`
    (the loader then raises the validator's error)."""
    try:
        for validator in validators:
            if validator(value) is False and not isinstance(validator, ma.validate.Validator):
                return SLOW  # marshmallow treats a plain function's False as a failure
    except Exception:  # noqa: BLE001 - whatever it is, the loader reports it
        return SLOW
    return value


# Every operator a filter may name; each type supports a subset.
ALL_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startswith", "isnull")
# What a blind index can answer: exact matches only (no order, no parts).
ENCRYPTED_OPERATORS = ("eq", "ne", "in", "isnull")


class FilterError(ValidationFailed):
    """A filter names an operator the field does not support or a value of the wrong type."""


@dataclass(frozen=True)
class Widgets:
    """The Jinja macros that show a field of a type: ``template`` (a path
    under a template folder, e.g. ``widgets/text.html``) defines a macro
    that displays the value as the record store dumps it, one that renders
    the form control, and one that renders the list filter control; the
    attributes name them. Their arguments are the same for every type —
    ``display(field, value)``, ``input(field, value, errors=(),
    readonly=False, id=None)``, ``filter(field, value)`` (``value``: the
    operators' query-string texts, e.g. ``{"gte": "10"}``), ``field`` being
    the bound field type — so the screens render any type, a plugin's too,
    through ``widgets/field.html`` without knowing it.

    ``posts`` says how the input control sends its value in a form post:
    ``one`` text (the last one when the name comes twice, as a checkbox
    after its hidden "false"), read by :meth:`FieldType.parse_import`;
    ``many`` values (a ``<select multiple>``); ``lines``, one item per line;
    ``local_datetime``, a ``datetime-local`` text in the user's time zone."""

    template: str
    display: str = "display"
    input: str = "input"
    filter: str = "filter"
    posts: str = "one"


class FieldType:
    """Base class; subclasses set the class attributes and override what differs."""

    name: ClassVar[str]  # the API type name, e.g. "picklist"
    label: ClassVar[str]  # human name for the field editor
    widget: ClassVar[str] = "text"  # the widget's name in the field-type catalogue (meta API)
    # The macros of the screens; a type without its own shows its value as text.
    widgets: ClassVar[Widgets] = Widgets("widgets/text.html")
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
    # The value names records of another object (:attr:`reference_target`):
    # one id in the field's column (a lookup, :attr:`is_lookup`), or any
    # number of them in a link table when ``stores_links`` is set.
    is_reference: ClassVar[bool] = False
    # The values live in a link table (``source_id``, ``target_id``) instead
    # of a column: see "link tables" below.
    stores_links: ClassVar[bool] = False
    # The platform numbers each new record (:meth:`render`); values are unique.
    numbers_itself: ClassVar[bool] = False
    # Values may be encrypted at rest (the definition's ``encrypted``): the
    # store keeps a ciphertext in the column and a blind index beside it
    # (metacrm/platform/crypto.py); only exact matches can find them.
    encryptable: ClassVar[bool] = False
    # Set per definition in __init__; class defaults for types that build themselves otherwise.
    encrypted: bool = False
    audit_reads: bool = False

    def __init__(self, definition: dict[str, Any]):
        self.definition = definition
        self.api_name: str = definition["api_name"]
        self.options: dict[str, Any] = definition.get("options") or {}
        self.required: bool = bool(definition.get("required"))
        self.encrypted: bool = bool(definition.get("encrypted")) and self.encryptable
        if self.encrypted:  # what the field offers (filters, sort menus, OpenAPI) shrinks to what works
            self.operators = tuple(op for op in type(self).operators if op in ENCRYPTED_OPERATORS)
            self.sortable = False
        # Every read of the field through the record store is audited.
        self.audit_reads: bool = bool(definition.get("audit_reads"))

    # -- storage -----------------------------------------------------------

    def column_type(self) -> sa.types.TypeEngine:
        raise NotImplementedError

    def columns(self) -> list[sa.Column]:
        """Physical columns in the object's table. Always nullable: ``required``
        is enforced on write, so changing it never rewrites stored data."""
        if not self.has_column:
            return []
        if self.encrypted:  # a ciphertext is longer than the value; the index holds an HMAC
            return [
                sa.Column(self.api_name, sa.Text(), nullable=True),
                sa.Column(self.blind_index_column, sa.String(BLIND_INDEX_LENGTH), nullable=True),
            ]
        return [sa.Column(self.api_name, self.column_type(), nullable=True)]

    @property
    def blind_index_column(self) -> str:
        """The column of an encrypted field's blind index: ``sys_bi_<field>``
        (``sys_`` is a reserved prefix of field names, so it never collides)."""
        return blind_index_column(self.api_name)

    def blind_index_text(self, value: Any) -> str:
        """A value as its blind index sees it: what ``eq`` treats as equal
        must read the same (e-mail addresses ignore case)."""
        return str(value)

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

    # -- references --------------------------------------------------------------

    @property
    def reference_target(self) -> str | None:
        """The API name of the object a reference points at (``options.target``); None for other types."""
        return self.options.get("target") if self.is_reference else None

    @property
    def is_lookup(self) -> bool:
        """One reference held in the field's column: the store reads the
        target's name with it, applies :attr:`on_delete` when the target is
        deleted, and rules follow it with ``.``."""
        return self.is_reference and not self.stores_links

    @property
    def on_delete(self) -> str:
        """For lookups: what deleting the target does to this record —
        ``restrict``, ``set_null`` or ``cascade``."""
        return "set_null"

    # -- link tables (types that set ``stores_links``) ---------------------------------

    def junction_table_name(self, object_api_name: str) -> str:
        """The name of the link table of this field on ``object_api_name``."""
        raise NotImplementedError

    def junction_columns(self) -> list[sa.Column]:
        """``source_id`` (the record holding the field) and ``target_id`` (the linked record)."""
        raise NotImplementedError

    def junction_table(self, object_api_name: str, metadata: sa.MetaData) -> sa.Table:
        """The link table as a Table in ``metadata``."""
        raise NotImplementedError

    def load_links(self, value: Any) -> list[int]:
        """The target ids to link, from a value loaded by :attr:`loader`."""
        raise NotImplementedError

    def dump_links(self, linked: list[tuple[int, str | None]]) -> Any:
        """The API value of a record's links, from the live linked records'
        ``(id, name)`` in id order."""
        raise NotImplementedError

    def junction_filter(self, id_column: ColumnElement, junction: sa.Table, op: str, value: Any) -> ColumnElement:
        """The filter condition on the source table (``id_column`` is its ``id``)."""
        raise NotImplementedError

    # -- numbering (types that set ``numbers_itself``) ----------------------------------

    @property
    def starting_number(self) -> int:
        """The number the first record gets."""
        return 1

    def render(self, number: int) -> str:
        """The stored value of the ``number``-th record."""
        raise NotImplementedError

    # -- validation and conversion of API values ------------------------------

    @functools.cached_property
    def loader(self) -> ma.fields.Field:
        """The marshmallow field, built once per compiled field (it only reads)."""
        return self.marshmallow_field()

    @functools.cached_property
    def column_loaders(self) -> tuple[Callable[[Any], Any] | None, Callable[[Any], Any]]:
        """``(fast, slow)``: :meth:`fast_load` (or None) and the loader's
        path ``to_db(loader.deserialize(value))``, built once per compiled
        field. A caller tries ``fast`` and calls ``slow`` when it answers
        :data:`SLOW` (the row loader does so inline; :attr:`column_loader`
        is the same as one function)."""
        deserialize, to_db = self.loader.deserialize, self.to_db
        if type(self).to_db is FieldType.to_db:
            slow: Callable[[Any], Any] = deserialize
        else:

            def slow(value: Any) -> Any:
                return to_db(deserialize(value))

        return self.fast_load(), slow

    @functools.cached_property
    def column_loader(self) -> Callable[[Any], Any]:
        """A JSON value → the column value, as one plain function:
        ``to_db(loader.deserialize(value))`` with the same result and the
        same ``ma.ValidationError`` (messages) for every value. The record
        store's row loader (:mod:`metacrm.metadata.store.loading`) runs it
        for every value of a write. Types with a :meth:`fast_load` take their
        common, valid values without marshmallow's per-value dispatch and
        hand anything else (every invalid value) to the loader, so errors
        are the loader's."""
        fast, slow = self.column_loaders
        if fast is None:
            return slow

        def load(value: Any) -> Any:
            result = fast(value)
            return slow(value) if result is SLOW else result

        return load

    def fast_load(self) -> Callable[[Any], Any] | None:
        """An optional shortcut of :attr:`column_loader`: a function that
        returns the column value of the values it is sure about and
        :data:`SLOW` for any other (it never raises). None: no shortcut."""
        return None

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
        if coerced is None:  # an empty value: only equality can mean "is blank"
            raise self._filter_error(f"operator {op!r} needs a value")
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
            raise self._filter_error(first_error(exc)) from None

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
            raise ValueError(first_error(exc)) from None

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


def blind_index_column(api_name: str) -> str:
    name = "sys_bi_" + api_name
    if len(name) <= 63:  # PostgreSQL's identifier limit
        return name
    return name[:54] + "_" + hashlib.sha1(name.encode()).hexdigest()[:8]


def _truthy(value: Any) -> bool:
    return value is True or str(value).lower() in {"1", "true", "yes"}
