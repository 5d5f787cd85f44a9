"""Typed expression → Python closure, evaluated one record at a time.

:func:`compile_python` turns a :class:`~metacrm.rules.types.TypedExpression`
into nested closures (no ``eval``, no attribute access into Python objects:
every value comes from the :class:`~metacrm.rules.context.RecordContext`).
Each evaluation has a budget of :data:`MAX_STEPS` steps (one per function
or operator, plus one per 1,000 characters of text produced) and text
values stay under 1,000,000 characters; beyond that the evaluation stops
with a RuleError ("too costly"). A computation that has no answer
(overflow, an impossible date, division by zero) gives null, as in SQL.

Speed: the language has no loops, so an evaluation runs each call at most
once and its text values are bounded; a rule whose worst case (every call,
plus the most text each text-valued call can produce) fits the budget can
never exceed it, and is compiled without counting steps ("unmetered"; the
usual case). Unmetered closures are also specialised by arity (no argument
lists) and fold calls of built-in functions whose arguments are all
literals, evaluated once at compile time by the same closure. A rule that
could exceed the budget is compiled "metered": every call counts its step.

Depends on the rest of :mod:`metacrm.rules` only.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from metacrm.rules import runtime
from metacrm.rules.context import RecordContext
from metacrm.rules.errors import RuleError
from metacrm.rules.types import TypedExpression

MAX_STEPS = 100_000
TEXT_STEP = 1000  # characters of produced text that cost one step

Compiled = Callable[["Frame"], Any]

# Rule types whose values are never text (the others may cost text steps).
_NEVER_TEXT = frozenset({"NUMBER", "BOOLEAN", "DATE", "DATETIME", "ID"})
# Modules of the built-in implementations: all pure (NOW and TODAY read the
# record), so a call of one on literals may be folded at compile time. The
# function library's category modules count too (metacrm.rules.functions.*).
_PURE_MODULES = frozenset({"metacrm.rules.runtime", "builtins", "_operator"})
_PURE_PACKAGE = "metacrm.rules.functions."


def _pure(module: str | None) -> bool:
    return module in _PURE_MODULES or (module or "").startswith(_PURE_PACKAGE)


class Frame:
    """One evaluation: the record and the steps spent so far."""

    __slots__ = ("record", "steps", "limit")

    def __init__(self, record: RecordContext | None, limit: int):
        self.record = record
        self.steps = 0
        self.limit = limit


def _too_costly(typed: TypedExpression, reason: str) -> RuleError:
    return RuleError(f"the rule is too costly to evaluate: {reason}", line=typed.line, column=typed.column)


def compile_python(typed: TypedExpression, *, max_steps: int = MAX_STEPS) -> Callable[[RecordContext], Any]:
    """A function ``evaluate(record_context) -> value`` for ``typed``.

    The value is a Python value of the expression's type, or None (null).
    Where a yes/no decision is needed, use :func:`holds` (null → False)."""
    root = _Compiler(max_steps, metered=worst_case_steps(typed) > max_steps).compile(typed)
    source = getattr(typed.node, "source", None)

    def evaluate(record: RecordContext) -> Any:
        try:
            return root(Frame(record, max_steps))
        except RuleError as exc:
            raise exc.with_source(source) if source else exc from None

    evaluate.__doc__ = f"Evaluate the rule {source!r}." if source else "Evaluate the rule."
    return evaluate


def holds(evaluate: Callable[[RecordContext], Any], record: RecordContext) -> bool:
    """A condition's decision: true only when the rule is true (null counts as false)."""
    return evaluate(record) is True


def worst_case_steps(typed: TypedExpression) -> int:
    """The most steps an evaluation of ``typed`` can take: each call once,
    plus, for each call that may give text, the steps of the longest text."""
    steps = 0
    for item in typed.walk():
        if item.kind == "call":
            steps += 1 if item.type.name in _NEVER_TEXT else 1 + runtime.MAX_TEXT // TEXT_STEP
    return steps


