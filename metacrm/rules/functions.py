"""The function library: one :class:`Function` entry per function, holding
its signature and type rule, its Python implementation, its SQL
implementation (or None), and its documentation with an example.

Operators are entries too (:data:`OPERATORS`, not callable by name), so
both compilers take every meaning from this one table. Plugins add
functions through the ``register_rule_functions`` hook;
:func:`registry_from_plugins` builds the registry a tenant uses.

Null rules (docs/rules.md): a function whose ``strict`` is true returns
null as soon as one argument is null (its Python code never sees None).
The non-strict ones — IF, CASE, AND, OR, ISBLANK, BLANKVALUE, ISPICKVAL,
INCLUDES, ISNEW, ISCHANGED, PRIORVALUE, and ``&`` — say what they do with
null in their doc.

Depends on SQLAlchemy, google-re2 and the rest of :mod:`metacrm.rules`.
"""

from __future__ import annotations

import functools
import operator
import weakref
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from typing import Any

import re2
import sqlalchemy as sa
from sqlalchemy.sql.elements import ColumnElement

from metacrm.rules import runtime
from metacrm.rules import sqlfunctions as sf
from metacrm.rules.errors import RuleError
from metacrm.rules.types import (
    BOOLEAN,
    DATE,
    DATETIME,
    NUMBER,
    TEXT,
    RuleType,
    TypedExpression,
    unify,
)

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


# -- small SQL helpers ---------------------------------------------------------------


def _text(value: str) -> ColumnElement:
    return sa.literal(value, sa.String())


def _int(value: int) -> ColumnElement:
    return sa.literal(value, sa.Integer())


def _is_blank_sql(x: ColumnElement, type_name: str) -> ColumnElement:
    if type_name in ("TEXT", "PICKLIST", "MULTI"):
        return sa.or_(x.is_(None), x == _text(""))
    return x.is_(None)


_is_blank = runtime.is_blank


def _bool_sql(condition: ColumnElement) -> ColumnElement:
    """A condition as a never-null boolean value (NULL → false)."""
    return sa.case((condition, sa.true()), else_=sa.false())


# -- logical -----------------------------------------------------------------------------


def _if_builder(typed: TypedExpression, args: list[Callable]):
    condition, then, otherwise = args

    def run(frame):
        return then(frame) if condition(frame) is True else otherwise(frame)

    return run


def _case_builder(typed: TypedExpression, args: list[Callable]):
    subject, *rest = args
    pairs = tuple((rest[i], rest[i + 1]) for i in range(0, len(rest) - 1, 2))
    default = rest[-1]

    def run(frame):
        value = subject(frame)
        if value is not None:
            for candidate, result in pairs:
                found = candidate(frame)
                if found is not None and value == found:
                    return result(frame)
        return default(frame)

    return run


def _case_type(call: CallCheck) -> RuleType:
    count = len(call.args)
    if count < 4 or count % 2:
        raise call.fail(
            "CASE needs an expression, then value/result pairs, then a default: CASE(x, v1, r1, …, default)"
        )
    for i in range(1, count - 1, 2):
        call.require_comparable(0, i)
    return call.unify([*range(2, count - 1, 2), count - 1])


def _case_sql(call: SqlCall):
    args = call.args
    whens = [(args[i], args[i + 1]) for i in range(1, len(args) - 1, 2)]
    return sa.case(*[(args[0] == v, r) for v, r in whens], else_=args[-1])


def _connective(decisive: bool):
    """The builder of AND (``decisive`` False) or OR (True): the decisive
    value as soon as a condition has it (the rest are not evaluated), else
    null when any is null, else the other value."""
    other = not decisive

    def build(typed: TypedExpression, args: list[Callable]):
        if len(args) == 2:  # the common case, without a loop
            first, second = args

            def pair(frame):
                a = first(frame)
                if a is decisive:
                    return decisive
                b = second(frame)
                if b is decisive:
                    return decisive
                return None if a is None or b is None else other

            return pair

        def many(frame):
            unknown = False
            for arg in args:
                value = arg(frame)
                if value is decisive:
                    return decisive
                if value is None:
                    unknown = True
            return None if unknown else other

        return many

    return build


_and_builder = _connective(False)
_or_builder = _connective(True)


def _blankvalue_builder(typed: TypedExpression, args: list[Callable]):
    value_of, default = args

    def run(frame):
        value = value_of(frame)
        return default(frame) if _is_blank(value) else value

    return run


def _blankvalue_sql(call: SqlCall):
    x, default = call.args
    return sa.case((_is_blank_sql(x, call.arg_type(0)), default), else_=x)


def _ispickval_type(call: CallCheck) -> RuleType:
    call.validate_choice(call.args[0].type, call.args[1])
    return BOOLEAN


def _includes_type(call: CallCheck) -> RuleType:
    if call.args[1].value is None:
        raise call.fail("INCLUDES needs a text value in quotes", 1)
    call.validate_choice(call.args[0].type, call.args[1])
    return BOOLEAN


