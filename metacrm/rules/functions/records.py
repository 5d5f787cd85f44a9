"""Functions on the record being saved: ISNEW, ISCHANGED, PRIORVALUE.
They need the record's prior values, so only validation and automation
rules may call them (``prior``); they have no SQL form."""

from __future__ import annotations

from collections.abc import Callable

from metacrm.rules import runtime
from metacrm.rules.functions.base import (
    CallCheck,
    Function,
    param,
)
from metacrm.rules.types import BOOLEAN, RuleType, TypedExpression


def _field_argument(call: CallCheck) -> None:
    arg = call.args[0]
    if arg.kind != "field":
        raise call.fail(f"{call.function.name} needs a field of this record, e.g. {call.function.name}(Stage)", 0)


def _ischanged_type(call: CallCheck) -> RuleType:
    _field_argument(call)
    return BOOLEAN


def _priorvalue_type(call: CallCheck) -> RuleType:
    _field_argument(call)
    return call.args[0].type


def _ischanged_builder(typed: TypedExpression, args: list[Callable]):
    name, kind = typed.args[0].value, typed.args[0].type.name
    current = args[0]

    def run(frame):
        record = frame.record
        if record.is_new:
            return False
        return runtime.changed(kind, record.prior_value(name), current(frame))

    return run


def _priorvalue_builder(typed: TypedExpression, args: list[Callable]):
    name, kind = typed.args[0].value, typed.args[0].type.name

    def run(frame):
        record = frame.record
        return None if record.is_new else runtime.normalise(kind, record.prior_value(name))

    return run


RECORDS = [
    Function(
        "ISNEW",
        "logical",
        (),
        BOOLEAN,
        lambda frame: frame.record.is_new,
        None,
        "True while the record is being created (validation and automation rules only).",
        "ISNEW()",
        strict=False,
        uses_record=True,
        guarded=False,
        prior=True,
    ),
    Function(
        "ISCHANGED",
        "logical",
        (param("field"),),
        BOOLEAN,
        None,
        None,
        "True when the save changes the field (false for new records; validation and automation rules only).",
        "ISCHANGED(Stage)",
        strict=False,
        prior=True,
        type_rule=_ischanged_type,
        python_builder=_ischanged_builder,
    ),
    Function(
        "PRIORVALUE",
        "logical",
        (param("field"),),
        None,
        None,
        None,
        "The field's value before the save (null for new records; validation and automation rules only).",
        "PRIORVALUE(Amount) < Amount",
        strict=False,
        prior=True,
        type_rule=_priorvalue_type,
        returns_doc="the field's type",
        python_builder=_priorvalue_builder,
    ),
]