def _constant(value: Any) -> Compiled:
    def constant(frame: Frame) -> Any:
        return value

    constant.rule_constant = (value,)  # a marker the folding looks for
    return constant


class _Compiler:
    def __init__(self, max_steps: int, *, metered: bool):
        self.max_steps = max_steps
        self.metered = metered

    def compile(self, typed: TypedExpression) -> Compiled:
        kind = typed.kind
        if kind == "literal":
            return _constant(typed.value)
        if kind == "field":
            return _field(typed)
        if kind == "related":
            return _related(typed)
        if kind == "global":
            return _global(typed)
        if kind == "call":
            args = [self.compile(arg) for arg in typed.args]
            if self.metered:
                return _metered_call(typed, args)
            node = _call(typed, args)
            return self._folded(typed, args, node)
        raise RuleError(f"cannot compile {kind!r}", line=typed.line, column=typed.column)  # pragma: no cover

    def _folded(self, typed: TypedExpression, args: list[Compiled], node: Compiled) -> Compiled:
        """``node`` as a constant when it is a pure built-in call on constants."""
        function = typed.function
        if (
            function.python_builder is not None
            or function.lazy
            or function.uses_record
            or not _pure(getattr(function.python, "__module__", None))
            or not all(hasattr(arg, "rule_constant") for arg in args)
        ):
            return node
        try:
            value = node(Frame(None, self.max_steps))
        except Exception:  # noqa: BLE001 - e.g. too costly: left to fail when evaluated, as it always did
            return node
        return _constant(value)


def _field(typed: TypedExpression) -> Compiled:
    name, type_name = typed.value, typed.type.name
    normalise = runtime.normalise
    # A formula field of this record: computed from the record's values as
    # they are now (it has no stored value; the record may not be stored yet).
    computed = getattr(typed.field_type, "evaluate_python", None)
    if computed is not None:
        return lambda frame: normalise(type_name, computed(frame.record))
    if type_name in ("TEXT", "PICKLIST"):
        return lambda frame: frame.record.values.get(name)
    value_of = runtime.normaliser(type_name)
    return lambda frame: value_of(frame.record.values.get(name))


def _related(typed: TypedExpression) -> Compiled:
    names, value_of = typed.value.names, runtime.normaliser(typed.type.name)
    return lambda frame: value_of(frame.record.related(names))


def _global(typed: TypedExpression) -> Compiled:
    key = typed.value
    if key == "now":
        return lambda frame: frame.record.now
    if key == "today":
        return lambda frame: frame.record.today
    attribute, value_of = key.split(".", 1)[1], runtime.normaliser(typed.type.name)
    return lambda frame: value_of(frame.record.user.get(attribute))


def _call(typed: TypedExpression, args: list[Compiled]) -> Compiled:
    """An unmetered call: its implementation, null for an arithmetic error,
    a RuleError for a limit it hits; a text value checked against MAX_TEXT."""
    function = typed.function
    implementation = function.python
    if function.python_builder is None and not function.lazy and not function.uses_record and function.strict:
        node = _strict(typed, implementation, args)
    elif not function.guarded:
        node = _inner(typed, args)
    else:
        node = _guarded(typed, _inner(typed, args))
    if typed.type.name in _NEVER_TEXT:
        return node

    def text_checked(frame: Frame) -> Any:
        result = node(frame)
        if type(result) is str and len(result) > runtime.MAX_TEXT:
            raise _too_costly(typed, f"a text longer than {runtime.MAX_TEXT:,} characters")
        return result

    return text_checked