def _includes_python(values, wanted):
    if not values or wanted is None:
        return False
    if isinstance(values, str):
        values = [v for v in values.split(";") if v]
    return wanted in values


def _includes_ci_python(values, wanted):
    if not values or wanted is None:
        return False
    if isinstance(values, str):
        values = [v for v in values.split(";") if v]
    wanted = runtime.lower(wanted)
    return any(runtime.lower(v) == wanted for v in values)


def _includes_sql(call: SqlCall):
    column, _ = call.args
    wanted = call.typed.args[1].value
    if call.typed.args[0].type.case_insensitive:
        found = sf.Position(sf.AsciiLower(column), _text(";" + runtime.lower(wanted) + ";"))
    else:
        found = sf.Position(column, _text(";" + wanted + ";"))
    return sa.and_(column.is_not(None), found > _int(0))


def _field_argument(call: CallCheck) -> None:
    arg = call.args[0]
    if arg.kind != "field":
        raise call.fail(f"{call.function.name} needs a field of this record, e.g. {call.function.name}(Stage)", 0)


def _ischanged_type(call: CallCheck) -> RuleType:
    _field_argument(call)
    return BOOLEAN


def _priorvalue_type(call: CallCheck) -> RuleType:
    _field_argument(call)
    return call.args[0].type


def _ischanged_builder(typed: TypedExpression, args: list[Callable]):
    name, kind = typed.args[0].value, typed.args[0].type.name
    current = args[0]

    def run(frame):
        record = frame.record
        if record.is_new:
            return False
        return runtime.changed(kind, record.prior_value(name), current(frame))

    return run


def _priorvalue_builder(typed: TypedExpression, args: list[Callable]):
    name, kind = typed.args[0].value, typed.args[0].type.name

    def run(frame):
        record = frame.record
        return None if record.is_new else runtime.normalise(kind, record.prior_value(name))

    return run


# -- text --------------------------------------------------------------------------------


def _left_sql(call: SqlCall):
    t, n = call.args
    return sa.func.substr(t, _int(1), sf.Greatest(sf.ToInt(n), _int(0)), type_=sa.String())


def _right_sql(call: SqlCall):
    # A count of 0 or less starts past the end (''); NULL stays NULL.
    t, n = call.args
    count = sf.Greatest(sf.ToInt(n), _int(0))
    start = sf.Greatest(sa.func.length(t) - count + _int(1), _int(1))
    return sa.func.substr(t, start, type_=sa.String())


def _mid_sql(call: SqlCall):
    t, start, n = call.args
    return sa.func.substr(
        t, sf.Greatest(sf.ToInt(start), _int(1)), sf.Greatest(sf.ToInt(n), _int(0)), type_=sa.String()
    )


def _substitute_sql(call: SqlCall):
    # SQLite's replace(t, '', NULL) is t: the empty substr of ``new`` keeps a NULL new NULL.
    t, old, new = call.args
    return sa.func.replace(t, old, new, type_=sa.String()).concat(
        sa.func.substr(new, _int(1), _int(0), type_=sa.String())
    )


def _text_match_sql(construct: type[sf.TextMatch], before: str, after: str):
    """The SQL form of BEGINS / ENDS / CONTAINS: ``construct`` with the part as
    an escaped LIKE pattern between the wildcards ``before`` and ``after``
    (escaped here for a literal part, in SQL for any other)."""

    def build(call: SqlCall):
        t, part = call.args
        typed_part = call.typed.args[1]
        if typed_part.kind == "literal" and isinstance(typed_part.value, str):
            pattern = _text(before + sf.like_escaped(typed_part.value) + after)
        else:
            pattern = _text(before).concat(sf.like_escaped_sql(part)).concat(_text(after))
        return construct(t, part, pattern)

    return build


def _find_sql(call: SqlCall):
    search, t = call.args[0], call.args[1]
    if len(call.args) == 2:
        return sf.Position(t, search)
    start = sf.Greatest(sf.ToInt(call.args[2]), _int(1))
    found = sf.Position(sa.func.substr(t, start, type_=sa.String()), search)
    return sa.case((found == _int(0), _int(0)), else_=found + start - _int(1))


def _text_python_for(type_name: str) -> Callable[[Any], str]:
    return {
        "TEXT": lambda v: v,
        "PICKLIST": lambda v: v,
        "NUMBER": runtime.number_text,
        "BOOLEAN": lambda v: "true" if v else "false",
        "DATE": runtime.date_text,
        "DATETIME": runtime.datetime_text,
        "ID": lambda v: str(int(v)),
    }[type_name]


def _text_type(call: CallCheck) -> RuleType:
    if call.args[0].type.name == "MULTI":
        raise call.fail("TEXT cannot convert a multi-value field; test its values with INCLUDES()", 0)
    return TEXT


