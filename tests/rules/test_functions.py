"""Every function and operator, with examples, in Python and in SQL on
every backend; the null rules; prior values; the registry and its hook."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal

import pluggy
import pytest

from metacrm.platform.hooks import create_plugin_manager, hookimpl
from metacrm.rules import (
    BOOLEAN,
    TEXT,
    CheckContext,
    Function,
    FunctionRegistry,
    Param,
    RecordContext,
    RuleError,
    builtin_functions,
    check,
    compile_python,
    compile_sql,
    holds,
    parse,
    registry_from_plugins,
)
from tests.rules.cases import ACCOUNTS, CASES, PARENTS, PYTHON_ONLY, RELATED, SAMPLE, SAMPLE_VALUES
from tests.rules.conftest import NOW, TODAY, USER, canonical

PRIOR_FUNCTIONS = {"ISNEW", "ISCHANGED", "PRIORVALUE"}


def sample_record(**overrides) -> RecordContext:
    return RecordContext(
        {**SAMPLE_VALUES, "account": 1},
        related=RELATED.get,
        user=USER,
        now=NOW,
        today=TODAY,
        **overrides,
    )


def evaluate(model, text: str, record: RecordContext | None = None, **flags):
    typed = check(parse(text), CheckContext(model, "deal", **flags))
    return typed, compile_python(typed)(record or sample_record())


def test_every_builtin_function_has_a_case_and_a_documented_example(model):
    used = set()
    for text, _expected in CASES + PYTHON_ONLY:
        typed = check(parse(text), CheckContext(model, "deal"))
        used |= {t.function.name for t in typed.walk() if t.kind == "call"}
    names = {f.name for f in builtin_functions()}
    assert names - used - PRIOR_FUNCTIONS == set()
    for function in builtin_functions():
        assert function.doc and function.example, function.name
        assert function.signature.startswith(function.name + "(")
        try:  # examples use everyday CRM field names, which the test model may lack
            check(parse(function.example), CheckContext(model, "deal", allow_prior=True))
        except RuleError as exc:
            assert exc.reason.startswith("unknown field"), (function.name, exc.message)


@pytest.mark.parametrize(("text", "expected"), CASES + PYTHON_ONLY)
def test_python_compiler_gives_each_example_its_value(model, text, expected):
    typed, value = evaluate(model, text)
    assert canonical(typed.type.name, value) == expected
    if expected is not None and typed.type.name == "NUMBER":
        assert type(value) in (int, Decimal)


def test_sql_gives_each_example_the_same_value(rule_db):
    (deal_id,) = rule_db.load(ACCOUNTS, [SAMPLE], PARENTS)
    failures = []
    for text, expected in CASES:
        got = rule_db.sql_values(text)[deal_id]
        if not rule_db.same(got, expected):
            failures.append(f"{text}: expected {expected!r}, got {got!r}")
        python = rule_db.python_values(text)[deal_id]
        if python != expected:
            failures.append(f"{text} (python over stored row): expected {expected!r}, got {python!r}")
    assert failures == []


def test_sql_conditions_select_the_rows_python_accepts(rule_db):
    rule_db.load(ACCOUNTS, [SAMPLE, {"name": "Empty"}, {**SAMPLE, "stage": "lost", "amount": "5"}], PARENTS)
    for text, _expected in CASES:
        if rule_db.typed(text).type != BOOLEAN:
            continue
        assert rule_db.sql_ids(text) == rule_db.python_ids(text), text


# -- null rules ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ('note & "x"', "x"),  # & treats null as ""
        ("LEN(note)", None),  # functions with a null argument give null
        ("VALUE(note) + 1", None),  # arithmetic with null is null
        ("VALUE(note) > 1", None),  # comparison with null is null
        ("false and VALUE(note) > 1", False),  # Kleene AND
        ("true or VALUE(note) > 1", True),  # Kleene OR
        ("ISBLANK(VALUE(note))", True),  # ISBLANK never null
        ("amount / (qty - 7)", None),  # division by zero is null
        ('VALUE("abc")', None),  # bad conversion is null
        ('IF(VALUE(note) > 1, "yes", "no")', "no"),  # a null condition takes the else branch
    ],
)
def test_null_rules(model, text, expected):
    typed, value = evaluate(model, text)
    assert canonical(typed.type.name, value) == expected


def test_a_null_condition_does_not_hold():
    assert holds(lambda record: None, RecordContext()) is False
    assert holds(lambda record: True, RecordContext()) is True


def test_values_from_sqlite_are_normalised(model):
    record = RecordContext(
        {
            "amount": 12.5,
            "seen_at": datetime(2026, 1, 31, 9, 30),  # naive: read as UTC
            "colors": ";red;blue;",
            "active": 1,
        },
        now=NOW,
    )
    assert evaluate(model, "amount = 12.5", record)[1] is True
    assert evaluate(model, "NOW() - seen_at", record)[1] == Decimal("43.125")
    assert evaluate(model, 'INCLUDES(colors, "blue")', record)[1] is True
    assert evaluate(model, "active", record)[1] is True


# -- prior values --------------------------------------------------------------------------


def test_ischanged_priorvalue_and_isnew_read_the_prior_record(model):
    before = {**SAMPLE_VALUES, "stage": "open", "amount": Decimal("10.00")}
    record = sample_record(prior=before)
    assert evaluate(model, "ISCHANGED(stage)", record, allow_prior=True)[1] is True
    assert evaluate(model, "ISCHANGED(Name)", record, allow_prior=True)[1] is False
    assert evaluate(model, "PRIORVALUE(amount) < amount", record, allow_prior=True)[1] is True
    assert evaluate(model, 'PRIORVALUE(stage) = "open"', record, allow_prior=True)[1] is True
    assert evaluate(model, "ISNEW()", record, allow_prior=True)[1] is False
    created = sample_record(is_new=True)
    assert evaluate(model, "ISNEW()", created, allow_prior=True)[1] is True
    assert evaluate(model, "ISCHANGED(stage)", created, allow_prior=True)[1] is False
    assert evaluate(model, "PRIORVALUE(amount)", created, allow_prior=True)[1] is None


def test_ischanged_treats_null_and_empty_text_alike(model):
    record = RecordContext({"note": ""}, prior={"note": None})
    assert evaluate(model, "ISCHANGED(note)", record, allow_prior=True)[1] is False


# -- cost --------------------------------------------------------------------------------


def test_a_rule_that_would_build_huge_text_is_stopped_as_too_costly(model):
    text = 'SUBSTITUTE(name, "", "x")'
    for _ in range(8):
        text = f'SUBSTITUTE({text}, "A", "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")'
    with pytest.raises(RuleError, match="too costly"):
        evaluate(model, text)


def test_the_step_budget_stops_long_evaluations(model):
    typed = check(parse(" + ".join(["qty"] * 50)), CheckContext(model, "deal"))
    assert compile_python(typed)(sample_record()) == 350
    with pytest.raises(RuleError, match="too costly") as info:
        compile_python(typed, max_steps=10)(sample_record())
    assert "snippet" in info.value.details


# -- the registry and the plugin hook -----------------------------------------------------------


def _slug_function() -> Function:
    return Function(
        name="SLUG",
        category="text",
        params=(Param("text", ("TEXT", "PICKLIST")),),
        returns=TEXT,
        python=lambda text: text.lower().replace(" ", "-"),
        sql=None,
        doc="The text in lower case with dashes for spaces.",
        example='SLUG("Acme Corp") = "acme-corp"',
    )


def test_a_registry_takes_new_functions_but_never_replaces_one(model):
    registry = FunctionRegistry.with_builtins()
    registry.register(_slug_function())
    context = CheckContext(model, "deal", functions=registry)
    typed = check(parse("slug(name)"), context)
    assert compile_python(typed)(sample_record()) == "acme-corp"
    with pytest.raises(ValueError, match="already exists"):
        registry.register(_slug_function())
    with pytest.raises(ValueError, match="already exists"):
        registry.register(builtin_functions()[0])
    with pytest.raises(RuleError, match="SLUG cannot be used in a filter: it has no SQL form"):
        check(parse('slug(name) = "x"'), CheckContext(model, "deal", sql=True, functions=registry))
    with pytest.raises(RuleError, match="unknown function SLUG"):
        check(parse("slug(name)"), CheckContext(model, "deal"))


def test_plugins_add_functions_through_the_register_rule_functions_hook(model):
    class Plugin:
        @hookimpl
        def register_rule_functions(self):
            return [_slug_function()]

    pm = create_plugin_manager([Plugin()], load_entry_points=False)
    assert isinstance(pm, pluggy.PluginManager)
    registry = registry_from_plugins(pm)
    assert "SLUG" in registry and "IF" in registry
    assert len(registry) == len(builtin_functions()) + 1


def test_sql_refuses_a_function_without_sql_form_even_if_checked_for_python(rule_db):
    typed = rule_db.typed('REGEX(name, "a")')
    with pytest.raises(RuleError, match="REGEX cannot be used in SQL"):
        compile_sql(typed, rule_db.sql_context())


def test_now_and_today_default_to_the_time_of_execution(rule_db, model):
    rule_db.load([], [{"name": "x", "close_date": "2000-01-01", "seen_at": "2000-01-01T00:00:00Z"}])
    from metacrm.rules import SqlContext

    typed = rule_db.typed("close_date < TODAY() and seen_at < NOW() and YEAR(TODAY()) >= 2026", sql=True)
    condition = compile_sql(typed, SqlContext(rule_db.model, "deal"))
    import sqlalchemy as sa

    with rule_db.binding.connect() as conn:
        assert len(conn.execute(sa.select(rule_db.deal.c.id).where(condition)).all()) == 1
    record = RecordContext({"close_date": date(2000, 1, 1), "seen_at": datetime(2000, 1, 1, tzinfo=UTC)})
    assert compile_python(check(parse("close_date < TODAY()"), CheckContext(model, "deal")))(record) is True


def test_the_reference_documents_every_function_with_its_example():
    from pathlib import Path

    text = (Path(__file__).parents[2] / "docs" / "rules.md").read_text(encoding="utf-8")
    for function in builtin_functions():
        assert f"`{function.name}(" in text, function.name
        assert function.example.replace("|", "\\|") in text, function.name


def test_lookup_paths_read_each_rows_own_related_record(rule_db):
    accounts = [{"name": "A", "industry": "tech"}, {"name": "B", "industry": "retail"}, {"name": "C"}]
    rule_db.load(accounts, [{"name": "d1", "account": 0}, {"name": "d2", "account": 1}, {"name": "d3"}], {0: 2, 1: 0})
    values = list(rule_db.sql_values("Account.Parent.Name").values())
    assert values == ["C", "A", None]
    assert values == list(rule_db.python_values("Account.Parent.Name").values())
    assert rule_db.sql_ids('Account.Industry = "tech"') == rule_db.python_ids('Account.Industry = "tech"')


@pytest.mark.parametrize(
    ("family", "seed"),
    [
        ("IF({} > 0, qty, 0)", "qty"),
        ("ABS({})", "qty"),
        ("ADDDAYS({}, 1)", "close_date"),
        ("LEN(TEXT({}))", "qty"),
        ("MAX({}, 1)", "qty"),
        ("{} & LEFT(name, 1)", "name"),
    ],
)
def test_the_deepest_rule_sql_contexts_accept_runs_on_the_database(rule_db, family, seed):
    """Refusing rules too deep for the database (SQLite's parser stack is
    small) must not refuse less than the database runs: the deepest
    accepted nesting of each family runs."""
    rule_db.load([], [{"name": "n", "qty": 3, "close_date": "2026-01-01"}, {"qty": -2}])
    accepted, text = None, seed
    for _ in range(60):
        text = family.format(text)
        try:
            rule_db.typed(f"ISBLANK({text})", sql=True)
        except RuleError as exc:
            assert "too complex" in exc.reason or "nested too deeply" in exc.reason, exc.message
            break
        accepted = f"ISBLANK({text})"
    assert accepted is not None
    assert rule_db.sql_ids(accepted) == rule_db.python_ids(accepted)
