"""Text functions: LEN, LEFT, RIGHT, MID, UPPER, LOWER, TRIM, CONTAINS,
BEGINS, ENDS, FIND, SUBSTITUTE, TEXT, VALUE, REGEX."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import re2
import sqlalchemy as sa

from metacrm.rules import runtime
from metacrm.rules.functions import sql as sf
from metacrm.rules.functions.base import (
    TEXTUAL,
    CallCheck,
    Function,
    SqlCall,
    param,
    sql_int,
    sql_text,
)
from metacrm.rules.types import BOOLEAN, NUMBER, TEXT, RuleType, TypedExpression


def _left_sql(call: SqlCall):
    t, n = call.args
    return sa.func.substr(t, sql_int(1), sf.Greatest(sf.ToInt(n), sql_int(0)), type_=sa.String())


def _right_sql(call: SqlCall):
    # A count of 0 or less starts past the end (''); NULL stays NULL.
    t, n = call.args
    count = sf.Greatest(sf.ToInt(n), sql_int(0))
    start = sf.Greatest(sa.func.length(t) - count + sql_int(1), sql_int(1))
    return sa.func.substr(t, start, type_=sa.String())


def _mid_sql(call: SqlCall):
    t, start, n = call.args
    return sa.func.substr(
        t, sf.Greatest(sf.ToInt(start), sql_int(1)), sf.Greatest(sf.ToInt(n), sql_int(0)), type_=sa.String()
    )


def _substitute_sql(call: SqlCall):
    # SQLite's replace(t, '', NULL) is t: the empty substr of ``new`` keeps a NULL new NULL.
    t, old, new = call.args
    return sa.func.replace(t, old, new, type_=sa.String()).concat(
        sa.func.substr(new, sql_int(1), sql_int(0), type_=sa.String())
    )


def _text_match_sql(construct: type[sf.TextMatch], before: str, after: str):
    """The SQL form of BEGINS / ENDS / CONTAINS: ``construct`` with the part as
    an escaped LIKE pattern between the wildcards ``before`` and ``after``
    (escaped here for a literal part, in SQL for any other)."""

    def build(call: SqlCall):
        t, part = call.args
        typed_part = call.typed.args[1]
        if typed_part.kind == "literal" and isinstance(typed_part.value, str):
            pattern = sql_text(before + sf.like_escaped(typed_part.value) + after)
        else:
            pattern = sql_text(before).concat(sf.like_escaped_sql(part)).concat(sql_text(after))
        return construct(t, part, pattern)

    return build


def _find_sql(call: SqlCall):
    search, t = call.args[0], call.args[1]
    if len(call.args) == 2:
        return sf.Position(t, search)
    start = sf.Greatest(sf.ToInt(call.args[2]), sql_int(1))
    found = sf.Position(sa.func.substr(t, start, type_=sa.String()), search)
    return sa.case((found == sql_int(0), sql_int(0)), else_=found + start - sql_int(1))


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
        return sa.case((x, sql_text("true")), (sa.not_(x), sql_text("false")), else_=sa.null())
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


# The parameter types the entries below repeat.
N = ("NUMBER",)
T = TEXTUAL

TEXT_FUNCTIONS = [
    Function(
        "LEN",
        "text",
        (param("text", *T),),
        NUMBER,
        len,
        lambda c: sa.func.length(c.args[0], type_=sa.Integer()),
        "The number of characters.",
        'LEN("héllo") = 5',
    ),
    Function(
        "LEFT",
        "text",
        (param("text", *T), param("count", *N)),
        TEXT,
        runtime.left,
        _left_sql,
        "The first ``count`` characters (none when count ≤ 0).",
        'LEFT("Acme Corp", 4) = "Acme"',
    ),
    Function(
        "RIGHT",
        "text",
        (param("text", *T), param("count", *N)),
        TEXT,
        runtime.right,
        _right_sql,
        "The last ``count`` characters (none when count ≤ 0).",
        'RIGHT("Acme Corp", 4) = "Corp"',
    ),
    Function(
        "MID",
        "text",
        (param("text", *T), param("start", *N), param("count", *N)),
        TEXT,
        runtime.mid,
        _mid_sql,
        "``count`` characters from position ``start`` (1 = the first; below 1 counts as 1).",
        'MID("Acme Corp", 6, 2) = "Co"',
    ),
    Function(
        "UPPER",
        "text",
        (param("text", *T),),
        TEXT,
        runtime.upper,
        lambda c: sf.AsciiUpper(c.args[0]),
        "The text with a-z in upper case (other letters stay as they are, on every database).",
        'UPPER("acme") = "ACME"',
    ),
    Function(
        "LOWER",
        "text",
        (param("text", *T),),
        TEXT,
        runtime.lower,
        lambda c: sf.AsciiLower(c.args[0]),
        "The text with A-Z in lower case (other letters stay as they are, on every database).",
        'LOWER("ACME") = "acme"',
    ),
    Function(
        "TRIM",
        "text",
        (param("text", *T),),
        TEXT,
        lambda t: t.strip(" "),
        lambda c: sa.func.trim(c.args[0], type_=sa.String()),
        "The text without leading and trailing spaces.",
        'TRIM("  Acme ") = "Acme"',
    ),
    Function(
        "CONTAINS",
        "text",
        (param("text", *T), param("part", *T)),
        BOOLEAN,
        lambda t, s: s in t,
        _text_match_sql(sf.Contains, "%", "%"),
        "True when ``part`` occurs in the text (case-sensitive; the empty text occurs everywhere).",
        'CONTAINS(Name, "Corp")',
    ),
    Function(
        "BEGINS",
        "text",
        (param("text", *T), param("prefix", *T)),
        BOOLEAN,
        lambda t, s: t.startswith(s),
        _text_match_sql(sf.Begins, "", "%"),
        "True when the text starts with ``prefix`` (case-sensitive).",
        'BEGINS(Phone, "+86")',
    ),
    Function(
        "ENDS",
        "text",
        (param("text", *T), param("suffix", *T)),
        BOOLEAN,
        lambda t, s: t.endswith(s),
        _text_match_sql(sf.Ends, "%", ""),
        "True when the text ends with ``suffix`` (case-sensitive).",
        'ENDS(Email, "@acme.com")',
    ),
    Function(
        "FIND",
        "text",
        (param("search", *T), param("text", *T), param("start", *N)),
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
        (param("text", *T), param("old", *T), param("new", *T)),
        TEXT,
        runtime.substitute,
        _substitute_sql,
        "The text with every ``old`` replaced by ``new`` (an empty ``old`` changes nothing).",
        'SUBSTITUTE("a-b-c", "-", "/") = "a/b/c"',
    ),
    Function(
        "TEXT",
        "text",
        (param("value"),),
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
        (param("text", *T),),
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
        (param("text", *T), param("pattern", *T)),
        BOOLEAN,
        _regex_python,
        None,
        "True when the whole text matches the RE2 regular expression (linear time; no SQL form, so not in filters).",
        'REGEX(Phone, "[0-9]{3}-[0-9]{4}")',
        type_rule=_regex_type,
    ),
]
