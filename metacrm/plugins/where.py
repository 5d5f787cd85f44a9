"""``where=`` on record lists: a rule-language condition compiled to SQL.

The expression is parsed, type-checked for an SQL context against the live
model, and compiled to one SQLAlchemy clause the record store ANDs with the
guard's scope — no row is loaded to be filtered in Python. It may read only
fields the user can see. Lookup traversal (``Account.Industry``) is refused
here until record scopes also apply to the records a path passes through.

Checking for SQL is the costly part (it measures the compiled SQL and has
SQLite parse it), so the checked expression is kept per (model, object,
text) in the model's memo, with its SQL clause when it reads no ``$User`` (NOW
and TODAY are bound when the query runs). What depends on the user — the
readable fields, and the SQL of a filter that reads ``$User`` — is still
done on every request. ``$User`` is the caller's guard's (the same as in
record scope conditions, teams included), asked for only when the filter
reads it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from sqlalchemy.sql.elements import ColumnElement

from metacrm.metadata.physical import CompiledModel
from metacrm.platform.caches import Memo
from metacrm.platform.errors import ValidationFailed
from metacrm.rules import BOOLEAN, CheckContext, SqlContext, TypedExpression, UserGlobals, check, compile_sql, parse

CACHE_SIZE = 256


@dataclass(frozen=True)
class CheckedFilter:
    """A filter checked against one model: the field paths it reads (sorted)
    and, when it reads no ``$User``, its SQL (the same for every user)."""

    typed: TypedExpression
    paths: list[tuple[str, ...]]
    clause: ColumnElement | None


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
    kept in the model's memo (the CACHE_SIZE most recently used filters);
    a RuleError is not kept."""
    checked = model.memo(("where filters",), lambda: Memo(max_size=CACHE_SIZE))
    return checked((object_name, expression), lambda: _check(model, object_name, expression))


def _check(model: CompiledModel, object_name: str, expression: str) -> CheckedFilter:
    typed = check(parse(expression), CheckContext(model, object_name, sql=True, purpose="a filter"), expect=BOOLEAN)
    reads_user = any(item.kind == "global" and item.value not in ("now", "today") for item in typed.walk())
    clause = None if reads_user else compile_sql(typed, SqlContext(model, object_name))
    return CheckedFilter(typed, sorted(typed.references()), clause)
