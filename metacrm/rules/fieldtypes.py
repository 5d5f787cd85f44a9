"""Formula and roll-up summary field types, and their definition checks.

Both are *computed* types (:class:`~metacrm.metadata.fieldtypes.base.FieldType`
with ``computed = True``): they have no column; the record store selects,
filters and sorts on :meth:`select_expression`, an SQL expression over the
object's table, so a value is always current and never stored.

* ``formula``: a rule-language expression compiled with
  :func:`~metacrm.rules.compile_sql.compile_sql`; numbers are rounded in SQL
  to ``scale`` places, so what a filter compares is what the API shows.
* ``roll_up``: count, sum, min or max over the live (not deleted) child
  records of a lookup or master-detail relation pointing at the object,
  optionally filtered by a rule-language condition over the child.

Values look exactly like those of a field of the *value type* (a bound
built-in type: decimal, currency, date…), which also supplies the filter
operators and their SQL. :func:`check_definitions` (the ``check_definitions``
hook) type-checks every formula and roll-up of a proposed metadata change,
so a change that would break one — deleting a field it reads — is refused.

Depends on :mod:`metacrm.metadata` and the rest of :mod:`metacrm.rules`.
"""

from __future__ import annotations

import threading
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.fieldtypes.base import FieldType, Widgets
from metacrm.metadata.fieldtypes.builtin import (
    BooleanType,
    CurrencyType,
    DateTimeType,
    DateType,
    DecimalType,
    IntegerType,
    PercentType,
    TextType,
)
from metacrm.metadata.fieldtypes.common import API_NAME_PATTERN, options_schema
from metacrm.rules import runtime
from metacrm.rules.checker import CheckContext, check, suggestion
from metacrm.rules.compile_python import compile_python
from metacrm.rules.compile_sql import MAX_SQL_DEPTH, MAX_SQL_SIZE, compile_sql, measure, sql_type, sqlite_can_parse
from metacrm.rules.context import SqlContext
from metacrm.rules.errors import RuleError
from metacrm.rules.functions.sql import RoundTo
from metacrm.rules.parser import MAX_LENGTH, parse
from metacrm.rules.types import BOOLEAN, TypedExpression

# return_type → (rule type, built-in type of the values)
RETURN_TYPES: dict[str, tuple[str, type[FieldType]]] = {
    "text": ("TEXT", TextType),
    "number": ("NUMBER", DecimalType),
    "currency": ("NUMBER", CurrencyType),
    "percent": ("NUMBER", PercentType),
    "date": ("DATE", DateType),
    "datetime": ("DATETIME", DateTimeType),
    "boolean": ("BOOLEAN", BooleanType),
}
# Expression types each return type accepts (NULL fits all).
_ACCEPTS = {
    "TEXT": ("TEXT", "PICKLIST"),
    "NUMBER": ("NUMBER",),
    "DATE": ("DATE",),
    "DATETIME": ("DATETIME",),
    "BOOLEAN": ("BOOLEAN",),
}
FUNCTIONS = ("count", "sum", "min", "max")
MAX_SCALE = 10
_MAX_PRECISION = 38
# The computed fields being compiled, per thread (a re-entry is a cycle).
_compiling = threading.local()
_FILTER_OPERATORS = ("eq", "ne", "lt", "lte", "gt", "gte", "in", "contains", "startswith", "isnull")


