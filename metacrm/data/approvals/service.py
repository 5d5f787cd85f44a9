"""Running approval processes: submit, approve, reject, recall, and what a
user or a record shows of them. The one way the REST API and the screens
act on approvals.

* **Submit** (:func:`submit`): the submitter must be able to update the
  record and the process's entry condition must hold on it as stored. The
  first step whose condition holds opens: its approvers are resolved (the
  record owner's or the submitter's manager, a role's holders, a team's
  members, named users), those who cannot read the record are left out,
  each gets a pending task and a notification. No approver left is a 422
  naming the step.
* **Approve / reject** (:func:`decide`): only a pending approver of the
  current step; a comment is kept. ``one`` mode: the first approval closes
  the step; ``all``: every approver must approve. A rejection ends the
  request. The last step approved ends it approved.
* **Recall** (:func:`recall`): only the submitter, while pending.

While a request is pending the record is locked (:mod:`.lock`). Each
outcome writes the process's ``status_field`` (through the save pipeline,
past the lock), the history, an audit entry ``approval.<action>`` (the
record's timeline shows those) and notifications; after commit the
object's ``WHEN approved`` / ``WHEN rejected`` automations run.
"""

from __future__ import annotations

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from metacrm.access.guard import PolicyGuard
from metacrm.access.members import effective_roles, managers_of, tenant_members
from metacrm.access.policy import policy_for
from metacrm.access.tables import team_members, user_roles
from metacrm.metadata.guard import SystemGuard
from metacrm.metadata.store.sealing import open_row
from metacrm.platform import audit
from metacrm.platform.clock import utcnow
from metacrm.platform.errors import Conflict, Forbidden, NotFound, ValidationFailed
from metacrm.platform.tables import users
from metacrm.rules.automation.compiler import rules_for
from metacrm.rules.automation.notifications import notify
from metacrm.rules.automation.scheduled import run_rule_on
from metacrm.rules.compile_python import holds
from metacrm.rules.saving import RecordEvaluator

from .processes import approval_process, approval_processes, compile_condition, label_of
from .tables import approval_history, approval_requests, approval_tasks

MAX_COMMENT = 2000
DECISIONS = {"approve": "approved", "reject": "rejected"}
# Notification texts, by the recipient's language.
MESSAGES = {
    "en": {
        "requested": "Approval requested: {object} {name} ({process}, step {step})",
        "approved": "Approved: {object} {name} ({process})",
        "rejected": "Rejected: {object} {name} ({process})",
        "recalled": "Recalled: {object} {name} ({process})",
    },
    "zh_CN": {
        "requested": "待审批：{object} {name}（{process}，第 {step} 步）",
        "approved": "审批通过：{object} {name}（{process}）",
        "rejected": "审批被驳回：{object} {name}（{process}）",
        "recalled": "审批已撤回：{object} {name}（{process}）",
    },
}

# (object, record id) whose status field the engine is writing now: the lock lets that one write through.
_ENGINE_WRITE: ContextVar[tuple[str, int] | None] = ContextVar("metacrm_approval_engine_write", default=None)


def engine_writing(object_name: str, record_id: int) -> bool:
    """Whether the save of this record is the approval engine's own status write."""
    return _ENGINE_WRITE.get() == (object_name, record_id)


@contextmanager
def _engine_write(object_name: str, record_id: int):
    token = _ENGINE_WRITE.set((object_name, record_id))
    try:
        yield
    finally:
        _ENGINE_WRITE.reset(token)


@dataclass
class Outcome:
    """What a call did: the request as :func:`request_json` shows it, and the
    automation trigger to run after commit (approved / rejected / None)."""

    request: dict
    trigger: str | None = None


# -- reading ---------------------------------------------------------------------------------------


def pending_request(conn, object_name: str, record_id: int) -> dict | None:
    row = (
        conn.execute(
            sa.select(approval_requests).where(
                approval_requests.c.object == object_name,
                approval_requests.c.record_id == record_id,
                approval_requests.c.status == "pending",
            )
        )
        .mappings()
        .first()
    )
    return dict(row) if row else None


def pending_records(conn, object_name: str, record_ids: list[int]) -> dict[int, dict]:
    """Record id → its pending request, for the records of ``record_ids`` that have one."""
    if not record_ids:
        return {}
    rows = conn.execute(
        sa.select(approval_requests).where(
            approval_requests.c.object == object_name,
            approval_requests.c.record_id.in_(record_ids),
            approval_requests.c.status == "pending",
        )
    ).mappings()
    return {row["record_id"]: dict(row) for row in rows}


