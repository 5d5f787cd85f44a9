"""What rule values mean in Python: the arithmetic, text and date semantics
the Python compiler runs and the SQL compiler reproduces.

* Numbers are exact (``int`` or ``Decimal``). Every arithmetic result is
  rounded to :data:`SCALE` (10) decimal places, half away from zero, and an
  integral result becomes an ``int``; so ``1/3*3`` is ``0.9999999999`` on
  every backend, and float noise on SQLite never shows.
* Text case changes (UPPER, LOWER, tags matching) touch only ASCII letters:
  the one behaviour SQLite, PostgreSQL and Python share.
* Dates stay within years 1-9999; anything outside is null.
* Datetimes are aware (UTC); a naive one is read as UTC.

No function here raises for bad input: it returns None (null).
Depends on the standard library only.
"""

from __future__ import annotations

import calendar
import decimal
import re
import string
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

SCALE = 10
TEXT_DIGITS = 15  # significant digits TEXT() shows (what a 64-bit float holds)
QUANTUM = Decimal(1).scaleb(-SCALE)
CONTEXT = decimal.Context(prec=120, rounding=decimal.ROUND_HALF_UP, Emax=999_999, Emin=-999_999)
INT_LIMIT = 10**9  # counts (characters, days, months) are clamped to ±this
MAX_EXPONENT = 1000  # POWER exponents beyond ±this give null
NUMBER_LIMIT = Decimal("1e28")  # POWER results at or beyond this give null
OVERFLOW = 10**100  # any result at or beyond this magnitude overflows (null)
_DECIMAL_OVERFLOW = Decimal(OVERFLOW)  # the same, compared without converting it each time
MIN_DATE, MAX_DATE = date(1, 1, 1), date(9999, 12, 31)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MS_PER_DAY = 86_400_000

MAX_TEXT = 1_000_000  # characters a text value may reach while evaluating


class TooCostly(Exception):
    """An evaluation would exceed a size limit (the compiler reports it as a RuleError)."""


_NUMBER_TEXT = re.compile(r" *[+-]?([0-9]+(\.[0-9]*)?|\.[0-9]+) *")
_DATE_TEXT = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")
_TO_UPPER = str.maketrans(string.ascii_lowercase, string.ascii_uppercase)
_TO_LOWER = str.maketrans(string.ascii_uppercase, string.ascii_lowercase)


def normalise(type_name: str, value: Any) -> Any:
    """A value read from a record in the form the rules compute with: floats
    (SQLite) → Decimal, naive datetimes → UTC, ``;a;b;`` → a list, 0/1 → bool."""
    return normaliser(type_name)(value)


def is_blank(value: Any) -> bool:
    """Null, empty text or no values: what ISBLANK calls blank."""
    return value is None or value == "" or (isinstance(value, list) and not value)


def same_value(type_name: str, a: Any, b: Any) -> bool:
    """Whether two values of a ``type_name`` field are the same to the rules:
    compared as rules read them (:func:`normalise`), every blank alike. The
    one test of ISCHANGED and of ``WHEN field changed (to …)``."""
    a, b = normalise(type_name, a), normalise(type_name, b)
    return (is_blank(a) and is_blank(b)) or a == b


def changed(type_name: str, before: Any, after: Any) -> bool:
    """Whether a field's value changed from ``before`` to ``after`` (see :func:`same_value`)."""
    return not same_value(type_name, before, after)


def normaliser(type_name: str):
    """:func:`normalise` for one type: a function of the value."""
    return _NORMALISERS.get(type_name, _as_is)


def _as_is(value: Any) -> Any:
    return value


def _number_value(value: Any) -> Any:
    return float_number(value) if isinstance(value, float) else value


def _datetime_value(value: Any) -> Any:
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return as_datetime(value)


def _date_value(value: Any) -> Any:
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, str):
        return date.fromisoformat(value[:10])
    return value


def _multi_value(value: Any) -> Any:
    if value is None:
        return None
    if isinstance(value, str):
        return [part for part in value.split(";") if part]
    return list(value)


def _boolean_value(value: Any) -> Any:
    return None if value is None else bool(value)


def _id_value(value: Any) -> Any:
    return None if value is None else int(value)