def _text_builder(typed: TypedExpression, args: list[Callable]):
    convert = _text_python_for(typed.args[0].type.name if typed.args[0].type.name != "NULL" else "TEXT")
    (arg,) = args

    def run(frame):
        value = arg(frame)
        return None if value is None else convert(value)

    return run


def _text_sql(call: SqlCall):
    (x,) = call.args
    kind = call.arg_type(0)
    if kind in ("TEXT", "PICKLIST", "NULL"):
        return x
    if kind == "NUMBER":
        return sf.NumberText(x)
    if kind == "BOOLEAN":
        return sa.case((x, _text("true")), (sa.not_(x), _text("false")), else_=sa.null())
    if kind == "DATE":
        return sf.DateText(x)
    if kind == "DATETIME":
        return sf.DatetimeText(x)
    return sa.cast(x, sa.String())


_RE2_OPTIONS = re2.Options()
_RE2_OPTIONS.log_errors = False
_RE2_OPTIONS.max_mem = 8 << 20


@functools.lru_cache(maxsize=512)
def compile_regex(pattern: str):
    """A linear-time RE2 pattern; raises ``re2.error`` when invalid."""
    return re2.compile(pattern, options=_RE2_OPTIONS)


def _regex_type(call: CallCheck) -> RuleType:
    pattern = call.args[1]
    if pattern.kind == "literal" and isinstance(pattern.value, str):
        try:
            compile_regex(pattern.value)
        except re2.error as exc:
            reason = exc.args[0].decode() if exc.args and isinstance(exc.args[0], bytes) else str(exc)
            raise call.fail(f"invalid regular expression: {reason}", 1) from None
    return BOOLEAN


def _regex_python(text: str, pattern: str):
    try:
        compiled = compile_regex(pattern)
    except re2.error:
        return None
    return compiled.fullmatch(text) is not None


# -- math --------------------------------------------------------------------------------


def _round_type(call: CallCheck) -> RuleType:
    if len(call.args) == 2:
        digits = call.args[1]
        if digits.kind != "literal" or not isinstance(digits.value, int) or isinstance(digits.value, bool):
            raise call.fail("ROUND's digits must be a whole number written in the rule, e.g. ROUND(x, 2)", 1)
        if not -10 <= digits.value <= 10:
            raise call.fail("ROUND's digits must be between -10 and 10", 1)
    return NUMBER


def _round_python(value, digits=0):
    return runtime.round_to(value, digits)


def _round_sql(call: SqlCall):
    digits = call.typed.args[1].value if len(call.typed.args) == 2 else 0
    if digits >= 0:
        return sf.RoundTo(call.args[0], _int(digits))
    return sf.RoundToPower(call.args[0], sa.literal(10 ** (-digits), sa.Numeric()))


def _extreme_type(call: CallCheck) -> RuleType:
    result = call.unify(range(len(call.args)))
    if result.name not in (*ORDERED, "NULL"):
        raise call.fail(f"{call.function.name} compares numbers, dates or datetimes, not {result}")
    return result


def _min_sql(call: SqlCall):
    return functools.reduce(sf.Least, call.args)


def _max_sql(call: SqlCall):
    return functools.reduce(sf.Greatest, call.args)


# -- dates ---------------------------------------------------------------------------------


def _datevalue_builder(typed: TypedExpression, args: list[Callable]):
    convert = runtime.date_of if typed.args[0].type.name == "DATETIME" else runtime.text_date
    (arg,) = args

    def run(frame):
        value = arg(frame)
        return None if value is None else convert(value)

    return run


def _datevalue_sql(call: SqlCall):
    (x,) = call.args
    return sf.DateOf(x) if call.arg_type(0) == "DATETIME" else sf.TextDate(x)


def _now_sql(call: SqlCall):
    return call.context.now_parameter()


def _today_sql(call: SqlCall):
    return call.context.today_parameter()


# -- the library ----------------------------------------------------------------------------


def _p(name: str, *types: str, literal: bool = False) -> Param:
    return Param(name, types or ANY, literal)


