"""Typed expression → SQLAlchemy Core expression over an object's table.

:func:`compile_sql` builds a ``ColumnElement`` for filters, list views,
record scopes and formula columns. Columns come from the compiled model
only; every value (literals, ``$User``, NOW/TODAY) is a bound parameter. A
lookup path (``Account.Owner.Email``) becomes nested correlated scalar
subqueries on aliases of the target tables ``o_<target>``, skipping target
records in the recycle bin. The meaning of every function and operator is
the one :mod:`metacrm.rules.runtime` gives in Python, made portable by
:mod:`metacrm.rules.functions.sql` (SQLite and PostgreSQL).

Null: SQL's three-valued logic is the language's; ``WHERE`` treats a null
condition as false, as :func:`metacrm.rules.compile_python.holds` does.

Depends on SQLAlchemy, :mod:`metacrm.metadata.physical` and the rest of
:mod:`metacrm.rules`.
"""

from __future__ import annotations

import itertools
import sqlite3
from decimal import Decimal

import sqlalchemy as sa
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlalchemy.sql.elements import ColumnElement

from metacrm.rules import runtime
from metacrm.rules.context import SqlContext
from metacrm.rules.errors import RuleError
from metacrm.rules.functions import SqlCall
from metacrm.rules.functions.sql import Portable
from metacrm.rules.types import TypedExpression

# Bounds on the SQL a rule may become. Portable constructs repeat some of
# their arguments (FLOOR on SQLite reads x three times), so nesting them
# multiplies; these limits keep SQL text and SQLAlchemy's (recursive)
# compiler well inside what a query can carry.
MAX_SQL_SIZE = 20_000  # expression nodes, repetitions counted
MAX_SQL_DEPTH = 150  # SQLAlchemy's compiler needs about 4 Python frames per level

_RESULT_TYPES = ("NUMBER", "DATE", "DATETIME", "BOOLEAN", "TEXT", "PICKLIST", "ID")
_SQL_TYPES = {
    "TEXT": sa.String,
    "PICKLIST": sa.String,
    "MULTI": sa.String,
    "NUMBER": sa.Numeric,
    "BOOLEAN": sa.Boolean,
    "DATE": sa.Date,
    "ID": sa.BigInteger,
}


class RuleNumber(sa.types.TypeDecorator):
    """Numbers read back in the rules' canonical form (runtime.number). A
    SQLite float holds about 15 significant digits; it is read as exactly
    those (``format(x, ".15g")``), so the float noise beyond them never
    shows, then rounded to 10 places."""

    impl = sa.Numeric()
    cache_ok = True

    def load_dialect_impl(self, dialect):
        # Floats stay floats on SQLite (SQLAlchemy would print them with
        # "%.10f"); PostgreSQL's exact numerics stay Decimals.
        return dialect.type_descriptor(sa.Numeric(asdecimal=dialect.name != "sqlite"))

    def process_result_value(self, value, dialect):
        if isinstance(value, float):
            value = runtime.float_number(value)
        return runtime.number(value)


def sql_type(type_name: str) -> sa.types.TypeEngine:
    """The SQLAlchemy type of values of a rule type."""
    if type_name == "DATETIME":
        return sa.DateTime(timezone=True)
    if type_name == "NUMBER":
        return RuleNumber()
    return _SQL_TYPES.get(type_name, sa.types.NullType)()


def compile_sql(typed: TypedExpression, table_context: SqlContext) -> ColumnElement:
    """The SQL expression of ``typed`` over ``table_context``'s table.

    Use it in ``select(...).where(expr)`` for a condition, or as a column
    for a value (read back as rule values: numbers as ``int``/``Decimal``
    rounded to 10 places, dates as ``date``). Raises RuleError if a function
    has no SQL form or the SQL would be too big (``CheckContext(sql=True)``
    catches both at definition time)."""
    if typed.object is not None and typed.object != table_context.object:
        raise RuleError(
            f"the rule was checked for {typed.object}, not {table_context.object}", line=typed.line, column=typed.column
        )
    expression = _SqlCompiler(table_context).compile(typed)
    if typed.type.name in _RESULT_TYPES:  # read values back as rule values
        expression = sa.type_coerce(expression, sql_type(typed.type.name))
    size, depth = measure(expression)
    if size > MAX_SQL_SIZE or depth > MAX_SQL_DEPTH:
        source = getattr(typed.node, "source", None)
        error = RuleError(
            "the rule is too complex to run in the database; simplify it or split it",
            line=typed.line,
            column=typed.column,
        )
        raise error.with_source(source) if source else error
    return expression


def sqlite_can_parse(expression: ColumnElement) -> bool:
    """Whether SQLite's parser takes the expression: its stack is small (about
    30 nested calls, 18 nested CASEs), so deep rules can pass every other
    test and still fail there. Prepared on a throw-away in-memory database:
    only parsing matters (the tables are unknown there, which is fine)."""
    try:
        sql = str(expression.compile(dialect=sqlite_dialect.dialect()))
    except RecursionError:
        return False
    connection = sqlite3.connect(":memory:")
    try:
        # Inside a CASE: a margin for the WHERE ... AND ... around it in real queries.
        connection.execute(f"EXPLAIN SELECT CASE WHEN 1 THEN ({sql}) END")
    except sqlite3.OperationalError as exc:
        return "parser stack overflow" not in str(exc)
    except sqlite3.Error:
        return True
    finally:
        connection.close()
    return True


