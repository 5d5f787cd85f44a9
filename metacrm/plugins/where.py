"""``where=`` on record lists: a rule-language condition compiled to SQL.

The expression is parsed, type-checked for an SQL context against the live
model, and compiled to one SQLAlchemy clause the record store ANDs with the
guard's scope — no row is loaded to be filtered in Python. It may read only
fields the user can see. Lookup traversal (``Account.Industry``) is refused
here until record scopes also apply to the records a path passes through.

Checking for SQL is the costly part (it measures the compiled SQL and has
SQLite parse it), so the checked expression is kept per (model, object,
text) in the model's memo, with its SQL clause when it reads no ``$User`` (NOW
and TODAY are bound when the query runs). A new text of a known *shape* —
the same expression with other text or number literals, ``amount > 500``
after ``amount > 100`` — is only type-checked (which checks the literals:
a picklist value, a number's size) and reuses the shape's clause with the
literals bound in, when each literal of the shape is exactly one bound
parameter of its SQL (a literal the SQL transforms — a ``BEGINS`` pattern —
keeps the full check per text). What depends on the user — the
readable fields, and the SQL of a filter that reads ``$User`` — is still
done on every request. ``$User`` is the caller's guard's (the same as in
record scope conditions, teams included), asked for only when the filter
reads it.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql import visitors
from sqlalchemy.sql.elements import BindParameter, ColumnElement

from metacrm.metadata.physical import CompiledModel
from metacrm.platform.caches import Memo
from metacrm.platform.errors import ValidationFailed
from metacrm.rules import BOOLEAN, CheckContext, SqlContext, TypedExpression, UserGlobals, check, compile_sql, parse
from metacrm.rules.ast import Literal, walk
from metacrm.rules.errors import RuleError

CACHE_SIZE = 256
_DIALECTS = (sqlite.dialect(), postgresql.dialect())  # a rule's SQL exists for these two


@dataclass(frozen=True)
class CheckedFilter:
    """A filter checked against one model: the field paths it reads (sorted)
    and, when it reads no ``$User``, its SQL (the same for every user)."""

    typed: TypedExpression
    paths: list[tuple[str, ...]]
    clause: ColumnElement | None


@dataclass(frozen=True)
class Shape:
    """What a filter's shape (its text with the literals taken out) shares:
    the fields it reads, and when it reads no ``$User``, its clause with the
    bound parameter of each literal (``slots``, in the tree's order); None
    slots: the literals do not map one to one onto parameters."""

    paths: list[tuple[str, ...]]
    clause: ColumnElement | None
    slots: tuple[str, ...] | None


# Text and number literals in a filter's text; comments are skipped whole,
# names that contain digits are not numbers (the grammar's own tokens).
_LITERALS = re.compile(
    r"""(?P<comment>/\*(?:.|\n)*?\*/)|(?P<text>"(?:[^"\\\n]|\\.)*"|'(?:[^'\\\n]|\\.)*')"""
    r"""|(?<![A-Za-z0-9_.])(?P<number>[0-9]+(?:\.[0-9]+)?)""",
    re.DOTALL,
)


def normalised(expression: str) -> str:
    """``expression`` with each text literal as ``?t``, each whole number
    as ``?i`` and each decimal as ``?d``: the shape's key."""

    def mark(match: re.Match) -> str:
        if match.group("comment"):
            return " "
        if match.group("text"):
            return "?t"
        return "?d" if "." in match.group("number") else "?i"

    return _LITERALS.sub(mark, expression)


def where_clause(
    model: CompiledModel,
    object_name: str,
    expression: str,
    readable: set[str],
    user_globals: Callable[[], UserGlobals],
) -> ColumnElement:
    """``expression`` as the SQL clause filtering ``object_name``: it may read
    only the ``readable`` fields; ``user_globals()`` is the caller's ``$User``
    (a guard's ``user_globals``), called only when the expression reads it."""
    checked = checked_filter(model, object_name, expression)
    for path in checked.paths:
        if len(path) > 1:
            raise ValidationFailed(
                f"where: {'.'.join(path)} reads another object; filter on fields of {object_name} "
                "(lookup traversal in filters is not supported yet)",
                details={"fields": {"where": [f"{'.'.join(path)}: lookup traversal is not supported in filters"]}},
            )
        if path[0] not in readable:
            raise ValidationFailed(
                f"where: no field {path[0]!r}", details={"fields": {"where": [f"no field {path[0]!r}"]}}
            )
    if checked.clause is not None:
        return checked.clause
    return compile_sql(checked.typed, SqlContext(model, object_name, user=user_globals()))


def checked_filter(model: CompiledModel, object_name: str, expression: str) -> CheckedFilter:
    """``expression`` checked as a filter of ``object_name`` in ``model``,
    kept in the model's memo (the CACHE_SIZE most recently used filters,
    and as many shapes); a RuleError is not kept."""
    checked = model.memo(("where filters",), lambda: Memo(max_size=CACHE_SIZE))
    return checked((object_name, expression), lambda: _check_by_shape(model, object_name, expression))