def _request(conn, request_id: Any) -> dict:
    try:
        wanted = int(request_id)
    except (TypeError, ValueError):
        raise NotFound(f"no approval request {request_id}") from None
    row = conn.execute(sa.select(approval_requests).where(approval_requests.c.id == wanted)).mappings().first()
    if row is None:
        raise NotFound(f"no approval request {request_id}")
    return dict(row)


def request_json(store, request: dict, *, tasks: list[dict] | None = None, history: list[dict] | None = None) -> dict:
    """A request as the API and the screens show it (with its process's and step's labels)."""
    process = approval_process(store.model, request["object"], request["process"]) or {}
    steps = process.get("steps") or []
    step = steps[request["step"]] if 0 <= request["step"] < len(steps) else {}
    locale = _locale(store)
    out = {
        "id": request["id"],
        "object": request["object"],
        "record_id": request["record_id"],
        "process": request["process"],
        "process_label": label_of(process, locale) if process else request["process"],
        "status": request["status"],
        "step": request["step"] + 1,
        "step_label": label_of(step, locale) if step else None,
        "steps": len(steps),
        "submitted_by": request["submitted_by"],
        "submitted_at": request["submitted_at"].isoformat(),
        "comment": request["comment"],
        "decided_at": request["decided_at"].isoformat() if request["decided_at"] else None,
    }
    if tasks is not None:
        out["approvers"] = [
            {
                "user_id": t["user_id"],
                "step": t["step"] + 1,
                "status": t["status"],
                "comment": t["comment"],
                "decided_at": t["decided_at"].isoformat() if t["decided_at"] else None,
            }
            for t in tasks
        ]
    if history is not None:
        out["history"] = [
            {
                "at": h["at"].isoformat(),
                "user_id": h["user_id"],
                "action": h["action"],
                "step": None if h["step"] is None else h["step"] + 1,
                "comment": h["comment"],
            }
            for h in history
        ]
    return out


def record_approvals(store, object_name: str, record_id: Any) -> dict:
    """The record's approval requests, newest first, each with its approvers
    and history, and whether the caller may submit, decide or recall now
    (404 when the caller may not read the record)."""
    record = store.get(object_name, record_id, fields=[])
    record_id = record["id"]
    me = store.guard.user_id
    with store.binding.connect() as conn:
        requests = [
            dict(r)
            for r in conn.execute(
                sa.select(approval_requests)
                .where(approval_requests.c.object == object_name, approval_requests.c.record_id == record_id)
                .order_by(approval_requests.c.id.desc())
            ).mappings()
        ]
        ids = [r["id"] for r in requests]
        tasks = _grouped(conn, approval_tasks, ids, approval_tasks.c.step, approval_tasks.c.id)
        history = _grouped(conn, approval_history, ids, approval_history.c.id)
    data = [request_json(store, r, tasks=tasks.get(r["id"], []), history=history.get(r["id"], [])) for r in requests]
    pending = next((r for r in requests if r["status"] == "pending"), None)
    can_decide = pending is not None and any(
        t["user_id"] == me and t["status"] == "pending" and t["step"] == pending["step"]
        for t in tasks.get(pending["id"], [])
    )
    return {
        "data": data,
        "pending": request_json(store, pending) if pending else None,
        "can_submit": pending is None and bool(submittable(store, object_name, record_id)),
        "can_decide": can_decide,
        "can_recall": pending is not None and pending["submitted_by"] == me,
    }


def _grouped(conn, table, request_ids: list[int], *order) -> dict[int, list[dict]]:
    out: dict[int, list[dict]] = {}
    if request_ids:
        for row in conn.execute(
            sa.select(table).where(table.c.request_id.in_(request_ids)).order_by(*order)
        ).mappings():
            out.setdefault(row["request_id"], []).append(dict(row))
    return out


