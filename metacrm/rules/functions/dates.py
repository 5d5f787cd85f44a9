"""Date functions: TODAY, NOW, DATE, DATEVALUE, YEAR, MONTH, DAY,
WEEKDAY, ADDDAYS, ADDMONTHS, DAYSBETWEEN."""

from __future__ import annotations

from collections.abc import Callable

from metacrm.rules import runtime
from metacrm.rules.functions import sql as sf
from metacrm.rules.functions.base import (
    Function,
    SqlCall,
    param,
)
from metacrm.rules.types import DATE, DATETIME, NUMBER, TypedExpression


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


# The parameter types the entries below repeat.
D = ("DATE",)
N = ("NUMBER",)

DATES = [
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
        (param("year", *N), param("month", *N), param("day", *N)),
        DATE,
        runtime.make_date,
        lambda c: sf.MakeDate(*(sf.ToInt(a) for a in c.args)),
        "The date; null when there is no such day (DATE(2026, 2, 30)).",
        "DATE(2026, 1, 31)",
    ),
    Function(
        "DATEVALUE",
        "date",
        (param("value", "TEXT", "PICKLIST", "DATETIME"),),
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
        (param("date", *D),),
        NUMBER,
        lambda d: d.year,
        lambda c: sf.Year(c.args[0]),
        "The year.",
        "YEAR(CloseDate) = 2026",
    ),
    Function(
        "MONTH",
        "date",
        (param("date", *D),),
        NUMBER,
        lambda d: d.month,
        lambda c: sf.Month(c.args[0]),
        "The month, 1-12.",
        "MONTH(DATE(2026, 1, 31)) = 1",
    ),
    Function(
        "DAY",
        "date",
        (param("date", *D),),
        NUMBER,
        lambda d: d.day,
        lambda c: sf.Day(c.args[0]),
        "The day of the month.",
        "DAY(DATE(2026, 1, 31)) = 31",
    ),
    Function(
        "WEEKDAY",
        "date",
        (param("date", *D),),
        NUMBER,
        runtime.weekday,
        lambda c: sf.Weekday(c.args[0]),
        "The day of the week: 1 = Sunday … 7 = Saturday.",
        "WEEKDAY(DATE(2026, 1, 31)) = 7",
    ),
    Function(
        "ADDDAYS",
        "date",
        (param("date", *D), param("days", *N)),
        DATE,
        runtime.add_days,
        lambda c: sf.AddDays(c.args[0], sf.ToInt(c.args[1])),
        "The date ``days`` later (fractions are cut; same as date + days); null beyond year 9999.",
        "ADDDAYS(DATE(2026, 1, 31), 1) = DATE(2026, 2, 1)",
    ),
    Function(
        "ADDMONTHS",
        "date",
        (param("date", *D), param("months", *N)),
        DATE,
        runtime.add_months,
        lambda c: sf.AddMonths(c.args[0], sf.ToInt(c.args[1])),
        "The date ``months`` calendar months later, the day clamped to the end of the month.",
        "ADDMONTHS(DATE(2026, 1, 31), 1) = DATE(2026, 2, 28)",
    ),
    Function(
        "DAYSBETWEEN",
        "date",
        (param("start", *D), param("end", *D)),
        NUMBER,
        runtime.days_between,
        lambda c: sf.DaysBetween(*c.args),
        "end - start in days (negative when end is earlier).",
        "DAYSBETWEEN(DATE(2026, 1, 1), DATE(2026, 1, 31)) = 30",
    ),
]
