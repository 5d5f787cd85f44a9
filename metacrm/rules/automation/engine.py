"""Running automation rules: the save-pipeline steps, the actions, the run log.

Order within one save (docs/automation.md, "Order of execution"):

* ``before_write`` (order 300): for every created/updated/changed rule of
  the object whose trigger matches, the condition is evaluated on the
  record as it will be stored, and SET / ASSIGN OWNER (and plugin actions
  of phase "before") change ``save.values`` — so validation rules (400)
  see the result;
* ``after_write`` (order 600), same transaction: the other actions of
  those rules, and deleted rules; each rule's actions run in a savepoint,
  so a failing rule is rolled back alone and logged as an error while the
  save goes on; records they write go through :meth:`SaveContext.nested`
  (the pipeline runs again for them, at most ``MAX_DEPTH`` deep), and a
  rule never re-fires on the save it caused for the same record;
* ``after_commit``: the outbox rows written (e-mail, webhooks, slow plugin
  actions) are handed to the job queue.

Rules read their record as validation rules do, through
:class:`~metacrm.rules.saving.RecordEvaluator` (formulas, stored roll-ups,
lookup paths, the ``$User`` of the store's guard); the records they write
are written as the system (:func:`acting_as_system`). Every rule run writes
one row of ``automation_runs``.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.model import installed_plugins
from metacrm.metadata.physical import CompiledObject
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.metadata.values import json_safe
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.actions import ACTIONS, ActionCall, AutomationAction, collect_actions
from metacrm.rules.automation.compiler import CompiledAction, CompiledRule, Template, rules_for
from metacrm.rules.automation.outbox import enqueue_delivery
from metacrm.rules.automation.tables import automation_outbox, automation_runs, notifications
from metacrm.rules.compile_python import holds
from metacrm.rules.context import RecordContext
from metacrm.rules.errors import RuleError
from metacrm.rules.runtime import changed, number_text, same_value
from metacrm.rules.saving import RecordEvaluator, to_column

MAX_ERROR = 2000
MAX_TEMPLATE = 20_000
SINGLE_ROW_ACTIONS = ("notify", "email", "webhook")

# (rule key, object, record id) of the rules whose actions are running in
# this call chain: the saves they cause do not fire them again.
_running: contextvars.ContextVar[frozenset] = contextvars.ContextVar("automation_running", default=frozenset())


def actions_of(instance, model) -> dict[str, AutomationAction]:
    """The plugin actions the tenant of ``model`` may call: those of built-in
    plugins and of the plugins installed there (a plugin's hooks run only
    where it is installed; collected once per instance)."""
    if instance is None:
        return {}
    every = instance.caches.get_or_build(ACTIONS, lambda: collect_actions(instance.pm))
    installed = installed_plugins(model.definitions)
    return {name: action for name, (plugin, action) in every.items() if instance.pm.runs_for(plugin, installed)}


# -- values and records ----------------------------------------------------------------------


def stored_value(obj: CompiledObject, name: str, value: Any) -> Any:
    """A rule value as the column of ``obj.name`` stores it (``owner_id``
    included, which no field type describes)."""
    if name == "owner_id":
        return None if value is None else int(value)
    try:
        return to_column(obj.fields[name], value)
    except ValueError as exc:
        raise ValueError(f"{obj.api_name}.{name}: {exc}") from None


def acting_as_system(store) -> SystemGuard:
    """The guard automations write with. They act as the system (like
    Salesforce's flows): the records they create and update are not limited
    by the user's scopes; their ``$User`` is the user whose save (through
    ``store``) triggered them."""
    return SystemGuard(purpose="automation", acting_for=store.guard)


def evaluator(conn, store, obj: CompiledObject, rules: list[CompiledRule]) -> RecordEvaluator:
    """The record evaluator of validation rules, reading what ``rules`` read."""
    return RecordEvaluator(conn, store, obj, [rule.reads for rule in rules])


def stored_record(conn, store, rule: CompiledRule, values: Mapping, *, prior: Mapping | None = None) -> RecordContext:
    """A stored record (its row ``values``) as ``rule`` reads it: scheduled
    and cron runs, dry runs."""
    records = evaluator(conn, store, store.model.object(rule.object), [rule])
    records.load([(None, values.get("id"), values)])
    return records.record(None, prior=prior)


def render(template: Template, record: RecordContext) -> str:
    out = []
    for part in template.parts:
        if isinstance(part, str):
            out.append(part)
            continue
        value = part(record)
        if value is None:
            continue
        if isinstance(value, (int, Decimal)) and not isinstance(value, bool):
            value = number_text(value)  # as TEXT() shows numbers, the same on every database
        out.append(value if isinstance(value, str) else str(json_safe(value)))
    return "".join(out)[:MAX_TEMPLATE]


# -- one rule's run --------------------------------------------------------------------------


@dataclass
class Run:
    """One rule on one record: what it did, for the run log."""

    rule: CompiledRule
    trigger: str
    started: float = field(default_factory=time.perf_counter)
    result: str = "ok"
    error: str | None = None
    done: list[dict] = field(default_factory=list)
    outbox: list[int] = field(default_factory=list)

    def fail(self, exc: BaseException) -> None:
        self.result = "error"
        self.error = _message(exc)[:MAX_ERROR]

    def log_row(self, record_id: int | None) -> dict:
        return {
            "rule": self.rule.key,
            "object": self.rule.object,
            "record_id": record_id,
            "trigger": self.trigger,
            "result": self.result,
            "error": self.error,
            "actions": json_safe(self.done),
            "at": utcnow(),
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }


def _message(exc: BaseException) -> str:
    if isinstance(exc, RuleError):
        return str(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("fields"):
        message += " " + json.dumps(json_safe(details["fields"]))[:500]
    return message


def write_log(conn: Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(automation_runs.insert(), rows)


def _trigger_name(rule: CompiledRule, action: str) -> str:
    if rule.trigger.kind in ("changed", "scheduled", "cron"):
        return rule.trigger.kind if rule.trigger.kind != "changed" else f"{rule.trigger.field} changed"
    return {"create": "created", "update": "updated", "delete": "deleted"}[action]


def trigger_matches(rule: CompiledRule, save: PendingSave, record: RecordContext) -> bool:
    """Whether the save is one the rule's trigger names: for ``WHEN field
    changed (to …)``, whether the save changes the field as ISCHANGED sees
    it (on create: gives it a value) to the wanted value."""
    if not rule.fires_on(save.action):
        return False
    trigger = rule.trigger
    if trigger.kind != "changed":
        return True
    name, kind = trigger.field, rule.trigger_type
    current = save.current().get(name)
    before = None if save.is_new else (save.before or {}).get(name)
    if not (save.is_new or name in save.values) or not changed(kind, before, current):
        return False
    return rule.changed_to is None or same_value(kind, current, rule.changed_to(record))


# -- executing actions ----------------------------------------------------------------------------


class Executor:
    """Runs actions of rules on records of one object inside a transaction.

    ``store`` is a record store writing in ``conn`` (nested, acting as the
    system); ``dry_run`` makes plugin actions compute without writing (the
    caller rolls the transaction back anyway)."""

    def __init__(self, conn: Connection, store, obj: CompiledObject, *, instance=None, dry_run: bool = False):
        self.conn = conn
        self.store = store
        self.model = store.model
        self.obj = obj
        self.actor = store.actor
        self.instance = instance  # its plugins provide CALL actions (None: a store built without one)
        self.dry_run = dry_run

    def plugin(self, name: str) -> AutomationAction:
        action = actions_of(self.instance, self.model).get(name)
        if action is None:
            if self.instance is None:
                raise RuntimeError(f"automation action {name!r} is not available in this process")
            raise RuntimeError(f"unknown automation action {name!r}; is the plugin providing it installed?")
        return action

    def call(
        self, rule: CompiledRule, compiled: CompiledAction, values: Mapping, record_id, args: tuple, run: Run = None
    ) -> dict:
        action = self.plugin(compiled.call)

        def outbox(kind: str, payload: dict) -> int:
            row = self._outbox(kind, rule, record_id, payload)
            if run is not None:
                run.outbox.append(row)
            return row

        call = ActionCall(
            self.conn,
            self.model,
            self.obj.api_name,
            record_id,
            values,
            args,
            self.actor,
            rule.key,
            self.dry_run,
            store=self.store,
            outbox=outbox,
        )
        return action.run(call) or {}

    def values_of(self, compiled: CompiledAction, record: RecordContext) -> dict[str, Any]:
        return {v.field: json_safe(v.evaluate(record)) for v in compiled.values}

    # Before the write: SET, ASSIGN OWNER and plugin actions of phase "before".
    def before(
        self, rule: CompiledRule, compiled: CompiledAction, save: PendingSave, record: RecordContext
    ) -> dict | None:
        if compiled.kind in ("set", "assign_user"):
            changes = {}
            for value in compiled.values:
                result = value.evaluate(record)
                save.values[value.field] = stored_value(self.obj, value.field, result)
                changes[value.field] = json_safe(result)
            return {"action": compiled.kind, "set": changes}
        if compiled.call is not None and self.plugin(compiled.call).phase == "before":
            args = (compiled.text,) if compiled.text is not None else tuple(a(record) for a in compiled.args)
            result = self.call(rule, compiled, save.current(), save.record_id, args)
            for name, value in (result.get("set") or {}).items():
                save.values[name] = value
            return {"action": compiled.describe(), **json_safe(result)}
        return None

    def runs_before(self, compiled: CompiledAction) -> bool:
        if compiled.before_write:
            return True
        return compiled.call is not None and self.plugin(compiled.call).phase == "before"

    # After the write (or on its own, for scheduled and cron rules).
    def after(
        self,
        rule: CompiledRule,
        compiled: CompiledAction,
        values: Mapping,
        record_id: int,
        record: RecordContext,
        run: Run,
    ) -> dict:
        kind = compiled.kind
        obj = self.obj
        if kind in ("set", "assign_user") or (compiled.call and self.plugin(compiled.call).phase == "before"):
            # A rule that does not run inside a save (scheduled, cron): update the record.
            if compiled.call is not None:
                args = (compiled.text,) if compiled.text is not None else tuple(a(record) for a in compiled.args)
                changes = self.call(rule, compiled, values, record_id, args).get("set") or {}
                data = dict(changes)
            else:
                data = {v.field: stored_value(obj, v.field, v.evaluate(record)) for v in compiled.values}
            owner_given = "owner_id" in data
            owner = data.pop("owner_id", None)
            fields = {k: json_safe(obj.fields[k].from_db(v)) for k, v in data.items()}
            if fields:
                self.store.update(obj.api_name, record_id, fields, read_back=False)
            if owner_given:
                self._set_owner(record_id, owner)
                fields["owner_id"] = owner
            return {"action": compiled.describe(), "set": fields}
        if kind == "create":
            data = self.values_of(compiled, record)
            owner = data.pop("owner_id", None)
            created = self.store.create(compiled.object, data, owner_id=owner, read_back=False)
            return {"action": "create", "object": compiled.object, "id": created["id"], "values": data}
        if kind == "update_related":
            data = self.values_of(compiled, record)
            child = self.model.object(compiled.object)
            ids = list(
                self.conn.execute(
                    sa.select(child.table.c.id)
                    .where(child.table.c[compiled.field] == record_id, child.table.c.deleted_at.is_(None))
                    .order_by(child.table.c.id)
                    .limit(1000)
                ).scalars()
            )
            if ids:
                self.store.bulk_update(compiled.object, [{**data, "id": i} for i in ids], read_back=False)
            return {"action": "update_related", "object": compiled.object, "ids": ids, "values": data}
        if kind == "update_parent":
            data = self.values_of(compiled, record)
            parent = values.get(compiled.field)
            if parent is None:
                return {"action": "update_parent", "object": compiled.target, "skipped": f"{compiled.field} is empty"}
            self.store.update(compiled.target, int(parent), data, read_back=False)
            return {"action": "update_parent", "object": compiled.target, "id": int(parent), "values": data}
        if kind == "notify":
            user = compiled.expression(record)
            message = render(compiled.templates[0], record)
            if user is None:
                return {"action": "notify", "skipped": "no user"}
            row = {
                "user_id": int(user),
                "rule": rule.key,
                "object": obj.api_name,
                "record_id": record_id,
                "message": message,
                "created_at": utcnow(),
            }
            self.conn.execute(notifications.insert().values(**row))
            return {"action": "notify", "user_id": int(user), "message": message}
        if kind == "email":
            to = compiled.expression(record)
            subject, body = (render(t, record) for t in compiled.templates)
            if not to:
                return {"action": "email", "skipped": "no address"}
            payload = {"to": to, "subject": subject, "body": body}
            run.outbox.append(self._outbox("email", rule, record_id, payload))
            return {"action": "email", **payload}
        if kind == "webhook":
            payload = {
                "url": compiled.text,
                "body": {
                    "rule": rule.key,
                    "object": obj.api_name,
                    "record_id": record_id,
                    "trigger": run.trigger,
                    "record": json_safe({k: v for k, v in values.items() if k != "deleted_at"}),
                },
            }
            run.outbox.append(self._outbox("webhook", rule, record_id, payload))
            return {"action": "webhook", "url": compiled.text}
        if compiled.call is not None:
            args = (compiled.text,) if compiled.text is not None else tuple(a(record) for a in compiled.args)
            action = self.plugin(compiled.call)
            if action.slow:
                payload = {"action": compiled.call, "args": json_safe(list(args))}
                run.outbox.append(self._outbox("call", rule, record_id, payload))
                return {"action": compiled.describe(), "queued": True, "args": json_safe(list(args))}
            result = self.call(rule, compiled, values, record_id, args, run)
            return {"action": compiled.describe(), **json_safe(result)}
        raise RuntimeError(f"unknown action {kind}")  # pragma: no cover

    def _set_owner(self, record_id: int, owner: int | None) -> None:
        table = self.obj.table
        before = self.conn.execute(sa.select(table.c.owner_id).where(table.c.id == record_id)).scalar()
        if before == owner:
            return
        self.conn.execute(
            table.update()
            .where(table.c.id == record_id)
            .values(owner_id=owner, updated_at=utcnow(), updated_by=self.actor.user_id, version=table.c.version + 1)
        )
        audit.record(
            self.conn,
            self.actor,
            "record.updated",
            object=self.obj.api_name,
            record_id=record_id,
            details={"changes": {"owner_id": [before, owner]}},
        )

    def _outbox(self, kind: str, rule: CompiledRule, record_id: int | None, payload: dict) -> int:
        now = utcnow()
        return self.conn.execute(
            automation_outbox.insert()
            .values(
                kind=kind,
                rule=rule.key,
                object=self.obj.api_name,
                record_id=record_id,
                payload=json_safe(payload),
                status="pending",
                attempts=0,
                next_attempt_at=now,
                created_at=now,
            )
            .returning(automation_outbox.c.id)
        ).scalar_one()

    def run_actions(
        self,
        rule: CompiledRule,
        values: Mapping,
        record_id: int,
        record: RecordContext,
        run: Run,
        *,
        include_before: bool,
    ) -> None:
        """The rule's actions (those not already applied before the write),
        in a savepoint: a failure rolls back this rule's work only."""
        pending = [c for c in rule.actions if include_before or not self.runs_before(c)]
        if not pending:
            return  # everything ran before the write: no savepoint needed
        token = _running.set(_running.get() | {(rule.key, self.obj.api_name, record_id)})
        # One row into automation's own tables (evaluated first, so a failure
        # writes nothing) needs no savepoint: two round trips saved per save.
        single_row = len(pending) == 1 and pending[0].kind in SINGLE_ROW_ACTIONS
        savepoint = None if single_row else self.conn.begin_nested()
        try:
            for compiled in pending:
                run.done.append(self.after(rule, compiled, values, record_id, record, run))
            if savepoint is not None:
                savepoint.commit()
        except Exception as exc:  # noqa: BLE001 - any failure of a rule is its own, logged
            if savepoint is not None:
                savepoint.rollback()
            run.outbox.clear()
            run.fail(exc)
        finally:
            _running.reset(token)