def builtin_functions() -> list[Function]:
    """Every built-in function, in documentation order."""
    N, T, D = ("NUMBER",), TEXTUAL, ("DATE",)
    return [
        # logical
        Function(
            "IF",
            "logical",
            (_p("condition", "BOOLEAN"), _p("then"), _p("else")),
            None,
            None,
            lambda c: sa.case((c.args[0], c.args[1]), else_=c.args[2]),
            "``then`` when the condition is true, otherwise ``else`` (a null condition counts as false).",
            'IF(Amount > 10000, "big", "small")',
            strict=False,
            python_builder=_if_builder,
            guarded=False,
            type_rule=lambda call: call.unify([1, 2]),
            returns_doc="the type of then and else",
        ),
        Function(
            "CASE",
            "logical",
            (_p("expression"), _p("value"), _p("result"), _p("default")),
            None,
            None,
            _case_sql,
            "The result paired with the first value equal to the expression, else the default "
            "(a null expression gives the default).",
            'CASE(Stage, "won", 1, "lost", -1, 0)',
            variadic=True,
            strict=False,
            python_builder=_case_builder,
            guarded=False,
            type_rule=_case_type,
            returns_doc="the type of the results",
        ),
        Function(
            "AND",
            "logical",
            (_p("condition", "BOOLEAN"),),
            BOOLEAN,
            None,
            lambda c: sa.and_(*c.args),
            "True when every condition is true; false when any is false; otherwise null. "
            "Infix: ``a and b``, ``a && b``.",
            'AND(Amount > 100, ISPICKVAL(Stage, "won"))',
            variadic=True,
            strict=False,
            python_builder=_and_builder,
            guarded=False,
        ),
        Function(
            "OR",
            "logical",
            (_p("condition", "BOOLEAN"),),
            BOOLEAN,
            None,
            lambda c: sa.or_(*c.args),
            "True when any condition is true; false when all are false; otherwise null. Infix: ``a or b``, ``a || b``.",
            'OR(Stage = "won", Amount > 100)',
            variadic=True,
            strict=False,
            python_builder=_or_builder,
            guarded=False,
        ),
        Function(
            "NOT",
            "logical",
            (_p("condition", "BOOLEAN"),),
            BOOLEAN,
            lambda v: not v,
            lambda c: sa.not_(c.args[0]),
            "True for false and false for true (null stays null). Prefix: ``not a``, ``!a``.",
            "NOT(ISBLANK(Email))",
        ),
        Function(
            "ISBLANK",
            "logical",
            (_p("value"),),
            BOOLEAN,
            _is_blank,
            lambda c: _is_blank_sql(c.args[0], c.arg_type(0)),
            "True when the value is null, empty text or an empty multi-value field; never null.",
            "ISBLANK(Email)",
            strict=False,
        ),
        Function(
            "BLANKVALUE",
            "logical",
            (_p("value"), _p("default")),
            None,
            None,
            _blankvalue_sql,
            "The value, or the default when the value is blank (see ISBLANK).",
            "BLANKVALUE(Nickname, Name)",
            strict=False,
            python_builder=_blankvalue_builder,
            guarded=False,
            type_rule=lambda call: call.unify([0, 1]),
            returns_doc="the type of value and default",
        ),
        Function(
            "ISPICKVAL",
            "logical",
            (_p("picklist", "PICKLIST"), _p("value", "TEXT")),
            BOOLEAN,
            lambda v, w: v is not None and w is not None and v == w,
            lambda c: _bool_sql(sa.and_(c.args[0].is_not(None), c.args[0] == c.args[1])),
            "True when the picklist holds the value (which must be one of the field's values); never null.",
            'ISPICKVAL(Stage, "won")',
            strict=False,
            type_rule=_ispickval_type,
        ),
        Function(
            "INCLUDES",
            "logical",
            (_p("values", "MULTI"), _p("value", "TEXT", literal=True)),
            BOOLEAN,
            None,
            _includes_sql,
            "True when a multi-picklist or tags field holds the value (tags ignore case); never null.",
            'INCLUDES(Interests, "golf")',
            strict=False,
            type_rule=_includes_type,
            python_builder=lambda typed, args: _includes_builder(typed, args),
        ),
        Function(
            "ISNEW",
            "logical",
            (),
            BOOLEAN,
            lambda frame: frame.record.is_new,
            None,
            "True while the record is being created (validation and automation rules only).",
            "ISNEW()",
            strict=False,
            uses_record=True,
            guarded=False,
            prior=True,
        ),
        Function(
            "ISCHANGED",
            "logical",
            (_p("field"),),
            BOOLEAN,
            None,
            None,
            "True when the save changes the field (false for new records; validation and automation rules only).",
            "ISCHANGED(Stage)",
            strict=False,
            prior=True,
            type_rule=_ischanged_type,
            python_builder=_ischanged_builder,
        ),
        Function(
            "PRIORVALUE",
            "logical",
            (_p("field"),),
            None,
            None,
            None,
            "The field's value before the save (null for new records; validation and automation rules only).",
            "PRIORVALUE(Amount) < Amount",
            strict=False,
            prior=True,
            type_rule=_priorvalue_type,
            returns_doc="the field's type",
            python_builder=_priorvalue_builder,
        ),
        # text
        Function(
            "LEN",
            "text",
            (_p("text", *T),),
            NUMBER,
            len,
            lambda c: sa.func.length(c.args[0], type_=sa.Integer()),
            "The number of characters.",
            'LEN("héllo") = 5',
        ),
        Function(
            "LEFT",
            "text",
            (_p("text", *T), _p("count", *N)),
            TEXT,
            runtime.left,
            _left_sql,
            "The first ``count`` characters (none when count ≤ 0).",
            'LEFT("Acme Corp", 4) = "Acme"',
        ),
        Function(
            "RIGHT",
            "text",
            (_p("text", *T), _p("count", *N)),
            TEXT,
            runtime.right,
            _right_sql,
            "The last ``count`` characters (none when count ≤ 0).",
            'RIGHT("Acme Corp", 4) = "Corp"',
        ),
        Function(
            "MID",
            "text",
            (_p("text", *T), _p("start", *N), _p("count", *N)),
            TEXT,
            runtime.mid,
            _mid_sql,
            "``count`` characters from position ``start`` (1 = the first; below 1 counts as 1).",
            'MID("Acme Corp", 6, 2) = "Co"',
        ),
        Function(
            "UPPER",
            "text",
            (_p("text", *T),),
            TEXT,
            runtime.upper,
            lambda c: sf.AsciiUpper(c.args[0]),
            "The text with a-z in upper case (other letters stay as they are, on every database).",
            'UPPER("acme") = "ACME"',
        ),
        Function(
            "LOWER",
            "text",
            (_p("text", *T),),
            TEXT,
            runtime.lower,
            lambda c: sf.AsciiLower(c.args[0]),
            "The text with A-Z in lower case (other letters stay as they are, on every database).",
            'LOWER("ACME") = "acme"',
        ),
        Function(
            "TRIM",
            "text",
            (_p("text", *T),),
            TEXT,
            lambda t: t.strip(" "),
            lambda c: sa.func.trim(c.args[0], type_=sa.String()),
            "The text without leading and trailing spaces.",
            'TRIM("  Acme ") = "Acme"',
        ),
        Function(
            "CONTAINS",
            "text",
            (_p("text", *T), _p("part", *T)),
            BOOLEAN,
            lambda t, s: s in t,
            _text_match_sql(sf.Contains, "%", "%"),
            "True when ``part`` occurs in the text (case-sensitive; the empty text occurs everywhere).",
            'CONTAINS(Name, "Corp")',
        ),
        Function(
            "BEGINS",
            "text",
            (_p("text", *T), _p("prefix", *T)),
            BOOLEAN,
            lambda t, s: t.startswith(s),
            _text_match_sql(sf.Begins, "", "%"),
            "True when the text starts with ``prefix`` (case-sensitive).",
            'BEGINS(Phone, "+86")',
        ),
        Function(
            "ENDS",
            "text",
            (_p("text", *T), _p("suffix", *T)),
            BOOLEAN,
            lambda t, s: t.endswith(s),
            _text_match_sql(sf.Ends, "%", ""),
            "True when the text ends with ``suffix`` (case-sensitive).",
            'ENDS(Email, "@acme.com")',
        ),
        Function(
            "FIND",
            "text",
            (_p("search", *T), _p("text", *T), _p("start", *N)),
            NUMBER,
            runtime.find,
            _find_sql,
            "The position (1 = first) of ``search`` in the text at or after ``start`` (default 1); 0 when absent.",
            'FIND("@", "ann@acme.com") = 4',
            optional=1,
        ),
        Function(
            "SUBSTITUTE",
            "text",
            (_p("text", *T), _p("old", *T), _p("new", *T)),
            TEXT,
            runtime.substitute,
            _substitute_sql,
            "The text with every ``old`` replaced by ``new`` (an empty ``old`` changes nothing).",
            'SUBSTITUTE("a-b-c", "-", "/") = "a/b/c"',
        ),
        Function(
            "TEXT",
            "text",
            (_p("value"),),
            TEXT,
            None,
            _text_sql,
            "The value as text: numbers without exponent or trailing zeros, dates as 2026-01-31, "
            "datetimes as 2026-01-31T09:30:00Z (UTC), booleans as true/false.",
            'TEXT(Amount) & " USD"',
            type_rule=_text_type,
            python_builder=_text_builder,
        ),
        Function(
            "VALUE",
            "text",
            (_p("text", *T),),
            NUMBER,
            runtime.text_number,
            lambda c: sf.TextNumber(c.args[0]),
            "The number written in the text (digits, one optional sign and point, spaces around); "
            "null when the text is not a number.",
            'VALUE("42.5") = 42.5',
        ),
        Function(
            "REGEX",
            "text",
            (_p("text", *T), _p("pattern", *T)),
            BOOLEAN,
            _regex_python,
            None,
            "True when the whole text matches the RE2 regular expression (linear time; no SQL form, "
            "so not in filters).",
            'REGEX(Phone, "[0-9]{3}-[0-9]{4}")',
            type_rule=_regex_type,
        ),
        # math
        Function(
            "ABS",
            "math",
            (_p("number", *N),),
            NUMBER,
            abs,
            lambda c: sa.func.abs(c.args[0], type_=sa.Numeric()),
            "The absolute value.",
            "ABS(-3) = 3",
        ),
        Function(
            "ROUND",
            "math",
            (_p("number", *N), _p("digits", *N, literal=True)),
            NUMBER,
            _round_python,
            _round_sql,
            "Rounded half away from zero to ``digits`` places (default 0; -10 to 10; negative rounds to "
            "tens, hundreds…).",
            "ROUND(2.345, 2) = 2.35",
            optional=1,
            type_rule=_round_type,
        ),
        Function(
            "FLOOR",
            "math",
            (_p("number", *N),),
            NUMBER,
            runtime.floor,
            lambda c: sf.Floor(c.args[0]),
            "The largest whole number not above the number.",
            "FLOOR(-2.5) = -3",
        ),
        Function(
            "CEILING",
            "math",
            (_p("number", *N),),
            NUMBER,
            runtime.ceiling,
            lambda c: sf.Ceiling(c.args[0]),
            "The smallest whole number not below the number.",
            "CEILING(2.1) = 3",
        ),
        Function(
            "MOD",
            "math",
            (_p("number", *N), _p("divisor", *N)),
            NUMBER,
            runtime.modulo,
            lambda c: sf.Modulo(*c.args),
            "The remainder of number / divisor, with the sign of the number; null when the divisor is 0.",
            "MOD(7, 3) = 1",
        ),
        Function(
            "MIN",
            "math",
            (_p("value", *ORDERED),),
            None,
            lambda *v: min(v),
            _min_sql,
            "The smallest of the numbers (or dates, or datetimes); null when any is null.",
            "MIN(Amount, 1000)",
            variadic=True,
            type_rule=_extreme_type,
            returns_doc="the type of the values",
        ),
        Function(
            "MAX",
            "math",
            (_p("value", *ORDERED),),
            None,
            lambda *v: max(v),
            _max_sql,
            "The largest of the numbers (or dates, or datetimes); null when any is null.",
            "MAX(Discount, 0)",
            variadic=True,
            type_rule=_extreme_type,
            returns_doc="the type of the values",
        ),
        Function(
            "SQRT",
            "math",
            (_p("number", *N),),
            NUMBER,
            runtime.square_root,
            lambda c: sf.SquareRoot(c.args[0]),
            "The square root; null for negative numbers.",
            "SQRT(16) = 4",
        ),
        Function(
            "POWER",
            "math",
            (_p("base", *N), _p("exponent", *N)),
            NUMBER,
            runtime.power,
            lambda c: sf.Power(*c.args),
            "base to the power exponent; null for 0 to a negative power, a negative base to a fractional "
            "power, exponents beyond ±1000 and results of 1e28 or more.",
            "POWER(2, 10) = 1024",
        ),
        # dates
        Function(
            "TODAY",
            "date",
            (),
            DATE,
            lambda frame: frame.record.today,
            _today_sql,
            "Today's date (UTC unless the caller says otherwise).",
            "CloseDate < TODAY()",
            strict=False,
            uses_record=True,
            guarded=False,
        ),
        Function(
            "NOW",
            "date",
            (),
            DATETIME,
            lambda frame: frame.record.now,
            _now_sql,
            "The current date and time. Subtracting datetimes gives days: NOW() - created_at > 7.",
            "NOW() - created_at > 7",
            strict=False,
            uses_record=True,
            guarded=False,
        ),
        Function(
            "DATE",
            "date",
            (_p("year", *N), _p("month", *N), _p("day", *N)),
            DATE,
            runtime.make_date,
            lambda c: sf.MakeDate(*(sf.ToInt(a) for a in c.args)),
            "The date; null when there is no such day (DATE(2026, 2, 30)).",
            "DATE(2026, 1, 31)",
        ),
        Function(
            "DATEVALUE",
            "date",
            (_p("value", "TEXT", "PICKLIST", "DATETIME"),),
            DATE,
            None,
            _datevalue_sql,
            "The date of a datetime (in UTC), or of text written exactly YYYY-MM-DD; null otherwise.",
            'DATEVALUE("2026-01-31")',
            python_builder=_datevalue_builder,
        ),
        Function(
            "YEAR",
            "date",
            (_p("date", *D),),
            NUMBER,
            lambda d: d.year,
            lambda c: sf.Year(c.args[0]),
            "The year.",
            "YEAR(CloseDate) = 2026",
        ),
        Function(
            "MONTH",
            "date",
            (_p("date", *D),),
            NUMBER,
            lambda d: d.month,
            lambda c: sf.Month(c.args[0]),
            "The month, 1-12.",
            "MONTH(DATE(2026, 1, 31)) = 1",
        ),
        Function(
            "DAY",
            "date",
            (_p("date", *D),),
            NUMBER,
            lambda d: d.day,
            lambda c: sf.Day(c.args[0]),
            "The day of the month.",
            "DAY(DATE(2026, 1, 31)) = 31",
        ),
        Function(
            "WEEKDAY",
            "date",
            (_p("date", *D),),
            NUMBER,
            runtime.weekday,
            lambda c: sf.Weekday(c.args[0]),
            "The day of the week: 1 = Sunday … 7 = Saturday.",
            "WEEKDAY(DATE(2026, 1, 31)) = 7",
        ),
        Function(
            "ADDDAYS",
            "date",
            (_p("date", *D), _p("days", *N)),
            DATE,
            runtime.add_days,
            lambda c: sf.AddDays(c.args[0], sf.ToInt(c.args[1])),
            "The date ``days`` later (fractions are cut; same as date + days); null beyond year 9999.",
            "ADDDAYS(DATE(2026, 1, 31), 1) = DATE(2026, 2, 1)",
        ),
        Function(
            "ADDMONTHS",
            "date",
            (_p("date", *D), _p("months", *N)),
            DATE,
            runtime.add_months,
            lambda c: sf.AddMonths(c.args[0], sf.ToInt(c.args[1])),
            "The date ``months`` calendar months later, the day clamped to the end of the month.",
            "ADDMONTHS(DATE(2026, 1, 31), 1) = DATE(2026, 2, 28)",
        ),
        Function(
            "DAYSBETWEEN",
            "date",
            (_p("start", *D), _p("end", *D)),
            NUMBER,
            runtime.days_between,
            lambda c: sf.DaysBetween(*c.args),
            "end - start in days (negative when end is earlier).",
            "DAYSBETWEEN(DATE(2026, 1, 1), DATE(2026, 1, 31)) = 30",
        ),
    ]


