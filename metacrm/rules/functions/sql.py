"""Portable SQL building blocks for the rule compiler.

Each class here is a SQLAlchemy Core construct with one compilation per
dialect (``@compiles``): SQLite and PostgreSQL each get a Core expression
that computes exactly what :mod:`metacrm.rules.runtime` computes in Python —
the same rounding, the same null results for impossible dates, the same
ASCII-only case changes. Any other dialect refuses to compile them.

PostgreSQL raises errors where SQLite returns NULL (a bad date, a square
root of a negative number, an integer overflow); so the PostgreSQL forms
first clamp their arguments into a range where nothing can fail ("safe
arguments") and then turn out-of-range inputs into NULL with a CASE. Values
always arrive as bound parameters; the only identifiers are columns the
caller passes in.

Depends on SQLAlchemy only.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.elements import ColumnElement
from sqlalchemy.sql.functions import FunctionElement

from metacrm.rules import runtime

DIALECTS = ("sqlite", "postgresql")


def _int(value: int) -> ColumnElement:
    # INTEGER, not BIGINT: PostgreSQL's substr() and make_date() take int4.
    return sa.literal(value, sa.Integer())


def _text(value: str) -> ColumnElement:
    return sa.literal(value, sa.String())


def _num(value: Any) -> ColumnElement:
    return sa.literal(value, sa.Numeric())


def _pg_wide(x) -> ColumnElement:
    """x as a PostgreSQL numeric with 20 decimals: division, sqrt and power
    give at least as many decimals as their inputs have, so the result keeps
    the 10 places the rules round to however large it is (plain numeric
    division keeps only 16 significant digits)."""
    return sa.cast(x, sa.Numeric(1000, 20))


class Portable(FunctionElement):
    """Base: subclasses define ``sqlite(*args)`` and ``postgresql(*args)``
    returning Core expressions, and a result ``type``."""

    inherit_cache = True
    type: Any = sa.Numeric()

    @property
    def args(self) -> list[ColumnElement]:
        return list(self.clauses)

    @staticmethod
    def sqlite(*args: ColumnElement) -> ColumnElement:  # pragma: no cover - abstract
        raise NotImplementedError

    @staticmethod
    def postgresql(*args: ColumnElement) -> ColumnElement:  # pragma: no cover - abstract
        raise NotImplementedError


# SQLAlchemy renders a construct like a function call, which never needs
# parentheses; an expansion such as `x + 1` does (`-(x + 1)`, not `-x + 1`).
# Self-delimiting expansions stay bare: every parenthesis costs SQLite's
# small parser stack.
_SELF_DELIMITING = (
    sa.sql.functions.FunctionElement,
    sa.sql.elements.Case,
    sa.sql.elements.Cast,
    sa.sql.elements.ColumnClause,
    sa.sql.elements.BindParameter,
    sa.sql.elements.Null,
    sa.sql.elements.Grouping,
)


def _render(expansion, compiler, **kw) -> str:
    text = compiler.process(expansion, **kw)
    return text if isinstance(expansion, _SELF_DELIMITING) else f"({text})"


@compiles(Portable, "sqlite")
def _compile_sqlite(element: Portable, compiler, **kw):
    return _render(element.sqlite(*element.args), compiler, **kw)


@compiles(Portable, "postgresql")
def _compile_postgresql(element: Portable, compiler, **kw):
    return _render(element.postgresql(*element.args), compiler, **kw)


@compiles(Portable)
def _compile_other(element: Portable, compiler, **kw):
    raise sa.exc.CompileError(
        f"rule expressions compile for {' and '.join(DIALECTS)} only, not {compiler.dialect.name}"
    )


# -- numbers --------------------------------------------------------------------


class Canonical(Portable):
    """An arithmetic result rounded to SCALE places (runtime.number)."""

    inherit_cache = True

    @staticmethod
    def sqlite(x):
        return sa.func.round(x, _int(runtime.SCALE), type_=sa.Numeric())

    @staticmethod
    def postgresql(x):
        return sa.func.round(sa.cast(x, sa.Numeric()), _int(runtime.SCALE), type_=sa.Numeric())


class Arithmetic(Portable):
    """a + b, a - b or a * b (the subclasses), rounded to SCALE places. On
    SQLite a chain (a + b - c * d) is rounded once, at its top: a round()
    per operator would nest into SQLite's small parser stack, and the steps
    of exact inputs need no rounding anyway. (One class per operator: the
    class is part of SQLAlchemy's statement cache key, an attribute is not.)"""

    inherit_cache = True
    op = "+"

    def _combine(self, a, b):
        return {"+": a + b, "-": a - b, "*": a * b}[self.op]

    def unrounded(self):
        """The SQLite form without its rounding, for an enclosing Arithmetic."""
        a, b = (x.unrounded() if isinstance(x, Arithmetic) else x for x in self.args)
        return self._combine(a, b)

    def sqlite(self, a, b):  # type: ignore[override]
        return sa.func.round(self.unrounded(), _int(runtime.SCALE), type_=sa.Numeric())

    def postgresql(self, a, b):  # type: ignore[override]
        combined = self._combine(sa.cast(a, sa.Numeric()), sa.cast(b, sa.Numeric()))
        return sa.func.round(combined, _int(runtime.SCALE), type_=sa.Numeric())


class Add(Arithmetic):
    inherit_cache = True
    op = "+"


class Subtract(Arithmetic):
    inherit_cache = True
    op = "-"


class Multiply(Arithmetic):
    inherit_cache = True
    op = "*"


class Divide(Portable):
    """a / b rounded to SCALE places; NULL when b is 0."""

    inherit_cache = True

    @staticmethod
    def sqlite(a, b):
        return Canonical(sa.cast(a, sa.Float()) / sa.func.nullif(b, _int(0)))

    @staticmethod
    def postgresql(a, b):
        return Canonical(_pg_wide(a) / sa.func.nullif(sa.cast(b, sa.Numeric()), _int(0)))


class Modulo(Portable):
    """a - b * TRUNC(a / b) (the sign of a); NULL when b is 0."""

    inherit_cache = True

    @staticmethod
    def sqlite(a, b):
        # The quotient is cut to 15 significant digits before truncation so
        # float noise (0.3 / 0.1 = 2.9999999999999996) does not lose a whole
        # unit; nullif() makes a zero divisor (whose quotient printf would
        # print as 0) give NULL.
        divisor = sa.func.nullif(b, _int(0))
        quotient = sa.cast(sa.func.printf(_text("%.15g"), sa.cast(a, sa.Float()) / divisor), sa.Float())
        return Canonical(a - divisor * sa.cast(quotient, sa.Integer()))

    @staticmethod
    def postgresql(a, b):
        return Canonical(sa.func.mod(sa.cast(a, sa.Numeric()), sa.func.nullif(sa.cast(b, sa.Numeric()), _int(0))))


class ToInt(Portable):
    """A count: truncated toward zero, clamped to ±INT_LIMIT (an int4 on PostgreSQL)."""

    inherit_cache = True
    type = sa.Integer()

    @staticmethod
    def sqlite(x):
        # No clamp needed: SQLite saturates at the 64-bit range and never
        # fails, and every user of a count guards its own range.
        return sa.cast(x, sa.Integer())

    @staticmethod
    def postgresql(x):
        # least()/greatest() skip NULLs: the CASE keeps NULL NULL.
        limit = _int(runtime.INT_LIMIT)
        clamped = sa.func.greatest(sa.func.least(sa.cast(x, sa.Numeric()), limit), -limit)
        return sa.case((x.is_(None), sa.null()), else_=sa.cast(sa.func.trunc(clamped), sa.Integer()))


class RoundTo(Portable):
    """Half away from zero to ``digits`` (a bound integer 0-10) places."""

    inherit_cache = True

    @staticmethod
    def sqlite(x, digits):
        return Canonical(sa.func.round(x, digits))

    @staticmethod
    def postgresql(x, digits):
        return Canonical(sa.func.round(sa.cast(x, sa.Numeric()), digits))


class RoundToPower(Portable):
    """Half away from zero to a multiple of ``factor`` (10, 100, …)."""

    inherit_cache = True

    @staticmethod
    def sqlite(x, factor):
        return Canonical(sa.func.round(sa.cast(x, sa.Float()) / factor) * factor)

    @staticmethod
    def postgresql(x, factor):
        return Canonical(sa.func.round(sa.cast(x, sa.Numeric()) / factor) * factor)


class Floor(Portable):
    inherit_cache = True

    @staticmethod
    def sqlite(x):
        whole = sa.cast(x, sa.Integer())
        return sa.case((x < whole, whole - _int(1)), else_=whole)

    @staticmethod
    def postgresql(x):
        return sa.func.floor(sa.cast(x, sa.Numeric()))


class Ceiling(Portable):
    inherit_cache = True

    @staticmethod
    def sqlite(x):
        whole = sa.cast(x, sa.Integer())
        return sa.case((x > whole, whole + _int(1)), else_=whole)

    @staticmethod
    def postgresql(x):
        return sa.func.ceil(sa.cast(x, sa.Numeric()))


class SquareRoot(Portable):
    """NULL for negative numbers. SQLite needs its math functions (built in
    since 3.35 in the usual builds)."""

    inherit_cache = True

    @staticmethod
    def sqlite(x):
        return Canonical(sa.func.sqrt(x))  # NULL for negative numbers already

    @staticmethod
    def postgresql(x):
        safe = sa.func.greatest(_pg_wide(x), _int(0))
        return sa.case((x >= _int(0), Canonical(sa.func.sqrt(safe))), else_=sa.null())


class Power(Portable):
    """NULL for 0 to a negative power, a negative base to a fractional power,
    exponents beyond ±1000 and results of 1e28 or more."""

    inherit_cache = True

    @staticmethod
    def _invalid(base, exponent, whole):
        return sa.or_(
            sa.func.abs(exponent) > _int(runtime.MAX_EXPONENT),
            sa.and_(base == _int(0), exponent < _int(0)),
            sa.and_(base < _int(0), exponent != whole),
        )

    @classmethod
    def sqlite(cls, base, exponent):
        # pow() is NULL (NaN) for a negative base to a fractional power and
        # infinite for 0 to a negative power: both fail the limit test.
        result = sa.func.pow(base, exponent)
        valid = sa.and_(
            sa.func.abs(exponent) <= _int(runtime.MAX_EXPONENT),
            sa.func.abs(result) < _num(runtime.NUMBER_LIMIT),
        )
        return sa.case((valid, Canonical(result)), else_=sa.null())

    @classmethod
    def postgresql(cls, base, exponent):
        base, exponent = _pg_wide(base), sa.cast(exponent, sa.Numeric())
        invalid = cls._invalid(base, exponent, sa.func.trunc(exponent))
        safe_base = sa.case((invalid, _int(1)), else_=base)
        safe_exponent = sa.case((invalid, _int(1)), else_=exponent)
        result = sa.func.power(safe_base, safe_exponent)
        limit = _num(runtime.NUMBER_LIMIT)
        return sa.case((invalid, sa.null()), (sa.func.abs(result) < limit, Canonical(result)), else_=sa.null())


class Least(Portable):
    """The smaller of two values; NULL if either is NULL (like SQLite's min)."""

    inherit_cache = True
    type = sa.types.NullType()

    @staticmethod
    def sqlite(a, b):
        return sa.func.min(a, b)

    @staticmethod
    def postgresql(a, b):
        return sa.case((sa.or_(a.is_(None), b.is_(None)), sa.null()), else_=sa.func.least(a, b))


class Greatest(Portable):
    inherit_cache = True
    type = sa.types.NullType()

    @staticmethod
    def sqlite(a, b):
        return sa.func.max(a, b)

    @staticmethod
    def postgresql(a, b):
        return sa.case((sa.or_(a.is_(None), b.is_(None)), sa.null()), else_=sa.func.greatest(a, b))


class NumberText(Portable):
    """A number as text, like runtime.number_text: at most 15 significant
    digits and 10 decimals, no exponent, no trailing zeros."""

    inherit_cache = True
    type = sa.String()

    @staticmethod
    def sqlite(x):
        rounded = sa.func.round(x, _int(runtime.SCALE))
        whole_digits = sa.func.length(sa.cast(sa.func.abs(x), sa.Integer()))  # length() of a number: its digits
        places = sa.func.max(sa.func.min(_int(runtime.SCALE), _int(runtime.TEXT_DIGITS) - whole_digits), _int(0))
        # "#" keeps the decimal point, so rtrim never eats zeros of the whole
        # part; adding 0.0 turns -0.0 into 0.0.
        fixed = sa.func.printf(_text("%#.*f"), places, rounded + _num(0.0))
        trimmed = sa.func.rtrim(sa.func.rtrim(fixed, _text("0")), _text("."), type_=sa.String())
        # printf() prints NULL as 0; substr('', places) is '' — or NULL when
        # x is NULL — so the result stays NULL without naming x a third time.
        return trimmed.concat(sa.func.substr(_text(""), places, type_=sa.String()))

    @staticmethod
    def postgresql(x):
        rounded = sa.func.round(sa.cast(x, sa.Numeric()), _int(runtime.SCALE))
        whole_digits = sa.func.length(sa.cast(sa.func.trunc(sa.func.abs(rounded)), sa.String()))
        places = sa.func.greatest(sa.func.least(_int(runtime.SCALE), _int(runtime.TEXT_DIGITS) - whole_digits), _int(0))
        return sa.cast(sa.func.trim_scale(sa.func.round(rounded, places)), sa.String())


class TextNumber(Portable):
    """VALUE(): decimal text (optional sign, spaces around) → number; else NULL."""

    inherit_cache = True

    @staticmethod
    def sqlite(t):
        s = sa.func.trim(t, _text(" "))
        valid = sa.and_(
            s != _text(""),
            sa.not_(s.op("GLOB")(_text("*[^0-9.+-]*"))),
            sa.not_(sa.func.substr(s, _int(2)).op("GLOB")(_text("*[+-]*"))),
            sa.not_(s.op("GLOB")(_text("*.*.*"))),
            s.op("GLOB")(_text("*[0-9]*")),
        )
        return sa.case((valid, Canonical(sa.cast(s, sa.Numeric()))), else_=sa.null())

    @staticmethod
    def postgresql(t):
        pattern = _text(r"^ *[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+) *$")
        number = sa.cast(sa.func.trim(t, _text(" ")), sa.Numeric())
        return sa.case((t.op("~")(pattern), Canonical(number)), else_=sa.null())


# -- text -----------------------------------------------------------------------


class Position(Portable):
    """1-based position of ``needle`` in ``haystack``; 0 when absent; 1 for ''."""

    inherit_cache = True
    type = sa.BigInteger()

    @staticmethod
    def sqlite(haystack, needle):
        return sa.func.instr(haystack, needle)

    @staticmethod
    def postgresql(haystack, needle):
        return sa.func.strpos(haystack, needle)


LIKE_ESCAPE = "\\"


def like_escaped(text: str) -> str:
    """``text`` as a LIKE pattern that matches only itself (escape character ``\\``)."""
    return text.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")


def like_escaped_sql(text: ColumnElement) -> ColumnElement:
    """:func:`like_escaped` computed in SQL, for a pattern that is not a literal."""
    for special in ("\\", "%", "_"):
        text = sa.func.replace(text, _text(special), _text(LIKE_ESCAPE + special), type_=sa.String())
    return text


class TextMatch(Portable):
    """BEGINS / ENDS / CONTAINS (the subclasses) of ``part`` in ``t``.
    ``pattern`` is ``part`` as an escaped LIKE pattern with its ``%``
    wildcards. On PostgreSQL the test is ``t LIKE pattern``: case-sensitive
    there, and the planner estimates it from the column's statistics (an
    expression such as ``substr(t, 1, n) = part`` gets a blind guess). SQLite's
    LIKE ignores case, so SQLite keeps the exact forms in ``sqlite``."""

    inherit_cache = True
    type = sa.Boolean()

    @staticmethod
    def postgresql(t, part, pattern):
        return t.like(pattern, escape=LIKE_ESCAPE)


class Begins(TextMatch):
    inherit_cache = True

    @staticmethod
    def sqlite(t, part, pattern):
        return sa.func.substr(t, _int(1), sa.func.length(part), type_=sa.String()) == part


class Ends(TextMatch):
    inherit_cache = True

    @staticmethod
    def sqlite(t, part, pattern):
        tail = sa.func.substr(t, sa.func.length(t) - sa.func.length(part) + _int(1), type_=sa.String())
        return sa.case(
            (sa.or_(t.is_(None), part.is_(None)), sa.null()),
            (sa.func.length(part) > sa.func.length(t), sa.false()),
            else_=tail == part,
        )


class Contains(TextMatch):
    inherit_cache = True

    @staticmethod
    def sqlite(t, part, pattern):
        return sa.func.instr(t, part) > _int(0)


class Codepoints(Portable):
    """Text ordered by code point (PostgreSQL's "C" collation; SQLite's default)."""

    inherit_cache = True
    type = sa.String()

    @staticmethod
    def sqlite(t):
        return t

    @staticmethod
    def postgresql(t):
        return sa.collate(sa.cast(t, sa.Text()), "C")


class AsciiUpper(Portable):
    inherit_cache = True
    type = sa.String()

    @staticmethod
    def sqlite(t):
        return sa.func.upper(t)

    @staticmethod
    def postgresql(t):
        return sa.func.upper(Codepoints(t))


class AsciiLower(Portable):
    inherit_cache = True
    type = sa.String()

    @staticmethod
    def sqlite(t):
        return sa.func.lower(t)

    @staticmethod
    def postgresql(t):
        return sa.func.lower(Codepoints(t))


# -- dates ----------------------------------------------------------------------

_FIRST_ORDINAL_DAYS = runtime.MAX_DATE.toordinal() - runtime.MIN_DATE.toordinal()  # 3652058
_JULIAN_DAY_ONE = 1721425.5  # julianday('0001-01-01')
_BEFORE_YEAR_ONE = "0000-99"  # sorts after every year-0 date and before 0001-01-01


class MakeDate(Portable):
    """DATE(y, m, d) from counts (see ToInt); NULL when no such day."""

    inherit_cache = True
    type = sa.Date()

    @staticmethod
    def sqlite(y, m, d):
        # date(t, '+0 days') is NULL for impossible text and moves Feb 30 to
        # March: t is a real day exactly when it comes back unchanged (and
        # SQLite's year 0 is not one).
        text = sa.func.printf(_text("%04d-%02d-%02d"), y, m, d)
        valid = sa.and_(sa.func.date(text, _text("+0 days")) == text, text >= _text("0001-01-01"))
        return sa.case((valid, text), else_=sa.null())

    @staticmethod
    def postgresql(y, m, d):
        first = _pg_first_of_month(y, m)
        safe_day = sa.func.greatest(sa.func.least(d, _int(31)), _int(1))
        valid = sa.and_(
            y.between(_int(1), _int(9999)),
            m.between(_int(1), _int(12)),
            d.between(_int(1), _pg_days_in_month(first)),
        )
        return sa.case((valid, first + sa.cast(safe_day - _int(1), sa.Integer())), else_=sa.null())


def _pg_first_of_month(y, m):
    safe_y = sa.cast(sa.func.greatest(sa.func.least(y, _int(9999)), _int(1)), sa.Integer())
    safe_m = sa.cast(sa.func.greatest(sa.func.least(m, _int(12)), _int(1)), sa.Integer())
    return sa.func.make_date(safe_y, safe_m, sa.literal(1, sa.Integer()), type_=sa.Date())


def _pg_days_in_month(first):
    last = (
        first
        + sa.literal_column("interval '1 month'", sa.Interval())
        - sa.literal_column("interval '1 day'", sa.Interval())
    )
    return sa.cast(sa.extract("day", last), sa.Integer())


class AddDays(Portable):
    """date + n days; NULL outside years 1-9999. ``n`` is a count (ToInt)."""

    inherit_cache = True
    type = sa.Date()

    @staticmethod
    def sqlite(d, n):
        # date() is NULL after 9999; before year 1 the julian day is pushed
        # onto a sentinel that nullif() turns into NULL (no CASE: d once).
        sentinel = _num(_JULIAN_DAY_ONE - 0.5)
        julian = sa.func.nullif(sa.func.max(sa.func.julianday(d) + n, sentinel), sentinel)
        return sa.func.date(julian)

    @staticmethod
    def postgresql(d, n):
        origin = sa.func.make_date(
            sa.literal(1, sa.Integer()), sa.literal(1, sa.Integer()), sa.literal(1, sa.Integer()), type_=sa.Date()
        )
        ordinal = sa.cast(d - origin, sa.BigInteger()) + n
        safe = sa.cast(sa.func.greatest(sa.func.least(ordinal, _int(_FIRST_ORDINAL_DAYS)), _int(0)), sa.Integer())
        return sa.case((ordinal.between(_int(0), _int(_FIRST_ORDINAL_DAYS)), origin + safe), else_=sa.null())


class AddMonths(Portable):
    """date + n calendar months, the day clamped to the month's end."""

    inherit_cache = True
    type = sa.Date()

    @staticmethod
    def sqlite(d, n):
        # The first of the target month (CAST, not printf: printf() prints a
        # NULL n as 0), NULL before year 1 via the sentinel; then the same
        # day, or the month's last day when the month is shorter: min() of
        # the two as text. December 9999 has no next month: its last day.
        modifier = sa.cast(n, sa.String()).concat(_text(" months"))
        start = sa.func.date(d, _text("start of month"), modifier)
        sentinel = _text(_BEFORE_YEAR_ONE)
        first = sa.func.nullif(sa.func.max(start, sentinel), sentinel)
        day = sa.cast(sa.func.strftime(_text("%d"), d), sa.Integer())
        same_day = sa.func.date(first, sa.func.printf(_text("+%d days"), day - _int(1)))
        last_day = sa.func.coalesce(sa.func.date(first, _text("+1 month"), _text("-1 day")), _text("9999-12-31"))
        return sa.func.min(same_day, last_day, type_=sa.Date())

    @staticmethod
    def postgresql(d, n):
        # PostgreSQL's month arithmetic clamps to the month's end by itself;
        # the CASE keeps the result (and so the arithmetic) within years 1-9999.
        year = sa.cast(sa.extract("year", d), sa.BigInteger())
        month = sa.cast(sa.extract("month", d), sa.BigInteger())
        valid = (year * _int(12) + month - _int(1) + n).between(_int(12), _int(9999 * 12 + 11))
        safe = sa.case((valid, n), else_=_int(0))
        shifted = d + sa.func.make_interval(_int(0), safe, type_=sa.Interval())
        return sa.case((valid, sa.cast(shifted, sa.Date())), else_=sa.null())


class DaysBetween(Portable):
    """end - start in whole days."""

    inherit_cache = True
    type = sa.BigInteger()

    @staticmethod
    def sqlite(start, end):
        return sa.cast(sa.func.julianday(end) - sa.func.julianday(start), sa.Integer())

    @staticmethod
    def postgresql(start, end):
        return sa.cast(end - start, sa.BigInteger())


class Year(Portable):
    """The year of a date."""

    inherit_cache = True
    type = sa.BigInteger()

    @staticmethod
    def sqlite(d):
        return sa.cast(sa.func.strftime(_text("%Y"), d), sa.Integer())

    @staticmethod
    def postgresql(d):
        return sa.cast(sa.extract("year", d), sa.BigInteger())


class Month(Portable):
    """The month (1-12) of a date."""

    inherit_cache = True
    type = sa.BigInteger()

    @staticmethod
    def sqlite(d):
        return sa.cast(sa.func.strftime(_text("%m"), d), sa.Integer())

    @staticmethod
    def postgresql(d):
        return sa.cast(sa.extract("month", d), sa.BigInteger())


class Day(Portable):
    """The day of the month of a date."""

    inherit_cache = True
    type = sa.BigInteger()

    @staticmethod
    def sqlite(d):
        return sa.cast(sa.func.strftime(_text("%d"), d), sa.Integer())

    @staticmethod
    def postgresql(d):
        return sa.cast(sa.extract("day", d), sa.BigInteger())


class Weekday(Portable):
    """1 = Sunday … 7 = Saturday."""

    inherit_cache = True
    type = sa.BigInteger()

    @staticmethod
    def sqlite(d):
        return sa.cast(sa.func.strftime(_text("%w"), d), sa.Integer()) + _int(1)

    @staticmethod
    def postgresql(d):
        return sa.cast(sa.extract("dow", d), sa.BigInteger()) + _int(1)


class DateOf(Portable):
    """The UTC date of a datetime."""

    inherit_cache = True
    type = sa.Date()

    @staticmethod
    def sqlite(dt):
        return sa.func.date(dt)

    @staticmethod
    def postgresql(dt):
        return sa.cast(sa.func.timezone(_text("UTC"), dt), sa.Date())


class TextDate(Portable):
    """DATEVALUE(text): exactly YYYY-MM-DD → date; else NULL."""

    inherit_cache = True
    type = sa.Date()

    @staticmethod
    def sqlite(t):
        matches = t.op("GLOB")(_text("[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]"))
        return sa.case((matches, MakeDate.sqlite(*_date_fields(t))), else_=sa.null())

    @staticmethod
    def postgresql(t):
        matches = t.op("~")(_text("^[0-9]{4}-[0-9]{2}-[0-9]{2}$"))
        safe = sa.case((matches, t), else_=_text("0001-01-01"))
        return sa.case((matches, MakeDate.postgresql(*_date_fields(safe))), else_=sa.null())


def _date_fields(t):
    return [
        sa.cast(sa.func.substr(t, _int(start), _int(length)), sa.Integer())
        for start, length in ((1, 4), (6, 2), (9, 2))
    ]


class DatetimeDifference(Portable):
    """a - b in days, at millisecond precision."""

    inherit_cache = True

    @staticmethod
    def sqlite(a, b):
        ms = sa.func.round((sa.func.julianday(a) - sa.func.julianday(b)) * _int(runtime.MS_PER_DAY))
        return Canonical(ms / _num(float(runtime.MS_PER_DAY)))

    @staticmethod
    def postgresql(a, b):
        def ms(x):  # half up, like SQLite's julian-day milliseconds
            return sa.func.floor(sa.extract("epoch", x) * _int(1000) + _num(Decimal("0.5")))

        return Canonical(_pg_wide(ms(a) - ms(b)) / _num(runtime.MS_PER_DAY))


class DateText(Portable):
    inherit_cache = True
    type = sa.String()

    @staticmethod
    def sqlite(d):
        return sa.func.date(d)

    @staticmethod
    def postgresql(d):
        return sa.func.to_char(d, _text("YYYY-MM-DD"))


class DatetimeText(Portable):
    """ISO 8601 in UTC to the second: 2026-01-31T09:30:00Z."""

    inherit_cache = True
    type = sa.String()

    @staticmethod
    def sqlite(dt):
        return sa.func.strftime(_text("%Y-%m-%dT%H:%M:%SZ"), dt)

    @staticmethod
    def postgresql(dt):
        return sa.func.to_char(sa.func.timezone(_text("UTC"), dt), _text('YYYY-MM-DD"T"HH24:MI:SS"Z"'))
