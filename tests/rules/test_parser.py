"""The parser: precedence, keywords, literals, errors with positions and
caret snippets, limits, the cache."""

from __future__ import annotations

from decimal import Decimal

import pytest

from metacrm.rules import RuleError, parse
from metacrm.rules.ast import Binary, Call, FieldRef, GlobalRef, Literal, Membership, Unary
from metacrm.rules.parser import MAX_DEPTH, MAX_LENGTH


def shape(node) -> str:
    """A compact, fully parenthesised rendering of a tree."""
    if isinstance(node, Literal):
        return repr(node.value)
    if isinstance(node, FieldRef):
        return ".".join(node.path)
    if isinstance(node, GlobalRef):
        return "$" + node.name + (f".{node.attribute}" if node.attribute else "")
    if isinstance(node, Unary):
        return f"({node.op}{shape(node.operand)})"
    if isinstance(node, Binary):
        return f"({shape(node.left)} {node.op} {shape(node.right)})"
    if isinstance(node, Membership):
        keyword = "NOT IN" if node.negated else "IN"
        return f"({shape(node.operand)} {keyword} [{', '.join(map(shape, node.options))}])"
    if isinstance(node, Call):
        return f"{node.name}({', '.join(map(shape, node.args))})"
    raise AssertionError(node)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("a or b and c", "OR(a, AND(b, c))"),
        ("a and b or c", "OR(AND(a, b), c)"),
        ("not a and b", "AND(NOT(a), b)"),
        ("not a = b", "NOT((a = b))"),
        ("a = b & c", "(a = (b & c))"),
        ("a & b + c", "(a & (b + c))"),
        ("a + b * c", "(a + (b * c))"),
        ("a - b - c", "((a - b) - c)"),
        ("a / b * c", "((a / b) * c)"),
        ("-a * b", "((-a) * b)"),
        ("- -a", "(-(-a))"),
        ("-2 * 3", "(-2 * 3)"),
        ("a * -b", "(a * (-b))"),
        ("(a + b) * c", "((a + b) * c)"),
        ("a < b and c >= d", "AND((a < b), (c >= d))"),
        ("a == b", "(a = b)"),
        ("a <> b", "(a != b)"),
        ("a != b", "(a != b)"),
        ("a && b || !c", "OR(AND(a, b), NOT(c))"),
        ("a and b and c", "AND(a, b, c)"),
        ("a or b or c", "OR(a, b, c)"),
        ("x in (1, 2) and y", "AND((x IN [1, 2]), y)"),
        ("x not in ('a')", "(x NOT IN ['a'])"),
        ("x + 1 IN (2)", "((x + 1) IN [2])"),
        ("not x in (1)", "NOT((x IN [1]))"),
        ("Account.Owner.Email", "Account.Owner.Email"),
        ("$User.Id = owner_id", "($User.Id = owner_id)"),
        ("$Now", "$Now"),
        ("IF(a, b, c)", "IF(a, b, c)"),
        ("and(a, b)", "AND(a, b)"),
        ("Or(a, b)", "OR(a, b)"),
        ("NOT(a)", "NOT(a)"),
        ("today()", "TODAY()"),
        ("f(g(1), (2))", "F(G(1), 2)"),
    ],
)
def test_precedence_and_shapes(text, expected):
    assert shape(parse(text)) == expected


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("4.25", Decimal("4.25")),
        ("-7", -7),
        ('"text"', "text"),
        ("'text'", "text"),
        (r'"say \"hi\""', 'say "hi"'),
        (r"'it\'s'", "it's"),
        (r'"a\\b"', "a\\b"),
        (r'"line\nbreak\ttab"', "line\nbreak\ttab"),
        (r'"\u00e9"', "é"),
        ('"中文"', "中文"),
        ("true", True),
        ("TRUE", True),
        ("False", False),
        ("null", None),
        ("NULL", None),
    ],
)
def test_literals(text, value):
    node = parse(text)
    assert isinstance(node, Literal)
    assert node.value == value and type(node.value) is type(value)


def test_keywords_are_case_insensitive_and_never_field_names():
    assert shape(parse("a AND b Or NOT c")) == "OR(AND(a, b), NOT(c))"
    assert shape(parse("x NoT In (1)")) == "(x NOT IN [1])"
    # Names that merely start with a keyword are fields.
    assert shape(parse("android = order_no")) == "(android = order_no)"
    assert shape(parse("notes & inbox & nullable & truest")) == "(((notes & inbox) & nullable) & truest)"
    for text in ("and > 1", "or = 2", "x = not", "in + 1", "1 + null.x"):
        with pytest.raises(RuleError):
            parse(text)


