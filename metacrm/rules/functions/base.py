"""What every rule function is made of: :class:`Function` (signature,
type rule, Python and SQL implementations, documentation), its
:class:`Param`, what a type rule sees (:class:`CallCheck`) and what a SQL
implementation sees (:class:`SqlCall`), and the small helpers the
categories share.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.rules import runtime
from metacrm.rules.errors import RuleError
from metacrm.rules.types import RuleType, TypedExpression, unify

ANY = ("TEXT", "NUMBER", "BOOLEAN", "DATE", "DATETIME", "PICKLIST", "MULTI", "ID")
TEXTUAL = ("TEXT", "PICKLIST")
ORDERED = ("NUMBER", "DATE", "DATETIME")
MAX_TEXT = runtime.MAX_TEXT


@dataclass(frozen=True)
class Param:
    """One parameter: its name (for messages and docs), the rule type names
    it accepts (NULL always fits), and whether it must be a literal."""

    name: str
    types: tuple[str, ...]
    literal: bool = False


@dataclass(frozen=True)
class Function:
    """A rule function.

    * ``params``: the parameters; with ``variadic`` the last one repeats;
      the last ``optional`` ones may be left out.
    * ``returns``: the result type, or None when ``type_rule`` computes it.
    * ``type_rule(call) -> RuleType``: extra checks on a :class:`CallCheck`.
    * ``python(*values)``: the implementation. With ``strict`` it is not
      called when an argument is null (the result is null). With ``lazy`` it
      receives ``(frame, args)`` where each arg is a compiled closure to call
      with ``frame``; with ``uses_record`` it receives ``(frame, *values)``.
      ``python_builder(typed, compiled_args) -> closure`` replaces all that.
    * ``guarded``: whether the compiled closure needs a guard (an arithmetic
      error → null, a limit → RuleError). False only for implementations
      that do nothing but call their argument closures (each guarded
      itself), compare values or read the record, such as IF, AND, TODAY.
    * ``sql(call: SqlCall) -> ColumnElement``, or None when the function has
      no SQL form (it cannot be used in filters and scopes).
    * ``prior``: needs a record with prior values (validation and
      automation rules only).
    """

    name: str
    category: str
    params: tuple[Param, ...]
    returns: RuleType | None
    python: Callable[..., Any] | None
    sql: Callable[[SqlCall], ColumnElement] | None
    doc: str
    example: str
    variadic: bool = False
    optional: int = 0
    strict: bool = True
    lazy: bool = False
    uses_record: bool = False
    prior: bool = False
    type_rule: Callable[[CallCheck], RuleType] | None = None
    python_builder: Callable[..., Callable] | None = None
    guarded: bool = True
    operator: str | None = None  # the symbol, for operators
    returns_doc: str = "depends on the arguments"  # when ``returns`` is None

    @property
    def min_args(self) -> int:
        return len(self.params) - self.optional

    @property
    def max_args(self) -> int | None:
        return None if self.variadic else len(self.params)

    @property
    def signature(self) -> str:
        parts = []
        for i, param in enumerate(self.params):
            text = f"{param.name}: {'|'.join(param.types) if param.types != ANY else 'ANY'}"
            if i >= len(self.params) - self.optional:
                text = f"[{text}]"
            parts.append(text)
        if self.variadic:
            parts.append("…")
        result = str(self.returns) if self.returns is not None else self.returns_doc
        return f"{self.name}({', '.join(parts)}) → {result}"


@dataclass
class CallCheck:
    """What a type rule sees: the typed arguments, the call's syntax node,
    and helpers to fail at a position or validate a picklist value."""

    function: Function
    args: list[TypedExpression]
    node: Any
    validate_choice: Callable[[RuleType, TypedExpression], None]
    comparable: Callable[[Any, TypedExpression, TypedExpression, str], None]

    def require_comparable(self, left: int, right: int) -> None:
        """Arguments ``left`` and ``right`` must be comparable with ``=``
        (picklist literals checked too)."""
        self.comparable(self.args[right].node, self.args[left], self.args[right], "=")

    def fail(self, reason: str, at: int | None = None) -> RuleError:
        where = self.args[at].node if at is not None and at < len(self.args) else self.node
        return RuleError(reason, line=where.line, column=where.column)

    def unify(self, indexes: Iterable[int]) -> RuleType:
        result: RuleType | None = None
        for i in indexes:
            current = self.args[i].type
            if result is None:
                result = current
                continue
            merged = unify(result, current)
            if merged is None:
                raise self.fail(f"{self.function.name} needs values of one type here, not {result} and {current}", i)
            result = merged
        return result if result is not None else RuleType("NULL")


@dataclass
class SqlCall:
    """What a SQL implementation sees: compiled arguments, the typed call
    and the compiler's context (``context.user``, ``now``…)."""

    args: list[ColumnElement]
    typed: TypedExpression
    context: Any

    def arg_type(self, i: int) -> str:
        return self.typed.args[i].type.name


# -- helpers the categories share ---------------------------------------------------------------


def sql_text(value: str) -> ColumnElement:
    return sa.literal(value, sa.String())


def sql_int(value: int) -> ColumnElement:
    return sa.literal(value, sa.Integer())


def is_blank_sql(x: ColumnElement, type_name: str) -> ColumnElement:
    if type_name in ("TEXT", "PICKLIST", "MULTI"):
        return sa.or_(x.is_(None), x == sql_text(""))
    return x.is_(None)


is_blank = runtime.is_blank  # the one definition of blank, shared with automations


def bool_sql(condition: ColumnElement) -> ColumnElement:
    """A condition as a never-null boolean value (NULL → false)."""
    return sa.case((condition, sa.true()), else_=sa.false())


def param(name: str, *types: str, literal: bool = False) -> Param:
    """A parameter accepting ``types`` (every type when none is named)."""
    return Param(name, types or ANY, literal)