def _includes_builder(typed: TypedExpression, args: list[Callable]):
    implementation = _includes_ci_python if typed.args[0].type.case_insensitive else _includes_python
    values, wanted = args

    def run(frame):
        return implementation(values(frame), wanted(frame))

    return run


# -- operators ------------------------------------------------------------------------------


def _operator(symbol: str, name: str, params, returns, python, sql, doc: str, *, strict: bool = True) -> Function:
    return Function(
        name,
        "operator",
        params,
        returns,
        python,
        sql,
        doc,
        "",
        strict=strict,
        operator=symbol,
    )


def _compare_python(op):
    return {
        "=": operator.eq,
        "!=": operator.ne,
        "<": operator.lt,
        "<=": operator.le,
        ">": operator.gt,
        ">=": operator.ge,
    }[op]


def _compare_sql(op, ordered_text: bool):
    def build(call: SqlCall):
        a, b = call.args
        if ordered_text and op not in ("=", "!="):
            a = sf.Codepoints(a)
        return {
            "=": lambda: a == b,
            "!=": lambda: a != b,
            "<": lambda: a < b,
            "<=": lambda: a <= b,
            ">": lambda: a > b,
            ">=": lambda: a >= b,
        }[op]()

    return build


def _membership_python(value, *options):
    if value is None:
        return None
    unknown = False
    for option in options:
        if option is None:
            unknown = True
        elif option == value:
            return True
    return None if unknown else False


