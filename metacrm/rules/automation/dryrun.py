"""What a rule would do to one record, with nothing written.

The rule runs for real — condition, every action, the saves its actions
cause with their own pipeline — inside a transaction that is always rolled
back; plugin actions are told it is a dry run. The answer lists the trigger
(and whether the record matches it now), the condition's value and each
action with the values it would set, create or send.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa

from metacrm.metadata.store.sealing import open_row
from metacrm.metadata.values import json_safe
from metacrm.platform.clock import as_utc
from metacrm.platform.errors import NotFound
from metacrm.rules.automation.compiler import CompiledRule, compile_rule
from metacrm.rules.automation.engine import (
    Executor,
    Run,
    acting_as_system,
    actions_of,
    stored_record,
)
from metacrm.rules.runtime import same_value


class _RollBack(Exception):
    pass


def _trigger(rule: CompiledRule, values: dict, record) -> dict:
    trigger = rule.trigger
    out = {"kind": trigger.kind}
    if trigger.kind in ("created", "deleted"):
        out["matches"] = None
        out["note"] = f"runs when a record is {trigger.kind}"
    elif trigger.kind in ("updated", "created_or_updated"):
        out["matches"] = True
        out["note"] = "runs on every save of the record"
    elif trigger.kind == "changed":
        out["field"] = trigger.field
        wanted = rule.changed_to(record) if rule.changed_to is not None else None
        out["matches"] = (
            True if rule.changed_to is None else same_value(rule.trigger_type, values.get(trigger.field), wanted)
        )
        out["note"] = f"runs when {trigger.field} changes" + (f" to {json_safe(wanted)!r}" if rule.changed_to else "")
    elif trigger.kind == "scheduled":
        value = values.get(trigger.field)
        out["field"] = trigger.field
        if value is None:
            out["due_at"], out["matches"] = None, False
        else:
            moment = value if isinstance(value, datetime) else datetime.combine(value, datetime.min.time())
            out["due_at"] = (as_utc(moment) + timedelta(seconds=trigger.offset_seconds)).isoformat()
            out["matches"] = True
    elif trigger.kind in ("approved", "rejected"):
        out["matches"] = None
        out["note"] = f"runs when an approval process has {trigger.kind} the record"
    else:
        out["cron"] = trigger.cron
        out["matches"] = True
    return out


def dry_run(
    instance, binding, store, object_name: str, api_name: str, record_id: int, *, document: dict | None = None
) -> dict:
    """``store`` is the caller's (the record must be visible to them).
    ``document`` tries a draft of the rule (not saved yet, or edited) in
    place of the stored one."""
    model = store.model
    if document is None:
        definition = model.definitions.get("automation", f"{object_name}.{api_name}")
        if definition is None:
            raise NotFound(f"no automation {object_name}.{api_name}")
        document = definition.document
    rule = compile_rule(model, object_name, document, actions=actions_of(instance, model))
    store.get(object_name, record_id, fields=[])  # NotFound outside the caller's scope
    obj = model.object(object_name)
    result: dict = {}
    try:
        with binding.begin() as conn:
            row = conn.execute(sa.select(obj.table).where(obj.table.c.id == record_id)).mappings().one()
            values = open_row(model.registry, obj.api_name, obj.fields, dict(row))
            record = stored_record(conn, store, rule, values, prior=values)
            run = Run(rule, rule.trigger.kind)
            result["trigger"] = _trigger(rule, values, record)
            condition = rule.condition(record) if rule.condition is not None else True
            result["condition"] = {"present": rule.condition is not None, "value": json_safe(condition)}
            if condition is True:
                nested = store.nested(conn, guard=acting_as_system(store), depth=1)
                Executor(conn, nested, obj, instance=instance, dry_run=True).run_actions(
                    rule, values, record_id, record, run, include_before=True
                )
                result["actions"] = run.done
            else:
                run.result = "skipped"
                result["actions"] = []
            result["result"] = run.result
            result["error"] = run.error
            raise _RollBack
    except _RollBack:
        pass
    return {
        "rule": rule.key,
        "record_id": record_id,
        "active": rule.active,
        "written": False,
        **json_safe(result),
    }