def _check_by_shape(model: CompiledModel, object_name: str, expression: str) -> CheckedFilter:
    shapes = model.memo(("where shapes",), lambda: Memo(max_size=CACHE_SIZE))
    key = (object_name, normalised(expression))
    built: list[CheckedFilter] = []

    def first_of_its_shape() -> Shape:
        built.append(_check(model, object_name, expression))
        return _shape_of(model, object_name, expression, built[0])

    shape = shapes(key, first_of_its_shape)
    if built:
        return built[0]
    node = parse(expression)
    literals = _literal_values(node)
    if shape.clause is not None and (shape.slots is None or any(_beyond_bigint(v) for v in literals)):
        return _check(model, object_name, expression)  # literals the SQL transforms: the full check
    # Type-checked again (cheap): the literals may be a picklist's wrong value, too big a number...
    typed = check(node, CheckContext(model, object_name, purpose="a filter"), expect=BOOLEAN)
    if shape.clause is None:
        return CheckedFilter(typed, shape.paths, None)
    return CheckedFilter(typed, shape.paths, _with_literals(shape.clause, shape.slots, literals))


def _literal_values(node) -> list:
    """The text and number literals of a parsed filter, in the tree's order."""
    return [
        n.value
        for n in walk(node)
        if isinstance(n, Literal) and isinstance(n.value, (str, int, Decimal)) and not isinstance(n.value, bool)
    ]


def _beyond_bigint(value) -> bool:
    return isinstance(value, int) and not -(2**63) <= value < 2**63


def _shape_of(model: CompiledModel, object_name: str, expression: str, checked: CheckedFilter) -> Shape:
    """The shape of a checked filter. Its clause takes other literals only if
    each literal is exactly one bound parameter, and the proof holds: the
    clause with *probe* literals (each literal changed a little) is the SQL
    the full check and compile give for the probe's text (a literal that
    also feeds a derived value — a LIKE pattern — fails it)."""
    if checked.clause is None:
        return Shape(checked.paths, None, None)
    slots = _slots(checked.clause, _literal_values(parse(expression)))
    if slots is None or not _proven(model, object_name, expression, checked.clause, slots):
        return Shape(checked.paths, checked.clause, None)
    return Shape(checked.paths, checked.clause, slots)


def _slots(clause: ColumnElement, literals: list) -> tuple[str, ...] | None:
    binds = [e for e in visitors.iterate(clause) if isinstance(e, BindParameter)]
    slots = []
    for value in literals:
        same = [b for b in binds if type(b.value) is type(value) and b.value == value]
        twins = [v for v in literals if type(v) is type(value) and v == value]
        if len(same) != 1 or len(twins) != 1:
            return None
        slots.append(same[0].key)
    return tuple(slots)


def _with_literals(clause: ColumnElement, slots: tuple[str, ...], literals: list) -> ColumnElement:
    values = dict(zip(slots, literals, strict=True))

    def bind(element):
        if isinstance(element, BindParameter) and element.key in values:
            return sa.literal(values[element.key], element.type)
        return None

    return visitors.replacement_traverse(clause, {}, bind)


def _proven(model, object_name: str, expression: str, clause, slots: tuple[str, ...]) -> bool:
    def probe(match: re.Match) -> str:
        token = match.group(0)
        if match.group("comment"):
            return token
        return token[:-1] + token[-1] + "1" if match.group("number") else token[:-1] + "~" + token[-1]

    text = _LITERALS.sub(probe, expression)
    try:
        literals = _literal_values(parse(text))
        expected = _check(model, object_name, text).clause
    except (RuleError, ValidationFailed):
        return False  # e.g. a picklist value: such filters are kept per text
    if expected is None or len(literals) != len(slots) or any(_beyond_bigint(v) for v in literals):
        return False
    return _same_sql(_with_literals(clause, slots, literals), expected)


def _same_sql(left: ColumnElement, right: ColumnElement) -> bool:
    def binds(clause):
        return [(type(e.value), e.value) for e in visitors.iterate(clause) if isinstance(e, BindParameter)]

    def sql(clause):
        return [str(clause.compile(dialect=dialect)) for dialect in _DIALECTS]

    return sql(left) == sql(right) and binds(left) == binds(right)


def _check(model: CompiledModel, object_name: str, expression: str) -> CheckedFilter:
    typed = check(parse(expression), CheckContext(model, object_name, sql=True, purpose="a filter"), expect=BOOLEAN)
    reads_user = any(item.kind == "global" and item.value not in ("now", "today") for item in typed.walk())
    clause = None if reads_user else compile_sql(typed, SqlContext(model, object_name))
    return CheckedFilter(typed, sorted(typed.references()), clause)
