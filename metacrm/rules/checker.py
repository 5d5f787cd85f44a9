"""Type-checking a syntax tree against an object's metadata.

:func:`check` resolves every field (case-insensitively, through up to
:data:`MAX_HOPS` lookups), global and function, gives every sub-expression
a type, picks the operator meaning for the operand types (``date + 1`` adds
days, ``date - date`` counts days), and rejects — with line, column and,
for names, a "did you mean" — everything that could only fail later:
unknown fields and functions, traversing a non-lookup, wrong argument
counts and types, picklist values not in the list, comparing text with a
number, comparing with NULL, a non-boolean where a condition is needed, a
function without SQL form where SQL is needed, ISCHANGED and friends where
there is no prior record; and, for SQL, rules too complex for the database.

The result, a :class:`~metacrm.rules.types.TypedExpression`, is what both
compilers take. Depends on :mod:`metacrm.metadata.physical` (read only).
"""

from __future__ import annotations

import difflib
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.rules import ast
from metacrm.rules.compile_sql import compile_sql, sqlite_can_parse
from metacrm.rules.context import SqlContext
from metacrm.rules.errors import RuleError
from metacrm.rules.functions import (
    OPERATORS,
    CallCheck,
    Function,
    FunctionRegistry,
    default_registry,
    functions_for,
)
from metacrm.rules.parser import MAX_DEPTH
from metacrm.rules.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    FIELD_TYPE_NAMES,
    ID,
    MULTI,
    NULL,
    NUMBER,
    PICKLIST,
    SYSTEM_FIELD_TYPES,
    TEXT,
    RelatedPath,
    RuleType,
    TypedExpression,
)

MAX_HOPS = 5
MAX_LITERAL = 10**28
GLOBALS: dict[str, RuleType] = {
    "user.id": ID,
    "user.role": TEXT,
    "user.team": TEXT,
    "user.teams": MULTI("$User.Teams"),  # every team of the user: INCLUDES($User.Teams, "north")
    "user.email": TEXT,
    "now": DATETIME,
    "today": DATE,
}
_EQUALITY_ONLY = ("BOOLEAN", "ID", "PICKLIST")


@dataclass(frozen=True)
class CheckContext:
    """Where a rule runs.

    * ``model``, ``object``: the compiled model and the root object's api name.
    * ``sql``: the rule must compile to SQL (filters, list views, record
      scopes, formula columns): functions without a SQL form, and rules
      too big or too deep for the database, are refused.
    * ``allow_prior``: a record with prior values exists (validation and
      automation rules): ISNEW, ISCHANGED and PRIORVALUE are allowed.
    * ``functions``: the registry (default: the built-ins and the functions
      of the plugins of the instance that compiled ``model``).
    * ``purpose``: how messages name the use, e.g. "a filter".
    """

    model: CompiledModel
    object: str
    sql: bool = False
    allow_prior: bool = False
    functions: FunctionRegistry | None = None
    purpose: str | None = None


def check(node: ast.Node, context: CheckContext, *, expect: RuleType | None = None) -> TypedExpression:
    """Type-check ``node`` (from :func:`~metacrm.rules.parser.parse`) for
    ``context``; with ``expect=BOOLEAN`` the rule must be a condition.
    Raises :class:`RuleError` (with a caret snippet when the tree came from
    ``parse``)."""
    source = getattr(node, "source", None)
    try:
        typed = _Checker(context).check(node, expect)
        if context.sql:  # refuse now what a database could not run
            expression = compile_sql(typed, SqlContext(context.model, context.object))
            if not sqlite_can_parse(expression):
                raise RuleError(
                    "the rule is too complex to run in the database (nested too deeply); simplify it or split it",
                    line=typed.line,
                    column=typed.column,
                )
    except RuleError as exc:
        raise exc.with_source(source) if source else exc from None
    return typed


def suggestion(name: str, candidates: list[str]) -> str | None:
    """The candidate ``name`` was most likely meant to be (ignoring case and
    underscores first, then by similarity)."""
    folded = name.lower()
    squashed = {c.lower().replace("_", ""): c for c in candidates}
    if folded.replace("_", "") in squashed:
        return squashed[folded.replace("_", "")]
    matches = difflib.get_close_matches(folded, [c.lower() for c in candidates], n=1, cutoff=0.6)
    if not matches:
        return None
    return next(c for c in candidates if c.lower() == matches[0])


def _did_you_mean(name: str, candidates: list[str]) -> str:
    best = suggestion(name, candidates)
    return f"; did you mean {best!r}?" if best else ""


def _error(node: Any, reason: str, **extra: Any) -> RuleError:
    return RuleError(reason, line=getattr(node, "line", 1), column=getattr(node, "column", 1), **extra)