class ComputedFieldType(FieldType):
    """What formulas and roll-ups share: no column, never written, values
    and filters of their :attr:`value_type`, a ``rule_type`` for rules that
    read them."""

    computed = True
    has_column = False
    read_only = True
    widget = "readonly"  # shown like its value type (``value_type.widget``), never edited
    widgets = Widgets("widgets/computed.html")
    # The class lists every operator a value type may offer (the field-type
    # catalogue); each field narrows it to its value type's.
    operators = _FILTER_OPERATORS

    def __init__(self, definition: dict[str, Any]):
        super().__init__(definition)
        self.object_api_name: str | None = None
        self.rule_type: str | None = None  # read by the rule checker
        self.value_type: FieldType | None = None
        self._binding = False

    def _use_value_type(self, value_type: FieldType | None) -> None:
        self.value_type = value_type
        if value_type is not None:
            self.operators = value_type.operators

    def _values(self) -> FieldType:
        if self.value_type is None:
            raise RuleError(f"{self.api_name} is not a valid {self.name} field; fix its definition")
        return self.value_type

    # -- no storage ------------------------------------------------------------------

    def column_type(self) -> sa.types.TypeEngine:
        # No column; a NullType lets a change of options compare "column types" as equal.
        return sa.types.NullType()

    def select_expression(self, table, model) -> ColumnElement:
        own = model.object(self.object_api_name)
        if own is not None and table is not own.table:
            # Read through a lookup (``account.total``): computed over an
            # anonymous alias correlated by id, so that the aliases inside
            # never clash with the caller's (compile_sql names its own).
            inner = own.table.alias()
            value = self.computed_over(inner, model)
            return sa.select(value).where(inner.c.id == table.c.id).correlate(table).scalar_subquery()
        return self.computed_over(table, model)

    def computed_over(self, table, model) -> ColumnElement:
        """The value over ``table`` (the object's table or an alias no other
        part of the query names)."""
        # Compiled models are shared between threads: what is being compiled is per thread.
        compiling = _compiling.__dict__.setdefault("fields", set())
        if id(self) in compiling:  # definition checks refuse cycles; this is the last line of defence
            raise RuleError(f"{self.object_api_name}.{self.api_name} reads itself through other computed fields")
        compiling.add(id(self))
        try:
            expression = self._expression(table, model)
        finally:
            compiling.discard(id(self))
        return sa.type_coerce(expression, sql_type(self.rule_type or "TEXT"))

    def _expression(self, table, model) -> ColumnElement:
        raise NotImplementedError

    def _rounded(self, expression: ColumnElement) -> ColumnElement:
        scale = getattr(self.value_type, "scale", None)
        if self.rule_type != "NUMBER" or scale is None:
            return expression
        return RoundTo(expression, sa.literal(int(scale), sa.Integer()))

    # -- values: those of the value type ------------------------------------------------------

    def to_db(self, value: Any) -> Any:
        return self._values().to_db(value)

    def from_db(self, value: Any) -> Any:
        return self._values().from_db(value)

    def marshmallow_field(self):
        return self._values().marshmallow_field()

    def coerce_filter_value(self, value: Any) -> Any:
        return self._values().coerce_filter_value(value)

    def filter(self, column: ColumnElement, op: str, value: Any) -> ColumnElement:
        return self._values().filter(column, op, value)

    def parse_import(self, text: str) -> Any:
        raise ValueError(f"{self.api_name} is computed and cannot be imported")

    def default_value(self) -> Any:
        return None

    def validate_definition(self, model_lookup) -> list[tuple[str, str]]:
        """Options that make no sense on a computed field. The expression,
        the relation and the cycles are checked with the whole model by
        :func:`check_definitions`."""
        noun = "a formula" if self.name == "formula" else "a roll-up summary"
        errors = []
        if self.definition.get("default") is not None:
            errors.append(("default", f"{noun} field is computed and cannot have a default"))
        if self.definition.get("required"):
            errors.append(("required", f"{noun} field is computed; it cannot be required"))
        if self.definition.get("indexed"):
            errors.append(("indexed", f"{noun} field has no column to index"))
        return errors

    # -- JSON Schema: that of the value type ---------------------------------------------------

    def json_schema(self, *, output: bool) -> dict[str, Any]:
        if self.value_type is None:  # a broken definition
            return super().json_schema(output=output)
        return self.value_type.json_schema(output=output)

    def filter_schema(self) -> dict[str, Any]:
        if self.value_type is None:
            return super().filter_schema()
        return self.value_type.filter_schema()


def _value_type(cls: type[FieldType], definition: dict[str, Any], options: dict[str, Any]) -> FieldType:
    """A field of type ``cls`` standing for the computed field of ``definition`` (same name and label)."""
    return cls(
        {"api_name": definition["api_name"], "label": definition.get("label"), "type": cls.name, "options": options}
    )


