"""Relation field types: lookup, master_detail and many_to_many.

A lookup (and a master-detail) is a column holding the target record's id
(BIGINT on PostgreSQL, INTEGER on SQLite, like the ``id`` columns); no
ForeignKey is declared here — the DDL layer adds the constraint (with the
``on_delete`` policy) per dialect. A many-to-many field has no column: its
links live in a junction table ``m_<object>_<field>`` with ``source_id`` and
``target_id``.

Values load from record ids (``7``) or from objects carrying one
(``{"id": 7, ...}``: clients echo what they read).
"""

from __future__ import annotations

import hashlib
import re
from typing import Any, ClassVar

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.values import first_error

from .base import SLOW, Widgets, checked
from .common import API_NAME_PATTERN, MAX_RECORD_ID, BuiltinFieldType, options_schema, record_id_type
from .json_schema import nullable, record_id_schema, reference_input_schema, reference_output_schema

ON_DELETE = ("restrict", "set_null", "cascade")
MAX_LINKS = 10000  # ids one many-to-many write may carry
MAX_IDENTIFIER = 63  # PostgreSQL's limit
_DIGITS_RE = re.compile(r"^\+?\d{1,19}$")


class RecordIdField(ma.fields.Field):
    """A record id: an integer ≥ 1 (never a boolean), or ``{"id": n}``.
    Not strict: integer text (``"7"``) as well, for query strings and imports."""

    default_error_messages = {
        "invalid": 'must be a record id (a positive integer or {{"id": n}})',
        "range": f"must be a record id between 1 and {MAX_RECORD_ID}",
    }

    def __init__(self, *, strict: bool = True, **kwargs):
        self.strict = strict
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if isinstance(value, dict):
            if "id" not in value:
                raise self.make_error("invalid")
            value = value["id"]
        if value is True or value is False:
            raise self.make_error("invalid")
        if isinstance(value, str) and not self.strict and _DIGITS_RE.match(value.strip()):
            value = int(value.strip())
        if not isinstance(value, int):
            raise self.make_error("invalid")
        if not 1 <= value <= MAX_RECORD_ID:
            raise self.make_error("range")
        return value


def _relation_options(on_delete: dict[str, Any] | None) -> dict[str, Any]:
    properties: dict[str, Any] = {
        "target": {
            "type": "string",
            "pattern": API_NAME_PATTERN,
            "description": "API name of the object the field points to.",
        },
        "relationship_name": {
            "type": "string",
            "pattern": API_NAME_PATTERN,
            "description": "Name of the related list on the target object.",
        },
    }
    if on_delete is not None:
        properties["on_delete"] = on_delete
    return options_schema(properties, required=["target"])


class _RelationMixin:
    """What lookups and many-to-many share: ``options.target`` (the
    :attr:`~.base.FieldType.reference_target`) and the related list's name."""

    @property
    def target(self) -> str:
        """API name of the target object (short for :attr:`reference_target`)."""
        return self.reference_target  # type: ignore[attr-defined]

    def _check_target(self, model_lookup) -> list[tuple[str, str]]:
        target = self.reference_target  # type: ignore[attr-defined]
        if not isinstance(target, str) or not target:
            return [("options.target", "is required: the API name of the target object")]
        if model_lookup(target) is None:
            return [("options.target", f"unknown object {target!r}")]
        return []


