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

Every rule run writes one row of ``automation_runs``.
"""

from __future__ import annotations

import contextvars
import json
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import Decimal
from typing import Any

import marshmallow as ma
import sqlalchemy as sa
from sqlalchemy.engine import Connection

from metacrm.metadata.physical import CompiledModel, CompiledObject
from metacrm.metadata.saving import PendingSave, SaveContext
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.rules.automation.actions import ACTIONS, ActionCall, AutomationAction, collect_actions
from metacrm.rules.automation.compiler import CompiledAction, CompiledRule, Template, rules_for
from metacrm.rules.automation.outbox import enqueue_delivery
from metacrm.rules.automation.tables import automation_outbox, automation_runs, notifications
from metacrm.rules.context import RecordContext, UserGlobals
from metacrm.rules.errors import RuleError
from metacrm.rules.runtime import normalise, number_text

MAX_ERROR = 2000
MAX_TEMPLATE = 20_000
SINGLE_ROW_ACTIONS = ("notify", "email", "webhook")

# (rule key, object, record id) of the rules whose actions are running in
# this call chain: the saves they cause do not fire them again.
_running: contextvars.ContextVar[frozenset] = contextvars.ContextVar("automation_running", default=frozenset())


def actions_of(instance) -> dict[str, AutomationAction]:
    """The plugin actions of ``instance`` (collected once)."""
    if instance is None:
        return {}
    return instance.caches.get_or_build(ACTIONS, lambda: collect_actions(instance.pm))


class AutomationGuard:
    """Automations act as the system (like Salesforce's flows): the records
    they create and update are not limited by the user's scopes."""

    def require(self, action: str, obj: CompiledObject) -> None:
        return None

    def scope(self, action: str, obj: CompiledObject):
        return None

    def readable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def writable_fields(self, obj: CompiledObject) -> set[str]:
        return set(obj.fields)

    def may_manage_metadata(self) -> bool:
        return False


# -- values ----------------------------------------------------------------------------------


def jsonable(value: Any) -> Any:
    """A rule or stored value in its JSON form (what the API sends)."""
    if isinstance(value, bool) or value is None or isinstance(value, (int, str)):
        return value
    if isinstance(value, Decimal):
        return int(value) if value == value.to_integral_value() else str(value)
    if isinstance(value, float):
        return jsonable(Decimal(repr(value)))
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, (list, tuple, set)):
        return [jsonable(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items()}
    return str(value)


def stored_value(obj: CompiledObject, name: str, value: Any) -> Any:
    """A rule value as the column of ``obj.name`` stores it (checked by the
    field type's loader, like a value sent to the API)."""
    if name == "owner_id":
        return None if value is None else int(value)
    field_type = obj.fields[name]
    if isinstance(value, str) and field_type.name in ("multi_picklist", "tags"):
        value = [value]
    try:
        return field_type.to_db(field_type.loader.deserialize(jsonable(value)))
    except ma.ValidationError as exc:
        messages = exc.messages if isinstance(exc.messages, list) else [str(exc.messages)]
        raise ValueError(f"{obj.api_name}.{name}: {'; '.join(map(str, messages))}") from None


def record_context(
    conn, model: CompiledModel, object_name: str, values: Mapping, *, prior=None, is_new=False, actor=None
):
    return RecordContext(
        values,
        related=_resolver(conn, model, object_name, values),
        user=UserGlobals(id=getattr(actor, "user_id", None), email=getattr(actor, "email", None)),
        prior=prior,
        is_new=is_new,
    )


def _resolver(conn: Connection, model: CompiledModel, object_name: str, values: Mapping):
    """Values at lookup paths (``account.industry``), one query per record reached."""
    rows: dict[tuple[str, int], Mapping | None] = {}

    def resolve(path: tuple[str, ...]) -> Any:
        obj, current = model.object(object_name), values
        for name in path[:-1]:
            field_type = obj.fields.get(name) if obj else None
            ref = current.get(name) if current is not None else None
            if field_type is None or ref is None:
                return None
            target = model.object(field_type.options.get("target"))
            if target is None:
                return None
            key = (target.api_name, int(ref))
            if key not in rows:
                rows[key] = (
                    conn.execute(
                        sa.select(target.table).where(
                            target.table.c.id == int(ref), target.table.c.deleted_at.is_(None)
                        )
                    )
                    .mappings()
                    .first()
                )
            obj, current = target, rows[key]
            if current is None:
                return None
        return current.get(path[-1]) if current is not None else None

    return resolve


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
        out.append(value if isinstance(value, str) else str(jsonable(value)))
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
            "actions": jsonable(self.done),
            "at": utcnow(),
            "duration_ms": round((time.perf_counter() - self.started) * 1000, 3),
        }