class FormulaType(ComputedFieldType):
    name = "formula"
    label = "Formula"
    options_schema = options_schema(
        {
            "expression": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_LENGTH,
                "description": 'A rule-language expression over the record, e.g. "amount * probability / 100".',
            },
            "return_type": {
                "enum": list(RETURN_TYPES),
                "description": "The type of the value: text, number, currency, percent, date, datetime or boolean.",
            },
            "scale": {
                "type": "integer",
                "minimum": 0,
                "maximum": MAX_SCALE,
                "default": 2,
                "description": "Digits after the decimal point of number, currency and percent results.",
            },
        },
        ["expression", "return_type"],
    )

    def __init__(self, definition: dict[str, Any]):
        super().__init__(definition)
        self._typed: TypedExpression | None = None
        self._typed_model: Any = None
        self._model: Any = None
        self._python = None  # the compiled closure, for record-at-a-time rules
        return_type = self.options.get("return_type")
        if return_type not in RETURN_TYPES:
            return
        self.rule_type, cls = RETURN_TYPES[return_type]
        options: dict[str, Any] = {}
        if self.rule_type == "NUMBER":
            options["scale"] = self.scale
            if cls is not CurrencyType:
                options["precision"] = _MAX_PRECISION
        self._use_value_type(_value_type(cls, self.definition, options))

    @property
    def expression_text(self) -> str:
        return str(self.options.get("expression") or "")

    @property
    def scale(self) -> int:
        scale = self.options.get("scale")
        return scale if isinstance(scale, int) and 0 <= scale <= MAX_SCALE else 2

    def bind_model(self, model, object_api_name: str) -> None:
        self.object_api_name = object_api_name
        self._model = model
        self._python = None

    def evaluate_python(self, record) -> Any:
        """The value for one :class:`~metacrm.rules.context.RecordContext`,
        for record-at-a-time rules (validation rules, automations) that run
        before the record is stored: the expression evaluated on the same
        record, rounded as the SQL value is."""
        if self._python is None:
            self._python = compile_python(self.typed(self._model))
        value = self._python(record)
        if value is None or self.rule_type != "NUMBER":
            return value
        return runtime.round_to(value, self.scale)

    def typed(self, model, *, sql: bool = False) -> TypedExpression:
        """The checked expression (raises RuleError); kept per model unless ``sql``."""
        if not sql and self._typed is not None and self._typed_model is model:
            return self._typed
        context = CheckContext(model, self.object_api_name or "", sql=sql, purpose="a formula")
        typed = check(parse(self.expression_text), context)
        _refuse_user(typed, "a formula")
        self._typed, self._typed_model = typed, model
        return typed

    def _expression(self, table, model) -> ColumnElement:
        typed = self.typed(model)
        expression = compile_sql(typed, SqlContext(model, self.object_api_name, table=table))
        return self._rounded(expression)


class RollUpType(ComputedFieldType):
    name = "roll_up"
    label = "Roll-up summary"
    options_schema = options_schema(
        {
            "object": {
                "type": "string",
                "pattern": API_NAME_PATTERN,
                "description": "The child object whose records are summarised.",
            },
            "relation": {
                "type": "string",
                "pattern": API_NAME_PATTERN,
                "description": "The child's lookup or master-detail field pointing at this object.",
            },
            "function": {"enum": list(FUNCTIONS), "description": "count, sum, min or max."},
            "field": {
                "type": "string",
                "pattern": API_NAME_PATTERN,
                "description": "The child field to aggregate (not for count).",
            },
            "filter": {
                "type": "string",
                "minLength": 1,
                "maxLength": MAX_LENGTH,
                "description": "Only child records for which this rule-language condition holds.",
            },
        },
        ["object", "relation", "function"],
    )

    def __init__(self, definition: dict[str, Any]):
        super().__init__(definition)
        self._filter: TypedExpression | None = None
        self._filter_model: Any = None
        if self.function in ("count", "sum"):
            self.rule_type = "NUMBER"
        if self.function == "count":
            self._use_value_type(_value_type(IntegerType, self.definition, {}))

    @property
    def function(self) -> str | None:
        return self.options.get("function")

    def bind_model(self, model, object_api_name: str) -> None:
        self.object_api_name = object_api_name
        if self.function == "count":
            return
        child = model.object(self.options.get("object") or "")
        aggregated = child.fields.get(self.options.get("field") or "") if child is not None else None
        if aggregated is None or self._binding:  # _binding: roll-ups of each other (a cycle)
            return
        if isinstance(aggregated, ComputedFieldType) and aggregated.value_type is None:
            self._binding = True  # a roll-up of a roll-up: bind that one first
            try:
                aggregated.bind_model(model, child.api_name)
            finally:
                self._binding = False
        # The aggregate has the values of the field (a formula's: its value type).
        values = getattr(aggregated, "value_type", None) if aggregated.computed else aggregated
        rule_type = getattr(aggregated, "rule_type", None) or _BUILTIN_RULE_TYPES.get(aggregated.name)
        if values is None or rule_type not in _AGGREGATES.get(self.function or "", ()):
            return
        self.rule_type = rule_type
        self._use_value_type(_value_type(type(values), self.definition, dict(values.definition.get("options") or {})))

    def filter_typed(self, model, *, sql: bool = False) -> TypedExpression | None:
        text = self.options.get("filter")
        if not text:
            return None
        if not sql and self._filter is not None and self._filter_model is model:
            return self._filter
        context = CheckContext(model, self.options["object"], sql=sql, purpose="a roll-up filter")
        typed = check(parse(text), context, expect=BOOLEAN)
        _refuse_user(typed, "a roll-up filter")
        self._filter, self._filter_model = typed, model
        return typed

    def _expression(self, table, model) -> ColumnElement:
        child = model.object(self.options.get("object") or "")
        if child is None or self.value_type is None:
            raise RuleError(f"{self.api_name} is not a valid roll-up summary field; fix its definition")
        rows = child.table.alias()
        where = [rows.c[self.options["relation"]] == table.c.id, rows.c.deleted_at.is_(None)]
        condition = self.filter_typed(model)
        if condition is not None:
            where.append(compile_sql(condition, SqlContext(model, child.api_name, table=rows)))
        if self.function == "count":
            aggregate = sa.func.count()
        else:
            name = self.options["field"]
            aggregated = child.fields[name]
            computed = isinstance(aggregated, ComputedFieldType)
            value = aggregated.computed_over(rows, model) if computed else rows.c[name]
            aggregate = getattr(sa.func, self.function)(value)
            if self.function == "sum":
                aggregate = sa.func.coalesce(aggregate, 0)
        summary = sa.select(aggregate).where(*where).correlate(table).scalar_subquery()
        return self._rounded(summary) if self.function == "sum" else summary