def _membership_builder(typed: TypedExpression, args: list[Callable]):
    value_of, *options = args

    def run(frame):
        return _membership_python(value_of(frame), *[option(frame) for option in options])

    return run


def _concat_python(a, b):
    return (a or "") + (b or "")


def _concat_sql(call: SqlCall):
    a, b = call.args
    return sa.func.coalesce(a, _text(""), type_=sa.String()).concat(sa.func.coalesce(b, _text(""), type_=sa.String()))


def _arithmetic_sql(op):
    construct = {"+": sf.Add, "-": sf.Subtract, "*": sf.Multiply}[op]
    return lambda call: construct(*call.args)


OPERATORS: dict[str, Function] = {
    f.name: f
    for f in [
        _operator(
            "+", "+", (_p("a", "NUMBER"), _p("b", "NUMBER")), NUMBER, runtime.add, _arithmetic_sql("+"), "Addition."
        ),
        _operator(
            "-",
            "-",
            (_p("a", "NUMBER"), _p("b", "NUMBER")),
            NUMBER,
            runtime.subtract,
            _arithmetic_sql("-"),
            "Subtraction.",
        ),
        _operator(
            "*",
            "*",
            (_p("a", "NUMBER"), _p("b", "NUMBER")),
            NUMBER,
            runtime.multiply,
            _arithmetic_sql("*"),
            "Multiplication.",
        ),
        _operator(
            "/",
            "/",
            (_p("a", "NUMBER"), _p("b", "NUMBER")),
            NUMBER,
            runtime.divide,
            lambda c: sf.Divide(*c.args),
            "Division; null when dividing by 0.",
        ),
        _operator("-", "NEGATE", (_p("a", "NUMBER"),), NUMBER, runtime.negate, lambda c: -c.args[0], "Negation."),
        _operator(
            "&",
            "&",
            (_p("a", *TEXTUAL), _p("b", *TEXTUAL)),
            TEXT,
            _concat_python,
            _concat_sql,
            "Joins text; null counts as empty text.",
            strict=False,
        ),
        _operator(
            "+",
            "DATE+DAYS",
            (_p("date", "DATE"), _p("days", "NUMBER")),
            DATE,
            runtime.add_days,
            lambda c: sf.AddDays(c.args[0], sf.ToInt(c.args[1])),
            "A date some days later.",
        ),
        _operator(
            "-",
            "DATE-DAYS",
            (_p("date", "DATE"), _p("days", "NUMBER")),
            DATE,
            lambda d, n: runtime.add_days(d, -runtime.to_int(n)),
            lambda c: sf.AddDays(c.args[0], -sf.ToInt(c.args[1])),
            "A date some days earlier.",
        ),
        _operator(
            "-",
            "DATE-DATE",
            (_p("end", "DATE"), _p("start", "DATE")),
            NUMBER,
            lambda a, b: runtime.days_between(b, a),
            lambda c: sf.DaysBetween(c.args[1], c.args[0]),
            "Days between two dates.",
        ),
        _operator(
            "-",
            "DATETIME-DATETIME",
            (_p("end", "DATETIME"), _p("start", "DATETIME")),
            NUMBER,
            runtime.datetime_difference,
            lambda c: sf.DatetimeDifference(*c.args),
            "Days (with fraction, to the millisecond) between two datetimes.",
        ),
        Function(
            "IN",
            "operator",
            (_p("value"), _p("option")),
            BOOLEAN,
            None,
            lambda c: c.args[0].in_(c.args[1:]),
            "Membership in a list.",
            "",
            variadic=True,
            strict=False,
            python_builder=_membership_builder,
            operator="IN",
        ),
    ]
}
for _op in ("=", "!=", "<", "<=", ">", ">="):
    for _ordered_text in (False, True):
        _name = _op + (" TEXT" if _ordered_text else "")
        OPERATORS[_name] = _operator(
            _op,
            _name,
            (_p("a"), _p("b")),
            BOOLEAN,
            _compare_python(_op),
            _compare_sql(_op, _ordered_text),
            "Comparison (null when either side is null).",
        )


