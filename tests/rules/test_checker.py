"""The type checker: names resolved against the metadata, types, and every
rejection — each with its line and column (and a "did you mean")."""

from __future__ import annotations

import pytest

from metacrm.rules import (
    BOOLEAN,
    DATE,
    DATETIME,
    ID,
    NUMBER,
    TEXT,
    CheckContext,
    RuleError,
    check,
    parse,
)
from metacrm.rules.ast import Call, Literal
from tests.rules.model import in_memory_model


def typed(model, text: str, **flags):
    return check(parse(text), CheckContext(model, "deal", **flags))


def rejected(model, text: str, *, expect=None, **flags) -> RuleError:
    with pytest.raises(RuleError) as info:
        check(parse(text), CheckContext(model, "deal", **flags), expect=expect)
    error = info.value
    assert error.message.startswith(f"line {error.line}, column {error.column}: ")
    assert error.status == 422
    assert error.details["snippet"].count("\n") == 1
    return error


@pytest.mark.parametrize(
    ("text", "type_name"),
    [
        ("amount", "NUMBER"),
        ("AMOUNT + Qty", "NUMBER"),
        ("Close_Date", "DATE"),
        ("seen_at", "DATETIME"),
        ("name & stage", "TEXT"),
        ("stage", "PICKLIST"),
        ("colors", "MULTI"),
        ("labels", "MULTI"),
        ("account", "ID"),
        ("Account.Industry", "PICKLIST"),
        ("Account.Parent.Parent.Parent.Parent.Name", "TEXT"),
        ("owner_id = $User.Id", "BOOLEAN"),
        ("created_at < $Now", "BOOLEAN"),
        ("id = 3", "BOOLEAN"),
        ("IF(active, stage, name)", "TEXT"),
        ("IF(active, 1, null)", "NUMBER"),
        ("BLANKVALUE(stage, 'open')", "TEXT"),
        ("BLANKVALUE(stage, stage)", "PICKLIST"),
        ("MAX(close_date, TODAY())", "DATE"),
        ("close_date - 1", "DATE"),
        ("close_date - close_date", "NUMBER"),
        ("NOW() - seen_at", "NUMBER"),
        ("null", "NULL"),
    ],
)
def test_expression_types(model, text, type_name):
    assert typed(model, text).type.name == type_name


def test_fields_match_case_insensitively_and_references_are_reported(model):
    result = typed(model, "Amount > 1 and Account.Parent.Name = NAME and ISBLANK(account)")
    assert result.references() == {("amount",), ("account", "parent", "name"), ("name",), ("account",)}
    assert result.object == "deal"
    assert not result.uses_prior_values
    assert typed(model, "ISCHANGED(stage)", allow_prior=True).uses_prior_values


def test_unknown_field_says_where_and_suggests(model):
    error = rejected(model, "Amountt > 1")
    assert (error.line, error.column) == (1, 1)
    assert "unknown field 'Amountt' on deal; did you mean 'amount'?" in error.message
    assert error.details["suggestion"] == "amount"
    error = rejected(model, "1 < CloseDate")
    assert (error.line, error.column) == (1, 5)
    assert "did you mean 'close_date'?" in error.message
    error = rejected(model, "x = 1")
    assert "did you mean" not in error.message


def test_unknown_field_in_a_path_points_at_the_segment(model):
    error = rejected(model, "Account.Industri = 'tech'")
    assert (error.line, error.column) == (1, 9)
    assert "unknown field 'Industri' on account; did you mean 'industry'?" in error.message


def test_only_lookups_can_be_traversed(model):
    error = rejected(model, "Stage.Name = 'x'")
    assert (error.line, error.column) == (1, 1)
    assert "Stage is a picklist field, not a lookup" in error.message
    error = rejected(model, "\n  owner_id.email = 'x'")
    assert (error.line, error.column) == (2, 3)
    assert "not a lookup" in error.message


def test_at_most_five_lookups_are_followed(model):
    typed(model, "Account.Parent.Parent.Parent.Parent.Name = 'x'")
    error = rejected(model, "Account.Parent.Parent.Parent.Parent.Parent.Name = 'x'")
    assert (error.line, error.column) == (1, 37)  # the sixth lookup
    assert "at most 5 lookups" in error.message


