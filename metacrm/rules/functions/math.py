"""Number functions: ABS, ROUND, FLOOR, CEILING, MOD, MIN, MAX, SQRT,
POWER."""

from __future__ import annotations

import functools

import sqlalchemy as sa

from metacrm.rules import runtime
from metacrm.rules.functions import sql as sf
from metacrm.rules.functions.base import (
    ORDERED,
    CallCheck,
    Function,
    SqlCall,
    param,
    sql_int,
)
from metacrm.rules.types import NUMBER, RuleType


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
        return sf.RoundTo(call.args[0], sql_int(digits))
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


# The parameter types the entries below repeat.
N = ("NUMBER",)

MATH = [
    Function(
        "ABS",
        "math",
        (param("number", *N),),
        NUMBER,
        abs,
        lambda c: sa.func.abs(c.args[0], type_=sa.Numeric()),
        "The absolute value.",
        "ABS(-3) = 3",
    ),
    Function(
        "ROUND",
        "math",
        (param("number", *N), param("digits", *N, literal=True)),
        NUMBER,
        _round_python,
        _round_sql,
        "Rounded half away from zero to ``digits`` places (default 0; -10 to 10; negative rounds to tens, hundreds…).",
        "ROUND(2.345, 2) = 2.35",
        optional=1,
        type_rule=_round_type,
    ),
    Function(
        "FLOOR",
        "math",
        (param("number", *N),),
        NUMBER,
        runtime.floor,
        lambda c: sf.Floor(c.args[0]),
        "The largest whole number not above the number.",
        "FLOOR(-2.5) = -3",
    ),
    Function(
        "CEILING",
        "math",
        (param("number", *N),),
        NUMBER,
        runtime.ceiling,
        lambda c: sf.Ceiling(c.args[0]),
        "The smallest whole number not below the number.",
        "CEILING(2.1) = 3",
    ),
    Function(
        "MOD",
        "math",
        (param("number", *N), param("divisor", *N)),
        NUMBER,
        runtime.modulo,
        lambda c: sf.Modulo(*c.args),
        "The remainder of number / divisor, with the sign of the number; null when the divisor is 0.",
        "MOD(7, 3) = 1",
    ),
    Function(
        "MIN",
        "math",
        (param("value", *ORDERED),),
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
        (param("value", *ORDERED),),
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
        (param("number", *N),),
        NUMBER,
        runtime.square_root,
        lambda c: sf.SquareRoot(c.args[0]),
        "The square root; null for negative numbers.",
        "SQRT(16) = 4",
    ),
    Function(
        "POWER",
        "math",
        (param("base", *N), param("exponent", *N)),
        NUMBER,
        runtime.power,
        lambda c: sf.Power(*c.args),
        "base to the power exponent; null for 0 to a negative power, a negative base to a fractional "
        "power, exponents beyond ±1000 and results of 1e28 or more.",
        "POWER(2, 10) = 1024",
    ),
]