def my_pending(store, *, limit: int = 100) -> list[dict]:
    """The requests waiting for the caller's decision (the "My approvals"
    inbox), oldest first, each with the record's name when the caller may
    read it (an approver who lost read access sees no name)."""
    me = store.guard.user_id
    query = (
        sa.select(approval_requests)
        .join(approval_tasks, approval_tasks.c.request_id == approval_requests.c.id)
        .where(
            approval_tasks.c.user_id == me,
            approval_tasks.c.status == "pending",
            approval_tasks.c.step == approval_requests.c.step,
            approval_requests.c.status == "pending",
        )
        .order_by(approval_requests.c.submitted_at, approval_requests.c.id)
        .limit(limit)
    )
    with store.binding.connect() as conn:
        requests = [dict(r) for r in conn.execute(query).mappings()]
    members = tenant_members(store.instance, store.binding) if requests else {}
    out = []
    for request in requests:
        name = _readable_name(store, request["object"], request["record_id"])
        if name is None:
            continue
        item = request_json(store, request)
        item["record_name"] = name
        item["object_label"] = store.model.object(request["object"]).label
        submitter = members.get(request["submitted_by"]) or {}
        item["submitted_by_name"] = submitter.get("display_name") or submitter.get("email")
        out.append(item)
    return out


def pending_count(binding, user_id: int) -> int:
    """How many requests wait for ``user_id``'s decision (the navbar's badge)."""
    query = (
        sa.select(sa.func.count())
        .select_from(approval_tasks.join(approval_requests, approval_tasks.c.request_id == approval_requests.c.id))
        .where(
            approval_tasks.c.user_id == user_id,
            approval_tasks.c.status == "pending",
            approval_tasks.c.step == approval_requests.c.step,
            approval_requests.c.status == "pending",
        )
    )
    with binding.connect() as conn:
        return conn.execute(query).scalar() or 0


def _readable_name(store, object_name: str, record_id: int) -> str | None:
    """The record's name as the caller may see it ("#id" without a readable
    name field); None when they may not read the record."""
    obj = store.model.object(object_name)
    if obj is None:
        return None
    name_field = obj.name_field if obj.name_field in store.guard.readable_fields(obj) else None
    try:
        record = store.get(object_name, record_id, fields=[name_field] if name_field else [])
    except (NotFound, Forbidden):
        return None
    return str(record.get(name_field) or f"#{record_id}") if name_field else f"#{record_id}"


# -- submitting ------------------------------------------------------------------------------------


def submittable(store, object_name: str, record_id: int) -> list[dict]:
    """The active processes the caller could submit the record to now (they
    may update it and the entry condition holds)."""
    obj = store.model.object(object_name)
    processes = approval_processes(store.model, object_name) if obj is not None else []
    if not processes or not _may(store.guard, "update", obj, record_id, store.binding):
        return []
    with store.binding.connect() as conn:
        values = _stored(conn, store, obj, record_id)
        return [p for p in processes if _condition_holds(conn, store, obj, values, p.get("entry_condition"))]


def submit(store, object_name: str, record_id: Any, *, process: str | None = None, comment: Any = None) -> dict:
    """Submit the record for approval as the caller (see the module's docstring)."""
    obj = store.object(object_name)
    record_id = store.get(object_name, record_id, fields=[])["id"]  # 404 when the caller may not read it
    store.guard.require("update", obj)
    if not _may(store.guard, "update", obj, record_id, store.binding):
        raise Forbidden(f"you may not update this {obj.label}, so you cannot submit it for approval")
    comment = _comment(comment, required=False)
    processes = approval_processes(store.model, object_name)
    if process is not None:
        processes = [p for p in processes if p["api_name"] == process]
        if not processes:
            raise ValidationFailed(
                f"no active approval process {process!r} on {obj.label}",
                details={"fields": {"process": ["no such active approval process"]}},
            )
    elif not processes:
        raise ValidationFailed(
            f"{obj.label} has no active approval process",
            details={"fields": {"process": ["no active approval process"]}},
        )
    now = utcnow()
    with store.binding.begin() as conn:
        if pending_request(conn, object_name, record_id) is not None:
            raise Conflict(
                f"this {obj.label} is already waiting for approval",
                details={"fields": {"process": ["already pending"]}},
            )
        values = _stored(conn, store, obj, record_id)
        chosen = next(
            (p for p in processes if _condition_holds(conn, store, obj, values, p.get("entry_condition"))), None
        )
        if chosen is None:
            names = ", ".join(label_of(p) for p in processes)
            raise ValidationFailed(
                f"this {obj.label} does not meet the entry condition of {names}",
                details={"fields": {"process": ["the entry condition does not hold for this record"]}},
            )
        new_id = conn.execute(
            approval_requests.insert().values(
                object=object_name,
                record_id=record_id,
                process=chosen["api_name"],
                status="pending",
                step=0,
                submitted_by=store.guard.user_id,
                submitted_at=now,
                comment=comment,
            )
        ).inserted_primary_key[0]
        request = _request(conn, new_id)
        _history(conn, request, store.guard.user_id, "submitted", None, comment)
        audit.record(
            conn,
            store.actor,
            "approval.submitted",
            object=object_name,
            record_id=record_id,
            details={"request": new_id, "process": chosen["api_name"], "comment": comment},
        )
        outcome = _open_step(conn, store, obj, chosen, request, values, 0)
        if outcome.request["status"] == "pending":
            _write_status(conn, store, obj, chosen, record_id, "pending")
    return _finish(store, outcome)


