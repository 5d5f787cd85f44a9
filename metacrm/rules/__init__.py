"""The rule language (expressions, formulas, validation and automation rules).

Public API::

    parse(text) -> Node                                   # metacrm.rules.parser
    check(node, context: CheckContext, *, expect=None) -> TypedExpression
    compile_python(typed) -> Callable[[RecordContext], Any]
    compile_sql(typed, table_context: SqlContext) -> ColumnElement
    RuleError                                             # a 422 ValidationFailed
    FunctionRegistry, Function, Param, builtin_functions  # the function library

with the contexts :class:`CheckContext`, :class:`RecordContext`,
:class:`SqlContext` and :class:`UserGlobals`, the types (``BOOLEAN``, …) and
:func:`holds` (a condition's decision: null counts as false). The language
is described in docs/rules.md.

Depends on :mod:`metacrm.metadata` and :mod:`metacrm.platform`; contributes to
the metadata engine only through the same hooks a plugin uses.
"""

from metacrm.rules.checker import CheckContext, check
from metacrm.rules.compile_python import compile_python, holds
from metacrm.rules.compile_sql import compile_sql
from metacrm.rules.context import RecordContext, SqlContext, UserGlobals
from metacrm.rules.errors import RuleError
from metacrm.rules.functions import (
    Function,
    FunctionRegistry,
    Param,
    builtin_functions,
    default_registry,
    registry_from_plugins,
)
from metacrm.rules.parser import parse
from metacrm.rules.types import BOOLEAN, DATE, DATETIME, ID, NULL, NUMBER, TEXT, RuleType, TypedExpression

__all__ = [
    "BOOLEAN",
    "DATE",
    "DATETIME",
    "ID",
    "NULL",
    "NUMBER",
    "TEXT",
    "CheckContext",
    "Function",
    "FunctionRegistry",
    "Param",
    "RecordContext",
    "RuleError",
    "RuleType",
    "SqlContext",
    "TypedExpression",
    "UserGlobals",
    "builtin_functions",
    "check",
    "compile_python",
    "compile_sql",
    "default_registry",
    "holds",
    "parse",
    "registry_from_plugins",
]
