"""The operators as function entries (:data:`OPERATORS`, keyed by name;
not callable by name in a rule): arithmetic, ``&``, date arithmetic,
comparisons and IN. Both compilers take their meaning from here."""

from __future__ import annotations

import operator
from collections.abc import Callable

import sqlalchemy as sa

from metacrm.rules import runtime
from metacrm.rules.functions import sql as sf
from metacrm.rules.functions.base import (
    TEXTUAL,
    Function,
    SqlCall,
    param,
    sql_text,
)
from metacrm.rules.types import BOOLEAN, DATE, NUMBER, TEXT, TypedExpression


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
    return sa.func.coalesce(a, sql_text(""), type_=sa.String()).concat(
        sa.func.coalesce(b, sql_text(""), type_=sa.String())
    )


def _arithmetic_sql(op):
    construct = {"+": sf.Add, "-": sf.Subtract, "*": sf.Multiply}[op]
    return lambda call: construct(*call.args)


OPERATORS: dict[str, Function] = {
    f.name: f
    for f in [
        _operator(
            "+",
            "+",
            (param("a", "NUMBER"), param("b", "NUMBER")),
            NUMBER,
            runtime.add,
            _arithmetic_sql("+"),
            "Addition.",
        ),
        _operator(
            "-",
            "-",
            (param("a", "NUMBER"), param("b", "NUMBER")),
            NUMBER,
            runtime.subtract,
            _arithmetic_sql("-"),
            "Subtraction.",
        ),
        _operator(
            "*",
            "*",
            (param("a", "NUMBER"), param("b", "NUMBER")),
            NUMBER,
            runtime.multiply,
            _arithmetic_sql("*"),
            "Multiplication.",
        ),
        _operator(
            "/",
            "/",
            (param("a", "NUMBER"), param("b", "NUMBER")),
            NUMBER,
            runtime.divide,
            lambda c: sf.Divide(*c.args),
            "Division; null when dividing by 0.",
        ),
        _operator("-", "NEGATE", (param("a", "NUMBER"),), NUMBER, runtime.negate, lambda c: -c.args[0], "Negation."),
        _operator(
            "&",
            "&",
            (param("a", *TEXTUAL), param("b", *TEXTUAL)),
            TEXT,
            _concat_python,
            _concat_sql,
            "Joins text; null counts as empty text.",
            strict=False,
        ),
        _operator(
            "+",
            "DATE+DAYS",
            (param("date", "DATE"), param("days", "NUMBER")),
            DATE,
            runtime.add_days,
            lambda c: sf.AddDays(c.args[0], sf.ToInt(c.args[1])),
            "A date some days later.",
        ),
        _operator(
            "-",
            "DATE-DAYS",
            (param("date", "DATE"), param("days", "NUMBER")),
            DATE,
            lambda d, n: runtime.add_days(d, -runtime.to_int(n)),
            lambda c: sf.AddDays(c.args[0], -sf.ToInt(c.args[1])),
            "A date some days earlier.",
        ),
        _operator(
            "-",
            "DATE-DATE",
            (param("end", "DATE"), param("start", "DATE")),
            NUMBER,
            lambda a, b: runtime.days_between(b, a),
            lambda c: sf.DaysBetween(c.args[1], c.args[0]),
            "Days between two dates.",
        ),
        _operator(
            "-",
            "DATETIME-DATETIME",
            (param("end", "DATETIME"), param("start", "DATETIME")),
            NUMBER,
            runtime.datetime_difference,
            lambda c: sf.DatetimeDifference(*c.args),
            "Days (with fraction, to the millisecond) between two datetimes.",
        ),
        Function(
            "IN",
            "operator",
            (param("value"), param("option")),
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
            (param("a"), param("b")),
            BOOLEAN,
            _compare_python(_op),
            _compare_sql(_op, _ordered_text),
            "Comparison (null when either side is null).",
        )