# -- the registry ------------------------------------------------------------------------------


class FunctionRegistry:
    """The functions a rule may call, by upper-case name. Built-ins first;
    plugins add more with :meth:`register` (a name cannot be replaced)."""

    def __init__(self, functions: Iterable[Function] = ()):
        self._functions: dict[str, Function] = {}
        for function in functions:
            self.register(function)

    @classmethod
    def with_builtins(cls) -> FunctionRegistry:
        return cls(builtin_functions())

    def register(self, function: Function) -> None:
        if not isinstance(function, Function):
            raise TypeError(f"expected a metacrm.rules.functions.Function, not {type(function).__name__}")
        name = function.name.upper()
        if not name.isidentifier() or name in ("TRUE", "FALSE", "NULL", "IN"):
            raise ValueError(f"{function.name!r} cannot name a rule function")
        if name in self._functions:
            raise ValueError(f"a rule function named {name} already exists")
        if function.python is None and function.python_builder is None:
            raise ValueError(f"rule function {name} needs a Python implementation")
        self._functions[name] = function if function.name == name else _renamed(function, name)

    def get(self, name: str) -> Function | None:
        return self._functions.get(name.upper())

    def names(self) -> list[str]:
        return list(self._functions)

    def __contains__(self, name: str) -> bool:
        return name.upper() in self._functions

    def __iter__(self) -> Iterator[Function]:
        return iter(self._functions.values())

    def __len__(self) -> int:
        return len(self._functions)