def measure(expression: ColumnElement) -> tuple[int, int]:
    """(size, depth) of the SQL ``expression`` as it will be rendered: shared
    sub-expressions count every time they appear; portable constructs count
    as their larger dialect form. Iterative and linear in distinct nodes."""
    memo: dict[int, tuple[int, int]] = {}
    children_of: dict[int, tuple] = {}
    stack: list[tuple[object, bool]] = [(expression, False)]
    while stack:
        node, expanded = stack.pop()
        key = id(node)
        if key in memo:
            continue
        if not expanded:
            if key in children_of:  # already waiting for its children
                continue
            if isinstance(node, Portable):
                children = (node.sqlite(*node.args), node.postgresql(*node.args))
            else:
                children = tuple(node.get_children())
            children_of[key] = (node, children)  # keeps expansions alive while ids are in use
            stack.append((node, True))
            stack.extend((child, False) for child in children if id(child) not in memo)
            continue
        _node, children = children_of[key]
        if isinstance(node, Portable):
            size = max((memo[id(c)][0] for c in children), default=0)
        else:
            size = 1 + sum(memo[id(c)][0] for c in children)
        depth = 1 + max((memo[id(c)][1] for c in children), default=0)
        memo[key] = (size, depth)
    return memo[id(expression)]


class _SqlCompiler:
    def __init__(self, context: SqlContext):
        self.context = context
        self.table = context.root_table()
        self.model = context.model
        self._aliases = itertools.count(1)
        self._related: dict[tuple, ColumnElement] = {}

    def compile(self, typed: TypedExpression) -> ColumnElement:
        kind = typed.kind
        if kind == "literal":
            return self.literal(typed)
        if kind == "field":
            return self.column(self.table, self.context.object, typed.value, typed.field_type)
        if kind == "related":
            return self.related(typed)
        if kind == "global":
            return self.global_(typed)
        if kind == "call":
            return self.call(typed)
        raise RuleError(f"cannot compile {kind!r}", line=typed.line, column=typed.column)  # pragma: no cover

    def literal(self, typed: TypedExpression) -> ColumnElement:
        value = typed.value
        if value is None:
            return sa.null()
        if isinstance(value, bool):
            return sa.literal(value, sa.Boolean())
        if isinstance(value, int) and -(2**63) <= value < 2**63:
            return sa.literal(value, sa.BigInteger())
        if isinstance(value, int):  # beyond BIGINT: a numeric (a float on SQLite)
            return sa.literal(Decimal(value), sa.Numeric())
        if isinstance(value, str):
            return sa.literal(value, sa.String())
        return sa.literal(value, sa.Numeric())

    def column(self, table, object_name: str, name: str, field_type) -> ColumnElement:
        if field_type is not None and getattr(field_type, "computed", False):
            return field_type.select_expression(table, self.model)
        if field_type is not None and getattr(field_type, "encrypted", False):
            # The database holds only its ciphertext: SQL can neither compare nor compute with it.
            raise RuleError(
                f"{object_name}.{name} is encrypted: a formula, roll-up, where= or record scope cannot read it "
                f"(filter it with an exact match, {name}=value)"
            )
        return table.c[name]

    def related(self, typed: TypedExpression) -> ColumnElement:
        path = typed.value
        key = path.names
        if key in self._related:
            return self._related[key]
        reference: ColumnElement = self.table.c[path.hops[0][1]]
        for index, (_source, _lookup, target_name) in enumerate(path.hops):
            target = self.model.object(target_name)
            alias = target.table.alias(f"rule_{target_name[:40]}_{next(self._aliases)}")
            if index + 1 < len(path.hops):
                selected = alias.c[path.hops[index + 1][1]]
            else:
                selected = self.column(alias, target_name, path.field, typed.field_type)
            # Correlate explicitly: the innermost subquery reads the root row
            # from two or more levels down, where auto-correlation does not reach.
            reference = (
                sa.select(selected)
                .where(alias.c.id == reference, alias.c.deleted_at.is_(None))
                .correlate(self.table)
                .scalar_subquery()
            )
        self._related[key] = reference
        return reference

    def global_(self, typed: TypedExpression) -> ColumnElement:
        key = typed.value
        if key == "now":
            return self.context.now_parameter()
        if key == "today":
            return self.context.today_parameter()
        value = self.context.user.get(key.split(".", 1)[1])
        if typed.type.name == "MULTI":  # $User.Teams: stored the way a multi-picklist is, ";a;b;"
            value = f";{';'.join(value)};" if value else None
        return sa.bindparam(None, value, type_=sql_type(typed.type.name))

    def call(self, typed: TypedExpression) -> ColumnElement:
        function = typed.function
        if function.sql is None:
            raise RuleError(
                f"{function.name} cannot be used in SQL: it has no SQL form", line=typed.line, column=typed.column
            )
        if function.strict and any(arg.type.name == "NULL" for arg in typed.args):
            return sa.cast(sa.null(), sql_type(typed.type.name))
        args = [self.compile(arg) for arg in typed.args]
        return function.sql(SqlCall(args, typed, self.context))
