"""Hypothesis strategies: well-typed rule texts over the deal object, and
deal records the record store accepts.

The generated numbers stay where every backend computes exactly the same
answer (docs/rules.md, "Numbers"): at most about 15 significant digits —
SQLite computes with 64-bit floats. So multiplication and division appear
only once, at the top of a number expression, on values with at most two
decimals.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

from hypothesis import strategies as st

from tests.rules.model import COLORS, INDUSTRIES, STAGES

TEXT_ALPHABET = "abcAB z_.-09é中'\"\\"
TAGS = ["VIP", "vip2", "Golf", "a b", "Ünï"]
MAX_DEPTH = 3


def quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


text_literal = st.text(alphabet=TEXT_ALPHABET, max_size=6).map(quote)
int_literal = st.integers(-100, 100).map(str)
decimal_literal = st.decimals(-100, 100, places=2, allow_nan=False, allow_infinity=False).map(lambda d: format(d, "f"))
number_literal = st.one_of(int_literal, decimal_literal)
number_leaf = st.one_of(
    st.sampled_from(["amount", "qty", "rate", "price", "Account.Rating", "Account.Parent.Rating"]),
    number_literal,
)
# Bases whose cube stays within a float's 15 digits.
power_base = st.one_of(st.sampled_from(["qty", "rate", "Account.Rating"]), number_literal)
text_leaf = st.one_of(
    st.sampled_from(["name", "note", "email", "stage", "Account.Name", "Account.Industry", "Account.Parent.Name"]),
    text_literal,
)
date_leaf = st.one_of(
    st.sampled_from(["close_date", "TODAY()", "$Today"]),
    st.builds(
        "DATE({}, {}, {})".format,
        st.one_of(st.integers(1, 9999), st.integers(1990, 2035)),
        st.integers(0, 13),
        st.integers(0, 32),
    ),
)
datetime_leaf = st.sampled_from(["seen_at", "NOW()", "$Now", "created_at"])
boolean_leaf = st.sampled_from(["active", "true", "false"])


# Each kind maps to builders ``(draw, sub) -> text``; ``sub(kind)`` draws a
# sub-expression one level shallower. One composite strategy walks them, so
# the strategy itself stays small (no giant one_of trees).


def _f(name: str, *kinds: str):
    return lambda draw, sub: f"{name}({', '.join(sub(k) for k in kinds)})"


def _op(op: str, a: str, b: str):
    return lambda draw, sub: f"({sub(a)} {op} {sub(b)})"


def _leaf(strategy):
    return lambda draw, sub: draw(strategy)


_COMPARE = st.sampled_from(["=", "!=", "<>", "<", "<=", ">", ">="])

LEAVES = {
    "small": _leaf(number_leaf),
    "number": _leaf(number_leaf),
    "text": _leaf(text_leaf),
    "date": _leaf(date_leaf),
    "boolean": _leaf(boolean_leaf),
}

BUILDERS = {
    # Numbers with few decimals (exact on every backend).
    "small": [
        _leaf(number_leaf),
        _op("+", "small", "small"),
        _op("-", "small", "small"),
        lambda draw, sub: f"-({sub('small')})",
        _f("ABS", "small"),
        lambda draw, sub: f"ROUND({sub('small')}, {draw(st.sampled_from(['0', '1', '2', '-1', '-2']))})",
        _f("FLOOR", "small"),
        _f("CEILING", "small"),
        lambda draw, sub: f"MOD({sub('small')}, {draw(number_leaf)})",
        _f("MIN", "small", "small"),
        lambda draw, sub: f"MAX({sub('small')}, {sub('small')}, {draw(number_leaf)})",
        _f("LEN", "text"),
        lambda draw, sub: f"FIND({draw(text_leaf)}, {sub('text')})",
        lambda draw, sub: f"FIND({draw(text_leaf)}, {sub('text')}, {draw(number_leaf)})",
        lambda draw, sub: f"VALUE({draw(text_leaf)})",
        _f("YEAR", "date"),
        _f("MONTH", "date"),
        _f("DAY", "date"),
        _f("WEEKDAY", "date"),
        _f("DAYSBETWEEN", "date", "date"),
        _op("-", "date", "date"),
        _f("IF", "boolean", "small", "small"),
        lambda draw, sub: f"CASE({sub('small')}, {draw(number_literal)}, {sub('small')}, {sub('small')})",
        _f("BLANKVALUE", "small", "small"),
    ],
    # Any number: a small one, possibly multiplied, divided, rooted or raised once at the top.
    "number": [
        lambda draw, sub: sub("small"),
        lambda draw, sub: f"({sub('small')} * {draw(number_leaf)})",
        lambda draw, sub: f"({sub('small')} / {draw(number_leaf)})",
        _f("SQRT", "small"),
        lambda draw, sub: f"POWER({draw(power_base)}, {draw(st.integers(-2, 3))})",
        lambda draw, sub: f"({draw(datetime_leaf)} - {draw(datetime_leaf)})",
    ],
    "text": [
        _leaf(text_leaf),
        _op("&", "text", "text"),
        _f("LEFT", "text", "small"),
        _f("RIGHT", "text", "small"),
        _f("MID", "text", "small", "small"),
        _f("UPPER", "text"),
        _f("LOWER", "text"),
        _f("TRIM", "text"),
        lambda draw, sub: f"SUBSTITUTE({sub('text')}, {draw(text_leaf)}, {draw(text_leaf)})",
        _f("TEXT", "number"),
        _f("TEXT", "date"),
        lambda draw, sub: f"TEXT({draw(datetime_leaf)})",
        _f("TEXT", "boolean"),
        _f("IF", "boolean", "text", "text"),
        lambda draw, sub: f"CASE({sub('text')}, {draw(text_literal)}, {sub('text')}, {sub('text')})",
        _f("BLANKVALUE", "text", "text"),
    ],
    "date": [
        _leaf(date_leaf),
        _f("ADDDAYS", "date", "small"),
        _f("ADDMONTHS", "date", "small"),
        _op("+", "date", "small"),
        _op("-", "date", "small"),
        _f("DATE", "small", "small", "small"),
        _f("DATEVALUE", "text"),
        _leaf(st.sampled_from(['DATEVALUE("2024-02-29")', 'DATEVALUE("2023-02-29")', "DATEVALUE(seen_at)"])),
        _f("MIN", "date", "date"),
        _f("MAX", "date", "date"),
        _f("IF", "boolean", "date", "date"),
    ],
    "boolean": [
        _leaf(boolean_leaf),
        lambda draw, sub: f"({sub('number')} {draw(_COMPARE)} {sub('number')})",
        lambda draw, sub: f"({sub('text')} {draw(_COMPARE)} {sub('text')})",
        lambda draw, sub: f"({sub('date')} {draw(_COMPARE)} {sub('date')})",
        lambda draw, sub: f"({draw(datetime_leaf)} {draw(_COMPARE)} {draw(datetime_leaf)})",
        _op("and", "boolean", "boolean"),
        _op("or", "boolean", "boolean"),
        _op("&&", "boolean", "boolean"),
        lambda draw, sub: f"not ({sub('boolean')})",
        _f("AND", "boolean", "boolean", "boolean"),
        _f("OR", "boolean", "boolean"),
        _f("NOT", "boolean"),
        _f("ISBLANK", "number"),
        _f("ISBLANK", "text"),
        _f("ISBLANK", "date"),
        _leaf(st.sampled_from(["ISBLANK(colors)", "ISBLANK(labels)", "ISBLANK(account)", "ISBLANK(seen_at)"])),
        _f("CONTAINS", "text", "text"),
        _f("BEGINS", "text", "text"),
        _f("ENDS", "text", "text"),
        lambda draw, sub: f"({sub('number')} IN ({', '.join(draw(st.lists(number_literal, min_size=1, max_size=3)))}))",
        lambda draw, sub: f"({sub('text')} NOT IN ({', '.join(draw(st.lists(text_literal, min_size=1, max_size=3)))}))",
        _leaf(st.sampled_from(STAGES).map(lambda v: f"ISPICKVAL(stage, {quote(v)})")),
        _leaf(st.sampled_from(STAGES).map(lambda v: f"(stage = {quote(v)})")),
        _leaf(st.sampled_from(INDUSTRIES).map(lambda v: f"(Account.Industry IN ({quote(v)}))")),
        _leaf(st.sampled_from(COLORS).map(lambda v: f"INCLUDES(colors, {quote(v)})")),
        _leaf(st.sampled_from([*TAGS, "vip", "GOLF"]).map(lambda v: f"INCLUDES(labels, {quote(v)})")),
        lambda draw, sub: f"({draw(boolean_leaf)} = ({sub('boolean')}))",
        lambda draw, sub: f"({draw(boolean_leaf)} != NOT({sub('boolean')}))",
        _f("IF", "boolean", "boolean", "boolean"),
        _leaf(st.just("(owner_id = $User.Id)")),
    ],
}


@st.composite
def expressions(draw, kind: str, depth: int = MAX_DEPTH) -> str:
    """A well-typed rule of ``kind`` (boolean, number, text, date)."""

    def build(current: str, level: int) -> str:
        if level <= 0:
            return LEAVES[current](draw, None)
        builders = BUILDERS[current]
        builder = builders[draw(st.integers(0, len(builders) - 1))]
        return builder(draw, lambda sub_kind: build(sub_kind, level - 1))

    return build(kind, depth)


def expression_of(kind: str) -> st.SearchStrategy[str]:
    return expressions(kind.lower())


# -- records ---------------------------------------------------------------------------------------

_two_places = st.decimals(places=2, allow_nan=False, allow_infinity=False)


def _maybe(strategy):
    return st.one_of(st.none(), strategy)


deal = st.fixed_dictionaries(
    {},
    optional={
        "name": _maybe(st.text(alphabet=TEXT_ALPHABET, min_size=1, max_size=10)),
        "note": _maybe(st.text(alphabet=TEXT_ALPHABET + "0123456789 ", max_size=10)),
        "email": _maybe(st.sampled_from(["ann@acme.com", "b.c@d.org", "x@y.co"])),
        "amount": _maybe(_two_places.filter(lambda d: abs(d) <= 10000).map(str)),
        "qty": _maybe(st.integers(-1000, 1000)),
        "rate": _maybe(st.decimals(0, 100, places=2).map(str)),
        "price": _maybe(st.decimals(0, 1000, places=2).map(str)),
        "active": _maybe(st.booleans()),
        "close_date": _maybe(
            st.one_of(
                st.dates(date(1990, 1, 1), date(2035, 12, 31)),
                st.sampled_from([date(1, 1, 1), date(9999, 12, 31), date(2024, 2, 29), date(2026, 1, 31)]),
            ).map(date.isoformat)
        ),
        "seen_at": _maybe(
            st.integers(0, 40 * 365 * 86400).map(
                lambda s: (datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=s)).isoformat()
            )
        ),
        "stage": _maybe(st.sampled_from(STAGES)),
        "colors": _maybe(st.lists(st.sampled_from(COLORS), unique=True, max_size=3)),
        "labels": _maybe(st.lists(st.sampled_from(TAGS), unique_by=str.casefold, max_size=3)),
        "account": _maybe(st.integers(0, 2)),
    },
)

ACCOUNTS = [
    {"name": "Initech", "industry": "tech", "rating": 5},
    {"name": "Globex", "industry": "finance", "rating": 3},
    {"name": "Umbrella", "rating": None},
]
PARENTS = {0: 1, 1: 2}


def random_deal(rng) -> dict:
    """A deal like :data:`deal` draws, from a ``random.Random`` (fixed data sets)."""

    def maybe(value):
        return None if rng.random() < 0.15 else value

    def text_of(alphabet: str, low: int, high: int) -> str:
        return "".join(rng.choice(alphabet) for _ in range(rng.randint(low, high)))

    seconds = rng.randint(0, 40 * 365 * 86400)
    return {
        "name": maybe(text_of(TEXT_ALPHABET, 1, 10)),
        "note": maybe(text_of(TEXT_ALPHABET + "0123456789 ", 0, 10)),
        "email": maybe(rng.choice(["ann@acme.com", "b.c@d.org", "x@y.co"])),
        "amount": maybe(f"{rng.randint(-1_000_000, 1_000_000) / 100:.2f}"),
        "qty": maybe(rng.randint(-1000, 1000)),
        "rate": maybe(f"{rng.randint(0, 10_000) / 100:.2f}"),
        "price": maybe(f"{rng.randint(0, 100_000) / 100:.2f}"),
        "active": maybe(rng.random() < 0.5),
        "close_date": maybe((date(1990, 1, 1) + timedelta(days=rng.randint(0, 16_800))).isoformat()),
        "seen_at": maybe((datetime(2000, 1, 1, tzinfo=UTC) + timedelta(seconds=seconds)).isoformat()),
        "stage": maybe(rng.choice(STAGES)),
        "colors": maybe(rng.sample(COLORS, rng.randint(0, 3))),
        "labels": maybe(rng.sample(TAGS, rng.randint(0, 3))),
        "account": maybe(rng.randint(0, 2)),
    }