def _renamed(function: Function, name: str) -> Function:
    return replace(function, name=name)


@functools.cache
def default_registry() -> FunctionRegistry:
    """The built-in functions only (shared; do not register into it)."""
    return FunctionRegistry.with_builtins()


_registries: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def functions_for(model) -> FunctionRegistry:
    """The functions rules over ``model`` may call: the built-ins plus those
    of the plugins of the instance that compiled the model (the built-ins
    alone for a model compiled without one). Built once per plugin manager."""
    plugin_manager = getattr(getattr(model, "registry", None), "plugin_manager", None)
    if plugin_manager is None:
        return default_registry()
    registry = _registries.get(plugin_manager)
    if registry is None:
        registry = _registries[plugin_manager] = registry_from_plugins(plugin_manager)
    return registry


def registry_from_plugins(pm) -> FunctionRegistry:
    """Built-ins plus every function the plugins return from the
    ``register_rule_functions`` hook (``pm`` is the plugin manager)."""
    registry = FunctionRegistry.with_builtins()
    hook = getattr(pm.hook, "register_rule_functions", None)
    if hook is not None:
        for functions in hook():
            for function in functions or ():
                registry.register(function)
    return registry


__all__ = [
    "Function",
    "Param",
    "CallCheck",
    "SqlCall",
    "FunctionRegistry",
    "builtin_functions",
    "default_registry",
    "functions_for",
    "registry_from_plugins",
    "OPERATORS",
    "MAX_TEXT",
]