# -- deciding --------------------------------------------------------------------------------------


def decide(store, request_id: Any, decision: str, *, comment: Any = None) -> dict:
    """Approve or reject the request's current step as the caller, a pending approver of it."""
    if decision not in DECISIONS:
        raise ValidationFailed(
            "decision must be approve or reject", details={"fields": {"decision": ["approve or reject"]}}
        )
    comment = _comment(comment, required=False)
    me = store.guard.user_id
    with store.binding.begin() as conn:
        request = _request(conn, request_id)
        obj = store.object(request["object"])
        if not _may(store.guard, "read", obj, request["record_id"], store.binding, conn=conn):
            raise NotFound(f"no approval request {request_id}")
        if request["status"] != "pending":
            raise Conflict(
                f"this request is already {request['status']}", details={"fields": {"decision": ["not pending"]}}
            )
        task = (
            conn.execute(
                sa.select(approval_tasks).where(
                    approval_tasks.c.request_id == request["id"],
                    approval_tasks.c.step == request["step"],
                    approval_tasks.c.user_id == me,
                    approval_tasks.c.status == "pending",
                )
            )
            .mappings()
            .first()
        )
        if task is None:
            raise Forbidden("you are not a pending approver of this request's current step")
        status = DECISIONS[decision]
        now = utcnow()
        conn.execute(
            approval_tasks.update()
            .where(approval_tasks.c.id == task["id"])
            .values(status=status, comment=comment, decided_at=now)
        )
        _history(conn, request, me, status, request["step"], comment)
        audit.record(
            conn,
            store.actor,
            f"approval.{status}",
            object=request["object"],
            record_id=request["record_id"],
            details={
                "request": request["id"],
                "process": request["process"],
                "step": request["step"] + 1,
                "comment": comment,
            },
        )
        process = approval_process(store.model, request["object"], request["process"])
        if process is None:  # deleted while pending: the decision ends the request
            process = {"api_name": request["process"], "steps": []}
        steps = process.get("steps") or []
        step = steps[request["step"]] if request["step"] < len(steps) else {}  # the process may have been edited
        if status == "rejected":
            outcome = _close(conn, store, obj, process, request, "rejected")
        else:
            others = conn.execute(
                sa.select(sa.func.count()).where(
                    approval_tasks.c.request_id == request["id"],
                    approval_tasks.c.step == request["step"],
                    approval_tasks.c.status == "pending",
                )
            ).scalar()
            if step.get("mode", "one") == "all" and others:
                outcome = Outcome(request)
            else:
                _close_tasks(conn, request["id"])
                values = _stored(conn, store, obj, request["record_id"])
                outcome = _open_step(conn, store, obj, process, request, values, request["step"] + 1)
    return _finish(store, outcome)


def recall(store, request_id: Any, *, comment: Any = None) -> dict:
    """Withdraw a pending request: only its submitter."""
    comment = _comment(comment, required=False)
    with store.binding.begin() as conn:
        request = _request(conn, request_id)
        obj = store.object(request["object"])
        if request["submitted_by"] != store.guard.user_id:
            if not _may(store.guard, "read", obj, request["record_id"], store.binding, conn=conn):
                raise NotFound(f"no approval request {request_id}")
            raise Forbidden("only the submitter may recall a request")
        if request["status"] != "pending":
            raise Conflict(f"this request is already {request['status']}", details={"fields": {"id": ["not pending"]}})
        _history(conn, request, store.guard.user_id, "recalled", request["step"], comment)
        audit.record(
            conn,
            store.actor,
            "approval.recalled",
            object=request["object"],
            record_id=request["record_id"],
            details={"request": request["id"], "process": request["process"], "comment": comment},
        )
        process = approval_process(store.model, request["object"], request["process"]) or {}
        outcome = _close(conn, store, obj, process, request, "recalled", notify_submitter=False)
    return _finish(store, outcome)


# -- the steps -------------------------------------------------------------------------------------


