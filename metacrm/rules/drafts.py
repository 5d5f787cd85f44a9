"""Layout conditions and default values of a record not saved yet: a form's
draft, evaluated as the user types (UI.md §1.3).

The same compiled rules the save steps enforce (:func:`object_rules`), read
through the same :class:`RecordEvaluator`, so a form shows exactly what the
save will decide: which fields are visible, required and read-only, and
which default values fill the fields the user has not set. Nothing is
written; the save runs the steps again.

Depends on :mod:`metacrm.metadata` and :mod:`metacrm.rules.saving`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import marshmallow as ma
import sqlalchemy as sa

from metacrm.rules.compile_python import holds
from metacrm.rules.errors import RuleError
from metacrm.rules.saving import RecordEvaluator, object_rules, to_column


@dataclass(frozen=True)
class FieldState:
    """What the layouts' conditions decide for one field of the draft."""

    visible: bool = True
    required: bool = False
    read_only: bool = False


@dataclass
class DraftState:
    """The draft's field states (only fields with conditions) and the
    default values (as the API dumps them) of the fields asked for."""

    fields: dict[str, FieldState] = field(default_factory=dict)
    defaults: dict[str, Any] = field(default_factory=dict)

    def of(self, name: str) -> FieldState:
        return self.fields.get(name, FieldState())


def _columns(obj, values: Mapping[str, Any]) -> dict[str, Any]:
    """The draft's JSON values as columns; a value that does not load
    (the user is still typing) reads as null."""
    columns: dict[str, Any] = {}
    for name, raw in values.items():
        field_type = obj.fields.get(name)
        if field_type is None or field_type.stores_links or not field_type.has_column:
            continue
        try:
            columns[name] = None if raw is None else field_type.to_db(field_type.loader.deserialize(raw))
        except (ma.ValidationError, ValueError, TypeError):
            columns[name] = None
    return columns


def draft_state(
    store,
    object_name: str,
    values: Mapping[str, Any],
    *,
    record_id: int | None = None,
    defaults_for: Iterable[str] = (),
) -> DraftState:
    """Evaluate ``object_name``'s layout conditions on the draft ``values``
    (JSON values as the API takes them) of a new record, or of the stored
    record ``record_id`` (its stored columns under the draft), and the
    default values of the fields ``defaults_for`` (on a new record only).
    The caller has checked the user may create or edit the record."""
    obj = store.object(object_name)
    rules = object_rules(store.model, object_name)
    wanted = [name for name in defaults_for if name in rules.defaults] if record_id is None else []
    compiled = [c.rule for conditions in rules.conditions.values() for c in conditions]
    compiled += [rules.defaults[name] for name in wanted]
    state = DraftState()
    if not compiled:
        return state
    draft = _columns(obj, values)
    with store.binding.connect() as conn:
        before = None
        if record_id is not None:
            row = conn.execute(
                sa.select(obj.table).where(obj.table.c.id == record_id, obj.table.c.deleted_at.is_(None))
            ).first()
            before = dict(row._mapping) if row is not None else {}
        else:
            actor = store.actor.user_id
            draft = {"owner_id": actor, "created_by": actor, "updated_by": actor, **draft}
        evaluator = RecordEvaluator(conn, store, obj, compiled)
        evaluator.load([("draft", record_id, {**(before or {}), **draft})])
        for name in wanted:
            rule = rules.defaults[name]
            try:
                value = to_column(obj.fields[name], rule.evaluate(evaluator.record("draft", is_new=True)))
            except (RuleError, ValueError, TypeError):
                continue  # the save reports a broken default beside its field
            evaluator.values["draft"][name] = value
            state.defaults[name] = obj.fields[name].from_db(value)
        record = evaluator.record("draft", prior=before, is_new=record_id is None)
        for name, conditions in rules.conditions.items():
            held = {"visible": [], "required": [], "read_only": []}
            for condition in conditions:
                if condition.rule.evaluate is None:
                    continue
                try:
                    held[condition.kind].append(holds(condition.rule.evaluate, record))
                except RuleError:
                    continue
            state.fields[name] = FieldState(
                visible=all(held["visible"]), required=any(held["required"]), read_only=any(held["read_only"])
            )
    return state


__all__ = ["DraftState", "FieldState", "draft_state"]