class _Checker:
    def __init__(self, context: CheckContext):
        self.context = context
        self.model = context.model
        self.functions = context.functions or functions_for(context.model)
        self.purpose = context.purpose or "a filter"
        root = self.model.object(context.object) if self.model is not None else None
        if root is None:
            raise RuleError(f"unknown object {context.object!r}")
        self.root = root

    # -- entry -----------------------------------------------------------------

    def check(self, node: ast.Node, expect: RuleType | None) -> TypedExpression:
        typed = self.visit(node, 1)
        if expect is not None and typed.type.name not in (expect.name, "NULL"):
            what = "a condition (BOOLEAN)" if expect.name == "BOOLEAN" else f"a {expect.name}"
            raise _error(node, f"expected {what} but the expression is {typed.type.name}")
        return TypedExpression(
            typed.kind,
            typed.type,
            typed.node,
            typed.args,
            typed.value,
            typed.function,
            typed.field_type,
            object=self.root.api_name,
        )

    def visit(self, node: Any, depth: int) -> TypedExpression:
        if depth > MAX_DEPTH:
            raise _error(node, f"the expression is nested too deeply (more than {MAX_DEPTH} levels)", limit=MAX_DEPTH)
        if isinstance(node, ast.Literal):
            return self.literal(node)
        if isinstance(node, ast.FieldRef):
            return self.field(node)
        if isinstance(node, ast.GlobalRef):
            return self.global_(node)
        if isinstance(node, ast.Unary):
            return self.unary(node, depth)
        if isinstance(node, ast.Binary):
            return self.binary(node, depth)
        if isinstance(node, ast.Membership):
            return self.membership(node, depth)
        if isinstance(node, ast.Call):
            return self.call(node, depth)
        raise _error(node, f"not an expression: {type(node).__name__}")

    # -- leaves ------------------------------------------------------------------

    def literal(self, node: ast.Literal) -> TypedExpression:
        value = node.value
        if value is None:
            return TypedExpression("literal", NULL, node)
        if isinstance(value, bool):
            return TypedExpression("literal", BOOLEAN, node, value=value)
        if isinstance(value, int) or (isinstance(value, Decimal) and value.is_finite()):
            if abs(value) >= MAX_LITERAL:
                raise _error(node, "a number in a rule must be below 10^28")
            return TypedExpression("literal", NUMBER, node, value=value)
        if isinstance(value, str):
            if "\x00" in value:
                raise _error(node, "text must not contain NUL characters")
            return TypedExpression("literal", TEXT, node, value=value)
        raise _error(node, f"not a literal value: {value!r}")

    def _field_type(self, obj: CompiledObject, name: str, node: Any, position: tuple[int, int]):
        """(api name, field type or None for system columns, rule type)."""
        if not isinstance(name, str) or not name:
            raise _error(node, "a field name is missing")
        api_name = name.lower()
        field_type = obj.fields.get(api_name)
        if field_type is None:
            if api_name in SYSTEM_FIELD_TYPES:
                return api_name, None, SYSTEM_FIELD_TYPES[api_name]
            candidates = sorted([*obj.fields, *SYSTEM_FIELD_TYPES])
            raise RuleError(
                f"unknown field {name!r} on {obj.api_name}{_did_you_mean(name, candidates)}",
                line=position[0],
                column=position[1],
                suggestion=suggestion(name, candidates),
            )
        return api_name, field_type, self._rule_type(obj, field_type, node, position)

    def _rule_type(self, obj: CompiledObject, field_type, node, position) -> RuleType:
        declared = getattr(field_type, "rule_type", None)
        type_name = declared or FIELD_TYPE_NAMES.get(field_type.name)
        label = field_type.api_name
        if type_name is None:
            raise RuleError(
                f"{obj.api_name}.{label} is a {field_type.name} field, which rules cannot read",
                line=position[0],
                column=position[1],
            )
        if type_name == "PICKLIST":
            return PICKLIST(label, _allowed_values(field_type))
        if type_name == "MULTI":
            tags = field_type.name == "tags"
            return MULTI(label, None if tags else _allowed_values(field_type), case_insensitive=tags)
        return RuleType(type_name)

    def field(self, node: ast.FieldRef) -> TypedExpression:
        path = tuple(node.path)
        if not path:
            raise _error(node, "a field name is missing")
        positions = tuple(node.positions) or tuple((node.line, node.column) for _ in path)
        if len(positions) != len(path):
            positions = tuple((node.line, node.column) for _ in path)
        if len(path) - 1 > MAX_HOPS:
            line, column = positions[MAX_HOPS]
            raise RuleError(
                f"a field path may follow at most {MAX_HOPS} lookups", line=line, column=column, limit=MAX_HOPS
            )
        obj = self.root
        hops: list[tuple[str, str, str]] = []
        for index, name in enumerate(path):
            api_name, field_type, rule_type = self._field_type(obj, name, node, positions[index])
            if index == len(path) - 1:
                if hops:
                    value = RelatedPath(tuple(hops), api_name)
                    return TypedExpression("related", rule_type, node, value=value, field_type=field_type)
                return TypedExpression("field", rule_type, node, value=api_name, field_type=field_type)
            if field_type is None or not field_type.is_lookup:
                line, column = positions[index]
                kind = field_type.name if field_type is not None else "system"
                raise RuleError(
                    f"{name} is a {kind} field, not a lookup: only lookup and master-detail fields "
                    f"can be followed with '.'",
                    line=line,
                    column=column,
                )
            target = self.model.object(field_type.reference_target or "")
            if target is None:
                line, column = positions[index]
                raise RuleError(f"{name} points to an unknown object", line=line, column=column)
            hops.append((obj.api_name, api_name, target.api_name))
            obj = target
        raise AssertionError("unreachable")  # pragma: no cover

    def global_(self, node: ast.GlobalRef) -> TypedExpression:
        name = (node.name or "").lower()
        key = f"{name}.{node.attribute.lower()}" if node.attribute else name
        if key in GLOBALS:
            return TypedExpression("global", GLOBALS[key], node, value=key)
        written = f"${node.name}" + (f".{node.attribute}" if node.attribute else "")
        if name == "user":
            attributes = ["Id", "Role", "Team", "Teams", "Email"]
            hint = _did_you_mean(node.attribute or "", attributes) if node.attribute else ""
            raise _error(
                node, f"unknown variable {written}{hint or '; use $User.Id, $User.Role, $User.Team or $User.Email'}"
            )
        known = ["$User", "$Now", "$Today"]
        raise _error(node, f"unknown variable {written}{_did_you_mean('$' + (node.name or ''), known)}")

    # -- operators ------------------------------------------------------------------

    def _call(self, function: Function, node, args: list[TypedExpression], result: RuleType) -> TypedExpression:
        return TypedExpression("call", result, node, args=tuple(args), function=function)

    def unary(self, node: ast.Unary, depth: int) -> TypedExpression:
        operand = self.visit(node.operand, depth + 1)
        if node.op != "-":
            raise _error(node, f"unknown operator {node.op!r}")
        if operand.type.name not in ("NUMBER", "NULL"):
            raise _error(node.operand, f"'-' needs a NUMBER, not {operand.type}")
        return self._call(OPERATORS["NEGATE"], node, [operand], NUMBER)

    def binary(self, node: ast.Binary, depth: int) -> TypedExpression:
        left = self.visit(node.left, depth + 1)
        right = self.visit(node.right, depth + 1)
        op = node.op
        a, b = left.type.name, right.type.name
        if op in ("=", "!=", "<", "<=", ">", ">="):
            return self.comparison(node, op, left, right)
        if op == "&":
            for side in (left, right):
                if side.type.name not in ("TEXT", "PICKLIST", "NULL"):
                    raise _error(side.node, f"'&' joins text, not {side.type}; convert with TEXT()")
            return self._call(OPERATORS["&"], node, [left, right], TEXT)
        if op in ("+", "-", "*", "/"):
            if a in ("NUMBER", "NULL") and b in ("NUMBER", "NULL"):
                return self._call(OPERATORS[op], node, [left, right], NUMBER)
            if op == "+" and a == "DATE" and b in ("NUMBER", "NULL"):
                return self._call(OPERATORS["DATE+DAYS"], node, [left, right], DATE)
            if op == "+" and b == "DATE" and a in ("NUMBER", "NULL"):
                return self._call(OPERATORS["DATE+DAYS"], node, [right, left], DATE)
            if op == "-" and a == "DATE" and b in ("NUMBER", "NULL"):
                return self._call(OPERATORS["DATE-DAYS"], node, [left, right], DATE)
            if op == "-" and a == "DATE" and b == "DATE":
                return self._call(OPERATORS["DATE-DATE"], node, [left, right], NUMBER)
            if op == "-" and a == "DATETIME" and b == "DATETIME":
                return self._call(OPERATORS["DATETIME-DATETIME"], node, [left, right], NUMBER)
            if op == "+" and left.type.is_textual and right.type.is_textual:
                raise _error(node, "use & to join text")
            if "DATETIME" in (a, b) and op in ("+", "-"):
                raise _error(node, f"cannot compute {a} {op} {b}; DATETIME supports only datetime - datetime (days)")
            bad = left if a not in ("NUMBER", "NULL") else right
            raise _error(bad.node, f"'{op}' needs NUMBERs (or a DATE and a number of days), not {bad.type}")
        raise _error(node, f"unknown operator {op!r}")

    def comparison(self, node, op: str, left: TypedExpression, right: TypedExpression) -> TypedExpression:
        self._require_comparable(node, left, right, op)
        ordered_text = left.type.name == "TEXT" and right.type.name == "TEXT"
        function = OPERATORS[op + (" TEXT" if ordered_text else "")]
        return self._call(function, node, [left, right], BOOLEAN)

    def _require_comparable(self, node, left: TypedExpression, right: TypedExpression, op: str) -> None:
        a, b = left.type, right.type
        for side in (left, right):
            if side.type.name == "NULL":
                raise _error(
                    side.node, "a comparison with NULL is never true; test for a missing value with ISBLANK(…)"
                )
            if side.type.name == "MULTI":
                raise _error(side.node, 'multi-value fields cannot be compared; use INCLUDES(field, "value")')
        compatible = a.name == b.name or (a.is_textual and b.is_textual) or {a.name, b.name} == {"ID", "NUMBER"}
        if not compatible:
            hint = (
                "; use DATEVALUE() to compare a datetime with a date"
                if {a.name, b.name} == {"DATE", "DATETIME"}
                else ""
            )
            raise _error(node, f"cannot compare {a.name} with {b.name}{hint}")
        if op not in ("=", "!="):
            for side in (a, b):
                if side.name in _EQUALITY_ONLY:
                    raise _error(node, f"{side.name} values can only be compared with = and !=")
        self.validate_choice(a, right)
        self.validate_choice(b, left)

    def validate_choice(self, choice_type: RuleType, other: TypedExpression) -> None:
        """A text literal compared with (or looked for in) a picklist must be
        one of its values."""
        if choice_type.name not in ("PICKLIST", "MULTI") or choice_type.values is None:
            return
        if other.kind != "literal" or not isinstance(other.value, str):
            return
        if other.value in choice_type.values:
            return
        values = list(choice_type.values)
        best = suggestion(other.value, values)
        hint = f"; did you mean {best!r}?" if best else f"; the values are: {', '.join(values[:20])}"
        raise _error(other.node, f"{other.value!r} is not a value of {choice_type.field}{hint}", suggestion=best)

    def membership(self, node: ast.Membership, depth: int) -> TypedExpression:
        operand = self.visit(node.operand, depth + 1)
        if not node.options:
            raise _error(node, "IN needs at least one value")
        options = [self.visit(option, depth + 1) for option in node.options]
        for option in options:
            self._require_comparable(option.node, operand, option, "=")
        typed = self._call(OPERATORS["IN"], node, [operand, *options], BOOLEAN)
        if node.negated:
            return self._call(self.functions.get("NOT") or default_registry().get("NOT"), node, [typed], BOOLEAN)
        return typed

    # -- calls ---------------------------------------------------------------------------

    def call(self, node: ast.Call, depth: int) -> TypedExpression:
        name = (node.name or "").upper()
        function = self.functions.get(name) if name else None
        if function is None:
            raise _error(node, f"unknown function {node.name}{_did_you_mean(name, self.functions.names())}")
        args = [self.visit(arg, depth + 1) for arg in node.args]
        self._check_arity(function, node, len(args))
        for index, arg in enumerate(args):
            param = function.params[min(index, len(function.params) - 1)]
            if arg.type.name != "NULL" and arg.type.name not in param.types:
                accepted = " or ".join(param.types) if len(param.types) < 8 else "a value"
                raise _error(
                    arg.node,
                    f"argument {index + 1} of {function.name} ({param.name}) must be {accepted}, not {arg.type.name}",
                )
            if param.literal and arg.kind != "literal":
                raise _error(
                    arg.node, f"argument {index + 1} of {function.name} ({param.name}) must be a literal value"
                )
        if self.context.sql and function.sql is None:
            raise _error(node, f"{function.name} cannot be used in {self.purpose}: it has no SQL form")
        if function.prior and not self.context.allow_prior:
            raise _error(node, f"{function.name} can only be used in validation and automation rules")
        if function.type_rule is not None:
            result = function.type_rule(CallCheck(function, args, node, self.validate_choice, self._require_comparable))
        else:
            result = function.returns
        if result is None:  # pragma: no cover - a plugin function without a type
            raise _error(node, f"{function.name} declares no result type")
        return self._call(function, node, args, result)

    @staticmethod
    def _check_arity(function: Function, node, count: int) -> None:
        low, high = function.min_args, function.max_args
        if low <= count and (high is None or count <= high):
            return
        if high is None:
            expected = f"at least {low}"
        elif low == high:
            expected = str(low)
        else:
            expected = f"{low} to {high}"
        noun = "argument" if expected == "1" else "arguments"
        raise _error(node, f"{function.name} takes {expected} {noun}, not {count}: {function.signature}")


def _allowed_values(field_type) -> tuple[str, ...] | None:
    restricted = field_type.options.get("restricted", True) is not False
    if not restricted:
        return None
    entries = field_type.options.get("values") or []
    return tuple(e["value"] for e in entries if isinstance(e, dict) and isinstance(e.get("value"), str))