def test_many_to_many_fields_cannot_be_read():
    model = in_memory_model(
        [{"api_name": "partners", "label": "P", "type": "many_to_many", "options": {"target": "account"}}]
    )
    error = rejected(model, "ISBLANK(partners)")
    assert "many_to_many field, which rules cannot read" in error.message


def test_wrong_argument_count(model):
    error = rejected(model, "name & LEFT(name)")
    assert (error.line, error.column) == (1, 8)
    assert "LEFT takes 2 arguments, not 1: LEFT(text: TEXT|PICKLIST, count: NUMBER) → TEXT" in error.message
    assert "takes at least 1 argument" in rejected(model, "MAX() > 1").message
    assert "takes 2 to 3 arguments" in rejected(model, 'FIND("a") > 1').message
    assert "CASE takes at least 4 arguments" in rejected(model, "CASE(stage, 'won', 1) = 1").message
    assert "CASE needs" in rejected(model, "CASE(stage, 'won', 1, 'lost', 2) = 1").message


def test_wrong_argument_type(model):
    error = rejected(model, "LEFT(amount, 1) = 'x'")
    assert (error.line, error.column) == (1, 6)
    assert "argument 1 of LEFT (text) must be TEXT or PICKLIST, not NUMBER" in error.message
    error = rejected(model, "ADDDAYS(close_date, '1') > TODAY()")
    assert (error.line, error.column) == (1, 21)
    assert "must be NUMBER, not TEXT" in error.message
    assert "must be a literal value" in rejected(model, "INCLUDES(colors, name)").message
    assert "must be a literal value" in rejected(model, "ROUND(amount, qty) > 1").message
    assert "digits must be a whole number" in rejected(model, "ROUND(amount, 1.5) > 1").message
    assert "ROUND's digits must be between" in rejected(model, "ROUND(amount, 11) > 1").message
    assert (
        "ISCHANGED needs a field of this record" in rejected(model, "ISCHANGED(Account.Name)", allow_prior=True).message
    )
    assert "TEXT cannot convert a multi-value field" in rejected(model, "TEXT(colors) = ''").message


@pytest.mark.parametrize(
    ("text", "column", "suggestion"),
    [
        ('Stage = "wonn"', 9, "won"),
        ('"wonn" = Stage', 1, "won"),
        ('ISPICKVAL(Stage, "wonn")', 18, "won"),
        ('Stage IN ("won", "lots")', 18, "lost"),
        ('Stage NOT IN ("closed won")', 15, "Closed Won"),
        ('CASE(Stage, "wonn", 1, 0) = 1', 13, "won"),
        ('INCLUDES(colors, "gren")', 18, "green"),
        ('Account.Industry = "tec"', 20, "tech"),
    ],
)
def test_picklist_values_must_be_among_the_fields_values(model, text, column, suggestion):
    error = rejected(model, text)
    assert (error.line, error.column) == (1, column)
    assert f"did you mean {suggestion!r}?" in error.message
    assert "is not a value of" in error.message


def test_picklist_value_without_a_near_match_lists_the_values(model):
    assert "the values are: open, won, lost, Closed Won" in rejected(model, "stage = 'zzz'").message


def test_tags_take_any_value(model):
    typed(model, 'INCLUDES(labels, "anything at all")')


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ("Name > 1", 6, "cannot compare TEXT with NUMBER"),
        ("1 = name", 3, "cannot compare NUMBER with TEXT"),
        ("close_date = seen_at", 12, "use DATEVALUE()"),
        ("active = 1", 8, "cannot compare BOOLEAN with NUMBER"),
        ("qty IN (1, 'a')", 12, "cannot compare NUMBER with TEXT"),
        ("stage < 'won'", 7, "PICKLIST values can only be compared with = and !="),
        ("active > false", 8, "BOOLEAN values can only be compared"),
        ("colors = 'red'", 1, "use INCLUDES"),
        ("amount = null", 10, "a comparison with NULL is never true; test for a missing value with ISBLANK"),
        ("amount IN (1, null)", 15, "ISBLANK"),
        ("name + 'x' = 'y'", 6, "use & to join text"),
        ("name & 1 = 'x'", 8, "'&' joins text, not NUMBER; convert with TEXT()"),
        ("-name = 1", 2, "'-' needs a NUMBER, not TEXT"),
        ("close_date * 2 = 1", 1, "'*' needs NUMBERs"),
        ("seen_at + 1 > NOW()", 9, "DATETIME supports only datetime - datetime"),
        ("IF(active, 1, 'a') = 1", 15, "IF needs values of one type here, not NUMBER and TEXT"),
        ("MIN(name, 'a') = 'a'", 5, "argument 1 of MIN (value) must be NUMBER or DATE or DATETIME, not TEXT"),
        ("MIN(1, TODAY()) = 1", 8, "MIN needs values of one type here, not NUMBER and DATE"),
    ],
)
def test_type_mismatches(model, text, column, message):
    error = rejected(model, text)
    assert error.column == column
    assert message in error.message