# -- the save-pipeline steps -------------------------------------------------------------------------

_RUNS = "_automation_runs"  # attribute of a PendingSave: the runs started before the write


def _runs(save: PendingSave) -> list[Run]:
    return save.__dict__.setdefault(_RUNS, [])


def _rules(ctx: SaveContext, action: str) -> list[CompiledRule]:
    rules = rules_for(ctx.store.model).for_object(ctx.obj.api_name)
    return [rule for rule in rules if rule.fires_on(action)]


def _executor(ctx: SaveContext) -> Executor:
    return Executor(ctx.conn, _LazyStore(ctx), ctx.obj, instance=ctx.instance)


class _LazyStore:
    """The nested store, built only when an action writes a record (building
    it past MAX_DEPTH raises; a rule that writes nothing must not)."""

    def __init__(self, ctx: SaveContext):
        self._ctx = ctx
        self._store = None
        self.model = ctx.store.model
        self.actor = ctx.store.actor

    def __getattr__(self, name):
        if self._store is None:
            self._store = self._ctx.nested(guard=acting_as_system(self._ctx.store))
        return getattr(self._store, name)


class BeforeSave:
    """Order 300: match triggers, evaluate conditions, apply SET / ASSIGN OWNER."""

    order = 300

    def before_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        if ctx.action == "delete":
            return
        rules = _rules(ctx, ctx.action)
        if not rules:
            return
        running = _running.get()
        executor = _executor(ctx)
        saves = [save for save in saves if "$" not in save.errors]
        records = RecordEvaluator.for_saves(ctx, saves, [rule.reads for rule in rules])
        for save in saves:
            for rule in rules:
                if (rule.key, ctx.obj.api_name, save.record_id) in running:
                    continue
                run = Run(rule, _trigger_name(rule, save.action))
                try:
                    record = records.record_of(save)
                    if not trigger_matches(rule, save, record):
                        continue
                    if rule.condition is not None and not holds(rule.condition, record):
                        run.result = "skipped"
                        _runs(save).append(run)
                        continue
                    for compiled in rule.actions:
                        if executor.runs_before(compiled):
                            done = executor.before(rule, compiled, save, record)
                            if done is not None:
                                run.done.append(done)
                                records.load_saves([save])  # the next rules see what this one set
                                record = records.record_of(save)
                except Exception as exc:  # noqa: BLE001 - logged in the run log after the write
                    run.fail(exc)
                _runs(save).append(run)