def _message(exc: BaseException) -> str:
    if isinstance(exc, RuleError):
        return str(exc)
    message = getattr(exc, "message", None) or str(exc) or type(exc).__name__
    details = getattr(exc, "details", None)
    if isinstance(details, dict) and details.get("fields"):
        message += " " + json.dumps(jsonable(details["fields"]))[:500]
    return message


def write_log(conn: Connection, rows: list[dict]) -> None:
    if rows:
        conn.execute(automation_runs.insert(), rows)


def _trigger_name(rule: CompiledRule, action: str) -> str:
    if rule.trigger.kind in ("changed", "scheduled", "cron"):
        return rule.trigger.kind if rule.trigger.kind != "changed" else f"{rule.trigger.field} changed"
    return {"create": "created", "update": "updated", "delete": "deleted"}[action]


def trigger_matches(rule: CompiledRule, save: PendingSave, record: RecordContext) -> bool:
    """Whether the save is one the rule's trigger names."""
    if not rule.fires_on(save.action):
        return False
    trigger = rule.trigger
    if trigger.kind != "changed":
        return True
    name = trigger.field
    current = save.current().get(name)
    # On create, giving the field a value counts as a change.
    before = {} if save.is_new else (save.before or {})
    changed = current is not None if save.is_new else name in save.values and before.get(name) != current
    if not changed:
        return False
    if rule.changed_to is None:
        return True
    wanted = rule.changed_to(record)
    return _same(current, wanted)