def _strict(typed: TypedExpression, implementation: Callable, args: list[Compiled]) -> Compiled:
    """A strict call (null when any argument is null; every argument is
    evaluated first), specialised for one, two and three arguments."""
    too_costly, TooCostly = _too_costly, runtime.TooCostly
    if len(args) == 1:
        (first,) = args

        def strict1(frame: Frame) -> Any:
            a = first(frame)
            if a is None:
                return None
            try:
                return implementation(a)
            except TooCostly as exc:
                raise too_costly(typed, str(exc)) from None
            except ArithmeticError:  # overflow and invalid operations give null, as in SQL
                return None

        return strict1
    if len(args) == 2 and getattr(args[1], "rule_constant", (None,))[0] is not None:
        first, (b,) = args[0], args[1].rule_constant

        def strict2_constant(frame: Frame) -> Any:
            a = first(frame)
            if a is None:
                return None
            try:
                return implementation(a, b)
            except TooCostly as exc:
                raise too_costly(typed, str(exc)) from None
            except ArithmeticError:
                return None

        return strict2_constant
    if len(args) == 2:
        first, second = args

        def strict2(frame: Frame) -> Any:
            a, b = first(frame), second(frame)
            if a is None or b is None:
                return None
            try:
                return implementation(a, b)
            except TooCostly as exc:
                raise too_costly(typed, str(exc)) from None
            except ArithmeticError:
                return None

        return strict2
    if len(args) == 3:
        first, second, third = args

        def strict3(frame: Frame) -> Any:
            a, b, c = first(frame), second(frame), third(frame)
            if a is None or b is None or c is None:
                return None
            try:
                return implementation(a, b, c)
            except TooCostly as exc:
                raise too_costly(typed, str(exc)) from None
            except ArithmeticError:
                return None

        return strict3

    def strict(frame: Frame) -> Any:
        values = [arg(frame) for arg in args]
        for value in values:
            if value is None:
                return None
        try:
            return implementation(*values)
        except TooCostly as exc:
            raise too_costly(typed, str(exc)) from None
        except ArithmeticError:
            return None

    return strict


def _guarded(typed: TypedExpression, inner: Compiled) -> Compiled:
    too_costly, TooCostly = _too_costly, runtime.TooCostly

    def guarded(frame: Frame) -> Any:
        try:
            return inner(frame)
        except TooCostly as exc:
            raise too_costly(typed, str(exc)) from None
        except ArithmeticError:
            return None

    return guarded


def _inner(typed: TypedExpression, args: list[Compiled]) -> Compiled:
    """The call without its guard: the builder's closure, or the implementation
    given the frame and the argument closures (lazy), the frame and the values
    (uses_record), or the values (null when one is, if strict)."""
    function = typed.function
    implementation = function.python
    if function.python_builder is not None:
        return function.python_builder(typed, args)
    if function.lazy:
        return lambda frame: implementation(frame, args)
    if function.uses_record:
        if not args:
            return implementation
        return lambda frame: implementation(frame, *[arg(frame) for arg in args])
    if function.strict:

        def strict(frame: Frame) -> Any:
            values = [arg(frame) for arg in args]
            for value in values:
                if value is None:
                    return None
            return implementation(*values)

        return strict
    return lambda frame: implementation(*[arg(frame) for arg in args])


def _metered_call(typed: TypedExpression, args: list[Compiled]) -> Compiled:
    """A metered call: as :func:`_call`, counting a step per call and per
    1,000 characters of text."""
    inner = _inner(typed, args)

    def run(frame: Frame) -> Any:
        frame.steps += 1
        if frame.steps > frame.limit:
            raise _too_costly(typed, f"more than {frame.limit:,} steps")
        try:
            result = inner(frame)
        except runtime.TooCostly as exc:
            raise _too_costly(typed, str(exc)) from None
        except ArithmeticError:  # overflow and invalid operations give null, as in SQL
            return None
        if type(result) is str and len(result) >= TEXT_STEP:
            if len(result) > runtime.MAX_TEXT:
                raise _too_costly(typed, f"a text longer than {runtime.MAX_TEXT:,} characters")
            frame.steps += len(result) // TEXT_STEP
            if frame.steps > frame.limit:
                raise _too_costly(typed, f"more than {frame.limit:,} steps")
        return result

    return run