def test_and_as_a_field_is_a_syntax_error_with_position():
    with pytest.raises(RuleError) as info:
        parse("and > 1")
    error = info.value
    assert (error.line, error.column) == (1, 5)
    assert error.status == 422
    assert error.message.startswith("line 1, column 5: expected '(' but found '>'")


def test_comments_and_whitespace_are_ignored():
    assert shape(parse("a /* the amount */ +\n\t b")) == "(a + b)"


def test_positions_point_at_tokens_and_operators():
    node = parse("Amount > 10\n  and Stage = 'won'")
    assert (node.line, node.column) == (2, 3)  # the AND
    comparison = node.args[1]
    assert (comparison.line, comparison.column) == (2, 13)  # the '='
    assert (comparison.left.line, comparison.left.column) == (2, 7)
    path = parse("x + Account.Industry").right
    assert path.positions == ((1, 5), (1, 13))


def test_syntax_errors_name_expected_tokens_in_words_with_a_caret_snippet():
    with pytest.raises(RuleError) as info:
        parse("IF(Amount > 1,\n   'big',\n   )")
    error = info.value
    assert (error.line, error.column) == (3, 4)
    assert error.message.startswith("line 3, column 4: expected one of ")
    assert "a number" in error.details["expected"]
    assert "a field name" in error.details["expected"]
    assert "NUMBER" not in error.message and "RPAR" not in error.message
    assert error.details["snippet"] == "   )\n   ^"
    assert error.details["found"] == "')'"
    assert error.to_dict()["error"]["code"] == "rule_error"


@pytest.mark.parametrize(
    ("text", "line", "column", "expected"),
    [
        ("1 +", 1, 4, "a number"),
        ("f(1 2)", 1, 5, "')'"),
        ("a < b < c", 1, 7, "the end of the expression"),
        ("1 @ 2", 1, 3, "an operator (+ - * / &)"),
        ("Account.", 1, 9, "a field name"),
        ("x IN 1", 1, 6, "'('"),
        ("(1 + 2", 1, 7, "')'"),
    ],
)
def test_syntax_error_positions(text, line, column, expected):
    with pytest.raises(RuleError) as info:
        parse(text)
    assert (info.value.line, info.value.column) == (line, column)
    assert expected in info.value.details["expected"]
    assert info.value.details["snippet"].endswith("\n" + " " * (column - 1) + "^")


def test_unterminated_text_and_bad_escapes():
    with pytest.raises(RuleError, match="no closing"):
        parse('Name = "Acme')
    with pytest.raises(RuleError, match=r"unknown escape \\q") as info:
        parse(r'x = "a\q"')
    assert (info.value.line, info.value.column) == (1, 7)


def test_empty_text_is_an_error():
    for text in ("", "   ", "\n", "/* only a comment */"):
        with pytest.raises(RuleError):
            parse(text)


def test_length_limit():
    text = "x = '" + "a" * (MAX_LENGTH - 6) + "'"
    assert len(text) == MAX_LENGTH
    parse(text)
    with pytest.raises(RuleError, match="too long") as info:
        parse(text + " ")
    assert info.value.details["limit"] == MAX_LENGTH


def test_depth_limit_counts_parentheses_and_calls():
    parse("(" * (MAX_DEPTH - 1) + "1" + ")" * (MAX_DEPTH - 1))
    with pytest.raises(RuleError, match="nested too deeply"):
        parse("(" * MAX_DEPTH + "1" + ")" * MAX_DEPTH)
    with pytest.raises(RuleError, match="nested too deeply"):
        parse("ABS(" * 60 + "1" + ")" * 60)
    with pytest.raises(RuleError, match="nested too deeply"):
        parse("-" * 60 + "x")


def test_long_chains_of_and_or_are_flat_but_other_operators_nest():
    parse(" and ".join(f"f{i} > 1" for i in range(200)))
    parse(" or ".join(f"f{i} > 1" for i in range(200)))
    parse(" + ".join(["x"] * MAX_DEPTH))
    with pytest.raises(RuleError, match="nested too deeply"):
        parse(" + ".join(["x"] * (MAX_DEPTH + 2)))


def test_parse_is_cached_and_trees_compare_by_structure():
    text = "Amount > 100 and Stage = 'won'"
    assert parse(text) is parse(text)
    assert parse("a+1") == parse("a + 1")
    assert parse("a + 1").source == "a + 1"