def _open_step(conn, store, obj, process: dict, request: dict, values: dict, index: int) -> Outcome:
    """Open the first step from ``index`` whose condition holds (tasks and
    notifications for its approvers); none left: the request is approved."""
    steps = process.get("steps") or []
    while index < len(steps) and not _condition_holds(conn, store, obj, values, steps[index].get("condition")):
        _history(conn, request, None, "skipped", index, None)
        index += 1
    if index >= len(steps):
        return _close(conn, store, obj, process, request, "approved")
    step = steps[index]
    approvers = resolve_approvers(conn, store, obj, step, values, request["submitted_by"])
    if not approvers:
        raise ValidationFailed(
            f"no one can approve step {index + 1} ({label_of(step)}) of {label_of(process)}: "
            "its approvers are not set up or cannot read this record",
            details={"fields": {f"steps.{index}.approvers": ["no approver who can read the record"]}},
        )
    now = utcnow()
    conn.execute(
        approval_tasks.insert(),
        [
            {"request_id": request["id"], "step": index, "user_id": u, "status": "pending", "created_at": now}
            for u in approvers
        ],
    )
    conn.execute(approval_requests.update().where(approval_requests.c.id == request["id"]).values(step=index))
    request = {**request, "step": index}
    _history(conn, request, None, "step_opened", index, None)
    _notify(conn, store, obj, process, request, values, approvers, "requested", step=index + 1)
    return Outcome(request)


def _close(conn, store, obj, process: dict, request: dict, status: str, *, notify_submitter: bool = True) -> Outcome:
    now = utcnow()
    conn.execute(
        approval_requests.update().where(approval_requests.c.id == request["id"]).values(status=status, decided_at=now)
    )
    _close_tasks(conn, request["id"])
    request = {**request, "status": status, "decided_at": now}
    if status == "approved":
        _history(conn, request, None, "completed", None, None)
    if process.get("api_name") and approval_process(store.model, obj.api_name, process["api_name"]) is not None:
        _write_status(conn, store, obj, process, request["record_id"], status)
    if notify_submitter:
        values = _stored(conn, store, obj, request["record_id"])
        _notify(conn, store, obj, process, request, values, [request["submitted_by"]], status)
    return Outcome(request, status if status in ("approved", "rejected") else None)


def _close_tasks(conn, request_id: int) -> None:
    """The pending tasks of a decided step (or request): nobody's to decide any more."""
    conn.execute(
        approval_tasks.update()
        .where(approval_tasks.c.request_id == request_id, approval_tasks.c.status == "pending")
        .values(status="closed")
    )


def _finish(store, outcome: Outcome) -> dict:
    """After commit: the object's WHEN approved / WHEN rejected automations, then the request as shown."""
    if outcome.trigger is not None and store.instance is not None:
        request = outcome.request
        for rule in rules_for(store.model).for_object(request["object"]):
            if rule.trigger.kind == outcome.trigger:
                run_rule_on(store.instance, store.binding, store, rule, request["record_id"])
    with store.binding.connect() as conn:
        request = _request(conn, outcome.request["id"])
    return request_json(store, request)


def resolve_approvers(conn, store, obj, step: dict, values: dict, submitter: int) -> list[int]:
    """The users who approve ``step`` for this record: each approver entry
    resolved, inactive members and those who cannot read the record left out,
    in the order the entries name them."""
    members = tenant_members(store.instance, store.binding)
    managers = None
    wanted: list[int] = []
    for approver in step["approvers"]:
        kind = approver["type"]
        if kind in ("owner_manager", "submitter_manager"):
            managers = managers if managers is not None else managers_of(conn)
            whose = values.get("owner_id") if kind == "owner_manager" else submitter
            manager = managers.get(whose) if whose is not None else None
            wanted += [manager] if manager is not None else []
        elif kind == "role":
            wanted += list(
                conn.execute(
                    sa.select(user_roles.c.user_id).where(user_roles.c.role == approver["name"]).order_by("user_id")
                ).scalars()
            )
        elif kind == "team":
            wanted += list(
                conn.execute(
                    sa.select(team_members.c.user_id).where(team_members.c.team == approver["name"]).order_by("user_id")
                ).scalars()
            )
        else:
            text = str(approver["user"]).strip().lower()
            wanted += [i for i, m in members.items() if str(i) == text or m["email"] == text][:1]
    out = []
    for user_id in dict.fromkeys(wanted):
        member = members.get(user_id)
        if member is None or not member["is_active"]:
            continue
        if _may(_guard_of(store, member), "read", obj, values["id"], store.binding, conn=conn):
            out.append(user_id)
    return out


