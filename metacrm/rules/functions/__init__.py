"""The function library: one :class:`Function` entry per function, holding
its signature and type rule, its Python implementation, its SQL
implementation (or None), and its documentation with an example.

One module per category holds each function's entry together with its
type rule and its Python and SQL builders: :mod:`.logical`, :mod:`.records`
(ISNEW, ISCHANGED, PRIORVALUE), :mod:`.text`, :mod:`.math`, :mod:`.dates`.
:mod:`.base` says what a function is made of; :mod:`.sql` holds the
portable SQL constructs (one compilation per dialect) the SQL forms build.

Operators are entries too (:data:`OPERATORS` in :mod:`.operators`, not
callable by name), so both compilers take every meaning from this one
library. Plugins add functions through the ``register_rule_functions``
hook; :func:`registry_from_plugins` (in :mod:`.registry`) builds the
registry a tenant uses.

Null rules (docs/rules.md): a function whose ``strict`` is true returns
null as soon as one argument is null (its Python code never sees None).
The non-strict ones — IF, CASE, AND, OR, ISBLANK, BLANKVALUE, ISPICKVAL,
INCLUDES, ISNEW, ISCHANGED, PRIORVALUE, and ``&`` — say what they do with
null in their doc.

Depends on SQLAlchemy, google-re2 and the rest of :mod:`metacrm.rules`.
"""

from __future__ import annotations

from metacrm.rules.functions.base import MAX_TEXT, CallCheck, Function, Param, SqlCall
from metacrm.rules.functions.operators import OPERATORS
from metacrm.rules.functions.registry import (
    FunctionRegistry,
    builtin_functions,
    default_registry,
    functions_for,
    registry_from_plugins,
)
from metacrm.rules.functions.text import compile_regex

__all__ = [
    "Function",
    "Param",
    "CallCheck",
    "SqlCall",
    "FunctionRegistry",
    "builtin_functions",
    "compile_regex",
    "default_registry",
    "functions_for",
    "registry_from_plugins",
    "OPERATORS",
    "MAX_TEXT",
]