def _same(stored: Any, wanted: Any) -> bool:
    if wanted is None:
        return stored is None
    if stored is None:
        return False
    if isinstance(wanted, (int, Decimal)) and not isinstance(wanted, bool):
        return normalise("NUMBER", stored) == wanted
    if isinstance(wanted, datetime):
        return normalise("DATETIME", stored) == wanted
    if isinstance(wanted, date):
        return normalise("DATE", stored) == wanted
    return stored == wanted


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
        action = actions_of(self.instance).get(name)
        if action is None:
            if self.instance is None:
                raise RuntimeError(f"automation action {name!r} is not available in this process")
            raise RuntimeError(f"unknown automation action {name!r}; is the plugin providing it installed?")
        return action

    def call(self, rule: CompiledRule, compiled: CompiledAction, values: Mapping, record_id, args: tuple) -> dict:
        action = self.plugin(compiled.call)
        call = ActionCall(
            self.conn, self.model, self.obj.api_name, record_id, values, args, self.actor, rule.key, self.dry_run
        )
        return action.run(call) or {}

    def values_of(self, compiled: CompiledAction, record: RecordContext) -> dict[str, Any]:
        return {v.field: jsonable(v.evaluate(record)) for v in compiled.values}

    # Before the write: SET, ASSIGN OWNER and plugin actions of phase "before".
    def before(
        self, rule: CompiledRule, compiled: CompiledAction, save: PendingSave, record: RecordContext
    ) -> dict | None:
        if compiled.kind in ("set", "assign_user"):
            changes = {}
            for value in compiled.values:
                result = value.evaluate(record)
                save.values[value.field] = stored_value(self.obj, value.field, result)
                changes[value.field] = jsonable(result)
            return {"action": compiled.kind, "set": changes}
        if compiled.call is not None and self.plugin(compiled.call).phase == "before":
            args = (compiled.text,) if compiled.text is not None else tuple(a(record) for a in compiled.args)
            result = self.call(rule, compiled, save.current(), save.record_id, args)
            for name, value in (result.get("set") or {}).items():
                save.values[name] = value
            return {"action": compiled.describe(), **jsonable(result)}
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
            fields = {k: jsonable(obj.fields[k].from_db(v)) for k, v in data.items()}
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
                    "record": jsonable({k: v for k, v in values.items() if k != "deleted_at"}),
                },
            }
            run.outbox.append(self._outbox("webhook", rule, record_id, payload))
            return {"action": "webhook", "url": compiled.text}
        if compiled.call is not None:
            args = (compiled.text,) if compiled.text is not None else tuple(a(record) for a in compiled.args)
            action = self.plugin(compiled.call)
            if action.slow:
                payload = {"action": compiled.call, "args": jsonable(list(args))}
                run.outbox.append(self._outbox("call", rule, record_id, payload))
                return {"action": compiled.describe(), "queued": True, "args": jsonable(list(args))}
            result = self.call(rule, compiled, values, record_id, args)
            return {"action": compiled.describe(), **jsonable(result)}
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
                payload=jsonable(payload),
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
            self._store = self._ctx.nested(guard=AutomationGuard())
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
        for save in saves:
            if "$" in save.errors:
                continue
            for rule in rules:
                if (rule.key, ctx.obj.api_name, save.record_id) in running:
                    continue
                run = Run(rule, _trigger_name(rule, save.action))
                try:
                    current = save.current()
                    record = record_context(
                        ctx.conn,
                        ctx.store.model,
                        ctx.obj.api_name,
                        current,
                        prior=save.before,
                        is_new=save.is_new,
                        actor=ctx.actor,
                    )
                    if not trigger_matches(rule, save, record):
                        continue
                    if rule.condition is not None and not _holds(rule.condition(record)):
                        run.result = "skipped"
                        _runs(save).append(run)
                        continue
                    for compiled in rule.actions:
                        if executor.runs_before(compiled):
                            done = executor.before(rule, compiled, save, record)
                            if done is not None:
                                run.done.append(done)
                                record = record_context(
                                    ctx.conn,
                                    ctx.store.model,
                                    ctx.obj.api_name,
                                    save.current(),
                                    prior=save.before,
                                    is_new=save.is_new,
                                    actor=ctx.actor,
                                )
                except Exception as exc:  # noqa: BLE001 - logged in the run log after the write
                    run.fail(exc)
                _runs(save).append(run)


class AfterSave:
    """Order 600: the other actions, the run log; after commit, the outbox."""

    order = 600

    def after_write(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        deleting = ctx.action == "delete"
        delete_rules = _rules(ctx, "delete") if deleting else []
        if not deleting and not any(_runs(s) for s in saves):
            return
        executor = _executor(ctx)
        running = _running.get()
        log = []
        for save in saves:
            if deleting:
                for rule in delete_rules:
                    if (rule.key, ctx.obj.api_name, save.record_id) in running:
                        continue
                    run = Run(rule, "deleted")
                    try:
                        record = record_context(
                            ctx.conn, ctx.store.model, ctx.obj.api_name, save.before, prior=save.before, actor=ctx.actor
                        )
                        if rule.condition is not None and not _holds(rule.condition(record)):
                            run.result = "skipped"
                    except Exception as exc:  # noqa: BLE001
                        run.fail(exc)
                    _runs(save).append(run)
            values = save.current() if not save.is_new else save.values
            values = {**values, "id": save.record_id}
            for run in _runs(save):
                if run.result == "ok":
                    try:
                        record = record_context(
                            ctx.conn,
                            ctx.store.model,
                            ctx.obj.api_name,
                            values,
                            prior=save.before,
                            is_new=save.is_new,
                            actor=ctx.actor,
                        )
                    except Exception as exc:  # noqa: BLE001
                        run.fail(exc)
                    else:
                        executor.run_actions(run.rule, values, save.record_id, record, run, include_before=False)
                log.append(run.log_row(save.record_id))
        write_log(ctx.conn, log)

    def after_commit(self, ctx: SaveContext, saves: list[PendingSave]) -> None:
        ids = [i for save in saves for run in _runs(save) for i in run.outbox]
        if ids:
            enqueue_delivery(ctx.instance, ctx.store.binding.slug, ids)


def _holds(value: Any) -> bool:
    return value is True
