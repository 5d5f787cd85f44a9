"""Logical functions: IF, CASE, AND, OR, NOT, ISBLANK, BLANKVALUE,
ISPICKVAL, INCLUDES — each one's type rule, Python and SQL forms together."""

from __future__ import annotations

from collections.abc import Callable

import sqlalchemy as sa

from metacrm.rules import runtime
from metacrm.rules.functions import sql as sf
from metacrm.rules.functions.base import (
    CallCheck,
    Function,
    SqlCall,
    bool_sql,
    is_blank,
    is_blank_sql,
    param,
    sql_int,
    sql_text,
)
from metacrm.rules.types import BOOLEAN, RuleType, TypedExpression


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
        return default(frame) if is_blank(value) else value

    return run


def _blankvalue_sql(call: SqlCall):
    x, default = call.args
    return sa.case((is_blank_sql(x, call.arg_type(0)), default), else_=x)


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
        found = sf.Position(sf.AsciiLower(column), sql_text(";" + runtime.lower(wanted) + ";"))
    else:
        found = sf.Position(column, sql_text(";" + wanted + ";"))
    return sa.and_(column.is_not(None), found > sql_int(0))


def _includes_builder(typed: TypedExpression, args: list[Callable]):
    implementation = _includes_ci_python if typed.args[0].type.case_insensitive else _includes_python
    values, wanted = args

    def run(frame):
        return implementation(values(frame), wanted(frame))

    return run


LOGICAL = [
    Function(
        "IF",
        "logical",
        (param("condition", "BOOLEAN"), param("then"), param("else")),
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
        (param("expression"), param("value"), param("result"), param("default")),
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
        (param("condition", "BOOLEAN"),),
        BOOLEAN,
        None,
        lambda c: sa.and_(*c.args),
        "True when every condition is true; false when any is false; otherwise null. Infix: ``a and b``, ``a && b``.",
        'AND(Amount > 100, ISPICKVAL(Stage, "won"))',
        variadic=True,
        strict=False,
        python_builder=_and_builder,
        guarded=False,
    ),
    Function(
        "OR",
        "logical",
        (param("condition", "BOOLEAN"),),
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
        (param("condition", "BOOLEAN"),),
        BOOLEAN,
        lambda v: not v,
        lambda c: sa.not_(c.args[0]),
        "True for false and false for true (null stays null). Prefix: ``not a``, ``!a``.",
        "NOT(ISBLANK(Email))",
    ),
    Function(
        "ISBLANK",
        "logical",
        (param("value"),),
        BOOLEAN,
        is_blank,
        lambda c: is_blank_sql(c.args[0], c.arg_type(0)),
        "True when the value is null, empty text or an empty multi-value field; never null.",
        "ISBLANK(Email)",
        strict=False,
    ),
    Function(
        "BLANKVALUE",
        "logical",
        (param("value"), param("default")),
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
        (param("picklist", "PICKLIST"), param("value", "TEXT")),
        BOOLEAN,
        lambda v, w: v is not None and w is not None and v == w,
        lambda c: bool_sql(sa.and_(c.args[0].is_not(None), c.args[0] == c.args[1])),
        "True when the picklist holds the value (which must be one of the field's values); never null.",
        'ISPICKVAL(Stage, "won")',
        strict=False,
        type_rule=_ispickval_type,
    ),
    Function(
        "INCLUDES",
        "logical",
        (param("values", "MULTI"), param("value", "TEXT", literal=True)),
        BOOLEAN,
        None,
        _includes_sql,
        "True when a multi-picklist or tags field holds the value (tags ignore case); never null.",
        'INCLUDES(Interests, "golf")',
        strict=False,
        type_rule=_includes_type,
        python_builder=lambda typed, args: _includes_builder(typed, args),
    ),
]