def test_a_condition_must_be_boolean(model):
    error = rejected(model, "amount", expect=BOOLEAN)
    assert "expected a condition (BOOLEAN) but the expression is NUMBER" in error.message
    error = rejected(model, "IF(amount, 1, 2) > 0")
    assert (error.line, error.column) == (1, 4)
    assert "argument 1 of IF (condition) must be BOOLEAN, not NUMBER" in error.message
    error = rejected(model, "active and amount")
    assert (error.line, error.column) == (1, 12)
    assert "argument 2 of AND" in error.message
    error = rejected(model, "not name")
    assert "argument 1 of NOT" in error.message
    assert check(parse("active"), CheckContext(model, "deal"), expect=BOOLEAN).type == BOOLEAN


def test_functions_without_sql_form_are_refused_where_sql_is_needed(model):
    error = rejected(model, "active and REGEX(name, 'a.*')", sql=True)
    assert (error.line, error.column) == (1, 12)
    assert "REGEX cannot be used in a filter: it has no SQL form" in error.message
    error = rejected(model, "REGEX(name, 'a')", sql=True, purpose="a record scope")
    assert "REGEX cannot be used in a record scope" in error.message
    typed(model, "REGEX(name, 'a')")


def test_prior_values_need_a_validation_or_automation_context(model):
    for text in ("ISNEW()", "ISCHANGED(stage)", "PRIORVALUE(amount) > 1"):
        error = rejected(model, text)
        assert "can only be used in validation and automation rules" in error.message
        typed(model, text, allow_prior=True)
    assert "ISNEW cannot be used in a filter" in rejected(model, "ISNEW()", sql=True, allow_prior=True).message


def test_unknown_functions_and_globals_suggest_names(model):
    error = rejected(model, "LEFTT(name, 1) = 'a'")
    assert "unknown function LEFTT; did you mean 'LEFT'?" in error.message
    assert "did you mean '$User'?" in rejected(model, "$Usr.Id = 1").message
    assert "did you mean 'Email'?" in rejected(model, "$User.Emial = 'a'").message
    assert "use $User.Id" in rejected(model, "$User = 1").message
    assert typed(model, "$user.ID = owner_id").type == BOOLEAN
    assert typed(model, "$TODAY").type == DATE
    assert typed(model, "$now").type == DATETIME


def test_invalid_regular_expressions_are_rejected_at_the_pattern(model):
    error = rejected(model, "REGEX(name, '(a')")
    assert (error.line, error.column) == (1, 13)
    assert "invalid regular expression" in error.message
    assert "invalid regular expression" in rejected(model, r"REGEX(name, '(a)\\1')").message


def test_rules_too_complex_for_sql_are_refused_in_sql_contexts_only(model):
    text = "x"
    for _ in range(12):
        text = f"LEN(TEXT({text}))"
    text = text.replace("x", "qty", 1) + " > 0"
    error = rejected(model, text, sql=True)
    assert "too complex to run in the database" in error.message
    typed(model, text)


def test_unknown_object_and_foreign_nodes_are_rule_errors(model):
    with pytest.raises(RuleError, match="unknown object 'nope'"):
        check(parse("1 = 1"), CheckContext(model, "nope"))
    with pytest.raises(RuleError, match="not an expression"):
        check(Call(name="NOT", args=("x",)), CheckContext(model, "deal"))
    with pytest.raises(RuleError, match="not a literal value"):
        check(Literal(value=1.5), CheckContext(model, "deal"))


def test_constant_types():
    assert {t.name for t in (TEXT, NUMBER, BOOLEAN, DATE, DATETIME, ID)} == {
        "TEXT",
        "NUMBER",
        "BOOLEAN",
        "DATE",
        "DATETIME",
        "ID",
    }