class LookupType(_RelationMixin, BuiltinFieldType):
    """A reference to one record of ``options.target``."""

    name = "lookup"
    label = "Lookup"
    widget = "lookup"
    widgets = Widgets("widgets/lookup.html")
    is_reference = True
    operators = ("eq", "ne", "in", "isnull")
    is_master_detail: ClassVar[bool] = False
    options_schema = _relation_options(
        {
            "enum": list(ON_DELETE),
            "default": "set_null",
            "description": "What happens to this record when the target record is deleted.",
        }
    )

    @property
    def on_delete(self) -> str:
        """restrict, set_null or cascade. Without a choice: set_null, or
        restrict when the field is required (null would break required)."""
        value = self.options.get("on_delete")
        if value in ON_DELETE:
            return value
        return "restrict" if self.required else "set_null"

    def column_type(self) -> sa.types.TypeEngine:
        return record_id_type()

    def marshmallow_field(self) -> ma.fields.Field:
        return RecordIdField(strict=True, allow_none=True)

    def fast_load(self):
        validators = list(self.loader.validators)

        def load(value):
            if value is None:
                return None
            if type(value) is not int or not 1 <= value <= MAX_RECORD_ID:
                return SLOW
            return checked(validators, value) if validators else value

        return load

    def filter_field(self) -> ma.fields.Field:
        return RecordIdField(strict=False, allow_none=True)

    def _accepts_structured_filter_value(self) -> bool:
        return True

    def from_db(self, value: Any) -> Any:
        return None if value is None else int(value)

    def parse_import(self, text: str) -> Any:
        if text is None or str(text).strip() == "":
            return None
        try:
            return RecordIdField(strict=False).deserialize(str(text).strip())
        except ma.ValidationError as exc:
            raise ValueError(first_error(exc)) from None

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        errors = self._check_target(model_lookup)
        if self.required and self.options.get("on_delete") == "set_null":
            errors.append(("options.on_delete", "a required lookup cannot use set_null; use restrict or cascade"))
        return errors

    # -- JSON Schema -----------------------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        if output:
            schema = nullable(reference_output_schema())
        else:
            schema = {"anyOf": [*reference_input_schema()["anyOf"], {"type": "null"}]}
        schema["description"] = f"A {self.target} record."
        return schema

    def filter_schema(self) -> dict[str, Any]:
        return record_id_schema()


class MasterDetailType(LookupType):
    """A lookup to the master record: always required, deleted with its master."""

    name = "master_detail"
    label = "Master-detail"
    widget = "lookup"
    is_master_detail = True
    options_schema = _relation_options(
        {
            "const": "cascade",
            "default": "cascade",
            "description": "Details are always deleted with their master.",
        }
    )

    def __init__(self, definition: dict[str, Any]):
        super().__init__(definition)
        self.required = True

    @property
    def on_delete(self) -> str:
        return "cascade"

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        errors = self._check_target(model_lookup)
        if self.options.get("on_delete", "cascade") != "cascade":
            errors.append(("options.on_delete", "a master-detail field always uses cascade"))
        return errors


class RecordIdListField(ma.fields.Field):
    """A JSON list of record ids (or ``{"id": n}`` objects); duplicates dropped, order kept."""

    default_error_messages = {"invalid": "must be a list of record ids"}

    def __init__(self, *, strict: bool = True, max_items: int = MAX_LINKS, **kwargs):
        self.item = RecordIdField(strict=strict)
        self.max_items = max_items
        super().__init__(**kwargs)

    def _deserialize(self, value, attr, data, **kwargs):
        if not isinstance(value, (list, tuple)):
            raise self.make_error("invalid")
        ids: list[int] = []
        seen: set[int] = set()
        for i, raw in enumerate(value):
            try:
                record_id = self.item.deserialize(raw)
            except ma.ValidationError as exc:
                raise ma.ValidationError({i: exc.messages}) from None
            if record_id not in seen:
                seen.add(record_id)
                ids.append(record_id)
        if len(ids) > self.max_items:
            raise ma.ValidationError(f"at most {self.max_items} ids are allowed")
        return ids


def junction_name(object_api_name: str, field_api_name: str) -> str:
    """``m_<object>_<field>``; longer than 63 characters → cut, plus ``_`` and
    8 hex digits of its SHA-1 (deterministic and unique in practice)."""
    full = f"m_{object_api_name}_{field_api_name}"
    if len(full) <= MAX_IDENTIFIER:
        return full
    digest = hashlib.sha1(full.encode()).hexdigest()[:8]
    return full[: MAX_IDENTIFIER - 9] + "_" + digest


