"""Time-triggered rules, run by the ``automation.scheduled`` job every minute.

* ``WHEN 3 days after close_date`` — records whose field plus the offset
  has passed (within the last :data:`CATCH_UP` — a rule added today does
  not fire for every record of past years) and that have not run for that
  moment yet (``automation_schedule`` remembers each (rule, record, moment));
* ``WHEN cron "0 8 * * *"`` — when the minute matches, every live record
  of the object matching the IF condition, selected in SQL.

Each record's actions run in a transaction of their own and are logged in
the run log like any other run.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

import sqlalchemy as sa

from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.store.sealing import open_row
from metacrm.platform import audit
from metacrm.platform.clock import as_utc, utcnow
from metacrm.platform.jobs import JobSpec, crontab
from metacrm.platform.tenancy import list_tenants
from metacrm.rules.automation.compiler import CompiledRule, cron_schedule, rules_for
from metacrm.rules.automation.engine import Executor, Run, acting_as_system, stored_record, write_log
from metacrm.rules.automation.outbox import enqueue_delivery
from metacrm.rules.automation.tables import automation_schedule
from metacrm.rules.compile_python import holds
from metacrm.rules.compile_sql import compile_sql
from metacrm.rules.context import SqlContext

log = logging.getLogger("metacrm.automation")
CATCH_UP = timedelta(days=2)
MAX_DUE = 1000  # scheduled runs per rule and minute; the rest follow on the next minutes
MAX_CRON = 10_000  # records per firing of a cron rule
ACTOR = audit.Actor(email="system:automation")


def _due_records(conn, model, rule: CompiledRule, now: datetime) -> list[tuple[int, datetime]]:
    obj = model.object(rule.object)
    table = obj.table
    column = table.c[rule.trigger.field]
    offset = timedelta(seconds=rule.trigger.offset_seconds)
    latest, earliest = now - offset, now - offset - CATCH_UP
    is_date = obj.fields.get(rule.trigger.field) is not None and obj.fields[rule.trigger.field].name == "date"
    if is_date:
        latest, earliest = latest.date(), earliest.date()
    bounds = (column <= latest, column >= earliest)
    done = sa.select(automation_schedule.c.record_id).where(automation_schedule.c.rule == rule.key)
    rows = conn.execute(
        sa.select(table.c.id, column)
        .where(table.c.deleted_at.is_(None), *bounds, table.c.id.not_in(done))
        .order_by(table.c.id)
        .limit(MAX_DUE)
    ).all()
    due = []
    for record_id, value in rows:
        moment = datetime.combine(value, datetime.min.time()) if is_date else value
        due.append((record_id, as_utc(moment) + offset))
    return due


def _cron_records(conn, model, rule: CompiledRule) -> list[tuple[int, None]]:
    obj = model.object(rule.object)
    where = [obj.table.c.deleted_at.is_(None)]
    if rule.condition_typed is not None:
        where.append(compile_sql(rule.condition_typed, SqlContext(model, rule.object)))
    ids = conn.execute(sa.select(obj.table.c.id).where(*where).order_by(obj.table.c.id).limit(MAX_CRON)).scalars()
    return [(i, None) for i in ids]


def run_rule_on(instance, binding, store, rule: CompiledRule, record_id: int, due_at=None) -> Run:
    """One time-triggered (or manual, or approval outcome) run of ``rule`` on one record, in its own transaction."""
    model = store.model
    obj = model.object(rule.object)
    run = Run(rule, rule.trigger.kind)
    with binding.begin() as conn:
        if due_at is not None:
            conn.execute(
                automation_schedule.insert().values(rule=rule.key, record_id=record_id, due_at=due_at, ran_at=utcnow())
            )
        row = conn.execute(sa.select(obj.table).where(obj.table.c.id == record_id)).mappings().first()
        values = open_row(store.registry, obj.api_name, obj.fields, dict(row or {}))
        nested = store.nested(conn, guard=acting_as_system(store), depth=0)
        executor = Executor(conn, nested, obj, instance=instance)
        try:
            record = stored_record(conn, store, rule, values)
            if (
                rule.trigger.kind in ("scheduled", "manual", "approved", "rejected")
                and rule.condition is not None
                and not holds(rule.condition, record)
            ):
                run.result = "skipped"
        except Exception as exc:  # noqa: BLE001
            run.fail(exc)
        if run.result == "ok":
            executor.run_actions(rule, values, record_id, record, run, include_before=True)
        write_log(conn, [run.log_row(record_id)])
    enqueue_delivery(instance, binding.slug, run.outbox)
    return run


def run_time_rules(instance, binding, *, now: datetime | None = None) -> list[Run]:
    """Run the tenant's scheduled and cron rules that are due at ``now``."""
    from metacrm.metadata.model import record_store

    now = now or utcnow()
    store = record_store(instance, binding, SystemGuard(purpose="automation"), ACTOR)
    runs = []
    for rule in rules_for(store.model).all():
        if rule.trigger.kind == "scheduled":
            with binding.connect() as conn:
                due = _due_records(conn, store.model, rule, now)
        elif rule.trigger.kind == "cron":
            if not cron_schedule(rule.trigger.cron)(now.replace(second=0, microsecond=0)):
                continue
            with binding.connect() as conn:
                due = _cron_records(conn, store.model, rule)
        else:
            continue
        for record_id, due_at in due:
            runs.append(run_rule_on(instance, binding, store, rule, record_id, due_at))
    return runs


def _every_tenant(instance) -> None:
    for tenant in list_tenants(instance):
        if tenant["status"] != "active":
            continue
        try:
            run_time_rules(instance, instance.db.bind(tenant["slug"]))
        except Exception:  # noqa: BLE001 - one tenant must not stop the others
            log.exception("scheduled automations failed for tenant %s", tenant["slug"])


JOBS = [JobSpec("automation.scheduled", _every_tenant, schedule=crontab(minute="*"), retries=0)]
