"""Manual automations: ``WHEN MANUAL [IF <condition>] THEN <actions>`` rules
a user runs on one record from its page (or the API), like a Salesforce
quick action backed by a flow.

Who may run one: a user who may update the record (its object's update
right and the record in their update scope). The actions then run with the
system's rights on behalf of that user, as time-triggered rules do
(audited as the user). A condition that does not hold refuses the run with
a message naming the rule; nothing is written.
"""

from __future__ import annotations

import sqlalchemy as sa

from metacrm.platform.errors import Forbidden, NotFound, ValidationFailed
from metacrm.rules.automation.compiler import CompiledRule, rules_for
from metacrm.rules.automation.engine import Run
from metacrm.rules.automation.scheduled import run_rule_on


def manual_rules(model, object_name: str) -> list[CompiledRule]:
    """The object's active manual rules, in run order."""
    return [rule for rule in rules_for(model).for_object(object_name) if rule.trigger.kind == "manual"]


def runnable_rules(store, object_name: str, record_id: int) -> list[CompiledRule]:
    """The manual rules the store's user may run on the record (none when
    they may not update it)."""
    _object(store, object_name)
    rules = manual_rules(store.model, object_name)
    if not rules or not _may_update(store, object_name, record_id):
        return []
    return rules


def run_manual(instance, binding, store, object_name: str, record_id: int, rule_name: str) -> Run:
    """Run the manual rule ``rule_name`` of ``object_name`` on one record as
    the store's user. Raises NotFound for an unknown rule or a record the
    user may not update, ValidationFailed when the rule's condition does
    not hold or its actions failed."""
    obj = _object(store, object_name)
    rule = next((r for r in manual_rules(store.model, object_name) if r.api_name == rule_name), None)
    if rule is None:
        raise NotFound(f"no manual automation {rule_name!r} on {object_name}")
    store.guard.require("update", obj)
    if not _may_update(store, object_name, record_id):
        raise NotFound(f"no {object_name} {record_id}")
    run = run_rule_on(instance, binding, store, rule, record_id)
    if run.result == "skipped":
        raise ValidationFailed(
            f"{rule_label(store.model, rule)} does not apply to this record (its condition does not hold)",
            details={"automation": rule.api_name},
        )
    if run.result != "ok":
        raise ValidationFailed(
            f"{rule_label(store.model, rule)} failed: {run.error}", details={"automation": rule.api_name}
        )
    return run


def rule_label(model, rule: CompiledRule) -> str:
    """The rule's label (its api name when it has none)."""
    definition = model.definitions.get("automation", rule.key)
    return (definition.document.get("label") if definition else None) or rule.api_name


def _object(store, object_name: str):
    obj = store.model.object(object_name)
    if obj is None:
        raise NotFound(f"no object {object_name!r}")
    return obj


def _may_update(store, object_name: str, record_id: int) -> bool:
    obj = store.model.object(object_name)
    table = obj.table
    where = [table.c.id == record_id, table.c.deleted_at.is_(None)]
    scope = store.guard.scope("update", obj)
    if scope is not None:
        where.append(scope)
    if not _permits(store.guard, obj):
        return False
    with store.binding.connect() as conn:
        return conn.execute(sa.select(table.c.id).where(*where)).first() is not None


def _permits(guard, obj) -> bool:
    try:
        guard.require("update", obj)
    except Forbidden:
        return False
    return True