_NORMALISERS = {
    "NUMBER": _number_value,
    "DATETIME": _datetime_value,
    "DATE": _date_value,
    "MULTI": _multi_value,
    "BOOLEAN": _boolean_value,
    "ID": _id_value,
}


# -- numbers -------------------------------------------------------------------


def as_decimal(value: Any) -> Decimal:
    if isinstance(value, Decimal):
        return value
    if isinstance(value, float):
        return Decimal(repr(value))
    return Decimal(value)


def float_number(value: float) -> Decimal | None:
    """A 64-bit float as the decimal of its 15 significant digits."""
    if value != value or value in (float("inf"), float("-inf")):
        return None
    return Decimal(format(value, f".{TEXT_DIGITS}g"))


def number(value: Any) -> int | Decimal | None:
    """An arithmetic result in canonical form: rounded to SCALE places,
    ``int`` when integral; None when it cannot be represented."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value if -OVERFLOW < value < OVERFLOW else None
    try:
        value = as_decimal(value)
        if not value.is_finite() or abs(value) >= _DECIMAL_OVERFLOW:
            return None
        rounded = value.quantize(QUANTUM, context=CONTEXT)
    except (decimal.InvalidOperation, ValueError):
        return None
    integral = rounded.to_integral_value(context=CONTEXT)
    if rounded == integral:
        return int(integral)
    return rounded.normalize(CONTEXT)


def to_int(value: Any) -> int:
    """A count: truncated toward zero, clamped to ±INT_LIMIT."""
    if isinstance(value, int):
        return max(-INT_LIMIT, min(INT_LIMIT, value))
    value = as_decimal(value)
    if value >= INT_LIMIT:
        return INT_LIMIT
    if value <= -INT_LIMIT:
        return -INT_LIMIT
    return int(value)


def add(a, b):
    if type(a) is int and type(b) is int:  # number(a + b) without its type tests
        result = a + b
        return result if -OVERFLOW < result < OVERFLOW else None
    return number(CONTEXT.add(as_decimal(a), as_decimal(b)))


def subtract(a, b):
    if type(a) is int and type(b) is int:  # number(a - b) without its type tests
        result = a - b
        return result if -OVERFLOW < result < OVERFLOW else None
    return number(CONTEXT.subtract(as_decimal(a), as_decimal(b)))


def multiply(a, b):
    if type(a) is int and type(b) is int:  # number(a * b) without its type tests
        result = a * b
        return result if -OVERFLOW < result < OVERFLOW else None
    return number(CONTEXT.multiply(as_decimal(a), as_decimal(b)))


def divide(a, b):
    """a / b; null when b is 0."""
    if b == 0:
        return None
    return number(CONTEXT.divide(as_decimal(a), as_decimal(b)))


def negate(a):
    return -a


def modulo(a, b):
    """The remainder with the sign of ``a`` (a - b * TRUNC(a / b)); null when b is 0."""
    if b == 0:
        return None
    return number(CONTEXT.remainder(as_decimal(a), as_decimal(b)))


_QUANTA = {digits: Decimal(1).scaleb(-digits) for digits in range(-10, 11)}  # ROUND's digits


def round_to(value, digits: int):
    """Half away from zero to ``digits`` places (negative: tens, hundreds…)."""
    quantum = _QUANTA.get(digits) or Decimal(1).scaleb(-digits)
    try:
        return number(as_decimal(value).quantize(quantum, rounding=decimal.ROUND_HALF_UP, context=CONTEXT))
    except decimal.InvalidOperation:
        return None


def floor(value):
    return int(as_decimal(value).to_integral_value(rounding=decimal.ROUND_FLOOR, context=CONTEXT))


def ceiling(value):
    return int(as_decimal(value).to_integral_value(rounding=decimal.ROUND_CEILING, context=CONTEXT))


def square_root(value):
    if value < 0:
        return None
    return number(as_decimal(value).sqrt(CONTEXT))


def power(base, exponent):
    base, exponent = as_decimal(base), as_decimal(exponent)
    if abs(exponent) > MAX_EXPONENT:
        return None
    if exponent == 0:  # 0^0 = 1, as in SQL
        return 1
    if base == 0 and exponent < 0:
        return None
    if base < 0 and exponent != exponent.to_integral_value():
        return None
    try:
        result = CONTEXT.power(base, exponent)
    except (decimal.InvalidOperation, decimal.Overflow):
        return None
    if abs(result) >= NUMBER_LIMIT:
        return None
    return number(result)


def number_text(value) -> str:
    """A number as text: at most TEXT_DIGITS (15) significant digits and
    SCALE (10) decimals, rounded half away from zero; no exponent, no
    trailing zeros."""
    rounded = as_decimal(value).quantize(QUANTUM, context=CONTEXT)
    whole_digits = len(str(int(abs(rounded))))
    places = max(0, min(SCALE, TEXT_DIGITS - whole_digits))
    rounded = rounded.quantize(Decimal(1).scaleb(-places), rounding=decimal.ROUND_HALF_UP, context=CONTEXT)
    text = format(rounded, "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text == "-0" else text


def text_number(text: str):
    """VALUE(): decimal text (optional sign, spaces around) → number; else null."""
    if not _NUMBER_TEXT.fullmatch(text):
        return None
    return number(Decimal(text.strip(" ")))


# -- text ----------------------------------------------------------------------


def upper(text: str) -> str:
    return text.translate(_TO_UPPER)


def lower(text: str) -> str:
    return text.translate(_TO_LOWER)


def left(text: str, count) -> str:
    return text[: max(to_int(count), 0)]


def right(text: str, count) -> str:
    count = to_int(count)
    return text[-count:] if count > 0 else ""


def mid(text: str, start, count) -> str:
    begin = max(to_int(start), 1) - 1
    return text[begin : begin + max(to_int(count), 0)]


def find(search: str, text: str, start=1) -> int:
    begin = max(to_int(start), 1)
    position = text[begin - 1 :].find(search)
    return 0 if position < 0 else position + begin


def substitute(text: str, old: str, new: str) -> str:
    if old == "":
        return text
    if len(new) > len(old) and len(text) + text.count(old) * (len(new) - len(old)) > MAX_TEXT:
        raise TooCostly(f"the text would grow beyond {MAX_TEXT:,} characters")
    return text.replace(old, new)


# -- dates ---------------------------------------------------------------------


def as_datetime(value: Any) -> datetime | None:
    """A datetime read as UTC (naive → UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value.astimezone(UTC)


def make_date(year, month, day) -> date | None:
    try:
        return date(to_int(year), to_int(month), to_int(day))
    except ValueError:
        return None


def add_days(value: date, days) -> date | None:
    ordinal = value.toordinal() + to_int(days)
    if not MIN_DATE.toordinal() <= ordinal <= MAX_DATE.toordinal():
        return None
    return date.fromordinal(ordinal)


def add_months(value: date, months) -> date | None:
    """Calendar months later; the day is clamped to the end of the month
    (Jan 31 + 1 month = Feb 28/29)."""
    total = value.year * 12 + value.month - 1 + to_int(months)
    year, month = divmod(total, 12)
    if not 1 <= year <= 9999:
        return None
    return date(year, month + 1, min(value.day, calendar.monthrange(year, month + 1)[1]))


def days_between(start: date, end: date) -> int:
    return end.toordinal() - start.toordinal()


def weekday(value: date) -> int:
    """1 = Sunday … 7 = Saturday."""
    return value.isoweekday() % 7 + 1


def epoch_ms(value: datetime) -> int:
    micros = (as_datetime(value) - EPOCH) // timedelta(microseconds=1)
    return (micros + 500) // 1000


def datetime_difference(a: datetime, b: datetime):
    """a - b in days, at millisecond precision."""
    return number(CONTEXT.divide(Decimal(epoch_ms(a) - epoch_ms(b)), Decimal(MS_PER_DAY)))


def date_of(value: datetime) -> date:
    return as_datetime(value).date()


def text_date(text: str) -> date | None:
    """DATEVALUE(): exactly ``YYYY-MM-DD`` → date; else null."""
    if not _DATE_TEXT.fullmatch(text):
        return None
    return make_date(int(text[:4]), int(text[5:7]), int(text[8:10]))


def date_text(value: date) -> str:
    return value.isoformat()


def datetime_text(value: datetime) -> str:
    v = as_datetime(value)
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}Z"
