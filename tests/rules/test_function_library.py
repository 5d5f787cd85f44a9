"""The function library is one module per category, and what was true of
the single module stays true of the package: every built-in is registered in
documentation order, and calls of the library's pure functions on literals
are folded into constants when compiled."""

from __future__ import annotations

import pytest

from metacrm.rules import CheckContext, check, parse
from metacrm.rules.compile_python import MAX_STEPS, _Compiler
from metacrm.rules.functions import builtin_functions, dates, default_registry, logical, math, records, text

CATEGORY_MODULES = (logical.LOGICAL, records.RECORDS, text.TEXT_FUNCTIONS, math.MATH, dates.DATES)


def compiled(model, source: str):
    return _Compiler(MAX_STEPS, metered=False).compile(check(parse(source), CheckContext(model, "deal")))


def test_every_builtin_comes_from_one_category_module_in_documentation_order():
    names = [f.name for f in builtin_functions()]
    assert names == [f.name for functions in CATEGORY_MODULES for f in functions]
    assert len(set(names)) == len(names) == len(default_registry())
    assert {f.name for f in records.RECORDS} == {"ISNEW", "ISCHANGED", "PRIORVALUE"}


@pytest.mark.parametrize("source", ["NOT(TRUE)", "ISBLANK('')", "ROUND(1.25, 1)", "REGEX('ab', 'a.')"])
def test_pure_library_calls_on_literals_are_folded(model, source):
    # NOT and ISBLANK live in logical/base, ROUND in math, REGEX in text.
    assert hasattr(compiled(model, source), "rule_constant")


def test_calls_reading_the_clock_are_not_folded(model):
    assert not hasattr(compiled(model, "TODAY()"), "rule_constant")