class ManyToManyType(_RelationMixin, BuiltinFieldType):
    """Links to any number of records of ``options.target``, kept in a
    junction table. The API value is a JSON list of ids; ``to_db`` returns
    the list of ids the record store writes as junction rows.

    Filters cannot work on a column: use :meth:`junction_filter`."""

    name = "many_to_many"
    label = "Many-to-many"
    widget = "lookup_multi"
    widgets = Widgets("widgets/many_to_many.html", posts="many")
    is_reference = True
    stores_links = True
    has_column = False
    sortable = False
    operators = ("contains", "isnull")
    options_schema = _relation_options(None)

    def column_type(self) -> sa.types.TypeEngine:
        raise TypeError("a many_to_many field has no column")

    def marshmallow_field(self) -> ma.fields.Field:
        return RecordIdListField(strict=True, allow_none=True)

    def to_db(self, value: Any) -> Any:
        return list(value or [])

    def from_db(self, value: Any) -> Any:
        return sorted(int(v) for v in value or [])

    def load_links(self, value: Any) -> list[int]:
        return list(value or [])

    def dump_links(self, linked: list[tuple[int, str | None]]) -> Any:
        return [{"id": target_id, "name": None if name is None else str(name)} for target_id, name in linked]

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        return self._check_target(model_lookup)

    # -- the junction table ---------------------------------------------------------

    def junction_table_name(self, object_api_name: str) -> str:
        return junction_name(object_api_name, self.api_name)

    def junction_columns(self) -> list[sa.Column]:
        """``source_id`` (the record holding the field) and ``target_id``
        (the linked record), together the primary key. No ForeignKeys: the
        DDL layer adds them (both ``ON DELETE CASCADE``)."""
        return [
            sa.Column("source_id", record_id_type(), primary_key=True, autoincrement=False),
            sa.Column("target_id", record_id_type(), primary_key=True, autoincrement=False),
        ]

    def junction_table(self, object_api_name: str, metadata: sa.MetaData) -> sa.Table:
        """The junction as a Table in ``metadata`` (index on target_id for reverse lookups)."""
        name = self.junction_table_name(object_api_name)
        return sa.Table(
            name,
            metadata,
            *self.junction_columns(),
            sa.Index(f"{name[: MAX_IDENTIFIER - 4]}_tgt", "target_id"),
        )

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        if op not in self.operators:
            raise self._filter_error(f"operator {op!r} is not supported; use one of {', '.join(self.operators)}")
        raise TypeError("many_to_many fields have no column: build the condition with junction_filter()")

    def junction_filter(self, id_column: ColumnElement, junction: sa.Table, op: str, value: Any) -> ColumnElement:
        """The condition on the source table (``id_column`` is its ``id``):
        ``contains`` — linked to that id (a list or comma-separated ids: to
        all of them); ``isnull`` — has no links (true) or some (false)."""
        if op not in self.operators:
            raise self._filter_error(f"operator {op!r} is not supported; use one of {', '.join(self.operators)}")
        linked = sa.select(sa.literal(1)).where(junction.c.source_id == id_column)
        if op == "isnull":
            truthy = value is True or str(value).lower() in {"1", "true", "yes"}
            return ~linked.exists() if truthy else linked.exists()
        raw = value if isinstance(value, list) else (str(value).split(",") if isinstance(value, str) else [value])
        field = RecordIdField(strict=False)
        ids = []
        for item in raw:
            try:
                ids.append(field.deserialize(item.strip() if isinstance(item, str) else item))
            except ma.ValidationError as exc:
                raise self._filter_error(first_error(exc)) from None
        if not ids:
            raise self._filter_error("operator 'contains' needs a record id")
        return sa.and_(*(linked.where(junction.c.target_id == i).exists() for i in ids))

    # -- JSON Schema -----------------------------------------------------------------

    filter_text_operators = ()  # contains names a linked record by its id

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        if output:
            return {"type": "array", "items": reference_output_schema()}
        return {"type": ["array", "null"], "items": reference_input_schema()}

    def filter_schema(self) -> dict[str, Any]:
        return record_id_schema()