class AfterSave:
    """Order 600: the other actions, the run log; after commit, the outbox."""

    order = 600

    def after_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        deleting = ctx.action == "delete"
        delete_rules = _rules(ctx, "delete") if deleting else []
        if not delete_rules and not any(_runs(s) for s in saves):
            return
        executor = _executor(ctx)
        running = _running.get()
        # The records as written (with their ids; as they were, when deleted).
        written = {save.index: {**save.current(), "id": save.record_id} for save in saves}
        reading = {run.rule.key: run.rule for save in saves for run in _runs(save)}
        reading.update((rule.key, rule) for rule in delete_rules)
        records = evaluator(ctx.conn, ctx.store, ctx.obj, list(reading.values()))
        records.load((save.index, save.record_id, written[save.index]) for save in saves)
        log = []
        for save in saves:
            values = written[save.index]
            record = records.record(save.index, prior=save.before, is_new=save.is_new)
            for rule in delete_rules:
                if (rule.key, ctx.obj.api_name, save.record_id) in running:
                    continue
                run = Run(rule, "deleted")
                try:
                    if rule.condition is not None and not holds(rule.condition, record):
                        run.result = "skipped"
                except Exception as exc:  # noqa: BLE001
                    run.fail(exc)
                _runs(save).append(run)
            for run in _runs(save):
                if run.result == "ok":
                    executor.run_actions(run.rule, values, save.record_id, record, run, include_before=False)
                log.append(run.log_row(save.record_id))
        write_log(ctx.conn, log)

    def after_commit(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        ids = [i for save in saves for run in _runs(save) for i in run.outbox]
        if ids:
            enqueue_delivery(ctx.instance, ctx.store.binding.slug, ids)
