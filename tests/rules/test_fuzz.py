"""Fuzzing: random text and random syntax trees through the whole pipeline
(parse, check, both compilers, evaluation) may only ever raise RuleError —
never another exception, never hang."""

from __future__ import annotations

import contextlib
import os
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy.dialects import postgresql, sqlite

from metacrm.rules import (
    CheckContext,
    RecordContext,
    RuleError,
    SqlContext,
    ast,
    check,
    compile_python,
    compile_sql,
    default_registry,
    parse,
)
from tests.rules.model import COLORS, STAGES, in_memory_model
from tests.rules.strategies import expressions

MODEL = in_memory_model()
FIELDS = sorted(MODEL.object("deal").fields) + ["owner_id", "Account", "account.parent", "nope"]
FUNCTIONS = default_registry().names() + ["FOO", "if", "Len"]
TOKENS = [
    "(",
    ")",
    ",",
    ".",
    "+",
    "-",
    "*",
    "/",
    "&",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    "!",
    "&&",
    "||",
    "and",
    "OR",
    "not",
    "NOT(",
    "in",
    "IN",
    "true",
    "FALSE",
    "null",
    "$User",
    "$User.Id",
    "$Now",
    "$Today",
    "1",
    "0",
    "-3",
    "2.5",
    "99999999999999999999999999999",
    '"a"',
    "'b'",
    '""',
    '"\\u00e9"',
    '"\\q"',
    '"open"',
    "/*",
    "*/",
    "\n",
    "#",
    "@",
    "'",
    '"',
    *FIELDS,
    *FUNCTIONS,
]

FUZZ = settings(
    max_examples=int(os.environ.get("METACRM_RULES_EXAMPLES", "300")),
    deadline=timedelta(seconds=10),  # a hang shows up as a deadline failure
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)

records = st.fixed_dictionaries(
    {
        "name": st.one_of(st.none(), st.text(max_size=20)),
        "note": st.one_of(st.none(), st.text(max_size=20)),
        "amount": st.one_of(st.none(), st.decimals(-(10**12), 10**12, places=2)),
        "qty": st.one_of(st.none(), st.integers(-(2**63), 2**63 - 1)),
        "rate": st.one_of(st.none(), st.decimals(0, 100, places=4), st.floats(allow_nan=False, allow_infinity=False)),
        "active": st.one_of(st.none(), st.booleans()),
        "close_date": st.one_of(st.none(), st.dates()),
        "seen_at": st.one_of(st.none(), st.datetimes(timezones=st.just(UTC)), st.datetimes()),
        "stage": st.one_of(st.none(), st.sampled_from(STAGES)),
        "colors": st.one_of(st.none(), st.lists(st.sampled_from(COLORS)), st.just(";red;")),
        "labels": st.one_of(st.none(), st.lists(st.text(max_size=5))),
        "account": st.one_of(st.none(), st.integers(1, 10)),
    }
)


def run_everything(node, record_values: dict) -> None:
    """Check the tree every way, evaluate it, compile it to SQL for both
    dialects; only RuleError may escape."""
    for flags in ({}, {"allow_prior": True}, {"sql": True}):
        try:
            typed = check(node, CheckContext(MODEL, "deal", **flags))
        except RuleError:
            continue
        if not flags.get("sql"):
            record = RecordContext(
                record_values,
                related=lambda path: None,
                now=datetime(2026, 3, 15, tzinfo=UTC),
                prior=dict(record_values),
                is_new=bool(record_values.get("active")),
            )
            with contextlib.suppress(RuleError):
                compile_python(typed)(record)
            continue
        expression = compile_sql(typed, SqlContext(MODEL, "deal"))
        for dialect in (sqlite.dialect(), postgresql.psycopg.dialect()):
            str(expression.compile(dialect=dialect))


@pytest.mark.slow
@FUZZ
@given(st.text(max_size=200), records)
def test_random_text_only_raises_rule_errors(text, record):
    try:
        node = parse(text)
    except RuleError:
        return
    run_everything(node, record)


@pytest.mark.slow
@FUZZ
@given(st.lists(st.sampled_from(TOKENS), max_size=30).map(" ".join), records)
def test_random_token_soup_only_raises_rule_errors(text, record):
    try:
        node = parse(text)
    except RuleError:
        return
    run_everything(node, record)


@pytest.mark.slow
@settings(FUZZ, max_examples=max(FUZZ.max_examples // 3, 10))
@given(expressions("boolean"), records)
def test_well_typed_rules_evaluate_on_any_record(text, record):
    try:
        node = parse(text)
    except RuleError:
        return
    run_everything(node, record)


# -- random syntax trees, built without the parser -----------------------------------------------

literals = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**30), 10**30),
    st.decimals(allow_nan=True, allow_infinity=True),
    st.text(max_size=10),
    st.floats(),
    st.lists(st.integers(), max_size=2),
).map(lambda value: ast.Literal(value=value))
leaves = st.one_of(
    literals,
    st.lists(st.sampled_from(FIELDS + ["", "Parent", "Name", "x"]), min_size=0, max_size=8).map(
        lambda path: ast.FieldRef(path=tuple(path))
    ),
    st.builds(
        lambda name, attribute: ast.GlobalRef(name=name, attribute=attribute),
        st.sampled_from(["User", "Now", "Today", "user", "x", ""]),
        st.one_of(st.none(), st.sampled_from(["Id", "Email", "Role", "Team", "nope"])),
    ),
)


def _branches(children):
    ops = st.sampled_from(["+", "-", "*", "/", "&", "=", "!=", "<", "<=", ">", ">=", "%", "-"])
    return st.one_of(
        st.builds(lambda op, x: ast.Unary(op=op, operand=x), st.sampled_from(["-", "+"]), children),
        st.builds(lambda op, a, b: ast.Binary(op=op, left=a, right=b), ops, children, children),
        st.builds(
            lambda x, options, negated: ast.Membership(operand=x, options=tuple(options), negated=negated),
            children,
            st.lists(children, max_size=3),
            st.booleans(),
        ),
        st.builds(
            lambda name, args: ast.Call(name=name, args=tuple(args)),
            st.sampled_from(FUNCTIONS + ["", "IN"]),
            st.lists(children, max_size=5),
        ),
    )


trees = st.recursive(leaves, _branches, max_leaves=40)


@pytest.mark.slow
@FUZZ
@given(trees, records)
def test_random_syntax_trees_only_raise_rule_errors(node, record):
    run_everything(node, record)


def test_very_deep_hand_built_trees_are_refused_not_crashing():
    node: ast.Node = ast.Literal(value=1)
    for _ in range(5000):
        node = ast.Unary(op="-", operand=node)
    with pytest.raises(RuleError, match="nested too deeply"):
        check(node, CheckContext(MODEL, "deal"))


def test_fuzz_records_cover_the_awkward_values():
    record = {"qty": 2**63 - 1, "rate": 1e300, "seen_at": datetime(2026, 1, 1), "colors": ";red;"}
    for text in ("qty * qty * qty > 0", "TEXT(rate * rate)", "NOW() - seen_at", 'INCLUDES(colors, "red")'):
        run_everything(parse(text), record)
