"""Typed expression → Python closure, evaluated one record at a time.

:func:`compile_python` turns a :class:`~metacrm.rules.types.TypedExpression`
into nested closures (no ``eval``, no attribute access into Python objects:
every value comes from the :class:`~metacrm.rules.context.RecordContext`).
Each evaluation has a budget of :data:`MAX_STEPS` steps (one per function
or operator, plus one per 1,000 characters of text produced) and text
values stay under 1,000,000 characters; beyond that the evaluation stops
with a RuleError ("too costly"). A computation that has no answer
(overflow, an impossible date, division by zero) gives null, as in SQL.

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


class Frame:
    """One evaluation: the record and the steps spent so far."""

    __slots__ = ("record", "steps", "limit")

    def __init__(self, record: RecordContext, limit: int):
        self.record = record
        self.steps = 0
        self.limit = limit


def _too_costly(typed: TypedExpression, reason: str) -> RuleError:
    return RuleError(f"the rule is too costly to evaluate: {reason}", line=typed.line, column=typed.column)


def compile_python(typed: TypedExpression, *, max_steps: int = MAX_STEPS) -> Callable[[RecordContext], Any]:
    """A function ``evaluate(record_context) -> value`` for ``typed``.

    The value is a Python value of the expression's type, or None (null).
    Where a yes/no decision is needed, use :func:`holds` (null → False)."""
    root = _compile(typed)
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


def _compile(typed: TypedExpression) -> Compiled:
    kind = typed.kind
    if kind == "literal":
        value = typed.value
        return lambda frame: value
    if kind == "field":
        return _field(typed)
    if kind == "related":
        return _related(typed)
    if kind == "global":
        return _global(typed)
    if kind == "call":
        return _call(typed)
    raise RuleError(f"cannot compile {kind!r}", line=typed.line, column=typed.column)  # pragma: no cover


def _field(typed: TypedExpression) -> Compiled:
    name, type_name = typed.value, typed.type.name
    normalise = runtime.normalise
    # A formula field of this record: computed from the record's values as
    # they are now (it has no stored value; the record may not be stored yet).
    computed = getattr(typed.field_type, "evaluate_python", None)
    if computed is not None:
        return lambda frame: normalise(type_name, computed(frame.record))
    if type_name in ("TEXT", "PICKLIST"):
        return lambda frame: frame.record.value(name)
    return lambda frame: normalise(type_name, frame.record.value(name))


def _related(typed: TypedExpression) -> Compiled:
    names, type_name = typed.value.names, typed.type.name
    normalise = runtime.normalise
    return lambda frame: normalise(type_name, frame.record.related(names))


def _global(typed: TypedExpression) -> Compiled:
    key = typed.value
    if key == "now":
        return lambda frame: frame.record.now
    if key == "today":
        return lambda frame: frame.record.today
    attribute = key.split(".", 1)[1]
    normalise, type_name = runtime.normalise, typed.type.name
    return lambda frame: normalise(type_name, frame.record.user.get(attribute))


def _call(typed: TypedExpression) -> Compiled:
    function = typed.function
    args = [_compile(arg) for arg in typed.args]
    implementation = function.python
    if function.python_builder is not None:
        inner = function.python_builder(typed, args)
    elif function.lazy:

        def inner(frame, implementation=implementation, args=args):
            return implementation(frame, args)

    elif function.uses_record:

        def inner(frame, implementation=implementation, args=args):
            return implementation(frame, *(arg(frame) for arg in args))

    elif function.strict:

        def inner(frame, implementation=implementation, args=args):
            values = [arg(frame) for arg in args]
            for value in values:
                if value is None:
                    return None
            return implementation(*values)

    else:

        def inner(frame, implementation=implementation, args=args):
            return implementation(*(arg(frame) for arg in args))

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