def _guard_of(store, member: dict) -> PolicyGuard:
    """Another member's guard at the store's revision (to ask what they may read)."""
    held, _provisioned = effective_roles(store.instance, store.binding, member)
    policy = policy_for(store.instance, store.binding, store.model.revision)
    return PolicyGuard(
        policy, member["id"], held, model=store.model, binding=store.binding, email=member["email"], role=member["role"]
    )


def _may(guard, action: str, obj, record_id: int, binding, *, conn=None) -> bool:
    """Whether ``guard`` permits ``action`` on the object and the record is in its scope."""
    if not guard.permits(action, obj):
        return False
    where = [obj.table.c.id == record_id, obj.table.c.deleted_at.is_(None)]
    scope = guard.scope(action, obj)
    if scope is not None:
        where.append(scope)
    query = sa.select(obj.table.c.id).where(*where)
    if conn is not None:
        return conn.execute(query).first() is not None
    with binding.connect() as own:
        return own.execute(query).first() is not None


# -- pieces ----------------------------------------------------------------------------------------


def _stored(conn, store, obj, record_id: int) -> dict:
    row = conn.execute(sa.select(obj.table).where(obj.table.c.id == record_id)).mappings().first()
    if row is None:
        raise NotFound(f"no {obj.api_name} {record_id}")
    return open_row(store.registry, obj.api_name, obj.fields, dict(row))


def _condition_holds(conn, store, obj, values: dict, text: str | None) -> bool:
    condition = compile_condition(store.model, obj.api_name, text)
    if condition is None:
        return True
    records = RecordEvaluator(conn, store, obj, [condition.reads])
    records.load([(None, values["id"], values)])
    return holds(condition.evaluate, records.record(None))


def _comment(value: Any, *, required: bool) -> str | None:
    if value is None or (isinstance(value, str) and not value.strip()):
        if required:
            raise ValidationFailed("a comment is required", details={"fields": {"comment": ["is required"]}})
        return None
    if not isinstance(value, str):
        raise ValidationFailed("comment must be text", details={"fields": {"comment": ["must be text"]}})
    if len(value) > MAX_COMMENT:
        raise ValidationFailed(
            f"comment is longer than {MAX_COMMENT} characters",
            details={"fields": {"comment": [f"at most {MAX_COMMENT} characters"]}},
        )
    return value.strip()


def _history(conn, request: dict, user_id: int | None, action: str, step: int | None, comment: str | None) -> None:
    conn.execute(
        approval_history.insert().values(
            request_id=request["id"], at=utcnow(), user_id=user_id, action=action, step=step, comment=comment
        )
    )


def _write_status(conn, store, obj, process: dict, record_id: int, status: str) -> None:
    """The process's status field takes the value for ``status``, through the
    save pipeline (automations on that field see it) and past the lock."""
    field = process.get("status_field")
    value = (process.get("status_values") or {}).get(status)
    if not field or value is None or field not in obj.fields:
        return
    system = store.nested(conn, guard=SystemGuard(purpose="approvals", acting_for=store.guard), depth=1)
    with _engine_write(obj.api_name, record_id):
        system.update(obj.api_name, record_id, {field: value}, read_back=False)


def _notify(conn, store, obj, process: dict, request: dict, values: dict, user_ids, what: str, **extra) -> None:
    if not user_ids:
        return
    with store.instance.db.platform_connect() as pconn:
        locales = dict(pconn.execute(sa.select(users.c.id, users.c.locale).where(users.c.id.in_(list(user_ids)))).all())
    name = values.get(obj.name_field) if obj.name_field else None
    for user_id in user_ids:
        language = "zh_CN" if (locales.get(user_id) or "").startswith("zh") else "en"
        message = MESSAGES[language][what].format(
            object=_object_label(obj, language),
            name=name or f"#{request['record_id']}",
            process=label_of(process, language) if process else request["process"],
            **extra,
        )
        notify(
            conn,
            [user_id],
            message,
            source=f"approval:{request['id']}",
            object=obj.api_name,
            record_id=request["record_id"],
        )


def _object_label(obj, language: str) -> str:
    translated = (obj.definition.get("translations") or {}).get(language, {}).get("label")
    return translated or obj.label


def _locale(store) -> str | None:
    user = store.guard.user_globals()
    return getattr(user, "locale", None)