# Rule types of built-in field types that roll-ups aggregate; per function.
_BUILTIN_RULE_TYPES = {
    "integer": "NUMBER",
    "decimal": "NUMBER",
    "currency": "NUMBER",
    "percent": "NUMBER",
    "date": "DATE",
    "datetime": "DATETIME",
}
_AGGREGATES = {"sum": ("NUMBER",), "min": ("NUMBER", "DATE", "DATETIME"), "max": ("NUMBER", "DATE", "DATETIME")}

FIELD_TYPES: list[type[FieldType]] = [FormulaType, RollUpType]


def _refuse_user(typed: TypedExpression, purpose: str) -> None:
    """``$User`` has no single value where a computed field is read: the
    store computes it in SQL for every reader alike (and a value that
    changed with the reader could not be filtered or sorted consistently)."""
    for item in typed.walk():
        if item.kind == "global" and str(item.value).startswith("user."):
            raise RuleError(
                f"$User cannot be used in {purpose}: a computed value is the same for every reader; "
                "put per-user conditions in a list-view filter or a record scope",
                line=item.line,
                column=item.column,
                source=getattr(typed.node, "source", None),
            )


# -- definition checks ------------------------------------------------------------------------


Problem = tuple[str, str, str, str]


class _Checks:
    """One run of :func:`check_definitions` over a proposed model."""

    def __init__(self, model):
        self.model = model
        self.problems: list[Problem] = []
        self.fields: dict[str, tuple[str, ComputedFieldType]] = {}  # "object.field" → (object, type)
        self.reads: dict[str, set[str]] = {}  # computed field → the computed fields it reads
        self.broken: set[str] = set()
        for obj in model.objects.values():
            for field_type in obj.fields.values():
                if isinstance(field_type, ComputedFieldType):
                    self.fields[f"{obj.api_name}.{field_type.api_name}"] = (obj.api_name, field_type)

    def problem(self, key: str, path: str, message: str) -> None:
        self.problems.append(("field", key, path, message))
        self.broken.add(key)

    def run(self) -> list[Problem]:
        for key, (object_name, field_type) in self.fields.items():
            try:
                if isinstance(field_type, FormulaType):
                    self.formula(key, object_name, field_type)
                else:
                    self.roll_up(key, object_name, field_type)
            except RuleError as exc:
                path = "options.expression" if isinstance(field_type, FormulaType) else "options.filter"
                self.problem(key, path, exc.message)
        self.cycles()
        for key in self.fields:
            if key not in self.broken and not self._reads_broken(key, set()):
                self.in_sql(key)
        return self.problems

    def _computed_reads(self, object_name: str, typed: TypedExpression | None) -> set[str]:
        found = set()
        for item in typed.walk() if typed is not None else ():
            if item.kind == "field":
                key = f"{object_name}.{item.value}"
            elif item.kind == "related":
                key = f"{item.value.target}.{item.value.field}"
            else:
                continue
            if key in self.fields:
                found.add(key)
        return found

    def formula(self, key: str, object_name: str, field_type: FormulaType) -> None:
        typed = field_type.typed(self.model)
        self.reads[key] = self._computed_reads(object_name, typed)
        return_type = field_type.options["return_type"]
        expected = RETURN_TYPES[return_type][0]
        actual = typed.type.name
        if actual != "NULL" and actual not in _ACCEPTS[expected]:
            fits = [name for name, (rule, _cls) in RETURN_TYPES.items() if actual in _ACCEPTS[rule]]
            hint = f"; set return_type to {' or '.join(fits)}" if fits else ""
            self.problem(
                key,
                "options.return_type",
                f"the expression is {actual}, but return_type is {return_type}{hint}",
            )

    def roll_up(self, key: str, object_name: str, field_type: RollUpType) -> None:
        options = field_type.options
        child = self.model.object(options["object"])
        if child is None:
            return self.problem(key, "options.object", _unknown("object", options["object"], list(self.model.objects)))
        relation = child.fields.get(options["relation"])
        lookups = [n for n, ft in child.fields.items() if ft.is_lookup and ft.reference_target == object_name]
        if relation is None or not relation.is_lookup or relation.reference_target != object_name:
            known = f"; use {' or '.join(lookups)}" if lookups else f"; {child.api_name} has none"
            return self.problem(
                key,
                "options.relation",
                f"{child.api_name}.{options['relation']} is not a lookup or master-detail field "
                f"pointing at {object_name}{known}",
            )
        function, name = options["function"], options.get("field")
        reads: set[str] = set()
        if function == "count" and name:
            return self.problem(key, "options.field", "count counts child records; leave field out")
        if function != "count":
            if not name:
                return self.problem(key, "options.field", f"{function} needs the child field to aggregate")
            aggregated = child.fields.get(name)
            if aggregated is None:
                return self.problem(
                    key, "options.field", _unknown(f"field of {child.api_name}", name, list(child.fields))
                )
            if field_type.value_type is None:
                wanted = "a number" if function == "sum" else "a number, date or date-time"
                return self.problem(
                    key,
                    "options.field",
                    f"{function} needs {wanted} field; {child.api_name}.{name} is {aggregated.name}",
                )
            if f"{child.api_name}.{name}" in self.fields:
                reads.add(f"{child.api_name}.{name}")
        reads |= self._computed_reads(child.api_name, field_type.filter_typed(self.model))
        self.reads[key] = reads

    def cycles(self) -> None:
        """Computed fields that read each other in a circle are each refused."""
        state: dict[str, int] = {}  # 1: on the current path, 2: done

        def visit(key: str, path: list[str]) -> None:
            state[key] = 1
            for nxt in sorted(self.reads.get(key, ())):
                if state.get(nxt) == 1:
                    circle = [*path[path.index(nxt) :], nxt]
                    for member in circle[:-1]:
                        _obj, member_type = self.fields[member]
                        where = "options.expression" if isinstance(member_type, FormulaType) else "options"
                        self.problem(member, where, f"computed fields read each other in a cycle: {' → '.join(circle)}")
                elif nxt not in state:
                    visit(nxt, [*path, nxt])
            state[key] = 2

        for key in sorted(self.reads):
            if key not in state:
                visit(key, [key])

    def _reads_broken(self, key: str, seen: set[str]) -> bool:
        for nxt in self.reads.get(key, ()):
            if nxt in self.broken:
                return True
            if nxt not in seen:
                seen.add(nxt)
                if self._reads_broken(nxt, seen):
                    return True
        return False

    def in_sql(self, key: str) -> None:
        """What only the SQL form shows: functions without one, and the size
        of the whole expression (formulas of formulas add up)."""
        object_name, field_type = self.fields[key]
        path = "options.expression" if isinstance(field_type, FormulaType) else "options.filter"
        try:
            if isinstance(field_type, FormulaType):
                field_type.typed(self.model, sql=True)
            else:
                field_type.filter_typed(self.model, sql=True)
            obj = self.model.object(object_name)
            expression = field_type.select_expression(obj.table, self.model)
            size, depth = measure(expression)
            if size > MAX_SQL_SIZE or depth > MAX_SQL_DEPTH or not sqlite_can_parse(expression):
                raise RuleError(
                    "the field is too complex to compute in the database (with the computed fields it reads); "
                    "simplify it"
                )
        except RuleError as exc:
            self.problem(key, path, exc.message)


def _unknown(what: str, name: str, candidates: list[str]) -> str:
    best = suggestion(name, candidates)
    return f"no {what} {name!r}" + (f"; did you mean {best!r}?" if best else "")


def check_definitions(definitions, model) -> list[Problem]:
    """Every formula and roll-up of the proposed ``model`` parses,
    type-checks, fits its return type, compiles to SQL of a size the
    database takes, and reads no computed field that reads it back.
    Returns ``[(kind, key, path, message)]`` (the ``check_definitions`` hook)."""
    return _Checks(model).run()
